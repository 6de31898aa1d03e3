"""cffi build script for the PoET sequential-work loop (``spacemesh_core._native_poet``).

SHA-NI code is compiled with per-function target attributes and chosen at run time, so the
module is built with the default (portable) flags and still uses the SHA extensions where the
CPU has them.
"""

from pathlib import Path

from cffi import FFI

ffibuilder = FFI()
ffibuilder.cdef(
    """
    int poet_has_sha_ni(void);
    int poet_sha256(const uint8_t *msg, size_t len, uint8_t out[32], int impl);
    int poet_sha256_chain(uint8_t digest[32], uint64_t iterations, int impl);
    int poet_label_hash(const uint8_t *challenge, size_t challenge_len, const uint8_t *data, size_t data_len,
                        uint32_t nesting, uint8_t out[32], int impl);
    int64_t poet_compute_leaves(const uint8_t statement[32], uint64_t first_leaf, uint64_t count,
                                uint8_t *parked, uint8_t *out_leaves, volatile const int *stop_flag, int impl);
    int poet_hash_layer(const uint8_t statement[32], const uint8_t *child, uint64_t n_child, uint8_t *parent,
                        int impl);
    int poet_ripemd256(const uint8_t *msg, size_t len, uint8_t out[32]);
    int poet_find_pow_nonce(const uint8_t *prefix, size_t prefix_len, uint32_t difficulty, uint64_t start,
                            uint64_t max_tries, uint64_t *found);
    """
)
_SOURCE = Path(__file__).with_name("poet_chain.c")
ffibuilder.set_source(
    "spacemesh_core._native_poet",
    _SOURCE.read_text(encoding="utf-8"),
    extra_compile_args=["-O3", "-std=gnu11"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
