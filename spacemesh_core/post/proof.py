"""The PoST proof type, index compression and the proving parameters derived from the network config.

A proof (post-rs ``Proof``, ATX ``PostV1``) is ``nonce`` (u32), ``indices`` (the k2 label indices,
each packed into ``bitlen(numLabels)`` bits, least-significant bit first) and ``pow`` (the k2pow
nonce of the proof's nonce group).  See ``shared/spec/post-poet.md`` §2.1 and §2.5.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Sequence
from typing import Any

import attrs

#: Mainnet proving parameters (go-spacemesh ``config/mainnet.go``).
MAINNET_K1 = 26
MAINNET_K2 = 37
MAINNET_K3 = 1
MAINNET_POW_DIFFICULTY = bytes.fromhex("000dfb23b0979b4b") + bytes(24)
#: Nonces per pass the node uses on mainnet (``smeshing-opts-proving-nonces``).
MAINNET_PROVING_NONCES = 288

#: One AES-128 pass over the data serves this many nonces (one byte of the cipher text each).
NONCES_PER_AES = 16
#: Nonce groups are cast to one byte by the verifier, so at most 256 groups exist.
MAX_NONCE_GROUP = 255
MAX_NONCE = (MAX_NONCE_GROUP + 1) * NONCES_PER_AES - 1
#: Only the low 56 bits of a pow nonce enter RandomX; the search covers [0, 2^56).
MAX_POW_NONCE = (1 << 56) - 1
U32_MAX = (1 << 32) - 1
U64_MAX = (1 << 64) - 1
#: Maximum size of the packed indices in an ATX (go-spacemesh ``PostV1.Indices`` max 800 bytes).
MAX_INDICES_BYTES = 800


class ProofParameterError(ValueError):
    """A proving or verification parameter is out of range (k1 vs. number of labels, nonces, bits)."""


class ProofFormatError(ValueError):
    """A proof document (JSON, fields) cannot be decoded."""


@attrs.frozen
class Proof:
    """A PoST proof: the winning ``nonce``, its packed ``indices`` and the group's k2pow ``pow``."""

    nonce: int = attrs.field()
    indices: bytes = attrs.field(converter=bytes)
    pow: int = attrs.field()

    @nonce.validator
    def _check_nonce(self, _attribute: Any, value: int) -> None:
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= U32_MAX:
            raise ProofFormatError(f"proof nonce must be a u32, got {value!r}")

    @pow.validator
    def _check_pow(self, _attribute: Any, value: int) -> None:
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= U64_MAX:
            raise ProofFormatError(f"proof pow must be a u64, got {value!r}")

    def to_dict(self) -> dict[str, Any]:
        """Return the post-rs JSON form ``{"nonce": int, "indices": base64, "pow": int}``."""
        return {"nonce": self.nonce, "indices": base64.b64encode(self.indices).decode("ascii"), "pow": self.pow}

    def to_json(self) -> str:
        """Return the proof as a JSON document (see :meth:`to_dict`)."""
        return json.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, data: Any) -> Proof:
        """Decode the post-rs JSON form.

        :raises ProofFormatError: missing or mistyped fields, bad base64.
        """
        if not isinstance(data, dict):
            raise ProofFormatError("a proof must be a JSON object with nonce, indices and pow")
        missing = [key for key in ("nonce", "indices", "pow") if key not in data]
        if missing:
            raise ProofFormatError(f"proof is missing field(s): {', '.join(missing)}")
        indices_b64 = data["indices"]
        if not isinstance(indices_b64, str):
            raise ProofFormatError("proof indices must be a base64 string")
        try:
            indices = base64.b64decode(indices_b64, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ProofFormatError(f"proof indices are not valid base64: {exc}") from None
        return cls(nonce=data["nonce"], indices=indices, pow=data["pow"])

    @classmethod
    def from_json(cls, text: str | bytes) -> Proof:
        """Decode a proof JSON document.

        :raises ProofFormatError: not JSON, or see :meth:`from_dict`.
        """
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ProofFormatError(f"proof is not valid JSON: {exc}") from None
        return cls.from_dict(data)


# ------------------------------------------------------------------------------------------------
# Index compression (post-rs compression.rs)
# ------------------------------------------------------------------------------------------------


def compute_required_bits(value: int) -> int:
    """Return the number of bits needed to write ``value`` (its bit length; 0 for 0).

    The proof packs each index into ``compute_required_bits(num_labels)`` bits: the bit length of the
    label *count*, not of the largest index (4 SU = 2^34 labels -> 35 bits).
    """
    if value < 0:
        raise ProofParameterError(f"value must be >= 0, got {value}")
    return int(value).bit_length()


def compute_expected_indices_bytes(bits_per_index: int, k2: int) -> int:
    """Return the packed size in bytes of ``k2`` indices of ``bits_per_index`` bits each."""
    if bits_per_index < 0 or k2 < 0:
        raise ProofParameterError("bits per index and k2 must be >= 0")
    return (bits_per_index * k2 + 7) // 8


def compress_indices(indices: Iterable[int], bits_per_index: int) -> bytes:
    """Pack the low ``bits_per_index`` bits of each index, least-significant bit first.

    Bit k of the stream is bit ``k % 8`` of byte ``k // 8``; spare bits of the last byte are zero.
    Higher bits of an index that does not fit are dropped (as the reference does).

    :raises ProofParameterError: ``bits_per_index`` outside 0..64 or a negative index.
    """
    if not 0 <= bits_per_index <= 64:
        raise ProofParameterError(f"bits per index must be in 0..64, got {bits_per_index}")
    mask = (1 << bits_per_index) - 1
    stream = 0
    count = 0
    for index in indices:
        if index < 0:
            raise ProofParameterError(f"indices must be >= 0, got {index}")
        stream |= (index & mask) << (count * bits_per_index)
        count += 1
    return stream.to_bytes(compute_expected_indices_bytes(bits_per_index, count), "little")


def decompress_indices(data: bytes, bits_per_index: int, count: int | None = None) -> list[int]:
    """Unpack indices written by :func:`compress_indices`.

    :param count: how many to return; by default as many whole indices as ``data`` holds (spare
        bits of the last byte may then yield one more zero index than was packed).
    :raises ProofParameterError: ``bits_per_index`` outside 1..64, or ``count`` more than ``data`` holds.
    """
    if not 1 <= bits_per_index <= 64:
        raise ProofParameterError(f"bits per index must be in 1..64, got {bits_per_index}")
    available = len(data) * 8 // bits_per_index
    if count is None:
        count = available
    elif count > available:
        raise ProofParameterError(f"{len(data)} bytes hold {available} indices of {bits_per_index} bits, not {count}")
    stream = int.from_bytes(data, "little")
    mask = (1 << bits_per_index) - 1
    return [(stream >> (k * bits_per_index)) & mask for k in range(count)]


# ------------------------------------------------------------------------------------------------
# Difficulties and nonce groups (post-rs difficulty.rs, prove.rs)
# ------------------------------------------------------------------------------------------------


def compute_num_labels(num_units: int, labels_per_unit: int) -> int:
    """Return ``num_units * labels_per_unit`` (the total number of labels)."""
    return num_units * labels_per_unit


def compute_proving_difficulty(k1: int, num_labels: int) -> int:
    """Return the label difficulty ``D = floor(2^64 * k1 / num_labels)`` (a u64).

    A label qualifies for a nonce when its 64-bit value is below ``D`` (k1 expected hits per nonce).

    :raises ProofParameterError: ``num_labels`` is 0, not above ``k1``, or ``D`` does not fit a u64.
    """
    if k1 < 0:
        raise ProofParameterError(f"k1 must be >= 0, got {k1}")
    if num_labels <= 0:
        raise ProofParameterError("number of labels must be > 0")
    if num_labels <= k1:
        raise ProofParameterError(f"number of labels ({num_labels}) must be bigger than k1 ({k1})")
    difficulty = (k1 << 64) // num_labels
    if difficulty > U64_MAX:  # pragma: no cover - impossible once num_labels > k1
        raise ProofParameterError("difficulty does not fit in u64")
    return difficulty


def split_proving_difficulty(difficulty: int) -> tuple[int, int]:
    """Split ``D`` into its top byte (checked against the group cipher) and its low 56 bits."""
    return difficulty >> 56, difficulty & ((1 << 56) - 1)


def compute_pow_threshold(pow_difficulty: bytes, num_units: int) -> bytes:
    """Return the k2pow threshold ``floor(U256_be(pow_difficulty) / num_units)`` as 32 big-endian bytes.

    :raises ProofParameterError: ``pow_difficulty`` is not 32 bytes or ``num_units`` < 1.
    """
    if len(pow_difficulty) != 32:
        raise ProofParameterError(f"pow difficulty must be 32 bytes, got {len(pow_difficulty)}")
    if num_units < 1:
        raise ProofParameterError(f"number of units must be >= 1, got {num_units}")
    return (int.from_bytes(pow_difficulty, "big") // num_units).to_bytes(32, "big")


def compute_nonce_group(nonce: int) -> int:
    """Return the nonce group of ``nonce`` (``nonce // 16``): the nonces sharing one AES pass and k2pow."""
    return nonce // NONCES_PER_AES


def compute_nonce_group_range(nonce_start: int, nonce_end: int) -> range:
    """Return the nonce groups that cover nonces ``[nonce_start, nonce_end)`` (at least one group)."""
    first = nonce_start // NONCES_PER_AES
    last = max(first + 1, -(-nonce_end // NONCES_PER_AES))
    return range(first, last)


def verify_nonce_range(nonce_start: int, nonce_end: int) -> None:
    """Check a proving pass's nonce range as the reference does.

    :raises ProofParameterError: the range is empty, does not start at or span a multiple of 16
        nonces, or reaches past nonce group 255.
    """
    if nonce_start < 0 or nonce_end <= nonce_start:
        raise ProofParameterError(f"nonce range [{nonce_start}, {nonce_end}) is empty")
    if nonce_start % NONCES_PER_AES:
        raise ProofParameterError(f"nonces must start at a multiple of {NONCES_PER_AES}, got {nonce_start}")
    if (nonce_end - nonce_start) % NONCES_PER_AES:
        raise ProofParameterError(f"the number of nonces must be a multiple of {NONCES_PER_AES}")
    if nonce_end - 1 > MAX_NONCE:
        raise ProofParameterError(f"nonce {nonce_end - 1} is beyond group {MAX_NONCE_GROUP} (max nonce {MAX_NONCE})")


def is_label_qualifying(value: int, difficulty: int) -> bool:
    """Return whether a label's 64-bit value qualifies (``value < difficulty``)."""
    return value < difficulty


def get_indices_of_proof(proof: Proof, num_labels: int, k2: int) -> list[int]:
    """Return the k2 label indices packed in ``proof`` for data of ``num_labels`` labels.

    :raises ProofParameterError: the packed size differs from ``ceil(bits * k2 / 8)``.
    """
    bits = compute_required_bits(num_labels)
    expected = compute_expected_indices_bytes(bits, k2)
    if len(proof.indices) != expected:
        raise ProofParameterError(f"invalid number of index bytes (expected {expected}, got {len(proof.indices)})")
    return decompress_indices(proof.indices, bits, k2)


def make_proof(nonce: int, indices: Sequence[int], num_labels: int, pow_nonce: int) -> Proof:
    """Build a :class:`Proof`, packing ``indices`` with ``bitlen(num_labels)`` bits each."""
    return Proof(nonce=nonce, indices=compress_indices(indices, compute_required_bits(num_labels)), pow=pow_nonce)
