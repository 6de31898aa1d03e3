/*
 * Lane-parallel scrypt-jane ROMix (r = 1, ChaCha20/8 core): one label per SIMD lane.
 *
 * This file is a template included several times by scrypt_labels.c, once per instruction set,
 * inside a "#pragma GCC target" region.  Before including it the includer defines:
 *   SM_LANES               number of 32-bit lanes of the vector type (4, 8 or 16)
 *   SM_FN(name)            a name mangler giving every instantiation its own symbols
 *   SM_LOAD_LANES(x, src)  load 32 words from each of SM_LANES lane pointers, transposed, into x[32]
 *   SM_STORE_LANES(dst, x) store x[32] transposed: lane l's 32 words go to dst[l]
 * The arithmetic is written with GCC vector extensions (the compiler picks the instructions of the
 * target); only the transposes between "one label per lane" and "one word per vector" are ISA specific.
 *
 * Layout of the scratch memory: lane l owns V + l*N*32 words, entry k of lane l is 32 consecutive
 * words (the 128-byte scrypt block), exactly as in the one-label code: each random read of the second
 * loop touches two cache lines per lane.
 */

typedef uint32_t SM_FN(vec) __attribute__((vector_size(4 * SM_LANES)));

#define SM_ROTL(v, c) (((v) << (c)) | ((v) >> (32 - (c))))
/* an includer may provide cheaper byte-shuffle rotations by 16 and 8 */
#ifndef SM_ROTL16
#define SM_ROTL16(v) SM_ROTL(v, 16)
#define SM_ROTL16_DEFAULT
#endif
#ifndef SM_ROTL8
#define SM_ROTL8(v) SM_ROTL(v, 8)
#define SM_ROTL8_DEFAULT
#endif
#define SM_QR(a, b, c, d)                                                                                    \
    do {                                                                                                     \
        a += b; d ^= a; d = SM_ROTL16(d);                                                                    \
        c += d; b ^= c; b = SM_ROTL(b, 12);                                                                  \
        a += b; d ^= a; d = SM_ROTL8(d);                                                                     \
        c += d; b ^= c; b = SM_ROTL(b, 7);                                                                   \
    } while (0)

/* t = ChaCha20/8(t) + t, on SM_LANES independent blocks at once */
static inline __attribute__((always_inline)) void SM_FN(chacha8_core)(SM_FN(vec) t[16])
{
    SM_FN(vec) x0 = t[0], x1 = t[1], x2 = t[2], x3 = t[3], x4 = t[4], x5 = t[5], x6 = t[6], x7 = t[7];
    SM_FN(vec) x8 = t[8], x9 = t[9], x10 = t[10], x11 = t[11], x12 = t[12], x13 = t[13], x14 = t[14],
               x15 = t[15];
    for (int round = 0; round < 4; round++) {
        SM_QR(x0, x4, x8, x12);
        SM_QR(x1, x5, x9, x13);
        SM_QR(x2, x6, x10, x14);
        SM_QR(x3, x7, x11, x15);
        SM_QR(x0, x5, x10, x15);
        SM_QR(x1, x6, x11, x12);
        SM_QR(x2, x7, x8, x13);
        SM_QR(x3, x4, x9, x14);
    }
    t[0] += x0; t[1] += x1; t[2] += x2; t[3] += x3; t[4] += x4; t[5] += x5; t[6] += x6; t[7] += x7;
    t[8] += x8; t[9] += x9; t[10] += x10; t[11] += x11; t[12] += x12; t[13] += x13; t[14] += x14;
    t[15] += x15;
}

/* BlockMix for r = 1: X = B0 || B1 -> core(B1 ^ B0) || core(that ^ B1) */
static inline __attribute__((always_inline)) void SM_FN(blockmix)(SM_FN(vec) x[32])
{
    SM_FN(vec) t[16];
    for (int i = 0; i < 16; i++)
        t[i] = x[i] ^ x[16 + i];
    SM_FN(chacha8_core)(t);
    for (int i = 0; i < 16; i++) {
        x[i] = t[i];
        t[i] ^= x[16 + i];
    }
    SM_FN(chacha8_core)(t);
    for (int i = 0; i < 16; i++)
        x[16 + i] = t[i];
}

/*
 * ROMix of SM_LANES independent 128-byte chunks.  lane_words[l] points to lane l's 32 words (input and
 * output, little-endian words already in host order); scratch holds SM_LANES * n * 32 words.
 */
static void SM_FN(romix_lanes)(uint32_t *const lane_words[SM_LANES], uint32_t *scratch, uint32_t n)
{
    SM_FN(vec) x[32], v[32];
    uint32_t *rows[SM_LANES];
    const uint32_t mask = n - 1;
    SM_LOAD_LANES(x, (const uint32_t *const *)lane_words);
    for (uint32_t k = 0; k < n; k++) {
        for (int l = 0; l < SM_LANES; l++)
            rows[l] = scratch + ((size_t)l * n + k) * 32;
        SM_STORE_LANES(rows, x);
        SM_FN(blockmix)(x);
    }
    for (uint32_t k = 0; k < n; k++) {
        for (int l = 0; l < SM_LANES; l++)
            rows[l] = scratch + ((size_t)l * n + (x[16][l] & mask)) * 32;
        SM_LOAD_LANES(v, (const uint32_t *const *)rows);
        for (int i = 0; i < 32; i++)
            x[i] ^= v[i];
        SM_FN(blockmix)(x);
    }
    SM_STORE_LANES(lane_words, x);
}

#undef SM_QR
#undef SM_ROTL
#ifdef SM_ROTL16_DEFAULT
#undef SM_ROTL16
#undef SM_ROTL16_DEFAULT
#endif
#ifdef SM_ROTL8_DEFAULT
#undef SM_ROTL8
#undef SM_ROTL8_DEFAULT
#endif
