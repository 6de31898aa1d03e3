"""cffi build script for ``spacemesh_core._native_scan``: the PoST proving scan (AES-NI / VAES) in C.

No ``-march`` flag: the AES-NI and VAES kernels carry their own target attributes and are chosen at
run time (portable C fallback elsewhere), so one build runs on every x86-64 CPU.
"""

import os
from pathlib import Path

from cffi import FFI

NATIVE_DIR = Path(__file__).resolve().parent


def _relative(path: Path) -> str:
    # setuptools rejects absolute source paths; the build runs from the project root
    return os.path.relpath(path)


CDEF = """
enum { PS_OK = 0, PS_ERR_PARAMS = -1, PS_ERR_IMPL = -2 };
enum { PS_IMPL_AUTO = -1, PS_IMPL_PORTABLE = 0, PS_IMPL_AESNI = 1, PS_IMPL_VAES256 = 2, PS_IMPL_VAES512 = 3,
       PS_IMPL_COUNT = 4 };
enum { PS_ROUND_KEYS_SIZE = 176 };
void ps_expand_key(const uint8_t *key, uint8_t *round_keys);
void ps_expand_keys(const uint8_t *keys, uint32_t count, uint8_t *round_keys);
int ps_is_impl_supported(int impl);
int ps_get_best_impl(void);
int ps_scan_batch(const uint8_t *labels, uint64_t label_count, uint64_t first_index,
                  const uint8_t *group_round_keys, uint32_t group_count, const uint8_t *nonce_round_keys,
                  uint8_t difficulty_msb, uint64_t difficulty_lsb, uint32_t k2, uint32_t *counts,
                  uint64_t *hits, int impl);
int ps_encrypt_ecb(const uint8_t *round_keys, const uint8_t *in, uint64_t blocks, uint8_t *out, int impl);
"""

ffibuilder = FFI()
ffibuilder.cdef(CDEF)
ffibuilder.set_source(
    "spacemesh_core._native_scan",
    '#include "post_scan.h"',
    sources=[_relative(NATIVE_DIR / "post_scan.c")],
    depends=[_relative(NATIVE_DIR / "post_scan.h")],
    include_dirs=[str(NATIVE_DIR)],
    extra_compile_args=["-O3", "-std=gnu11", "-Wall", "-Wextra"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
