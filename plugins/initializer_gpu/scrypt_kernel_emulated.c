/*
 * CPU emulation of the kernels of scrypt_kernel.cu (test harness only; see emulation.py). Each launch
 * helper runs the kernel once for every thread of a 1-D grid, in order: the kernels never talk to
 * each other's threads, so this gives the GPU's result.
 */
#include "emulate_cuda.h"
#include "scrypt_kernel.cu"

void sm_emu_label_begin(unsigned int grid, unsigned int block, uint64_t c0, uint64_t c1, uint64_t c2,
                        uint64_t c3, uint64_t start, uint32_t count, uint32_t *state)
{
    for (unsigned int b = 0; b < grid; b++)
        for (unsigned int t = 0; t < block; t++) {
            sm_emu_set_thread(grid, block, b, t);
            sm_gpu_label_begin(c0, c1, c2, c3, start, count, state);
        }
}

void sm_emu_romix(unsigned int grid, unsigned int block, uint32_t *state, void *scratch, uint32_t count,
                  uint32_t n, uint32_t gap_log2)
{
    for (unsigned int b = 0; b < grid; b++)
        for (unsigned int t = 0; t < block; t++) {
            sm_emu_set_thread(grid, block, b, t);
            sm_gpu_romix(state, (uint4 *)scratch, count, n, gap_log2);
        }
}

void sm_emu_label_finish(unsigned int grid, unsigned int block, uint64_t c0, uint64_t c1, uint64_t c2,
                         uint64_t c3, uint64_t start, uint32_t count, const uint32_t *state, uint32_t *out)
{
    for (unsigned int b = 0; b < grid; b++)
        for (unsigned int t = 0; t < block; t++) {
            sm_emu_set_thread(grid, block, b, t);
            sm_gpu_label_finish(c0, c1, c2, c3, start, count, state, out);
        }
}
