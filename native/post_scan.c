/*
 * PoST proving scan (Prover8_56, ../shared/spec/post-poet.md section 2.3) in C.
 *
 * One call scans a batch of consecutive 16-byte labels for every nonce group of a proving pass:
 * each label is encrypted once per group with the group's AES-128 key and byte j of the cipher text
 * serves nonce 16*g + j.  A label qualifies for a nonce when that byte is below the top byte of the
 * difficulty, or equal to it and the low 56 bits of the label encrypted with the nonce's own key are
 * below the low 56 bits of the difficulty (the lazy second AES, run only on such ties).
 *
 * For every nonce the call returns how many labels of the batch qualified and the first k2 of their
 * absolute indices in label order; the caller (spacemesh_core/post/prover.py) merges batches in data
 * order, which makes the result independent of how batches were spread over threads.
 *
 * AES implementations, chosen at run time (one build runs on every x86-64 CPU):
 *   PS_IMPL_PORTABLE  byte-oriented AES in plain C (any CPU, slow)
 *   PS_IMPL_AESNI     AES-NI, 8 blocks in flight
 *   PS_IMPL_VAES256   VAES on 256-bit registers (AVX2), 16 blocks in flight
 *   PS_IMPL_VAES512   VAES on 512-bit registers (AVX-512F/BW), 32 blocks in flight
 * The readable reference is spacemesh_core/post/prove_reference.py.  cffi releases the GIL for the
 * duration of every call; the functions keep no global state, so any number of threads may call them.
 */

#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#define PS_X86 1
#include <cpuid.h>
#include <immintrin.h>
#else
#define PS_X86 0
#endif

#include "post_scan.h"

#define PS_LABEL 16
#define PS_ROUNDS 10
#define PS_LSB_MASK 0x00ffffffffffffffULL
/* Labels scanned for all groups before moving on, so a sub-block stays in L2 across groups. */
#define PS_SUBBLOCK_LABELS 4096u

/* ------------------------------------------------------------------------------------------------ */
/* Portable AES-128 (FIPS-197), used for the key schedule, the fallback scan and as the oracle.     */
/* ------------------------------------------------------------------------------------------------ */

static const uint8_t ps_sbox[256] = {
    0x63, 0x7c, 0x77, 0x7b, 0xf2, 0x6b, 0x6f, 0xc5, 0x30, 0x01, 0x67, 0x2b, 0xfe, 0xd7, 0xab, 0x76,
    0xca, 0x82, 0xc9, 0x7d, 0xfa, 0x59, 0x47, 0xf0, 0xad, 0xd4, 0xa2, 0xaf, 0x9c, 0xa4, 0x72, 0xc0,
    0xb7, 0xfd, 0x93, 0x26, 0x36, 0x3f, 0xf7, 0xcc, 0x34, 0xa5, 0xe5, 0xf1, 0x71, 0xd8, 0x31, 0x15,
    0x04, 0xc7, 0x23, 0xc3, 0x18, 0x96, 0x05, 0x9a, 0x07, 0x12, 0x80, 0xe2, 0xeb, 0x27, 0xb2, 0x75,
    0x09, 0x83, 0x2c, 0x1a, 0x1b, 0x6e, 0x5a, 0xa0, 0x52, 0x3b, 0xd6, 0xb3, 0x29, 0xe3, 0x2f, 0x84,
    0x53, 0xd1, 0x00, 0xed, 0x20, 0xfc, 0xb1, 0x5b, 0x6a, 0xcb, 0xbe, 0x39, 0x4a, 0x4c, 0x58, 0xcf,
    0xd0, 0xef, 0xaa, 0xfb, 0x43, 0x4d, 0x33, 0x85, 0x45, 0xf9, 0x02, 0x7f, 0x50, 0x3c, 0x9f, 0xa8,
    0x51, 0xa3, 0x40, 0x8f, 0x92, 0x9d, 0x38, 0xf5, 0xbc, 0xb6, 0xda, 0x21, 0x10, 0xff, 0xf3, 0xd2,
    0xcd, 0x0c, 0x13, 0xec, 0x5f, 0x97, 0x44, 0x17, 0xc4, 0xa7, 0x7e, 0x3d, 0x64, 0x5d, 0x19, 0x73,
    0x60, 0x81, 0x4f, 0xdc, 0x22, 0x2a, 0x90, 0x88, 0x46, 0xee, 0xb8, 0x14, 0xde, 0x5e, 0x0b, 0xdb,
    0xe0, 0x32, 0x3a, 0x0a, 0x49, 0x06, 0x24, 0x5c, 0xc2, 0xd3, 0xac, 0x62, 0x91, 0x95, 0xe4, 0x79,
    0xe7, 0xc8, 0x37, 0x6d, 0x8d, 0xd5, 0x4e, 0xa9, 0x6c, 0x56, 0xf4, 0xea, 0x65, 0x7a, 0xae, 0x08,
    0xba, 0x78, 0x25, 0x2e, 0x1c, 0xa6, 0xb4, 0xc6, 0xe8, 0xdd, 0x74, 0x1f, 0x4b, 0xbd, 0x8b, 0x8a,
    0x70, 0x3e, 0xb5, 0x66, 0x48, 0x03, 0xf6, 0x0e, 0x61, 0x35, 0x57, 0xb9, 0x86, 0xc1, 0x1d, 0x9e,
    0xe1, 0xf8, 0x98, 0x11, 0x69, 0xd9, 0x8e, 0x94, 0x9b, 0x1e, 0x87, 0xe9, 0xce, 0x55, 0x28, 0xdf,
    0x8c, 0xa1, 0x89, 0x0d, 0xbf, 0xe6, 0x42, 0x68, 0x41, 0x99, 0x2d, 0x0f, 0xb0, 0x54, 0xbb, 0x16,
};

static const uint8_t ps_rcon[10] = {0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0x1b, 0x36};

void ps_expand_key(const uint8_t *key, uint8_t *round_keys)
{
    memcpy(round_keys, key, 16);
    for (int word = 4; word < 4 * (PS_ROUNDS + 1); word++) {
        uint8_t t[4];
        memcpy(t, round_keys + 4 * (word - 1), 4);
        if (word % 4 == 0) {
            /* RotWord, SubWord, Rcon */
            uint8_t first = t[0];
            t[0] = (uint8_t)(ps_sbox[t[1]] ^ ps_rcon[word / 4 - 1]);
            t[1] = ps_sbox[t[2]];
            t[2] = ps_sbox[t[3]];
            t[3] = ps_sbox[first];
        }
        for (int b = 0; b < 4; b++)
            round_keys[4 * word + b] = (uint8_t)(round_keys[4 * (word - 4) + b] ^ t[b]);
    }
}

void ps_expand_keys(const uint8_t *keys, uint32_t count, uint8_t *round_keys)
{
    for (uint32_t i = 0; i < count; i++)
        ps_expand_key(keys + 16u * i, round_keys + (size_t)PS_ROUND_KEYS_SIZE * i);
}

static inline uint8_t ps_xtime(uint8_t x)
{
    return (uint8_t)((x << 1) ^ ((x >> 7) * 0x1b));
}

static void ps_encrypt_block_portable(const uint8_t *round_keys, const uint8_t *in, uint8_t *out)
{
    uint8_t s[16], t[16];
    for (int i = 0; i < 16; i++)
        s[i] = (uint8_t)(in[i] ^ round_keys[i]);
    for (int round = 1; round <= PS_ROUNDS; round++) {
        /* SubBytes and ShiftRows: the state is column-major, byte 4*c + r is row r of column c */
        for (int c = 0; c < 4; c++)
            for (int r = 0; r < 4; r++)
                t[4 * c + r] = ps_sbox[s[4 * ((c + r) & 3) + r]];
        if (round != PS_ROUNDS) {
            for (int c = 0; c < 4; c++) {
                uint8_t a0 = t[4 * c], a1 = t[4 * c + 1], a2 = t[4 * c + 2], a3 = t[4 * c + 3];
                uint8_t all = (uint8_t)(a0 ^ a1 ^ a2 ^ a3);
                t[4 * c] = (uint8_t)(a0 ^ all ^ ps_xtime((uint8_t)(a0 ^ a1)));
                t[4 * c + 1] = (uint8_t)(a1 ^ all ^ ps_xtime((uint8_t)(a1 ^ a2)));
                t[4 * c + 2] = (uint8_t)(a2 ^ all ^ ps_xtime((uint8_t)(a2 ^ a3)));
                t[4 * c + 3] = (uint8_t)(a3 ^ all ^ ps_xtime((uint8_t)(a3 ^ a0)));
            }
        }
        for (int i = 0; i < 16; i++)
            s[i] = (uint8_t)(t[i] ^ round_keys[16 * round + i]);
    }
    memcpy(out, s, 16);
}

/* ------------------------------------------------------------------------------------------------ */
/* CPU feature detection                                                                             */
/* ------------------------------------------------------------------------------------------------ */

#if PS_X86
static uint64_t ps_xgetbv0(void)
{
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}
#endif

int ps_is_impl_supported(int impl)
{
    if (impl == PS_IMPL_PORTABLE)
        return 1;
#if PS_X86
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return 0;
    int has_aes = (c >> 25) & 1, has_sse41 = (c >> 19) & 1, has_osxsave = (c >> 27) & 1;
    if (impl == PS_IMPL_AESNI)
        return has_aes && has_sse41;
    if (!has_aes || !has_osxsave)
        return 0;
    uint64_t xcr0 = ps_xgetbv0();
    int os_avx = (xcr0 & 0x6) == 0x6, os_avx512 = (xcr0 & 0xe6) == 0xe6;
    if (__get_cpuid_max(0, 0) < 7)
        return 0;
    __cpuid_count(7, 0, a, b, c, d);
    int has_avx2 = (b >> 5) & 1, has_avx512f = (b >> 16) & 1, has_avx512bw = (b >> 30) & 1;
    int has_vaes = (c >> 9) & 1;
    if (impl == PS_IMPL_VAES256)
        return os_avx && has_avx2 && has_vaes;
    if (impl == PS_IMPL_VAES512)
        return os_avx512 && has_avx512f && has_avx512bw && has_vaes;
#endif
    return 0;
}

int ps_get_best_impl(void)
{
    for (int impl = PS_IMPL_COUNT - 1; impl > PS_IMPL_PORTABLE; impl--)
        if (ps_is_impl_supported(impl))
            return impl;
    return PS_IMPL_PORTABLE;
}

/* ------------------------------------------------------------------------------------------------ */
/* Shared scan logic                                                                                  */
/* ------------------------------------------------------------------------------------------------ */

typedef void (*ps_encrypt1_fn)(const uint8_t *round_keys, const uint8_t *in, uint8_t *out);

typedef struct {
    const uint8_t *labels;          /* the batch */
    uint64_t first_index;           /* absolute index of labels[0] */
    const uint8_t *nonce_round_keys; /* 176 bytes per nonce of the pass */
    uint8_t msb;
    uint64_t lsb;
    uint32_t k2;
    uint32_t *counts;
    uint64_t *hits;
    ps_encrypt1_fn encrypt1;
} ps_scan;

static inline void ps_record(const ps_scan *s, uint32_t slot, uint64_t index)
{
    uint32_t count = s->counts[slot];
    if (count < s->k2)
        s->hits[(uint64_t)slot * s->k2 + count] = index;
    s->counts[slot] = count + 1;
}

static inline uint64_t ps_load_le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* Decide label `pos` (batch position) for nonce slot `slot` given its group cipher byte. */
static inline void ps_check_byte(const ps_scan *s, uint8_t byte, uint32_t slot, uint64_t pos)
{
    if (byte < s->msb) {
        ps_record(s, slot, s->first_index + pos);
    } else if (byte == s->msb) {
        uint8_t out[16];
        s->encrypt1(s->nonce_round_keys + (size_t)PS_ROUND_KEYS_SIZE * slot, s->labels + PS_LABEL * pos, out);
        if ((ps_load_le64(out) & PS_LSB_MASK) < s->lsb)
            ps_record(s, slot, s->first_index + pos);
    }
}

/* Check `count` cipher blocks (starting at batch position `pos`) of group slot base `slot0`. */
static void ps_check_blocks(const ps_scan *s, const uint8_t *cipher, uint32_t count, uint32_t slot0, uint64_t pos)
{
    for (uint32_t b = 0; b < count; b++)
        for (uint32_t j = 0; j < 16; j++)
            if (cipher[16 * b + j] <= s->msb)
                ps_check_byte(s, cipher[16 * b + j], slot0 + j, pos + b);
}

static void ps_scan_group_portable(const ps_scan *s, const uint8_t *round_keys, uint32_t slot0, uint64_t start,
                                   uint64_t end)
{
    uint8_t cipher[16];
    for (uint64_t pos = start; pos < end; pos++) {
        ps_encrypt_block_portable(round_keys, s->labels + PS_LABEL * pos, cipher);
        ps_check_blocks(s, cipher, 1, slot0, pos);
    }
}

/* ------------------------------------------------------------------------------------------------ */
/* AES-NI                                                                                             */
/* ------------------------------------------------------------------------------------------------ */

#if PS_X86
__attribute__((target("aes,sse4.1"))) static void ps_encrypt_block_aesni(const uint8_t *round_keys,
                                                                            const uint8_t *in, uint8_t *out)
{
    __m128i x = _mm_xor_si128(_mm_loadu_si128((const __m128i *)in), _mm_loadu_si128((const __m128i *)round_keys));
    for (int r = 1; r < PS_ROUNDS; r++)
        x = _mm_aesenc_si128(x, _mm_loadu_si128((const __m128i *)(round_keys + 16 * r)));
    x = _mm_aesenclast_si128(x, _mm_loadu_si128((const __m128i *)(round_keys + 16 * PS_ROUNDS)));
    _mm_storeu_si128((__m128i *)out, x);
}

#define PS_AESNI_LANES 8
__attribute__((target("aes,sse4.1"))) static void ps_scan_group_aesni(const ps_scan *s, const uint8_t *round_keys,
                                                                        uint32_t slot0, uint64_t start, uint64_t end)
{
    __m128i k[PS_ROUNDS + 1];
    for (int r = 0; r <= PS_ROUNDS; r++)
        k[r] = _mm_loadu_si128((const __m128i *)(round_keys + 16 * r));
    const __m128i bound = _mm_set1_epi8((char)s->msb);
    const uint8_t *data = s->labels;
    uint64_t pos = start;
    for (; pos + PS_AESNI_LANES <= end; pos += PS_AESNI_LANES) {
        __m128i x[PS_AESNI_LANES];
        for (int l = 0; l < PS_AESNI_LANES; l++)
            x[l] = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(data + PS_LABEL * (pos + l))), k[0]);
        for (int r = 1; r < PS_ROUNDS; r++)
            for (int l = 0; l < PS_AESNI_LANES; l++)
                x[l] = _mm_aesenc_si128(x[l], k[r]);
        __m128i any = _mm_setzero_si128();
        for (int l = 0; l < PS_AESNI_LANES; l++) {
            x[l] = _mm_aesenclast_si128(x[l], k[PS_ROUNDS]);
            /* bytes <= msb: min(x, msb) == x */
            any = _mm_or_si128(any, _mm_cmpeq_epi8(_mm_min_epu8(x[l], bound), x[l]));
        }
        if (!_mm_testz_si128(any, any)) {
            uint8_t cipher[16 * PS_AESNI_LANES];
            for (int l = 0; l < PS_AESNI_LANES; l++)
                _mm_storeu_si128((__m128i *)(cipher + 16 * l), x[l]);
            ps_check_blocks(s, cipher, PS_AESNI_LANES, slot0, pos);
        }
    }
    for (; pos < end; pos++) {
        uint8_t cipher[16];
        ps_encrypt_block_aesni(round_keys, data + PS_LABEL * pos, cipher);
        ps_check_blocks(s, cipher, 1, slot0, pos);
    }
}

/* ------------------------------------------------------------------------------------------------ */
/* VAES, 256-bit (two blocks per register)                                                            */
/* ------------------------------------------------------------------------------------------------ */

#define PS_VAES256_REGS 8 /* 16 labels in flight */
__attribute__((target("avx2,aes,vaes"))) static void ps_scan_group_vaes256(const ps_scan *s,
                                                                             const uint8_t *round_keys,
                                                                             uint32_t slot0, uint64_t start,
                                                                             uint64_t end)
{
    __m256i k[PS_ROUNDS + 1];
    for (int r = 0; r <= PS_ROUNDS; r++)
        k[r] = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(round_keys + 16 * r)));
    const __m256i bound = _mm256_set1_epi8((char)s->msb);
    const uint8_t *data = s->labels;
    uint64_t pos = start;
    const uint64_t step = 2 * PS_VAES256_REGS;
    for (; pos + step <= end; pos += step) {
        __m256i x[PS_VAES256_REGS];
        for (int l = 0; l < PS_VAES256_REGS; l++)
            x[l] = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(data + PS_LABEL * (pos + 2 * l))), k[0]);
        for (int r = 1; r < PS_ROUNDS; r++)
            for (int l = 0; l < PS_VAES256_REGS; l++)
                x[l] = _mm256_aesenc_epi128(x[l], k[r]);
        __m256i any = _mm256_setzero_si256();
        for (int l = 0; l < PS_VAES256_REGS; l++) {
            x[l] = _mm256_aesenclast_epi128(x[l], k[PS_ROUNDS]);
            any = _mm256_or_si256(any, _mm256_cmpeq_epi8(_mm256_min_epu8(x[l], bound), x[l]));
        }
        if (!_mm256_testz_si256(any, any)) {
            uint8_t cipher[32 * PS_VAES256_REGS];
            for (int l = 0; l < PS_VAES256_REGS; l++)
                _mm256_storeu_si256((__m256i *)(cipher + 32 * l), x[l]);
            ps_check_blocks(s, cipher, (uint32_t)step, slot0, pos);
        }
    }
    if (pos < end)
        ps_scan_group_aesni(s, round_keys, slot0, pos, end);
}

/* ------------------------------------------------------------------------------------------------ */
/* VAES, 512-bit (four blocks per register)                                                           */
/* ------------------------------------------------------------------------------------------------ */

#define PS_VAES512_REGS 8 /* 32 labels in flight */
__attribute__((target("avx512f,avx512bw,aes,vaes"))) static void ps_scan_group_vaes512(const ps_scan *s,
                                                                                         const uint8_t *round_keys,
                                                                                         uint32_t slot0,
                                                                                         uint64_t start,
                                                                                         uint64_t end)
{
    __m512i k[PS_ROUNDS + 1];
    for (int r = 0; r <= PS_ROUNDS; r++)
        k[r] = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(round_keys + 16 * r)));
    const __m512i bound = _mm512_set1_epi8((char)s->msb);
    const uint8_t *data = s->labels;
    uint64_t pos = start;
    const uint64_t step = 4 * PS_VAES512_REGS;
    for (; pos + step <= end; pos += step) {
        __m512i x[PS_VAES512_REGS];
        for (int l = 0; l < PS_VAES512_REGS; l++)
            x[l] = _mm512_xor_si512(_mm512_loadu_si512((const void *)(data + PS_LABEL * (pos + 4 * l))), k[0]);
        for (int r = 1; r < PS_ROUNDS; r++)
            for (int l = 0; l < PS_VAES512_REGS; l++)
                x[l] = _mm512_aesenc_epi128(x[l], k[r]);
        __mmask64 masks[PS_VAES512_REGS];
        __mmask64 any = 0;
        for (int l = 0; l < PS_VAES512_REGS; l++) {
            x[l] = _mm512_aesenclast_epi128(x[l], k[PS_ROUNDS]);
            masks[l] = _mm512_cmple_epu8_mask(x[l], bound);
            any |= masks[l];
        }
        if (any) {
            for (int l = 0; l < PS_VAES512_REGS; l++) {
                if (!masks[l])
                    continue;
                uint8_t cipher[64];
                _mm512_storeu_si512((void *)cipher, x[l]);
                /* ascending bit order = label order, then nonce order */
                for (uint64_t m = masks[l]; m; m &= m - 1) {
                    unsigned bit = (unsigned)__builtin_ctzll(m);
                    ps_check_byte(s, cipher[bit], slot0 + (bit & 15u), pos + 4u * (unsigned)l + (bit >> 4));
                }
            }
        }
    }
    if (pos < end)
        ps_scan_group_aesni(s, round_keys, slot0, pos, end);
}
#endif /* PS_X86 */

/* ------------------------------------------------------------------------------------------------ */
/* Entry point                                                                                        */
/* ------------------------------------------------------------------------------------------------ */

typedef void (*ps_group_fn)(const ps_scan *s, const uint8_t *round_keys, uint32_t slot0, uint64_t start,
                            uint64_t end);

int ps_scan_batch(const uint8_t *labels, uint64_t label_count, uint64_t first_index, const uint8_t *group_round_keys,
                  uint32_t group_count, const uint8_t *nonce_round_keys, uint8_t difficulty_msb,
                  uint64_t difficulty_lsb, uint32_t k2, uint32_t *counts, uint64_t *hits, int impl)
{
    if ((label_count && !labels) || !group_round_keys || !nonce_round_keys || !counts || !hits || k2 == 0 ||
        group_count == 0)
        return PS_ERR_PARAMS;
    if (impl == PS_IMPL_AUTO)
        impl = ps_get_best_impl();
    if (impl < 0 || impl >= PS_IMPL_COUNT || !ps_is_impl_supported(impl))
        return PS_ERR_IMPL;

    ps_scan s;
    s.labels = labels;
    s.first_index = first_index;
    s.nonce_round_keys = nonce_round_keys;
    s.msb = difficulty_msb;
    s.lsb = difficulty_lsb;
    s.k2 = k2;
    s.counts = counts;
    s.hits = hits;
    s.encrypt1 = ps_encrypt_block_portable;
    ps_group_fn scan_group = ps_scan_group_portable;
#if PS_X86
    if (impl != PS_IMPL_PORTABLE)
        s.encrypt1 = ps_encrypt_block_aesni;
    if (impl == PS_IMPL_AESNI)
        scan_group = ps_scan_group_aesni;
    else if (impl == PS_IMPL_VAES256)
        scan_group = ps_scan_group_vaes256;
    else if (impl == PS_IMPL_VAES512)
        scan_group = ps_scan_group_vaes512;
#endif
    memset(counts, 0, sizeof(uint32_t) * 16u * group_count);

    /* Sub-blocks keep the labels cache-resident while every group's cipher runs over them; per nonce
       the labels are still visited in increasing order, so the first k2 hits are the batch's first. */
    for (uint64_t start = 0; start < label_count; start += PS_SUBBLOCK_LABELS) {
        uint64_t end = start + PS_SUBBLOCK_LABELS < label_count ? start + PS_SUBBLOCK_LABELS : label_count;
        for (uint32_t g = 0; g < group_count; g++)
            scan_group(&s, group_round_keys + (size_t)PS_ROUND_KEYS_SIZE * g, 16u * g, start, end);
    }
    return PS_OK;
}

int ps_encrypt_ecb(const uint8_t *round_keys, const uint8_t *in, uint64_t blocks, uint8_t *out, int impl)
{
    if (impl == PS_IMPL_AUTO)
        impl = ps_get_best_impl();
    if (impl < 0 || impl >= PS_IMPL_COUNT || !ps_is_impl_supported(impl))
        return PS_ERR_IMPL;
    ps_encrypt1_fn encrypt1 = ps_encrypt_block_portable;
#if PS_X86
    if (impl != PS_IMPL_PORTABLE)
        encrypt1 = ps_encrypt_block_aesni;
#endif
    for (uint64_t b = 0; b < blocks; b++)
        encrypt1(round_keys, in + 16 * b, out + 16 * b);
    return PS_OK;
}
