/*
 * PoST labels on an NVIDIA GPU: scrypt-jane (Keccak-512 with the original padding, ChaCha20/8 mix),
 * r = p = 1, any power-of-two N, one thread per label (../shared/spec/post-poet.md sections 1.3, 1.6).
 *
 *   out32(i) = scrypt-jane(P = commitment || LE64(i) || 0^32, S = "", N, r = 1, p = 1, dkLen = 32)
 *
 * The same source is compiled two ways:
 *  - by NVRTC (CuPy RawModule) for the GPU, as CUDA C++;
 *  - as plain C on the CPU, after "emulate_cuda.h" has defined __global__, __device__, threadIdx,
 *    blockIdx, blockDim, gridDim, uint4 and __funnelshift_l; the emulation calls every kernel once per
 *    (block, thread) in a host loop. The kernels never communicate between threads (no shared memory,
 *    no barriers, no atomics), so a sequential loop over the threads computes exactly what the GPU
 *    computes, which is how the CI proves this arithmetic without a GPU.
 * Keep to the common subset of C99 and CUDA C++: C casts, no templates, no references, no C++ headers.
 *
 * The work is split into three kernels so that the hot one (ROMix) does not pay for Keccak's
 * registers (25 64-bit lanes) in its occupancy:
 *   sm_gpu_label_begin   one thread per label: B = PBKDF2-HMAC-Keccak-512(P, "", 128) -> state[label]
 *   sm_gpu_romix         grid-stride over the labels, each thread owning one scratch slot: ROMix(B)
 *   sm_gpu_label_finish  one thread per label: out32 = PBKDF2-HMAC-Keccak-512(P, ROMix(B), 32)
 * state holds 32 words per label (the 128-byte scrypt block); out holds 8 words (32 bytes, the words
 * little-endian as in scrypt-jane) per label.
 *
 * Performance design (H100 SXM: 132 SMs, 3.35 TB/s HBM3, 64 INT32 lanes per SM and clock):
 *  - ChaCha20/8 core in registers (16 scalars, 4 double rounds unrolled), 32-bit adds, xors and
 *    funnel-shift rotations only; BlockMix keeps the 32-word X in registers.
 *  - Scratch layout: slot s (a thread) stores entry e as one 128-byte row at row index e * slots + s,
 *    written and read as eight uint4 (16-byte) accesses. Neighbouring threads own neighbouring rows,
 *    so in the first loop (every thread writes entry e at the same time) a warp writes one contiguous
 *    4 KiB span (coalesced), and every random read of the second loop fetches exactly one full 128-byte
 *    line (4 sectors, no byte wasted). A word-interleaved layout (word w of all threads adjacent)
 *    would coalesce the writes equally but waste half of every 32-byte sector on the random reads.
 *  - Lookup gap g (TMTO): only every g-th entry is stored (N/g rows of 128 bytes per slot), a read of
 *    entry j recomputes (j mod g) BlockMix steps from row j/g. Traffic per label: N*128/g bytes written
 *    plus N*128 bytes read, i.e. 2 MiB (g = 1), 1.5 MiB (g = 2), 1.25 MiB (g = 4) at N = 8192;
 *    compute: 2N BlockMix plus N*(g-1)/2 recomputed ones on average (1.0x, 1.25x, 1.75x).
 *  - Expected bound at N = 8192: one BlockMix is two ChaCha20/8 cores of 32 quarter rounds
 *    (~12 instructions each) plus 48 xors/adds, ~830 integer instructions; 2N of them are ~13.6 M per
 *    label. At 132 SMs * 64 lanes * ~1.9 GHz = ~16 T instructions/s that is ~1.2 M labels/s at g = 1
 *    (~1.0 M at g = 2). Memory: 3.35 TB/s / 2 MiB = ~1.6 M labels/s at g = 1, ~2.1 M at g = 2. The
 *    kernel is therefore integer-throughput bound once enough warps are resident to hide the DRAM
 *    latency of the dependent random reads (each read waits for the previous BlockMix). A warp spends
 *    ~870 issue slots on the BlockMix after each 128-byte read, so a few warps per scheduler cover
 *    a ~1 us DRAM latency: the host (planning.py) takes the smallest gap at which free memory gives a
 *    scratch slot to at least 8 warps per SM. NVRTC 12.9 for sm_90: ROMix uses 96 registers with the
 *    gap as a run-time argument and 72 in the one-gap build for g = 1, no spills; at 72 registers an
 *    H100 keeps 7 blocks of 128 per SM resident (118 000 threads, 118 GiB of scratch at g = 1), so an
 *    80 GB card runs g = 1 memory-bound at ~67 000 labels in flight (~16 warps per SM).
 *  - The label index is 64-bit (start + thread); scratch offsets are 64-bit (slots * N/g * 8 uint4
 *    exceeds 2^32 on large cards).
 */

#ifdef __CUDACC__
typedef unsigned int sm_u32;
typedef unsigned long long sm_u64;
#define SM_EXTERN_C extern "C"
#else
/* the CPU emulation: emulate_cuda.h must be included first */
#ifndef SM_EMULATE_CUDA
#error "compile this file with NVRTC, or include emulate_cuda.h before it"
#endif
#define SM_EXTERN_C
#endif

#ifndef SM_THREADS_PER_BLOCK
#define SM_THREADS_PER_BLOCK 128
#endif

#define SM_ROTL32(v, c) __funnelshift_l((v), (v), (c))
#define SM_ROTL64(v, c) (((v) << (c)) | ((v) >> (64 - (c))))

/* ------------------------------------------------------------------------------------------------ */
/* Keccak-f[1600] and HMAC/PBKDF2-Keccak-512 specialised to the label password (exactly one block)    */
/* ------------------------------------------------------------------------------------------------ */

__constant__ sm_u64 SM_KECCAK_ROUND_CONSTANTS[24] = {
    0x0000000000000001ULL, 0x0000000000008082ULL, 0x800000000000808aULL, 0x8000000080008000ULL,
    0x000000000000808bULL, 0x0000000080000001ULL, 0x8000000080008081ULL, 0x8000000000008009ULL,
    0x000000000000008aULL, 0x0000000000000088ULL, 0x0000000080008009ULL, 0x000000008000000aULL,
    0x000000008000808bULL, 0x800000000000008bULL, 0x8000000000008089ULL, 0x8000000000008003ULL,
    0x8000000000008002ULL, 0x8000000000000080ULL, 0x000000000000800aULL, 0x800000008000000aULL,
    0x8000000080008081ULL, 0x8000000000008080ULL, 0x0000000080000001ULL, 0x8000000080008008ULL,
};

/* lanes a[x + 5y], little-endian 64-bit words of the state */
static __device__ __forceinline__ void sm_keccak_f1600(sm_u64 a[25])
{
    sm_u64 b[25], c[5], d;
    for (int round = 0; round < 24; round++) {
        /* theta */
#pragma unroll
        for (int x = 0; x < 5; x++)
            c[x] = a[x] ^ a[x + 5] ^ a[x + 10] ^ a[x + 15] ^ a[x + 20];
#pragma unroll
        for (int x = 0; x < 5; x++) {
            d = c[(x + 4) % 5] ^ SM_ROTL64(c[(x + 1) % 5], 1);
#pragma unroll
            for (int y = 0; y < 25; y += 5)
                a[x + y] ^= d;
        }
        /* rho and pi: B[y, 2x + 3y] = ROT(A[x, y], r[x, y]) */
        b[0] = a[0];               b[10] = SM_ROTL64(a[1], 1);  b[20] = SM_ROTL64(a[2], 62);
        b[5] = SM_ROTL64(a[3], 28);  b[15] = SM_ROTL64(a[4], 27);
        b[16] = SM_ROTL64(a[5], 36); b[1] = SM_ROTL64(a[6], 44);  b[11] = SM_ROTL64(a[7], 6);
        b[21] = SM_ROTL64(a[8], 55); b[6] = SM_ROTL64(a[9], 20);
        b[7] = SM_ROTL64(a[10], 3);  b[17] = SM_ROTL64(a[11], 10); b[2] = SM_ROTL64(a[12], 43);
        b[12] = SM_ROTL64(a[13], 25); b[22] = SM_ROTL64(a[14], 39);
        b[23] = SM_ROTL64(a[15], 41); b[8] = SM_ROTL64(a[16], 45); b[18] = SM_ROTL64(a[17], 15);
        b[3] = SM_ROTL64(a[18], 21); b[13] = SM_ROTL64(a[19], 8);
        b[14] = SM_ROTL64(a[20], 18); b[24] = SM_ROTL64(a[21], 2); b[9] = SM_ROTL64(a[22], 61);
        b[19] = SM_ROTL64(a[23], 56); b[4] = SM_ROTL64(a[24], 14);
        /* chi */
#pragma unroll
        for (int y = 0; y < 25; y += 5) {
#pragma unroll
            for (int x = 0; x < 5; x++)
                a[x + y] = b[x + y] ^ (~b[(x + 1) % 5 + y] & b[(x + 2) % 5 + y]);
        }
        /* iota */
        a[0] ^= SM_KECCAK_ROUND_CONSTANTS[round];
    }
}

#define SM_HMAC_IPAD 0x3636363636363636ULL
#define SM_HMAC_OPAD 0x5c5c5c5c5c5c5c5cULL
/* original Keccak padding of a 64-byte message in a 72-byte block: 0x01 at byte 64, 0x80 at byte 71 */
#define SM_PAD_AFTER_64_BYTES 0x8000000000000001ULL

/*
 * The HMAC key is the 72-byte password P = commitment (4 lanes) || LE64(index) || 0^32: exactly one
 * Keccak-512 block, so the inner and outer states are one permutation each of P ^ ipad / P ^ opad.
 */
static __device__ __forceinline__ void sm_hmac_key_state(sm_u64 st[25], const sm_u64 commitment[4], sm_u64 index,
                                                         sm_u64 pad)
{
#pragma unroll
    for (int i = 0; i < 25; i++)
        st[i] = 0;
#pragma unroll
    for (int i = 0; i < 4; i++)
        st[i] = commitment[i] ^ pad;
    st[4] = index ^ pad;
#pragma unroll
    for (int i = 5; i < 9; i++)
        st[i] = pad;
    sm_keccak_f1600(st);
}

/* outer half of HMAC: digest = Keccak-512(outer key block || inner digest); digest replaces inner[0..8] */
static __device__ __forceinline__ void sm_hmac_outer(const sm_u64 commitment[4], sm_u64 index, sm_u64 digest[8])
{
    sm_u64 st[25];
    sm_hmac_key_state(st, commitment, index, SM_HMAC_OPAD);
#pragma unroll
    for (int i = 0; i < 8; i++)
        st[i] ^= digest[i];
    st[8] ^= SM_PAD_AFTER_64_BYTES;
    sm_keccak_f1600(st);
#pragma unroll
    for (int i = 0; i < 8; i++)
        digest[i] = st[i];
}

/* ------------------------------------------------------------------------------------------------ */
/* ChaCha20/8 core and BlockMix (r = 1), in registers                                                */
/* ------------------------------------------------------------------------------------------------ */

#define SM_QUARTER(a, b, c, d)                                                                              \
    do {                                                                                                    \
        a += b; d ^= a; d = SM_ROTL32(d, 16);                                                               \
        c += d; b ^= c; b = SM_ROTL32(b, 12);                                                               \
        a += b; d ^= a; d = SM_ROTL32(d, 8);                                                                \
        c += d; b ^= c; b = SM_ROTL32(b, 7);                                                                \
    } while (0)

/* t = ChaCha20/8(t) + t */
static __device__ __forceinline__ void sm_chacha8_core(sm_u32 t[16])
{
    sm_u32 x0 = t[0], x1 = t[1], x2 = t[2], x3 = t[3], x4 = t[4], x5 = t[5], x6 = t[6], x7 = t[7];
    sm_u32 x8 = t[8], x9 = t[9], x10 = t[10], x11 = t[11], x12 = t[12], x13 = t[13], x14 = t[14], x15 = t[15];
#pragma unroll
    for (int round = 0; round < 4; round++) {
        SM_QUARTER(x0, x4, x8, x12);
        SM_QUARTER(x1, x5, x9, x13);
        SM_QUARTER(x2, x6, x10, x14);
        SM_QUARTER(x3, x7, x11, x15);
        SM_QUARTER(x0, x5, x10, x15);
        SM_QUARTER(x1, x6, x11, x12);
        SM_QUARTER(x2, x7, x8, x13);
        SM_QUARTER(x3, x4, x9, x14);
    }
    t[0] += x0; t[1] += x1; t[2] += x2; t[3] += x3; t[4] += x4; t[5] += x5; t[6] += x6; t[7] += x7;
    t[8] += x8; t[9] += x9; t[10] += x10; t[11] += x11; t[12] += x12; t[13] += x13; t[14] += x14; t[15] += x15;
}

/* BlockMix, r = 1: X = B0 || B1 -> Y0 || Y1 with Y0 = core(B1 ^ B0), Y1 = core(Y0 ^ B1) */
static __device__ __forceinline__ void sm_blockmix(sm_u32 x[32])
{
    sm_u32 t[16];
#pragma unroll
    for (int i = 0; i < 16; i++)
        t[i] = x[i] ^ x[16 + i];
    sm_chacha8_core(t);
#pragma unroll
    for (int i = 0; i < 16; i++) {
        x[i] = t[i];
        t[i] ^= x[16 + i];
    }
    sm_chacha8_core(t);
#pragma unroll
    for (int i = 0; i < 16; i++)
        x[16 + i] = t[i];
}

/* ------------------------------------------------------------------------------------------------ */
/* Kernels                                                                                            */
/* ------------------------------------------------------------------------------------------------ */

/*
 * B = PBKDF2-HMAC-Keccak-512(P, S = "", 128 bytes) for labels start .. start+count-1.
 * commitment: the 32-byte commitment as four little-endian 64-bit words.
 * state: 32 words per label (label t at state + 32 t).
 */
SM_EXTERN_C __global__ void sm_gpu_label_begin(sm_u64 commitment0, sm_u64 commitment1, sm_u64 commitment2,
                                               sm_u64 commitment3, sm_u64 start, sm_u32 count, sm_u32 *state)
{
    const sm_u32 t = blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= count)
        return;
    const sm_u64 commitment[4] = {commitment0, commitment1, commitment2, commitment3};
    const sm_u64 index = start + t;
    sm_u32 *out = state + (sm_u64)t * 32;
    for (sm_u32 block = 1; block <= 2; block++) {
        /* inner: Keccak-512(inner key block || BE32(block)), the 4-byte message padded in one block */
        sm_u64 st[25];
        sm_hmac_key_state(st, commitment, index, SM_HMAC_IPAD);
        st[0] ^= ((sm_u64)block << 24) | (1ULL << 32); /* bytes 00 00 00 block, then pad byte 0x01 */
        st[8] ^= 0x8000000000000000ULL;
        sm_keccak_f1600(st);
        sm_u64 digest[8];
#pragma unroll
        for (int i = 0; i < 8; i++)
            digest[i] = st[i];
        sm_hmac_outer(commitment, index, digest);
#pragma unroll
        for (int i = 0; i < 8; i++) {
            out[16 * (block - 1) + 2 * i] = (sm_u32)digest[i];
            out[16 * (block - 1) + 2 * i + 1] = (sm_u32)(digest[i] >> 32);
        }
    }
}

/* store / load one 128-byte row as eight 16-byte accesses */
static __device__ __forceinline__ void sm_store_row(uint4 *row, const sm_u32 x[32])
{
#pragma unroll
    for (int q = 0; q < 8; q++)
        row[q] = make_uint4(x[4 * q], x[4 * q + 1], x[4 * q + 2], x[4 * q + 3]);
}

static __device__ __forceinline__ void sm_load_row(const uint4 *row, sm_u32 x[32])
{
#pragma unroll
    for (int q = 0; q < 8; q++) {
        const uint4 v = row[q];
        x[4 * q] = v.x; x[4 * q + 1] = v.y; x[4 * q + 2] = v.z; x[4 * q + 3] = v.w;
    }
}

/*
 * ROMix (r = 1) of labels 0 .. count-1 of state, in place. Thread s of the grid owns scratch slot s and
 * handles labels s, s + slots, s + 2 slots, ... (slots = gridDim.x * blockDim.x). scratch holds
 * (n >> gap_log2) * slots rows of 128 bytes (8 uint4 each): entry e of slot s is row e * slots + s.
 * n is a power of two >= 2, the lookup gap 2^gap_log2 <= n.
 */
SM_EXTERN_C __global__ void __launch_bounds__(SM_THREADS_PER_BLOCK)
sm_gpu_romix(sm_u32 *state, uint4 *scratch, sm_u32 count, sm_u32 n, sm_u32 gap_log2)
{
#ifdef SM_LOOKUP_GAP_LOG2
    /* a build for one gap: the compiler drops what other gaps need (72 instead of 96 registers at g = 1);
       the host always passes the gap the module was built for, anything else computes nothing */
    if (gap_log2 != SM_LOOKUP_GAP_LOG2)
        return;
    gap_log2 = SM_LOOKUP_GAP_LOG2;
#endif
    const sm_u32 slot = blockIdx.x * blockDim.x + threadIdx.x;
    const sm_u64 slots = (sm_u64)gridDim.x * blockDim.x;
    const sm_u32 gap_mask = (1u << gap_log2) - 1;
    uint4 *const mine = scratch + (sm_u64)slot * 8;
    for (sm_u64 label = slot; label < count; label += slots) {
        sm_u32 *words = state + label * 32;
        sm_u32 x[32], y[32];
#pragma unroll
        for (int i = 0; i < 32; i++)
            x[i] = words[i];
        /* V[k] = X; X = BlockMix(X), keeping every 2^gap_log2-th V[k] */
        for (sm_u32 k = 0; k < n; k++) {
            if ((k & gap_mask) == 0)
                sm_store_row(mine + (sm_u64)(k >> gap_log2) * slots * 8, x);
            sm_blockmix(x);
        }
        /* N times: j = first word of the last 64-byte block mod N; X = BlockMix(X ^ V[j]) */
        for (sm_u32 k = 0; k < n; k++) {
            const sm_u32 j = x[16] & (n - 1);
            sm_load_row(mine + (sm_u64)(j >> gap_log2) * slots * 8, y);
            for (sm_u32 m = j & gap_mask; m; m--)
                sm_blockmix(y); /* recompute V[j] from the stored V[j - j mod g] */
#pragma unroll
            for (int i = 0; i < 32; i++)
                x[i] ^= y[i];
            sm_blockmix(x);
        }
#pragma unroll
        for (int i = 0; i < 32; i++)
            words[i] = x[i];
    }
}

/*
 * out32 = PBKDF2-HMAC-Keccak-512(P, S = ROMix(B) (128 bytes), 32 bytes): one block, j = 1.
 * out: 8 words per label (label t at out + 8 t).
 */
SM_EXTERN_C __global__ void sm_gpu_label_finish(sm_u64 commitment0, sm_u64 commitment1, sm_u64 commitment2,
                                                sm_u64 commitment3, sm_u64 start, sm_u32 count,
                                                const sm_u32 *state, sm_u32 *out)
{
    const sm_u32 t = blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= count)
        return;
    const sm_u64 commitment[4] = {commitment0, commitment1, commitment2, commitment3};
    const sm_u64 index = start + t;
    const sm_u32 *words = state + (sm_u64)t * 32;
    sm_u64 salt[16];
#pragma unroll
    for (int i = 0; i < 16; i++)
        salt[i] = (sm_u64)words[2 * i] | ((sm_u64)words[2 * i + 1] << 32);
    /* inner: Keccak-512(inner key block || salt (128 bytes) || BE32(1)): blocks of 72 + 60 bytes */
    sm_u64 st[25];
    sm_hmac_key_state(st, commitment, index, SM_HMAC_IPAD);
#pragma unroll
    for (int i = 0; i < 9; i++)
        st[i] ^= salt[i];
    sm_keccak_f1600(st);
#pragma unroll
    for (int i = 0; i < 7; i++)
        st[i] ^= salt[9 + i];
    st[7] ^= (1ULL << 24) | (1ULL << 32); /* bytes 00 00 00 01, then pad byte 0x01 */
    st[8] ^= 0x8000000000000000ULL;
    sm_keccak_f1600(st);
    sm_u64 digest[8];
#pragma unroll
    for (int i = 0; i < 8; i++)
        digest[i] = st[i];
    sm_hmac_outer(commitment, index, digest);
    sm_u32 *o = out + (sm_u64)t * 8;
#pragma unroll
    for (int i = 0; i < 4; i++) {
        o[2 * i] = (sm_u32)digest[i];
        o[2 * i + 1] = (sm_u32)(digest[i] >> 32);
    }
}
