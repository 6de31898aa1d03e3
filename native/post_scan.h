/* PoST proving scan (Prover8_56): see post_scan.c. */
#ifndef SPACEMESH_POST_SCAN_H
#define SPACEMESH_POST_SCAN_H

#include <stdint.h>

enum { PS_OK = 0, PS_ERR_PARAMS = -1, PS_ERR_IMPL = -2 };
enum {
    PS_IMPL_AUTO = -1,
    PS_IMPL_PORTABLE = 0,
    PS_IMPL_AESNI = 1,
    PS_IMPL_VAES256 = 2,
    PS_IMPL_VAES512 = 3,
    PS_IMPL_COUNT = 4
};
enum { PS_ROUND_KEYS_SIZE = 176 };

/* AES-128 key schedule: 11 round keys (176 bytes) per 16-byte key. */
void ps_expand_key(const uint8_t *key, uint8_t *round_keys);
void ps_expand_keys(const uint8_t *keys, uint32_t count, uint8_t *round_keys);

int ps_is_impl_supported(int impl);
int ps_get_best_impl(void);

/* Scan label_count labels (16 bytes each, labels[0] is label first_index) for group_count nonce
 * groups; group g serves nonce slots 16g..16g+15 of the pass.  counts[slot] receives how many labels
 * qualified, hits[slot * k2 + m] the first k2 of their absolute indices in increasing order. */
int ps_scan_batch(const uint8_t *labels, uint64_t label_count, uint64_t first_index, const uint8_t *group_round_keys,
                  uint32_t group_count, const uint8_t *nonce_round_keys, uint8_t difficulty_msb,
                  uint64_t difficulty_lsb, uint32_t k2, uint32_t *counts, uint64_t *hits, int impl);

/* AES-128-ECB of `blocks` blocks with the single-block path of `impl` (tests of the AES cores). */
int ps_encrypt_ecb(const uint8_t *round_keys, const uint8_t *in, uint64_t blocks, uint8_t *out, int impl);

#endif
