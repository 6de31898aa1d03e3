"""Plugin ``initializer_gpu``: PoST labels on an NVIDIA GPU (CuPy + NVRTC), with a CPU fallback, and
``spacemesh post devices``.

The CUDA kernel (``scrypt_kernel.cu``) also compiles as plain C through ``emulate_cuda.h``; the test
harness :mod:`spacemesh_plugins.initializer_gpu.emulation` runs it on the CPU so that its arithmetic is
checked against the shared vectors without a GPU.
"""
