/*
 * PoET sequential work: the leaf loop (400 nested SHA-256 per leaf), tree layers, and the
 * registration proof of work (RIPEMD-256).
 *
 * SHA-256 has two implementations chosen at run time: the x86 SHA extensions (SHA-NI) where the
 * CPU has them, and portable C. The chain h = SHA256(h) is the hot loop: with SHA-NI it keeps the
 * digest in registers, feeds it straight back as the next message block (the padding words of a
 * 32-byte message are constants) and never leaves the vector unit.
 *
 * Written for this project from the SHA-256 standard (FIPS 180-4), the Intel SHA extensions
 * documentation and the RIPEMD-256 specification. Functions called from Python do not touch any
 * Python object, so cffi releases the GIL around them.
 */
#include <stdint.h>
#include <stddef.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#define POET_X86 1
#include <immintrin.h>
#include <cpuid.h>
#endif

#define POET_IMPL_AUTO 0
#define POET_IMPL_PORTABLE 1
#define POET_IMPL_SHANI 2

static const uint32_t SHA256_K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static const uint32_t SHA256_IV[8] = {
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
};

static inline uint32_t load_be32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

static inline void store_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static inline void store_be64(uint8_t *p, uint64_t v) {
    store_be32(p, (uint32_t)(v >> 32));
    store_be32(p + 4, (uint32_t)v);
}

/* ---------------------------------------------------------------------------------------------
 * Portable SHA-256
 * ------------------------------------------------------------------------------------------- */

#define ROTR32(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void compress_words_portable(uint32_t state[8], const uint32_t block[16]) {
    uint32_t w[64];
    for (int t = 0; t < 16; t++) w[t] = block[t];
    for (int t = 16; t < 64; t++) {
        uint32_t s0 = ROTR32(w[t - 15], 7) ^ ROTR32(w[t - 15], 18) ^ (w[t - 15] >> 3);
        uint32_t s1 = ROTR32(w[t - 2], 17) ^ ROTR32(w[t - 2], 19) ^ (w[t - 2] >> 10);
        w[t] = w[t - 16] + s0 + w[t - 7] + s1;
    }
    uint32_t a = state[0], b = state[1], c = state[2], d = state[3];
    uint32_t e = state[4], f = state[5], g = state[6], h = state[7];
    for (int t = 0; t < 64; t++) {
        uint32_t t1 = h + (ROTR32(e, 6) ^ ROTR32(e, 11) ^ ROTR32(e, 25)) + ((e & f) ^ (~e & g)) + SHA256_K[t] + w[t];
        uint32_t t2 = (ROTR32(a, 2) ^ ROTR32(a, 13) ^ ROTR32(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        h = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    state[0] += a;
    state[1] += b;
    state[2] += c;
    state[3] += d;
    state[4] += e;
    state[5] += f;
    state[6] += g;
    state[7] += h;
}

static void compress_portable(uint32_t state[8], const uint8_t *data, size_t nblocks) {
    uint32_t block[16];
    for (; nblocks > 0; nblocks--, data += 64) {
        for (int t = 0; t < 16; t++) block[t] = load_be32(data + 4 * t);
        compress_words_portable(state, block);
    }
}

/* h = SHA256(h), `iterations` times, for a 32-byte h: one block with constant padding. */
static void chain_portable(uint8_t digest[32], uint64_t iterations) {
    uint32_t words[8];
    for (int t = 0; t < 8; t++) words[t] = load_be32(digest + 4 * t);
    uint32_t block[16] = {0};
    block[8] = 0x80000000u;
    block[15] = 256;
    for (uint64_t i = 0; i < iterations; i++) {
        memcpy(block, words, sizeof(words));
        memcpy(words, SHA256_IV, sizeof(words));
        compress_words_portable(words, block);
    }
    for (int t = 0; t < 8; t++) store_be32(digest + 4 * t, words[t]);
}

/* ---------------------------------------------------------------------------------------------
 * SHA-256 with the x86 SHA extensions
 *
 * The state lives in two registers in the order the instructions want: ABEF and CDGH (lane 3
 * first). Each group of four rounds adds the round constants to four message words and runs two
 * sha256rnds2 (two rounds each). Message words 16..63 come from sha256msg1/msg2.
 * ------------------------------------------------------------------------------------------- */
#ifdef POET_X86

#define SHANI_TARGET __attribute__((target("sha,sse4.1,ssse3")))

/* Four rounds starting at round 4*group; w[] holds the four most recent message-word groups. */
#define SHANI_GROUP(group, w, state0, state1)                                                        \
    do {                                                                                             \
        if ((group) >= 4) {                                                                          \
            __m128i m1_ = _mm_sha256msg1_epu32(w[(group) & 3], w[((group) + 1) & 3]);               \
            __m128i t7_ = _mm_alignr_epi8(w[((group) + 3) & 3], w[((group) + 2) & 3], 4);           \
            w[(group) & 3] = _mm_sha256msg2_epu32(_mm_add_epi32(m1_, t7_), w[((group) + 3) & 3]);   \
        }                                                                                            \
        __m128i msg_ = _mm_add_epi32(w[(group) & 3], _mm_loadu_si128((const __m128i *)&SHA256_K[4 * (group)])); \
        state1 = _mm_sha256rnds2_epu32(state1, state0, msg_);                                       \
        state0 = _mm_sha256rnds2_epu32(state0, state1, _mm_shuffle_epi32(msg_, 0x0E));              \
    } while (0)

#define SHANI_ALL_ROUNDS(w, s0, s1)                                                                   \
    do {                                                                                             \
        SHANI_GROUP(0, w, s0, s1); SHANI_GROUP(1, w, s0, s1); SHANI_GROUP(2, w, s0, s1);             \
        SHANI_GROUP(3, w, s0, s1); SHANI_GROUP(4, w, s0, s1); SHANI_GROUP(5, w, s0, s1);             \
        SHANI_GROUP(6, w, s0, s1); SHANI_GROUP(7, w, s0, s1); SHANI_GROUP(8, w, s0, s1);             \
        SHANI_GROUP(9, w, s0, s1); SHANI_GROUP(10, w, s0, s1); SHANI_GROUP(11, w, s0, s1);           \
        SHANI_GROUP(12, w, s0, s1); SHANI_GROUP(13, w, s0, s1); SHANI_GROUP(14, w, s0, s1);          \
        SHANI_GROUP(15, w, s0, s1);                                                                  \
    } while (0)

SHANI_TARGET static inline void shani_load_state(const uint32_t state[8], __m128i *abef, __m128i *cdgh) {
    __m128i dcba = _mm_loadu_si128((const __m128i *)&state[0]);
    __m128i hgfe = _mm_loadu_si128((const __m128i *)&state[4]);
    __m128i cdab = _mm_shuffle_epi32(dcba, 0xB1);
    __m128i efgh = _mm_shuffle_epi32(hgfe, 0x1B);
    *abef = _mm_alignr_epi8(cdab, efgh, 8);
    *cdgh = _mm_blend_epi16(efgh, cdab, 0xF0);
}

/* Back to the natural word order: dcba holds words A..D in lanes 0..3, hgfe words E..H. */
SHANI_TARGET static inline void shani_natural_order(__m128i abef, __m128i cdgh, __m128i *dcba, __m128i *hgfe) {
    __m128i feba = _mm_shuffle_epi32(abef, 0x1B);
    __m128i dchg = _mm_shuffle_epi32(cdgh, 0xB1);
    *dcba = _mm_blend_epi16(feba, dchg, 0xF0);
    *hgfe = _mm_alignr_epi8(dchg, feba, 8);
}

SHANI_TARGET static void compress_shani(uint32_t state[8], const uint8_t *data, size_t nblocks) {
    const __m128i byteswap = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
    __m128i s0, s1;
    shani_load_state(state, &s0, &s1);
    for (; nblocks > 0; nblocks--, data += 64) {
        __m128i save0 = s0, save1 = s1;
        __m128i w[4];
        w[0] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(data + 0)), byteswap);
        w[1] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(data + 16)), byteswap);
        w[2] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(data + 32)), byteswap);
        w[3] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(data + 48)), byteswap);
        SHANI_ALL_ROUNDS(w, s0, s1);
        s0 = _mm_add_epi32(s0, save0);
        s1 = _mm_add_epi32(s1, save1);
    }
    __m128i dcba, hgfe;
    shani_natural_order(s0, s1, &dcba, &hgfe);
    _mm_storeu_si128((__m128i *)&state[0], dcba);
    _mm_storeu_si128((__m128i *)&state[4], hgfe);
}

SHANI_TARGET static void chain_shani(uint8_t digest[32], uint64_t iterations) {
    const __m128i byteswap = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
    __m128i iv0, iv1;
    shani_load_state(SHA256_IV, &iv0, &iv1);
    /* Message words 0..7 are the previous digest; 8..15 are the padding of a 256-bit message. */
    __m128i m0 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(digest + 0)), byteswap);
    __m128i m1 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(digest + 16)), byteswap);
    const __m128i pad0 = _mm_set_epi32(0, 0, 0, (int)0x80000000u);
    const __m128i pad1 = _mm_set_epi32(256, 0, 0, 0);
    for (uint64_t i = 0; i < iterations; i++) {
        __m128i s0 = iv0, s1 = iv1;
        __m128i w[4] = {m0, m1, pad0, pad1};
        SHANI_ALL_ROUNDS(w, s0, s1);
        s0 = _mm_add_epi32(s0, iv0);
        s1 = _mm_add_epi32(s1, iv1);
        /* The digest in natural word order is exactly the next message's first eight words. */
        shani_natural_order(s0, s1, &m0, &m1);
    }
    _mm_storeu_si128((__m128i *)(digest + 0), _mm_shuffle_epi8(m0, byteswap));
    _mm_storeu_si128((__m128i *)(digest + 16), _mm_shuffle_epi8(m1, byteswap));
}

static int cpu_has_sha_ni(void) {
    unsigned int eax, ebx, ecx, edx;
    if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return 0;
    int sha = (ebx >> 29) & 1;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return 0;
    int sse41 = (ecx >> 19) & 1, ssse3 = (ecx >> 9) & 1;
    return sha && sse41 && ssse3;
}
#else
static int cpu_has_sha_ni(void) { return 0; }
#endif

/* ---------------------------------------------------------------------------------------------
 * Dispatch
 * ------------------------------------------------------------------------------------------- */

typedef void (*compress_fn)(uint32_t state[8], const uint8_t *data, size_t nblocks);
typedef void (*chain_fn)(uint8_t digest[32], uint64_t iterations);

typedef struct {
    compress_fn compress;
    chain_fn chain;
} sha_impl;

static int resolve_impl(int impl, sha_impl *out) {
    static int has_sha = -1;
    if (has_sha < 0) has_sha = cpu_has_sha_ni();
    if (impl == POET_IMPL_AUTO) impl = has_sha ? POET_IMPL_SHANI : POET_IMPL_PORTABLE;
    if (impl == POET_IMPL_PORTABLE) {
        out->compress = compress_portable;
        out->chain = chain_portable;
        return 0;
    }
#ifdef POET_X86
    if (impl == POET_IMPL_SHANI && has_sha) {
        out->compress = compress_shani;
        out->chain = chain_shani;
        return 0;
    }
#endif
    return -1;
}

/* SHA-256 of a message of any length. */
static void sha256_message(const sha_impl *impl, const uint8_t *msg, size_t len, uint8_t out[32]) {
    uint32_t state[8];
    memcpy(state, SHA256_IV, sizeof(state));
    size_t full = len / 64;
    if (full) impl->compress(state, msg, full);
    uint8_t tail[128] = {0};
    size_t rest = len - full * 64;
    memcpy(tail, msg + full * 64, rest);
    tail[rest] = 0x80;
    size_t tail_blocks = rest + 9 > 64 ? 2 : 1;
    store_be64(tail + tail_blocks * 64 - 8, (uint64_t)len * 8);
    impl->compress(state, tail, tail_blocks);
    for (int t = 0; t < 8; t++) store_be32(out + 4 * t, state[t]);
}

/* Node = SHA256(statement || left || right). */
static void hash_node(const sha_impl *impl, const uint8_t statement[32], const uint8_t left[32],
                      const uint8_t right[32], uint8_t out[32]) {
    uint8_t buf[96];
    memcpy(buf, statement, 32);
    memcpy(buf + 32, left, 32);
    memcpy(buf + 64, right, 32);
    sha256_message(impl, buf, sizeof(buf), out);
}

/* ---------------------------------------------------------------------------------------------
 * Public API (see build_poet_chain.py for the declarations)
 * ------------------------------------------------------------------------------------------- */

#define POET_LABEL_NESTING 400
#define POET_MAX_HEIGHT 64

int poet_has_sha_ni(void) { return cpu_has_sha_ni(); }

int poet_sha256(const uint8_t *msg, size_t len, uint8_t out[32], int impl) {
    sha_impl s;
    if (resolve_impl(impl, &s) != 0) return -1;
    sha256_message(&s, msg, len, out);
    return 0;
}

int poet_sha256_chain(uint8_t digest[32], uint64_t iterations, int impl) {
    sha_impl s;
    if (resolve_impl(impl, &s) != 0) return -1;
    s.chain(digest, iterations);
    return 0;
}

int poet_label_hash(const uint8_t *challenge, size_t challenge_len, const uint8_t *data, size_t data_len,
                    uint32_t nesting, uint8_t out[32], int impl) {
    sha_impl s;
    if (resolve_impl(impl, &s) != 0 || nesting == 0) return -1;
    uint8_t buf[4096];
    if (challenge_len + data_len > sizeof(buf)) return -2;
    memcpy(buf, challenge, challenge_len);
    memcpy(buf + challenge_len, data, data_len);
    sha256_message(&s, buf, challenge_len + data_len, out);
    s.chain(out, nesting - 1);
    return 0;
}

/*
 * Compute leaves first_leaf .. first_leaf+count-1 sequentially.
 * parked: POET_MAX_HEIGHT x 32 bytes; parked[h] is meaningful iff bit h of the current leaf index
 * is set (the incremental tree's parked node at height h). Updated in place.
 * out_leaves: count x 32 bytes, or NULL.
 * stop_flag: when not NULL and set non-zero by another thread, the loop stops early.
 * Returns the number of leaves computed, or -1 for an unavailable implementation.
 */
int64_t poet_compute_leaves(const uint8_t statement[32], uint64_t first_leaf, uint64_t count, uint8_t *parked,
                            uint8_t *out_leaves, volatile const int *stop_flag, int impl) {
    sha_impl s;
    if (resolve_impl(impl, &s) != 0) return -1;
    uint8_t input[32 + 8 + POET_MAX_HEIGHT * 32];
    memcpy(input, statement, 32);
    uint64_t done = 0;
    for (; done < count; done++) {
        if (stop_flag && *stop_flag && (done & 63) == 0) break;
        uint64_t leaf = first_leaf + done;
        store_be64(input + 32, leaf);
        size_t len = 40;
        for (int h = 0; h < POET_MAX_HEIGHT; h++) {
            if ((leaf >> h) & 1) {
                memcpy(input + len, parked + 32 * h, 32);
                len += 32;
            }
        }
        uint8_t label[32];
        sha256_message(&s, input, len, label);
        s.chain(label, POET_LABEL_NESTING - 1);
        if (out_leaves) memcpy(out_leaves + 32 * done, label, 32);
        /* Add the leaf to the tree: merge with parked left siblings while the bits are set. */
        uint8_t carry[32];
        memcpy(carry, label, 32);
        int h = 0;
        while (h < POET_MAX_HEIGHT && ((leaf >> h) & 1)) {
            hash_node(&s, statement, parked + 32 * h, carry, carry);
            h++;
        }
        if (h < POET_MAX_HEIGHT) memcpy(parked + 32 * h, carry, 32);
    }
    return (int64_t)done;
}

/* parent[j] = SHA256(statement || child[2j] || child[2j+1]); a missing right child is 32 zero bytes. */
int poet_hash_layer(const uint8_t statement[32], const uint8_t *child, uint64_t n_child, uint8_t *parent, int impl) {
    sha_impl s;
    if (resolve_impl(impl, &s) != 0) return -1;
    static const uint8_t zero[32] = {0};
    for (uint64_t j = 0; 2 * j < n_child; j++) {
        const uint8_t *right = 2 * j + 1 < n_child ? child + 32 * (2 * j + 1) : zero;
        hash_node(&s, statement, child + 64 * j, right, parent + 32 * j);
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * RIPEMD-256 and the registration proof of work
 * ------------------------------------------------------------------------------------------- */

static const uint8_t RMD_WL[64] = {
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 7, 4, 13, 1, 10, 6, 15, 3, 12, 0, 9, 5, 2, 14, 11, 8,
    3, 10, 14, 4, 9, 15, 8, 1, 2, 7, 0, 6, 13, 11, 5, 12, 1, 9, 11, 10, 0, 8, 12, 4, 13, 3, 7, 15, 14, 5, 6, 2};
static const uint8_t RMD_WR[64] = {
    5, 14, 7, 0, 9, 2, 11, 4, 13, 6, 15, 8, 1, 10, 3, 12, 6, 11, 3, 7, 0, 13, 5, 10, 14, 15, 8, 12, 4, 9, 1, 2,
    15, 5, 1, 3, 7, 14, 6, 9, 11, 8, 12, 2, 10, 0, 4, 13, 8, 6, 4, 1, 3, 11, 15, 0, 5, 12, 2, 13, 9, 7, 10, 14};
static const uint8_t RMD_SL[64] = {
    11, 14, 15, 12, 5, 8, 7, 9, 11, 13, 14, 15, 6, 7, 9, 8, 7, 6, 8, 13, 11, 9, 7, 15, 7, 12, 15, 9, 11, 7, 13, 12,
    11, 13, 6, 7, 14, 9, 13, 15, 14, 8, 13, 6, 5, 12, 7, 5, 11, 12, 14, 15, 14, 15, 9, 8, 9, 14, 5, 6, 8, 6, 5, 12};
static const uint8_t RMD_SR[64] = {
    8, 9, 9, 11, 13, 15, 15, 5, 7, 7, 8, 11, 14, 14, 12, 6, 9, 13, 15, 7, 12, 8, 9, 11, 7, 7, 12, 7, 6, 15, 13, 11,
    9, 7, 15, 11, 8, 6, 6, 14, 12, 13, 5, 14, 13, 13, 7, 5, 15, 5, 8, 11, 14, 14, 6, 14, 6, 9, 12, 9, 12, 5, 15, 8};
static const uint32_t RMD_KL[4] = {0x00000000u, 0x5A827999u, 0x6ED9EBA1u, 0x8F1BBCDCu};
static const uint32_t RMD_KR[4] = {0x50A28BE6u, 0x5C4DD124u, 0x6D703EF3u, 0x00000000u};

#define ROTL32(x, n) (((x) << (n)) | ((x) >> (32 - (n))))

static inline uint32_t rmd_f(int round, uint32_t x, uint32_t y, uint32_t z) {
    switch (round) {
    case 0: return x ^ y ^ z;
    case 1: return (x & y) | (~x & z);
    case 2: return (x | ~y) ^ z;
    default: return (x & z) | (y & ~z);
    }
}

static void rmd256_compress(uint32_t st[8], const uint8_t block[64]) {
    uint32_t x[16];
    for (int i = 0; i < 16; i++)
        x[i] = (uint32_t)block[4 * i] | ((uint32_t)block[4 * i + 1] << 8) | ((uint32_t)block[4 * i + 2] << 16) |
               ((uint32_t)block[4 * i + 3] << 24);
    uint32_t a = st[0], b = st[1], c = st[2], d = st[3], a2 = st[4], b2 = st[5], c2 = st[6], d2 = st[7], t;
    for (int r = 0; r < 4; r++) {
        for (int j = 16 * r; j < 16 * r + 16; j++) {
            t = a + rmd_f(r, b, c, d) + x[RMD_WL[j]] + RMD_KL[r];
            t = ROTL32(t, RMD_SL[j]);
            a = d; d = c; c = b; b = t;
            t = a2 + rmd_f(3 - r, b2, c2, d2) + x[RMD_WR[j]] + RMD_KR[r];
            t = ROTL32(t, RMD_SR[j]);
            a2 = d2; d2 = c2; c2 = b2; b2 = t;
        }
        switch (r) {
        case 0: t = a; a = a2; a2 = t; break;
        case 1: t = b; b = b2; b2 = t; break;
        case 2: t = c; c = c2; c2 = t; break;
        default: t = d; d = d2; d2 = t; break;
        }
    }
    st[0] += a; st[1] += b; st[2] += c; st[3] += d;
    st[4] += a2; st[5] += b2; st[6] += c2; st[7] += d2;
}

static void rmd256_message(const uint8_t *msg, size_t len, uint8_t out[32]) {
    uint32_t st[8] = {0x67452301u, 0xEFCDAB89u, 0x98BADCFEu, 0x10325476u,
                      0x76543210u, 0xFEDCBA98u, 0x89ABCDEFu, 0x01234567u};
    size_t off = 0;
    for (; off + 64 <= len; off += 64) rmd256_compress(st, msg + off);
    uint8_t tail[128] = {0};
    size_t rest = len - off;
    memcpy(tail, msg + off, rest);
    tail[rest] = 0x80;
    size_t blocks = rest + 9 > 64 ? 2 : 1;
    uint64_t bits = (uint64_t)len * 8;
    for (int i = 0; i < 8; i++) tail[blocks * 64 - 8 + i] = (uint8_t)(bits >> (8 * i));
    for (size_t i = 0; i < blocks; i++) rmd256_compress(st, tail + 64 * i);
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (uint8_t)st[i];
        out[4 * i + 1] = (uint8_t)(st[i] >> 8);
        out[4 * i + 2] = (uint8_t)(st[i] >> 16);
        out[4 * i + 3] = (uint8_t)(st[i] >> 24);
    }
}

int poet_ripemd256(const uint8_t *msg, size_t len, uint8_t out[32]) {
    rmd256_message(msg, len, out);
    return 0;
}

static int has_leading_zero_bits(const uint8_t *data, uint32_t bits) {
    if (bits > 256) return 0;
    uint32_t whole = bits / 8, rest = bits % 8;
    for (uint32_t i = 0; i < whole; i++)
        if (data[i]) return 0;
    return rest == 0 || (data[whole] >> (8 - rest)) == 0;
}

/*
 * Search nonce = start, start+1, ... (at most max_tries) for RIPEMD-256(prefix || LE64(nonce)) with
 * `difficulty` leading zero bits. Returns 1 and sets *found when one is found, 0 otherwise.
 */
int poet_find_pow_nonce(const uint8_t *prefix, size_t prefix_len, uint32_t difficulty, uint64_t start,
                        uint64_t max_tries, uint64_t *found) {
    uint8_t buf[1024 + 8], digest[32];
    if (prefix_len > 1024) return -1;
    memcpy(buf, prefix, prefix_len);
    for (uint64_t i = 0; i < max_tries; i++) {
        uint64_t nonce = start + i;
        for (int b = 0; b < 8; b++) buf[prefix_len + b] = (uint8_t)(nonce >> (8 * b));
        rmd256_message(buf, prefix_len + 8, digest);
        if (has_leading_zero_bits(digest, difficulty)) {
            *found = nonce;
            return 1;
        }
    }
    return 0;
}
