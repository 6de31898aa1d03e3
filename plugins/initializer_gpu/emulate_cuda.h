/*
 * A minimal CUDA shim so that scrypt_kernel.cu compiles as plain C on the CPU (the test harness of the
 * GPU kernel; never part of the node). Kernels become ordinary functions; the launch helpers in
 * scrypt_kernel_emulated.c call them once per (block, thread) after setting threadIdx/blockIdx.
 * Single-threaded by design: the built-in variables are globals of this translation unit.
 */
#ifndef SM_EMULATE_CUDA_H
#define SM_EMULATE_CUDA_H

#define SM_EMULATE_CUDA 1

#include <stdint.h>

typedef uint32_t sm_u32;
typedef uint64_t sm_u64;

#define __global__
#define __device__
#define __forceinline__ inline
#define __constant__ static const
#define __launch_bounds__(threads)

typedef struct {
    unsigned int x, y, z;
} sm_dim3;

static sm_dim3 threadIdx, blockIdx, blockDim, gridDim;

typedef struct {
    uint32_t x, y, z, w;
} uint4;

static inline uint4 make_uint4(uint32_t x, uint32_t y, uint32_t z, uint32_t w)
{
    uint4 v;
    v.x = x; v.y = y; v.z = z; v.w = w;
    return v;
}

/* CUDA semantics: the high 32 bits of (hi:lo) << (shift & 31) */
static inline uint32_t __funnelshift_l(uint32_t lo, uint32_t hi, uint32_t shift)
{
    const uint64_t both = ((uint64_t)hi << 32) | lo;
    return (uint32_t)((both << (shift & 31)) >> 32);
}

/* set the built-in variables of one emulated thread */
static inline void sm_emu_set_thread(unsigned int grid, unsigned int block, unsigned int b, unsigned int t)
{
    gridDim.x = grid; gridDim.y = gridDim.z = 1;
    blockDim.x = block; blockDim.y = blockDim.z = 1;
    blockIdx.x = b; blockIdx.y = blockIdx.z = 0;
    threadIdx.x = t; threadIdx.y = threadIdx.z = 0;
}

#endif
