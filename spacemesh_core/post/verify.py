"""PoST proof verification (post-poet.md §3, post-rs ``verification.rs``) and the VRF-nonce check.

The checks, in the reference's order: the number of units is within the network bounds; the proof's
nonce group is at most 255; its k2pow is valid (RandomX, light mode); the packed indices have exactly
``ceil(bitlen(numLabels) * k2 / 8)`` bytes; then, for the selected indices (all, one position, or a
K3 subset drawn from a BLAKE3 XOF seeded with ``seed || node_id || challenge``), each label is
regenerated (scrypt-jane with the network N) and its value for the proof's nonce must be below the
difficulty.  Like the reference, duplicates, order and indices >= numLabels are not rejected.

Failures raise a subclass of :class:`InvalidProofError` whose ``reason`` names the failing check and,
for labels, the position in the proof and the label index.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TypeVar

import attrs
import blake3 as _blake3

from spacemesh_core.post.k2pow import InvalidK2PowError, RandomXHasher, get_randomx_hasher, verify_k2pow
from spacemesh_core.post.labels import compute_commitment, compute_label_reference, compute_vrf_difficulty
from spacemesh_core.post.proof import (
    MAINNET_K1,
    MAINNET_K2,
    MAINNET_POW_DIFFICULTY,
    MAX_NONCE_GROUP,
    NONCES_PER_AES,
    Proof,
    ProofParameterError,
    compute_expected_indices_bytes,
    compute_nonce_group,
    compute_pow_threshold,
    compute_proving_difficulty,
    compute_required_bits,
    decompress_indices,
    split_proving_difficulty,
)
from spacemesh_core.post.prove_reference import LSB_MASK, compute_aes_ecb, compute_group_key, compute_nonce_key

#: mainnet InitConfig (go-spacemesh ``config/mainnet.go``)
MAINNET_MIN_NUM_UNITS = 4
MAINNET_MAX_NUM_UNITS = (1 << 32) - 1
MAINNET_LABELS_PER_UNIT = 1 << 32
MAINNET_SCRYPT_N = 8192

#: ``(commitment, index, scrypt_n) -> 32-byte output`` (only the first 16 bytes are the stored label)
LabelFunction = Callable[[bytes, int, int], bytes]
T = TypeVar("T")


# ------------------------------------------------------------------------------------------------
# Errors: one class per failing check, each with a reason string
# ------------------------------------------------------------------------------------------------


class InvalidProofError(Exception):
    """The proof (or VRF nonce) is invalid; ``reason`` says which check failed and where."""

    check = "proof"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NumUnitsOutOfBoundsError(InvalidProofError):
    """The number of units is outside the network's ``[min, max]``."""

    check = "num_units"


class NonceGroupOutOfBoundsError(InvalidProofError):
    """The proof's nonce belongs to a group above 255."""

    check = "nonce_group"


class InvalidPowError(InvalidProofError):
    """The k2pow's RandomX hash is not below the threshold."""

    check = "pow"


class InvalidIndicesLengthError(InvalidProofError):
    """The packed indices do not have ``ceil(bits * k2 / 8)`` bytes."""

    check = "indices_length"


class InvalidNumLabelsError(InvalidProofError):
    """No difficulty exists for the number of labels (0, or not above k1)."""

    check = "num_labels"


class InvalidLabelError(InvalidProofError):
    """A selected label does not satisfy the difficulty for the proof's nonce."""

    check = "label"

    def __init__(self, reason: str, position: int, index: int) -> None:
        super().__init__(reason)
        self.position = position
        self.index = index


class InvalidVrfNonceError(InvalidProofError):
    """The VRF nonce's label output is not below the VRF difficulty."""

    check = "vrf_nonce"


# ------------------------------------------------------------------------------------------------
# Inputs
# ------------------------------------------------------------------------------------------------


@attrs.frozen
class ProofMetadata:
    """Who proves what: the identity, its commitment ATX, the challenge and the number of units."""

    node_id: bytes = attrs.field(converter=bytes)
    commitment_atx_id: bytes = attrs.field(converter=bytes)
    challenge: bytes = attrs.field(converter=bytes)
    num_units: int = attrs.field()

    def __attrs_post_init__(self) -> None:
        for name in ("node_id", "commitment_atx_id", "challenge"):
            if len(getattr(self, name)) != 32:
                raise ProofParameterError(f"{name} must be 32 bytes, got {len(getattr(self, name))}")
        if not 0 <= self.num_units < (1 << 32):
            raise ProofParameterError(f"num_units must be a u32, got {self.num_units}")


@attrs.frozen
class VerifyConfig:
    """Network parameters of verification (post-rs ``ProofConfig`` + ``InitConfig``)."""

    k1: int = MAINNET_K1
    k2: int = MAINNET_K2
    pow_difficulty: bytes = MAINNET_POW_DIFFICULTY
    min_num_units: int = MAINNET_MIN_NUM_UNITS
    max_num_units: int = MAINNET_MAX_NUM_UNITS
    labels_per_unit: int = MAINNET_LABELS_PER_UNIT
    scrypt_n: int = MAINNET_SCRYPT_N


@attrs.frozen
class VerifyMode:
    """Which indices to check: ``all()``, ``one(position)`` or ``subset(k3, seed)``."""

    kind: str
    position: int = 0
    k3: int = 0
    seed: bytes = b""

    @classmethod
    def all(cls) -> VerifyMode:
        """Check every index of the proof."""
        return cls("all")

    @classmethod
    def one(cls, position: int) -> VerifyMode:
        """Check only the index at ``position`` in the proof (an ``InvalidPostIndex`` claim)."""
        if position < 0:
            raise ProofParameterError(f"position must be >= 0, got {position}")
        return cls("one", position=position)

    @classmethod
    def subset(cls, k3: int, seed: bytes = b"") -> VerifyMode:
        """Check ``k3`` indices picked by a BLAKE3-seeded shuffle (``seed || node_id || challenge``)."""
        if k3 < 0:
            raise ProofParameterError(f"k3 must be >= 0, got {k3}")
        return cls("subset", k3=k3, seed=bytes(seed))


# ------------------------------------------------------------------------------------------------
# K3 subset selection (post-rs random_values_gen.rs)
# ------------------------------------------------------------------------------------------------


class Blake3Rng:
    """Little-endian u16 draws from the BLAKE3 extendable output of ``seed_parts`` concatenated."""

    _BLOCK = 64

    def __init__(self, seed_parts: Iterable[bytes]) -> None:
        hasher = _blake3.blake3()
        for part in seed_parts:
            hasher.update(bytes(part))
        self._hasher = hasher
        self._buffer = b""
        self._offset = 0  # position in the XOF stream of the buffer's first byte
        self._position = 0  # next unread stream byte

    def read(self, size: int) -> bytes:
        """Return the next ``size`` bytes of the XOF stream."""
        while self._position + size > self._offset + len(self._buffer):
            start = self._offset + len(self._buffer)
            self._buffer = self._buffer[self._position - self._offset :] + self._hasher.digest(
                length=self._BLOCK, seek=start
            )
            self._offset = self._position
        begin = self._position - self._offset
        self._position += size
        return self._buffer[begin : begin + size]

    def get_next_u16(self) -> int:
        """Return the next little-endian u16 of the stream."""
        return int.from_bytes(self.read(2), "little")


def iter_shuffled(items: Sequence[T], seed_parts: Iterable[bytes]) -> Iterator[T]:
    """Yield ``items`` in the reference's seeded partial Fisher-Yates order (lazily).

    For step k with ``remaining = len - k`` a u16 draw ``r`` is rejected while
    ``r >= 65535 - 65535 % remaining``; otherwise element k is swapped with element
    ``k + r % remaining`` and yielded.
    """
    data = list(items)
    rng = Blake3Rng(seed_parts)
    for k in range(len(data)):
        remaining = len(data) - k
        max_allowed = 0xFFFF - 0xFFFF % remaining
        while True:
            draw = rng.get_next_u16()
            if draw < max_allowed:
                break
        swap = k + draw % remaining
        data[k], data[swap] = data[swap], data[k]
        yield data[k]


def select_indices(
    indices: Sequence[int], mode: VerifyMode, k2: int, node_id: bytes, challenge: bytes
) -> list[tuple[int, int]]:
    """Return the ``(position, index)`` pairs that ``mode`` checks, in checking order.

    :raises ProofParameterError: ``one`` with a position outside the proof.
    """
    pairs = list(enumerate(indices))
    if mode.kind == "all" or (mode.kind == "subset" and mode.k3 >= k2):
        return pairs
    if mode.kind == "one":
        if mode.position >= len(pairs):
            raise ProofParameterError(f"position {mode.position} is outside the proof's {len(pairs)} indices")
        return [pairs[mode.position]]
    if mode.kind == "subset":
        shuffled = iter_shuffled(pairs, [mode.seed, node_id, challenge])
        return [next(shuffled) for _ in range(mode.k3)]
    raise ProofParameterError(f"unknown verification mode {mode.kind!r}")


# ------------------------------------------------------------------------------------------------
# Labels
# ------------------------------------------------------------------------------------------------


def get_label_function(prefer_native: bool = True) -> LabelFunction:
    """Return the label function: the native C one when built (and preferred), else the reference."""
    if prefer_native:
        try:
            from spacemesh_core.post.native import compute_labels_native
        except ImportError:
            pass
        else:

            def compute_label_native(commitment: bytes, index: int, scrypt_n: int) -> bytes:
                return compute_labels_native(commitment, index, 1, scrypt_n, threads=1)

            return compute_label_native
    return compute_label_reference


def verify_vrf_nonce(
    nonce: int,
    node_id: bytes,
    commitment_atx_id: bytes,
    num_units: int,
    labels_per_unit: int,
    scrypt_n: int,
    *,
    label_function: LabelFunction | None = None,
) -> None:
    """Check a VRF nonce: its full 32-byte label output must be below ``(2^256 / numLabels) << 3``.

    Minimality is not checked (as the reference).

    :raises InvalidVrfNonceError: the output is not below the difficulty.
    :raises ProofParameterError: malformed inputs.
    """
    if not 0 <= nonce < (1 << 64):
        raise ProofParameterError(f"VRF nonce must be a u64, got {nonce}")
    num_labels = num_units * labels_per_unit
    if num_labels < 1:
        raise ProofParameterError("number of labels must be >= 1")
    compute = label_function or get_label_function()
    output = compute(compute_commitment(node_id, commitment_atx_id), nonce, scrypt_n)
    difficulty = compute_vrf_difficulty(num_labels)
    if not output < difficulty:
        raise InvalidVrfNonceError(
            f"vrf_nonce: label output of nonce {nonce} ({output.hex()}) is not below the difficulty {difficulty.hex()}"
        )


# ------------------------------------------------------------------------------------------------
# The proof
# ------------------------------------------------------------------------------------------------


def verify_proof(
    proof: Proof,
    metadata: ProofMetadata,
    config: VerifyConfig = VerifyConfig(),
    mode: VerifyMode | None = None,
    *,
    label_function: LabelFunction | None = None,
    pow_hasher: RandomXHasher | None = None,
) -> None:
    """Verify ``proof`` for ``metadata`` under the network ``config`` in ``mode`` (default: all).

    :raises InvalidProofError: a subclass naming the failing check (see the module doc).
    :raises ProofParameterError: malformed inputs that are not the proof's fault (``one`` position
        outside the proof).
    """
    mode = mode or VerifyMode.all()
    if metadata.num_units < config.min_num_units:
        raise NumUnitsOutOfBoundsError(f"num_units: too small: {metadata.num_units} < {config.min_num_units}")
    if metadata.num_units > config.max_num_units:
        raise NumUnitsOutOfBoundsError(f"num_units: too large: {metadata.num_units} > {config.max_num_units}")

    group = compute_nonce_group(proof.nonce)
    if group > MAX_NONCE_GROUP:
        raise NonceGroupOutOfBoundsError(
            f"nonce_group: nonce {proof.nonce} is in group {group}, out of bounds (max {MAX_NONCE_GROUP})"
        )
    threshold = compute_pow_threshold(config.pow_difficulty, metadata.num_units)
    try:
        verify_k2pow(
            proof.pow, group, metadata.challenge, metadata.node_id, threshold, pow_hasher or get_randomx_hasher("light")
        )
    except InvalidK2PowError:
        raise InvalidPowError(f"pow: invalid k2pow {proof.pow} for nonce group {group}") from None

    num_labels = metadata.num_units * config.labels_per_unit
    bits = compute_required_bits(num_labels)
    expected = compute_expected_indices_bytes(bits, config.k2)
    if len(proof.indices) != expected:
        raise InvalidIndicesLengthError(
            f"indices_length: invalid number of index bytes (expected: {expected}, got: {len(proof.indices)})"
        )
    try:
        difficulty = compute_proving_difficulty(config.k1, num_labels)
    except ProofParameterError as exc:
        raise InvalidNumLabelsError(f"num_labels: {exc}") from None
    msb_bound, lsb_bound = split_proving_difficulty(difficulty)

    indices = decompress_indices(proof.indices, bits, config.k2)
    selected = select_indices(indices, mode, config.k2, metadata.node_id, metadata.challenge)
    commitment = compute_commitment(metadata.node_id, metadata.commitment_atx_id)
    group_key = compute_group_key(metadata.challenge, group, proof.pow)
    nonce_key = compute_nonce_key(metadata.challenge, group, proof.pow, proof.nonce)
    compute = label_function or get_label_function()
    byte_position = proof.nonce % NONCES_PER_AES
    for position, index in selected:
        label = compute(commitment, index, config.scrypt_n)[:16]
        msb = compute_aes_ecb(group_key, label)[byte_position]
        if msb > msb_bound:
            raise InvalidLabelError(
                f"label: index {index} at position {position} does not satisfy the difficulty: msb {msb} > {msb_bound}",
                position,
                index,
            )
        if msb == msb_bound:
            lsb = int.from_bytes(compute_aes_ecb(nonce_key, label)[:8], "little") & LSB_MASK
            if lsb >= lsb_bound:
                raise InvalidLabelError(
                    f"label: index {index} at position {position} does not satisfy the difficulty: "
                    f"lsb {lsb} >= {lsb_bound}",
                    position,
                    index,
                )


def get_invalid_reason(
    proof: Proof,
    metadata: ProofMetadata,
    config: VerifyConfig = VerifyConfig(),
    mode: VerifyMode | None = None,
    **options: LabelFunction | RandomXHasher | None,
) -> str | None:
    """Return None for a valid proof, else the reason of :func:`verify_proof`'s rejection."""
    try:
        verify_proof(proof, metadata, config, mode, **options)  # type: ignore[arg-type]
    except InvalidProofError as exc:
        return exc.reason
    return None


def is_proof_valid(
    proof: Proof,
    metadata: ProofMetadata,
    config: VerifyConfig = VerifyConfig(),
    mode: VerifyMode | None = None,
    **options: LabelFunction | RandomXHasher | None,
) -> bool:
    """Return whether :func:`verify_proof` accepts ``proof``."""
    return get_invalid_reason(proof, metadata, config, mode, **options) is None
