"""cffi build script for ``spacemesh_core._native_labels``: PoST labels (scrypt-jane) in C.

The C sources are ``scrypt_labels.c`` (with the lane template ``scrypt_labels_lanes.h``) beside this
script. No ``-march`` flag: the SIMD kernels carry their own target attributes and are chosen at run
time, so one build runs on every x86-64 CPU.
"""

import os
from pathlib import Path

from cffi import FFI

NATIVE_DIR = Path(__file__).resolve().parent


def _relative(path: Path) -> str:
    # setuptools rejects absolute source paths; the build runs from the project root
    return os.path.relpath(path)


CDEF = """
enum { SM_OK = 0, SM_ERR_PARAMS = -1, SM_ERR_MEMORY = -2, SM_ERR_ISA = -3, SM_ERR_THREAD = -4 };
enum { SM_ISA_SCALAR = 0, SM_ISA_SSE2 = 1, SM_ISA_AVX2 = 2, SM_ISA_AVX512 = 3, SM_ISA_COUNT = 4 };
void sm_keccak512(const uint8_t *data, size_t len, uint8_t *out);
int sm_scrypt_jane(const uint8_t *password, size_t password_len, const uint8_t *salt, size_t salt_len,
                   uint32_t n, uint32_t r, uint32_t p, uint8_t *out, size_t out_len);
int sm_compute_label_one(const uint8_t *commitment, uint64_t index, uint32_t n, uint8_t *out);
int sm_compute_labels_baseline(const uint8_t *commitment, uint64_t start, uint64_t count, uint32_t n,
                               uint8_t *out);
int sm_labels_is_isa_supported(int isa);
int sm_labels_get_best_isa(void);
int sm_labels_get_lanes(int isa);
int sm_compute_labels(const uint8_t *commitment, uint64_t start, uint64_t count, uint32_t n, int isa,
                      uint32_t threads, uint8_t *out, uint32_t out_label_size, const uint8_t *bound,
                      uint64_t *nonce_index, uint8_t *nonce_value);
"""

ffibuilder = FFI()
ffibuilder.cdef(CDEF)
ffibuilder.set_source(
    "spacemesh_core._native_labels",
    '#include "scrypt_labels.h"',
    sources=[_relative(NATIVE_DIR / "scrypt_labels.c")],
    depends=[_relative(NATIVE_DIR / "scrypt_labels_lanes.h"), _relative(NATIVE_DIR / "scrypt_labels.h")],
    include_dirs=[str(NATIVE_DIR)],
    extra_compile_args=["-O3", "-std=gnu11", "-pthread"],
    extra_link_args=["-pthread"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
