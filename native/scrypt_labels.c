/*
 * PoST labels: scrypt-jane (Keccak-512 with the original padding, ChaCha20/8 mix) in C.
 *
 * label(i) = scrypt-jane(P = commitment || LE64(i) || 0^32, S = "", N, r = 1, p = 1, dkLen = 32)
 * (see ../shared/spec/post-poet.md section 1.3; the readable reference is spacemesh_core/post/labels.py).
 *
 * Three layers:
 *  - a plain, generic scrypt-jane (any N, r, p, password, salt, dkLen), used for the self-test vectors
 *    and, with r = p = 1, as the one-label-at-a-time baseline (sm_compute_label_one);
 *  - lane-parallel ROMix kernels (one label per SIMD lane) for SSE2 (4 lanes), AVX2 (8) and
 *    AVX-512F (16), compiled from one template with per-function target attributes and chosen at run
 *    time with __builtin_cpu_supports, so one build runs on any x86-64 (and elsewhere the portable
 *    scalar path is used);
 *  - sm_compute_labels: threads (pthreads) over the index range, each thread with its own scratch
 *    memory, writing the first out_label_size bytes of every output and keeping the smallest 32-byte
 *    output strictly below a bound (the VRF-nonce search) in the same pass.
 * Everything is called through cffi, which releases the GIL for the duration of a call.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#define SM_X86 1
#include <immintrin.h>
#else
#define SM_X86 0
#endif

#include "scrypt_labels.h"

/* ------------------------------------------------------------------------------------------------ */
/* Byte order helpers                                                                                 */
/* ------------------------------------------------------------------------------------------------ */

static inline uint32_t load_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static inline void store_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}

static inline uint64_t load_le64(const uint8_t *p)
{
    return (uint64_t)load_le32(p) | ((uint64_t)load_le32(p + 4) << 32);
}

static inline void store_le64(uint8_t *p, uint64_t v)
{
    store_le32(p, (uint32_t)v);
    store_le32(p + 4, (uint32_t)(v >> 32));
}

/* ------------------------------------------------------------------------------------------------ */
/* Keccak-f[1600], Keccak-512 (original padding), HMAC, PBKDF2 with one iteration                     */
/* ------------------------------------------------------------------------------------------------ */

#define KECCAK_RATE 72 /* Keccak-512: 1600 - 2*512 bits */
#define KECCAK_DIGEST 64

static const uint64_t keccak_round_constants[24] = {
    0x0000000000000001ULL, 0x0000000000008082ULL, 0x800000000000808aULL, 0x8000000080008000ULL,
    0x000000000000808bULL, 0x0000000080000001ULL, 0x8000000080008081ULL, 0x8000000000008009ULL,
    0x000000000000008aULL, 0x0000000000000088ULL, 0x0000000080008009ULL, 0x000000008000000aULL,
    0x000000008000808bULL, 0x800000000000008bULL, 0x8000000000008089ULL, 0x8000000000008003ULL,
    0x8000000000008002ULL, 0x8000000000000080ULL, 0x000000000000800aULL, 0x800000008000000aULL,
    0x8000000080008081ULL, 0x8000000000008080ULL, 0x0000000080000001ULL, 0x8000000080008008ULL,
};

/* rho offsets, lane index x + 5y */
static const unsigned keccak_rho[25] = {0,  1,  62, 28, 27, 36, 44, 6,  55, 20, 3,  10, 43,
                                        25, 39, 41, 45, 15, 21, 8,  18, 2,  61, 56, 14};

static inline uint64_t rotl64(uint64_t v, unsigned c)
{
    return c ? (v << c) | (v >> (64 - c)) : v;
}

static void keccak_f1600(uint64_t a[25])
{
    uint64_t c[5], b[25];
    for (int round = 0; round < 24; round++) {
        for (int x = 0; x < 5; x++)
            c[x] = a[x] ^ a[x + 5] ^ a[x + 10] ^ a[x + 15] ^ a[x + 20];
        for (int x = 0; x < 5; x++) {
            uint64_t d = c[(x + 4) % 5] ^ rotl64(c[(x + 1) % 5], 1);
            for (int y = 0; y < 25; y += 5)
                a[x + y] ^= d;
        }
        for (int x = 0; x < 5; x++)
            for (int y = 0; y < 5; y++)
                b[y + 5 * ((2 * x + 3 * y) % 5)] = rotl64(a[x + 5 * y], keccak_rho[x + 5 * y]);
        for (int y = 0; y < 25; y += 5)
            for (int x = 0; x < 5; x++)
                a[x + y] = b[x + y] ^ (~b[(x + 1) % 5 + y] & b[(x + 2) % 5 + y]);
        a[0] ^= keccak_round_constants[round];
    }
}

typedef struct {
    uint64_t lanes[25];
    uint8_t pending[KECCAK_RATE];
    size_t pending_len;
} keccak_state;

static void keccak_init(keccak_state *s)
{
    memset(s, 0, sizeof(*s));
}

static void keccak_absorb_block(keccak_state *s, const uint8_t *block)
{
    for (int i = 0; i < KECCAK_RATE / 8; i++)
        s->lanes[i] ^= load_le64(block + 8 * i);
    keccak_f1600(s->lanes);
}

static void keccak_update(keccak_state *s, const uint8_t *data, size_t len)
{
    if (len == 0)
        return; /* data may be NULL then (an empty salt) */
    if (s->pending_len) {
        size_t take = KECCAK_RATE - s->pending_len;
        if (take > len)
            take = len;
        memcpy(s->pending + s->pending_len, data, take);
        s->pending_len += take;
        data += take;
        len -= take;
        if (s->pending_len < KECCAK_RATE)
            return;
        keccak_absorb_block(s, s->pending);
        s->pending_len = 0;
    }
    while (len >= KECCAK_RATE) {
        keccak_absorb_block(s, data);
        data += KECCAK_RATE;
        len -= KECCAK_RATE;
    }
    memcpy(s->pending, data, len);
    s->pending_len = len;
}

/* digest of a copy: the state itself stays usable */
static void keccak_digest(const keccak_state *s, uint8_t out[KECCAK_DIGEST])
{
    keccak_state t = *s;
    memset(t.pending + t.pending_len, 0, KECCAK_RATE - t.pending_len);
    t.pending[t.pending_len] ^= 0x01; /* original Keccak padding (FIPS 202 SHA3 would use 0x06) */
    t.pending[KECCAK_RATE - 1] ^= 0x80;
    keccak_absorb_block(&t, t.pending);
    for (int i = 0; i < KECCAK_DIGEST / 8; i++)
        store_le64(out + 8 * i, t.lanes[i]);
}

void sm_keccak512(const uint8_t *data, size_t len, uint8_t *out)
{
    keccak_state s;
    keccak_init(&s);
    keccak_update(&s, data, len);
    keccak_digest(&s, out);
}

typedef struct {
    keccak_state inner, outer;
} hmac_state;

static void hmac_init(hmac_state *h, const uint8_t *key, size_t key_len)
{
    uint8_t block[KECCAK_RATE], hashed[KECCAK_DIGEST];
    if (key_len > KECCAK_RATE) {
        sm_keccak512(key, key_len, hashed);
        key = hashed;
        key_len = KECCAK_DIGEST;
    }
    memset(block, 0, sizeof(block));
    memcpy(block, key, key_len);
    for (int i = 0; i < KECCAK_RATE; i++)
        block[i] ^= 0x36;
    keccak_init(&h->inner);
    keccak_update(&h->inner, block, KECCAK_RATE);
    for (int i = 0; i < KECCAK_RATE; i++)
        block[i] ^= 0x36 ^ 0x5c;
    keccak_init(&h->outer);
    keccak_update(&h->outer, block, KECCAK_RATE);
}

/* PBKDF2-HMAC-Keccak-512 with one iteration: block j = HMAC(P, S || BE32(j)) */
static void pbkdf2_keccak512(const hmac_state *h, const uint8_t *salt, size_t salt_len, uint8_t *out,
                             size_t out_len)
{
    uint8_t digest[KECCAK_DIGEST], counter[4];
    for (uint32_t j = 1; out_len; j++) {
        keccak_state inner = h->inner, outer = h->outer;
        counter[0] = (uint8_t)(j >> 24); counter[1] = (uint8_t)(j >> 16);
        counter[2] = (uint8_t)(j >> 8); counter[3] = (uint8_t)j;
        keccak_update(&inner, salt, salt_len);
        keccak_update(&inner, counter, 4);
        keccak_digest(&inner, digest);
        keccak_update(&outer, digest, KECCAK_DIGEST);
        keccak_digest(&outer, digest);
        size_t take = out_len < KECCAK_DIGEST ? out_len : KECCAK_DIGEST;
        memcpy(out, digest, take);
        out += take;
        out_len -= take;
    }
}

/* ------------------------------------------------------------------------------------------------ */
/* Plain (one block at a time) ChaCha20/8, BlockMix, ROMix: the generic scrypt-jane and the baseline  */
/* ------------------------------------------------------------------------------------------------ */

#define ROTL32(v, c) (((v) << (c)) | ((v) >> (32 - (c))))
#define QR(a, b, c, d)                                                                                       \
    do {                                                                                                     \
        a += b; d ^= a; d = ROTL32(d, 16);                                                                   \
        c += d; b ^= c; b = ROTL32(b, 12);                                                                   \
        a += b; d ^= a; d = ROTL32(d, 8);                                                                    \
        c += d; b ^= c; b = ROTL32(b, 7);                                                                    \
    } while (0)

static void chacha8_core(uint32_t b[16])
{
    uint32_t x[16];
    memcpy(x, b, sizeof(x));
    for (int round = 0; round < 4; round++) {
        QR(x[0], x[4], x[8], x[12]);
        QR(x[1], x[5], x[9], x[13]);
        QR(x[2], x[6], x[10], x[14]);
        QR(x[3], x[7], x[11], x[15]);
        QR(x[0], x[5], x[10], x[15]);
        QR(x[1], x[6], x[11], x[12]);
        QR(x[2], x[7], x[8], x[13]);
        QR(x[3], x[4], x[9], x[14]);
    }
    for (int i = 0; i < 16; i++)
        b[i] += x[i];
}

/* out = BlockMix(in) over 2r blocks of 16 words; even outputs first, then odd */
static void blockmix_generic(const uint32_t *in, uint32_t *out, uint32_t r)
{
    uint32_t x[16];
    memcpy(x, in + (2 * r - 1) * 16, sizeof(x));
    for (uint32_t i = 0; i < 2 * r; i++) {
        for (int w = 0; w < 16; w++)
            x[w] ^= in[16 * i + w];
        chacha8_core(x);
        memcpy(out + ((i & 1) ? (r + i / 2) : (i / 2)) * 16, x, sizeof(x));
    }
}

/* ROMix in place on 32r words; scratch: n*32r words, tmp: 32r words */
static void romix_generic(uint32_t *x, uint32_t *scratch, uint32_t *tmp, uint32_t n, uint32_t r)
{
    const size_t words = (size_t)32 * r;
    for (uint32_t k = 0; k < n; k++) {
        memcpy(scratch + k * words, x, words * 4);
        blockmix_generic(scratch + k * words, x, r);
    }
    for (uint32_t k = 0; k < n; k++) {
        const uint32_t *v = scratch + (size_t)(x[(2 * r - 1) * 16] & (n - 1)) * words;
        for (size_t w = 0; w < words; w++)
            tmp[w] = x[w] ^ v[w];
        blockmix_generic(tmp, x, r);
    }
}

static int is_pow2_ge2(uint32_t n)
{
    return n >= 2 && (n & (n - 1)) == 0;
}

int sm_scrypt_jane(const uint8_t *password, size_t password_len, const uint8_t *salt, size_t salt_len,
                   uint32_t n, uint32_t r, uint32_t p, uint8_t *out, size_t out_len)
{
    if (!is_pow2_ge2(n) || r < 1 || p < 1 || out_len < 1 || r > (1u << 20) || p > (1u << 20))
        return SM_ERR_PARAMS;
    const size_t words = (size_t)32 * r, chunk = 128 * (size_t)r;
    uint8_t *mixed = malloc(chunk * p);
    uint32_t *x = malloc(words * 4), *tmp = malloc(words * 4), *scratch = malloc((size_t)n * words * 4);
    int rc = SM_OK;
    if (!mixed || !x || !tmp || !scratch) {
        rc = SM_ERR_MEMORY;
        goto done;
    }
    hmac_state h;
    hmac_init(&h, password, password_len);
    pbkdf2_keccak512(&h, salt, salt_len, mixed, chunk * p);
    for (uint32_t i = 0; i < p; i++) {
        uint8_t *b = mixed + chunk * i;
        for (size_t w = 0; w < words; w++)
            x[w] = load_le32(b + 4 * w);
        romix_generic(x, scratch, tmp, n, r);
        for (size_t w = 0; w < words; w++)
            store_le32(b + 4 * w, x[w]);
    }
    pbkdf2_keccak512(&h, mixed, chunk * p, out, out_len);
done:
    free(mixed);
    free(x);
    free(tmp);
    free(scratch);
    return rc;
}

/* ------------------------------------------------------------------------------------------------ */
/* Labels: password, PBKDF2 before and after ROMix                                                    */
/* ------------------------------------------------------------------------------------------------ */

typedef struct {
    hmac_state hmac;
    uint32_t words[32];
} label_job;

/* first half of a label: P = commitment || LE64(index) || 0^32, B = PBKDF2(P, "", 128) as words */
static void label_begin(label_job *job, const uint8_t commitment[32], uint64_t index)
{
    uint8_t password[72], b[128];
    memcpy(password, commitment, 32);
    store_le64(password + 32, index);
    memset(password + 40, 0, 32);
    hmac_init(&job->hmac, password, sizeof(password));
    pbkdf2_keccak512(&job->hmac, NULL, 0, b, sizeof(b));
    for (int w = 0; w < 32; w++)
        job->words[w] = load_le32(b + 4 * w);
}

/* second half: out32 = PBKDF2(P, ROMix(B), 32) */
static void label_finish(const label_job *job, uint8_t out[32])
{
    uint8_t b[128];
    for (int w = 0; w < 32; w++)
        store_le32(b + 4 * w, job->words[w]);
    pbkdf2_keccak512(&job->hmac, b, sizeof(b), out, 32);
}

static void label_romix_scalar(label_job *job, uint32_t *scratch, uint32_t n)
{
    uint32_t tmp[32];
    romix_generic(job->words, scratch, tmp, n, 1);
}

int sm_compute_label_one(const uint8_t *commitment, uint64_t index, uint32_t n, uint8_t *out)
{
    if (!is_pow2_ge2(n))
        return SM_ERR_PARAMS;
    uint32_t *scratch = malloc((size_t)n * 128);
    if (!scratch)
        return SM_ERR_MEMORY;
    label_job job;
    label_begin(&job, commitment, index);
    label_romix_scalar(&job, scratch, n);
    label_finish(&job, out);
    free(scratch);
    return SM_OK;
}

int sm_compute_labels_baseline(const uint8_t *commitment, uint64_t start, uint64_t count, uint32_t n,
                               uint8_t *out)
{
    for (uint64_t i = 0; i < count; i++) {
        int rc = sm_compute_label_one(commitment, start + i, n, out + 32 * i);
        if (rc != SM_OK)
            return rc;
    }
    return SM_OK;
}

/* ------------------------------------------------------------------------------------------------ */
/* Lane-parallel kernels                                                                              */
/* ------------------------------------------------------------------------------------------------ */

#if SM_X86

/* Each kernel is compiled for its own instruction set; the rest of the file stays portable. */
#if defined(__clang__)
#define SM_TARGET_BEGIN_SSE2 _Pragma("clang attribute push(__attribute__((target(\"sse2\"))), apply_to = function)")
#define SM_TARGET_BEGIN_AVX2 _Pragma("clang attribute push(__attribute__((target(\"avx2\"))), apply_to = function)")
#define SM_TARGET_BEGIN_AVX512 _Pragma("clang attribute push(__attribute__((target(\"avx512f\"))), apply_to = function)")
#define SM_TARGET_END _Pragma("clang attribute pop")
#else
#define SM_TARGET_BEGIN_SSE2 _Pragma("GCC push_options") _Pragma("GCC target(\"sse2\")")
#define SM_TARGET_BEGIN_AVX2 _Pragma("GCC push_options") _Pragma("GCC target(\"avx2\")")
#define SM_TARGET_BEGIN_AVX512 _Pragma("GCC push_options") _Pragma("GCC target(\"avx512f\")")
#define SM_TARGET_END _Pragma("GCC pop_options")
#endif

/* ---- SSE2, 4 lanes: 4x4 transposes ---- */
SM_TARGET_BEGIN_SSE2

#define SM_LANES 4
#define SM_FN(name) sse2_##name

typedef uint32_t sse2_vec4 __attribute__((vector_size(16)));

static inline __attribute__((always_inline)) void sse2_transpose4(__m128i r[4])
{
    __m128i t0 = _mm_unpacklo_epi32(r[0], r[1]), t1 = _mm_unpackhi_epi32(r[0], r[1]);
    __m128i t2 = _mm_unpacklo_epi32(r[2], r[3]), t3 = _mm_unpackhi_epi32(r[2], r[3]);
    r[0] = _mm_unpacklo_epi64(t0, t2);
    r[1] = _mm_unpackhi_epi64(t0, t2);
    r[2] = _mm_unpacklo_epi64(t1, t3);
    r[3] = _mm_unpackhi_epi64(t1, t3);
}

static inline __attribute__((always_inline)) void sse2_load_lanes(sse2_vec4 x[32], const uint32_t *const src[4])
{
    for (int g = 0; g < 8; g++) {
        __m128i r[4];
        for (int l = 0; l < 4; l++)
            r[l] = _mm_loadu_si128((const __m128i *)(src[l] + 4 * g));
        sse2_transpose4(r);
        for (int i = 0; i < 4; i++)
            x[4 * g + i] = (sse2_vec4)r[i];
    }
}

static inline __attribute__((always_inline)) void sse2_store_lanes(uint32_t *const dst[4], const sse2_vec4 x[32])
{
    for (int g = 0; g < 8; g++) {
        __m128i r[4];
        for (int i = 0; i < 4; i++)
            r[i] = (__m128i)x[4 * g + i];
        sse2_transpose4(r);
        for (int l = 0; l < 4; l++)
            _mm_storeu_si128((__m128i *)(dst[l] + 4 * g), r[l]);
    }
}

#define SM_LOAD_LANES(x, src) sse2_load_lanes(x, src)
#define SM_STORE_LANES(dst, x) sse2_store_lanes(dst, x)
#include "scrypt_labels_lanes.h"
#undef SM_LOAD_LANES
#undef SM_STORE_LANES
#undef SM_FN
#undef SM_LANES

SM_TARGET_END

/* ---- AVX2, 8 lanes: 8x8 transposes ---- */
SM_TARGET_BEGIN_AVX2

#define SM_LANES 8
#define SM_FN(name) avx2_##name

typedef uint32_t avx2_vec8 __attribute__((vector_size(32)));

static inline __attribute__((always_inline)) void avx2_transpose8(__m256i r[8])
{
    __m256i t[8], u[8];
    for (int i = 0; i < 4; i++) {
        t[2 * i] = _mm256_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 2; i++) {
        u[4 * i + 0] = _mm256_unpacklo_epi64(t[4 * i], t[4 * i + 2]);
        u[4 * i + 1] = _mm256_unpackhi_epi64(t[4 * i], t[4 * i + 2]);
        u[4 * i + 2] = _mm256_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
        u[4 * i + 3] = _mm256_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
    }
    for (int e = 0; e < 4; e++) {
        r[e] = _mm256_permute2x128_si256(u[e], u[4 + e], 0x20);
        r[4 + e] = _mm256_permute2x128_si256(u[e], u[4 + e], 0x31);
    }
}

static inline __attribute__((always_inline)) void avx2_load_lanes(avx2_vec8 x[32], const uint32_t *const src[8])
{
    for (int g = 0; g < 4; g++) {
        __m256i r[8];
        for (int l = 0; l < 8; l++)
            r[l] = _mm256_loadu_si256((const __m256i *)(src[l] + 8 * g));
        avx2_transpose8(r);
        for (int i = 0; i < 8; i++)
            x[8 * g + i] = (avx2_vec8)r[i];
    }
}

static inline __attribute__((always_inline)) void avx2_store_lanes(uint32_t *const dst[8], const avx2_vec8 x[32])
{
    for (int g = 0; g < 4; g++) {
        __m256i r[8];
        for (int i = 0; i < 8; i++)
            r[i] = (__m256i)x[8 * g + i];
        avx2_transpose8(r);
        for (int l = 0; l < 8; l++)
            _mm256_storeu_si256((__m256i *)(dst[l] + 8 * g), r[l]);
    }
}

/* rotations by 16 and 8 bits are byte permutations: one vpshufb instead of two shifts and an or */
#define SM_ROTL16(v)                                                                                         \
    ((avx2_vec8)_mm256_shuffle_epi8((__m256i)(v), _mm256_setr_epi8(2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14,  \
                                                                   15, 12, 13, 2, 3, 0, 1, 6, 7, 4, 5, 10,  \
                                                                   11, 8, 9, 14, 15, 12, 13)))
#define SM_ROTL8(v)                                                                                          \
    ((avx2_vec8)_mm256_shuffle_epi8((__m256i)(v), _mm256_setr_epi8(3, 0, 1, 2, 7, 4, 5, 6, 11, 8, 9, 10, 15,  \
                                                                   12, 13, 14, 3, 0, 1, 2, 7, 4, 5, 6, 11,  \
                                                                   8, 9, 10, 15, 12, 13, 14)))
#define SM_LOAD_LANES(x, src) avx2_load_lanes(x, src)
#define SM_STORE_LANES(dst, x) avx2_store_lanes(dst, x)
#include "scrypt_labels_lanes.h"
#undef SM_ROTL16
#undef SM_ROTL8
#undef SM_LOAD_LANES
#undef SM_STORE_LANES
#undef SM_FN
#undef SM_LANES

SM_TARGET_END

/* ---- AVX-512F, 16 lanes: 16x16 transposes ---- */
SM_TARGET_BEGIN_AVX512

#define SM_LANES 16
#define SM_FN(name) avx512_##name

typedef uint32_t avx512_vec16 __attribute__((vector_size(64)));

static inline __attribute__((always_inline)) void avx512_transpose16(__m512i r[16])
{
    __m512i t[16], u[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
    }
    /* u[4i+e]: rows 4i..4i+3; its 128-bit chunk c holds column 4c+e */
    for (int i = 0; i < 4; i++) {
        u[4 * i + 0] = _mm512_unpacklo_epi64(t[4 * i], t[4 * i + 2]);
        u[4 * i + 1] = _mm512_unpackhi_epi64(t[4 * i], t[4 * i + 2]);
        u[4 * i + 2] = _mm512_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
        u[4 * i + 3] = _mm512_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
    }
    /* 4x4 transpose of 128-bit chunks across the four row groups */
    for (int e = 0; e < 4; e++) {
        __m512i v0 = _mm512_shuffle_i32x4(u[e], u[4 + e], 0x44);
        __m512i v1 = _mm512_shuffle_i32x4(u[e], u[4 + e], 0xEE);
        __m512i v2 = _mm512_shuffle_i32x4(u[8 + e], u[12 + e], 0x44);
        __m512i v3 = _mm512_shuffle_i32x4(u[8 + e], u[12 + e], 0xEE);
        r[e] = _mm512_shuffle_i32x4(v0, v2, 0x88);
        r[4 + e] = _mm512_shuffle_i32x4(v0, v2, 0xDD);
        r[8 + e] = _mm512_shuffle_i32x4(v1, v3, 0x88);
        r[12 + e] = _mm512_shuffle_i32x4(v1, v3, 0xDD);
    }
}

static inline __attribute__((always_inline)) void avx512_load_lanes(avx512_vec16 x[32],
                                                                    const uint32_t *const src[16])
{
    for (int g = 0; g < 2; g++) {
        __m512i r[16];
        for (int l = 0; l < 16; l++)
            r[l] = _mm512_loadu_si512((const void *)(src[l] + 16 * g));
        avx512_transpose16(r);
        for (int i = 0; i < 16; i++)
            x[16 * g + i] = (avx512_vec16)r[i];
    }
}

static inline __attribute__((always_inline)) void avx512_store_lanes(uint32_t *const dst[16],
                                                                     const avx512_vec16 x[32])
{
    for (int g = 0; g < 2; g++) {
        __m512i r[16];
        for (int i = 0; i < 16; i++)
            r[i] = (__m512i)x[16 * g + i];
        avx512_transpose16(r);
        for (int l = 0; l < 16; l++)
            _mm512_storeu_si512((void *)(dst[l] + 16 * g), r[l]);
    }
}

#define SM_LOAD_LANES(x, src) avx512_load_lanes(x, src)
#define SM_STORE_LANES(dst, x) avx512_store_lanes(dst, x)
#include "scrypt_labels_lanes.h"
#undef SM_LOAD_LANES
#undef SM_STORE_LANES
#undef SM_FN
#undef SM_LANES

SM_TARGET_END

#endif /* SM_X86 */

/* ------------------------------------------------------------------------------------------------ */
/* Dispatch                                                                                           */
/* ------------------------------------------------------------------------------------------------ */

typedef void (*romix_lanes_fn)(uint32_t *const *lane_words, uint32_t *scratch, uint32_t n);

static void scalar_romix_lanes(uint32_t *const *lane_words, uint32_t *scratch, uint32_t n)
{
    uint32_t tmp[32];
    romix_generic(lane_words[0], scratch, tmp, n, 1);
}

static const struct {
    int lanes;
    romix_lanes_fn fn;
} isa_table[SM_ISA_COUNT] = {
    [SM_ISA_SCALAR] = {1, scalar_romix_lanes},
#if SM_X86
    [SM_ISA_SSE2] = {4, (romix_lanes_fn)sse2_romix_lanes},
    [SM_ISA_AVX2] = {8, (romix_lanes_fn)avx2_romix_lanes},
    [SM_ISA_AVX512] = {16, (romix_lanes_fn)avx512_romix_lanes},
#endif
};

int sm_labels_is_isa_supported(int isa)
{
    switch (isa) {
    case SM_ISA_SCALAR:
        return 1;
#if SM_X86
    case SM_ISA_SSE2:
        __builtin_cpu_init();
        return __builtin_cpu_supports("sse2") ? 1 : 0;
    case SM_ISA_AVX2:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") ? 1 : 0;
    case SM_ISA_AVX512:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx512f") ? 1 : 0;
#endif
    default:
        return 0;
    }
}

int sm_labels_get_best_isa(void)
{
    for (int isa = SM_ISA_COUNT - 1; isa > SM_ISA_SCALAR; isa--)
        if (sm_labels_is_isa_supported(isa))
            return isa;
    return SM_ISA_SCALAR;
}

int sm_labels_get_lanes(int isa)
{
    if (isa < 0 || isa >= SM_ISA_COUNT || !isa_table[isa].fn)
        return 0;
    return isa_table[isa].lanes;
}

/* ------------------------------------------------------------------------------------------------ */
/* Multi-threaded label computation with the VRF-nonce search in the same pass                        */
/* ------------------------------------------------------------------------------------------------ */

typedef struct {
    /* shared, read-only */
    const uint8_t *commitment;
    uint64_t start, count;
    uint32_t n;
    int isa;
    uint8_t *out;
    uint32_t out_label_size;
    const uint8_t *bound;
    /* shared work counter (offset of the next batch) */
    uint64_t next;
} labels_task;

typedef struct {
    labels_task *task;
    int found;
    uint64_t nonce_index;
    uint8_t nonce_value[32];
    uint8_t bound[32];
    int rc;
} labels_worker;

/* Compute labels [offset, offset + m) of the task with the kernel of `isa` (m <= its lane count). */
static void compute_lane_batch(labels_worker *w, int isa, uint64_t offset, int m, uint32_t *scratch)
{
    labels_task *t = w->task;
    const int lanes = isa_table[isa].lanes;
    label_job jobs[16];
    uint32_t *lane_words[16];
    uint8_t out32[32];
    for (int l = 0; l < lanes; l++) {
        /* idle lanes (m < lanes) repeat the last label; their results are dropped */
        const uint64_t index = t->start + offset + (uint64_t)(l < m ? l : m - 1);
        if (l < m)
            label_begin(&jobs[l], t->commitment, index);
        else
            jobs[l] = jobs[m - 1];
        lane_words[l] = jobs[l].words;
    }
    isa_table[isa].fn(lane_words, scratch, t->n);
    for (int l = 0; l < m; l++) {
        label_finish(&jobs[l], out32);
        const uint64_t position = offset + (uint64_t)l;
        if (t->out)
            memcpy(t->out + position * t->out_label_size, out32, t->out_label_size);
        if (t->bound && memcmp(out32, w->bound, 32) < 0) {
            memcpy(w->bound, out32, 32);
            memcpy(w->nonce_value, out32, 32);
            w->nonce_index = t->start + position;
            w->found = 1;
        }
    }
}

/* the widest supported kernel with at most `remaining` lanes (never above the task's ISA) */
static int pick_isa_for(int task_isa, uint64_t remaining)
{
    for (int isa = task_isa; isa > SM_ISA_SCALAR; isa--)
        if (isa_table[isa].fn && (uint64_t)isa_table[isa].lanes <= remaining && sm_labels_is_isa_supported(isa))
            return isa;
    return SM_ISA_SCALAR;
}

static void *labels_worker_main(void *arg)
{
    labels_worker *w = arg;
    labels_task *t = w->task;
    const int lanes = isa_table[t->isa].lanes;
    uint32_t *scratch = malloc((size_t)lanes * t->n * 128);
    if (!scratch) {
        w->rc = SM_ERR_MEMORY;
        return NULL;
    }
    for (;;) {
        uint64_t offset = __atomic_fetch_add(&t->next, (uint64_t)lanes, __ATOMIC_RELAXED);
        if (offset >= t->count)
            break;
        uint64_t remaining = t->count - offset;
        if (remaining > (uint64_t)lanes)
            remaining = (uint64_t)lanes;
        /* a short tail runs on narrower kernels instead of wasting idle lanes */
        while (remaining) {
            int isa = remaining == (uint64_t)lanes ? t->isa : pick_isa_for(t->isa, remaining);
            int m = isa_table[isa].lanes;
            compute_lane_batch(w, isa, offset, m, scratch);
            offset += (uint64_t)m;
            remaining -= (uint64_t)m;
        }
    }
    free(scratch);
    return NULL;
}

static uint32_t get_cpu_count(void)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    return cpus > 0 ? (uint32_t)cpus : 1;
}

int sm_compute_labels(const uint8_t *commitment, uint64_t start, uint64_t count, uint32_t n, int isa,
                      uint32_t threads, uint8_t *out, uint32_t out_label_size, const uint8_t *bound,
                      uint64_t *nonce_index, uint8_t *nonce_value)
{
    if (!is_pow2_ge2(n) || out_label_size < 1 || out_label_size > 32)
        return SM_ERR_PARAMS;
    if (count && start + (count - 1) < start)
        return SM_ERR_PARAMS; /* index range wraps around 2^64 */
    if (isa < 0)
        isa = sm_labels_get_best_isa();
    if (isa >= SM_ISA_COUNT || !isa_table[isa].fn || !sm_labels_is_isa_supported(isa))
        return SM_ERR_ISA;
    if (count == 0)
        return 0;
    if (threads == 0)
        threads = get_cpu_count();
    const uint64_t batches = (count + (uint64_t)isa_table[isa].lanes - 1) / (uint64_t)isa_table[isa].lanes;
    if ((uint64_t)threads > batches)
        threads = (uint32_t)batches;
    if (threads > 1024)
        threads = 1024;

    labels_task task = {commitment, start, count, n, isa, out, out_label_size, bound, 0};
    labels_worker *workers = calloc(threads, sizeof(labels_worker));
    pthread_t *ids = calloc(threads, sizeof(pthread_t));
    if (!workers || !ids) {
        free(workers);
        free(ids);
        return SM_ERR_MEMORY;
    }
    uint32_t started = 0;
    for (uint32_t i = 0; i < threads; i++) {
        workers[i].task = &task;
        if (bound)
            memcpy(workers[i].bound, bound, 32);
    }
    /* the calling thread is worker 0; if a thread cannot be created the others take its share */
    for (uint32_t i = 1; i < threads; i++) {
        if (pthread_create(&ids[i], NULL, labels_worker_main, &workers[i]) != 0)
            break;
        started = i;
    }
    labels_worker_main(&workers[0]);
    for (uint32_t i = 1; i <= started; i++)
        pthread_join(ids[i], NULL);

    /* a worker that could not allocate its scratch memory took no batch: the work is complete as
       long as one worker ran */
    int rc = SM_ERR_MEMORY;
    for (uint32_t i = 0; i <= started; i++)
        if (workers[i].rc == SM_OK)
            rc = SM_OK;
    int found = 0;
    for (uint32_t i = 0; i <= started; i++) {
        if (!workers[i].found)
            continue;
        /* smallest value wins; equal values (never seen in practice): the lowest index */
        int cmp = found ? memcmp(workers[i].nonce_value, nonce_value, 32) : -1;
        if (cmp < 0 || (cmp == 0 && workers[i].nonce_index < *nonce_index)) {
            memcpy(nonce_value, workers[i].nonce_value, 32);
            *nonce_index = workers[i].nonce_index;
            found = 1;
        }
    }
    free(workers);
    free(ids);
    return rc != SM_OK ? rc : found;
}
