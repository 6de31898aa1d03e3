/* Public interface of scrypt_labels.c (PoST labels: scrypt-jane Keccak-512 / ChaCha20/8). */
#ifndef SPACEMESH_SCRYPT_LABELS_H
#define SPACEMESH_SCRYPT_LABELS_H

#include <stddef.h>
#include <stdint.h>

/* return codes (sm_compute_labels also returns 0 = no nonce below the bound, 1 = nonce found) */
enum { SM_OK = 0, SM_ERR_PARAMS = -1, SM_ERR_MEMORY = -2, SM_ERR_ISA = -3, SM_ERR_THREAD = -4 };

/* instruction sets of the lane kernels, in increasing preference */
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

#endif
