"""Readable pure-Python reference of the Prover8_56 proving scan (post-poet.md §2.3-§2.4).

This is the oracle the native scan (``native/post_scan.c``) must reproduce.  For a nonce group ``g``
with k2pow ``pow``:

* the group key is ``BLAKE3(challenge || LE32(g) || LE64(pow))[0..16]`` and the per-nonce ("lazy")
  key of nonce ``n`` is ``BLAKE3(challenge || LE32(g) || LE64(pow) || LE32(n))[0..16]``;
* every stored 16-byte label ``L_i`` is encrypted once with the group key (AES-128, one block);
  byte ``j`` of that cipher text serves nonce ``16*g + j``;
* the label's 64-bit value for nonce ``n`` is ``C[n % 16] << 56 | (LE64(AES_{K_n}(L_i)[0..8]) & (2^56-1))``
  and the label qualifies when that value is below the difficulty ``D``.  Because the top byte
  decides alone unless it equals ``D >> 56``, the second AES runs only on such ties;
* labels are visited in chunks of 8 (aligned on the absolute label index); within a chunk each nonce
  group of the pass in turn, and within a group label by label and nonce by nonce.  The first nonce
  whose list of qualifying indices reaches ``k2`` wins, with its indices in discovery order.

That single-threaded order is what the reference prover does on one thread; the native prover,
multi-threaded, reproduces it exactly (see ``spacemesh_core.post.prover``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import attrs
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from spacemesh_core.crypto.hashes import compute_blake3
from spacemesh_core.post.proof import (
    NONCES_PER_AES,
    ProofParameterError,
    compute_nonce_group,
    compute_nonce_group_range,
    split_proving_difficulty,
    verify_nonce_range,
)

LABEL_SIZE = 16
AES_KEY_SIZE = 16
#: Labels per AES chunk of the reference scan ("encrypt8": 8 blocks of 16 bytes).
CHUNK_LABELS = 8
LSB_MASK = (1 << 56) - 1


def compute_group_key(challenge: bytes, nonce_group: int, pow_nonce: int) -> bytes:
    """Return the AES-128 key of a nonce group: ``BLAKE3(challenge || LE32(g) || LE64(pow))[0..16]``."""
    return compute_blake3(bytes(challenge), nonce_group.to_bytes(4, "little"), pow_nonce.to_bytes(8, "little"))[
        :AES_KEY_SIZE
    ]


def compute_nonce_key(challenge: bytes, nonce_group: int, pow_nonce: int, nonce: int) -> bytes:
    """Return the per-nonce ("lazy") AES-128 key: the group key's hash input followed by ``LE32(nonce)``."""
    return compute_blake3(
        bytes(challenge),
        nonce_group.to_bytes(4, "little"),
        pow_nonce.to_bytes(8, "little"),
        nonce.to_bytes(4, "little"),
    )[:AES_KEY_SIZE]


def compute_aes_ecb(key: bytes, data: bytes) -> bytes:
    """Encrypt ``data`` (a multiple of 16 bytes) with AES-128 in ECB mode (OpenSSL via ``cryptography``)."""
    encryptor = Cipher(algorithms.AES(bytes(key)), modes.ECB()).encryptor()
    return encryptor.update(bytes(data)) + encryptor.finalize()


def compute_label_value(label: bytes, nonce: int, challenge: bytes, pow_nonce: int) -> int:
    """Return the 64-bit value of a stored label for ``nonce`` (both AES outputs, no shortcut)."""
    group = compute_nonce_group(nonce)
    msb = compute_aes_ecb(compute_group_key(challenge, group, pow_nonce), label)[nonce % NONCES_PER_AES]
    lazy = compute_aes_ecb(compute_nonce_key(challenge, group, pow_nonce, nonce), label)
    return (msb << 56) | (int.from_bytes(lazy[:8], "little") & LSB_MASK)


def is_label_qualifying_for_nonce(label: bytes, nonce: int, challenge: bytes, pow_nonce: int, difficulty: int) -> bool:
    """Return whether ``label`` qualifies for ``nonce`` (its value is below ``difficulty``)."""
    return compute_label_value(label, nonce, challenge, pow_nonce) < difficulty


@attrs.frozen
class ScanResult:
    """The winner of a proving pass: its nonce and its k2 label indices in discovery order."""

    nonce: int
    indices: tuple[int, ...]


def _check_scan_inputs(labels: bytes, challenge: bytes, k2: int, difficulty: int) -> None:
    if len(labels) % LABEL_SIZE:
        raise ProofParameterError(f"label data must be a multiple of {LABEL_SIZE} bytes, got {len(labels)}")
    if len(challenge) != 32:
        raise ProofParameterError(f"challenge must be 32 bytes, got {len(challenge)}")
    if k2 < 1:
        raise ProofParameterError(f"k2 must be >= 1, got {k2}")
    if not 0 <= difficulty < (1 << 64):
        raise ProofParameterError(f"difficulty must be a u64, got {difficulty}")


def iter_qualifying_labels_reference(
    labels: bytes,
    first_index: int,
    challenge: bytes,
    nonce_start: int,
    nonce_end: int,
    pows: Mapping[int, int],
    difficulty: int,
) -> Iterator[tuple[int, int]]:
    """Yield every qualifying ``(nonce, label_index)`` of a pass in the reference's discovery order.

    :param labels: consecutive 16-byte labels, the first being label ``first_index``.
    :param pows: the k2pow of every nonce group of ``[nonce_start, nonce_end)``.
    :raises ProofParameterError: bad nonce range, a group without pow, malformed data.
    """
    _check_scan_inputs(labels, challenge, 1, difficulty)
    verify_nonce_range(nonce_start, nonce_end)
    groups = list(compute_nonce_group_range(nonce_start, nonce_end))
    missing = [g for g in groups if g not in pows]
    if missing:
        raise ProofParameterError(f"no k2pow given for nonce group(s) {missing}")
    msb_bound, lsb_bound = split_proving_difficulty(difficulty)
    group_keys = {g: compute_group_key(challenge, g, pows[g]) for g in groups}

    count = len(labels) // LABEL_SIZE
    position = 0
    while position < count:
        # chunks are aligned on the absolute label index, 8 labels each
        index = first_index + position
        chunk_len = min(CHUNK_LABELS - index % CHUNK_LABELS, count - position)
        chunk = labels[position * LABEL_SIZE : (position + chunk_len) * LABEL_SIZE]
        for group in groups:
            cipher = compute_aes_ecb(group_keys[group], chunk)
            for offset in range(chunk_len):
                label = chunk[offset * LABEL_SIZE : (offset + 1) * LABEL_SIZE]
                for j in range(NONCES_PER_AES):
                    msb = cipher[offset * LABEL_SIZE + j]
                    if msb > msb_bound:
                        continue
                    nonce = group * NONCES_PER_AES + j
                    if msb == msb_bound:
                        # a tie on the top byte: the per-nonce cipher decides on the low 56 bits
                        lazy_key = compute_nonce_key(challenge, group, pows[group], nonce)
                        lsb = int.from_bytes(compute_aes_ecb(lazy_key, label)[:8], "little") & LSB_MASK
                        if lsb >= lsb_bound:
                            continue
                    yield nonce, index + offset
        position += chunk_len


def scan_labels_reference(
    labels: bytes,
    first_index: int,
    challenge: bytes,
    nonce_start: int,
    nonce_end: int,
    pows: Mapping[int, int],
    difficulty: int,
    k2: int,
) -> ScanResult | None:
    """Return the first nonce of the pass to collect ``k2`` qualifying labels, or None.

    See :func:`iter_qualifying_labels_reference` for the arguments and the order.
    """
    _check_scan_inputs(labels, challenge, k2, difficulty)
    found: dict[int, list[int]] = {}
    for nonce, index in iter_qualifying_labels_reference(
        labels, first_index, challenge, nonce_start, nonce_end, pows, difficulty
    ):
        hits = found.setdefault(nonce, [])
        hits.append(index)
        if len(hits) >= k2:
            return ScanResult(nonce, tuple(hits))
    return None
