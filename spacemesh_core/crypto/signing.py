"""ed25519 signatures with the protocol's domain separation, single and batched verification.

Every protocol signature covers ``genesis_id (20 bytes) || domain (1 byte) || message``
(spec §1.4); the node id is the 32-byte ed25519 public key.

Verification accepts exactly what the reference accepts (Go ``crypto/ed25519``, which
go-spacemesh uses): cofactorless check ``enc([S]B - [k]A) == R`` with ``S < L``, ``A`` decoded
leniently (``y >= p`` and small-order keys are accepted), ``k = SHA-512(R || A || M) mod L`` over
the raw key bytes. libsodium (through PyNaCl) is the fast path; it is stricter — it refuses
non-canonical or small-order ``A`` and small-order ``R`` — so a libsodium rejection of exactly
those inputs is re-checked with the reference equation on libsodium point operations.

Batch verification (:func:`get_invalid_signature_indices`) has three strategies, all returning
exactly the per-signature verdicts: ``"loop"`` (one libsodium call each), ``"threads"`` (the loop
split across a thread pool; the libsodium calls release the GIL) and ``"rlc"`` (one random linear
combination ``sum z_i (S_i B - R_i - k_i A_i) = 0`` on libsodium point operations, falling back to
the loop when it fails or a point lies outside the prime-order subgroup). PyNaCl exposes no
multi-scalar multiplication, so ``"rlc"`` costs two scalar multiplications per signature and does
not pay (about 0.2x the loop, see ``benchmarks/RESULTS.md``). ``"threads"`` only helps where
idle cores exist; on the shared 2-core development machine it measured no gain, so ``"auto"``
is the loop. Pass ``method="threads"`` explicitly on a multi-core verifier.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import IntEnum

from nacl import bindings as _sodium
from nacl import exceptions as _nacl_exceptions

from spacemesh_core.crypto.edwards25519 import (
    BASE,
    SODIUM_GROUP,
    L,
    PointDecodeError,
    add_points,
    decode_point_lenient,
    encode_point,
    is_canonical_y,
    is_small_order_encoding,
    multiply_point,
    negate_point,
)
from spacemesh_core.crypto.vrf import compute_vrf_proof

GENESIS_ID_SIZE = 20
PUBLIC_KEY_SIZE = 32
SEED_SIZE = 32
PRIVATE_KEY_SIZE = 64
SIGNATURE_SIZE = 64

#: Batch verification strategies accepted by :func:`get_invalid_ed25519_indices`.
BATCH_METHODS = ("auto", "loop", "threads", "rlc")


class Domain(IntEnum):
    """Signature domains: the byte between the genesis id and the message (spec §1.4)."""

    ATX = 0
    PROPOSAL = 1
    BALLOT = 2
    HARE = 3
    POET = 4
    MARRIAGE = 5
    BEACON_FIRST_MSG = 10
    BEACON_FOLLOWUP_MSG = 11


class SignatureError(ValueError):
    """A signature does not verify (or its inputs are malformed)."""


class BatchSignatureError(SignatureError):
    """Some signatures of a batch do not verify; ``invalid_indices`` lists them in order."""

    def __init__(self, invalid_indices: Sequence[int]) -> None:
        self.invalid_indices = list(invalid_indices)
        super().__init__(f"{len(self.invalid_indices)} invalid signature(s) at indices {self.invalid_indices}")


def _check_genesis_id(genesis_id: bytes) -> bytes:
    if len(genesis_id) != GENESIS_ID_SIZE:
        raise ValueError(f"a genesis id is {GENESIS_ID_SIZE} bytes, got {len(genesis_id)}")
    return bytes(genesis_id)


def _check_domain(domain: Domain | int) -> Domain:
    try:
        return Domain(domain)
    except ValueError:
        raise ValueError(f"unknown signature domain {domain!r}") from None


def compute_signed_bytes(genesis_id: bytes, domain: Domain | int, message: bytes) -> bytes:
    """Return the bytes an ed25519 signature covers: ``genesis_id || domain || message``.

    Raises ValueError for a genesis id that is not 20 bytes or an unknown domain.
    """
    return _check_genesis_id(genesis_id) + bytes([_check_domain(domain)]) + bytes(message)


class Signer:
    """An ed25519 identity: signs protocol messages and VRF inputs; its public key is the node id."""

    __slots__ = ("_private_key", "_public_key")

    def __init__(self, seed: bytes) -> None:
        """Build a signer from a 32-byte seed (use :meth:`from_seed` / :meth:`from_private_key`)."""
        if len(seed) != SEED_SIZE:
            raise ValueError(f"an ed25519 seed is {SEED_SIZE} bytes, got {len(seed)}")
        public_key, private_key = _sodium.crypto_sign_seed_keypair(bytes(seed))
        self._public_key = bytes(public_key)
        self._private_key = bytes(private_key)

    @classmethod
    def from_seed(cls, seed: bytes) -> Signer:
        """Return the signer for a 32-byte seed; ValueError on a wrong length."""
        return cls(seed)

    @classmethod
    def from_private_key(cls, private_key: bytes) -> Signer:
        """Return the signer for a 64-byte ``seed || public key`` private key (the reference's key files).

        Raises ValueError when the length is wrong or the public half does not match the seed.
        """
        if len(private_key) != PRIVATE_KEY_SIZE:
            raise ValueError(f"an ed25519 private key is {PRIVATE_KEY_SIZE} bytes, got {len(private_key)}")
        signer = cls(bytes(private_key[:SEED_SIZE]))
        if signer.public_key != bytes(private_key[SEED_SIZE:]):
            raise ValueError("private and public halves of the key do not match")
        return signer

    @classmethod
    def generate(cls) -> Signer:
        """Return a signer with a fresh random key."""
        return cls(secrets.token_bytes(SEED_SIZE))

    @property
    def public_key(self) -> bytes:
        """The 32-byte ed25519 public key."""
        return self._public_key

    @property
    def node_id(self) -> bytes:
        """The node (smesher) id: the 32-byte public key."""
        return self._public_key

    @property
    def seed(self) -> bytes:
        """The 32-byte seed."""
        return self._private_key[:SEED_SIZE]

    @property
    def private_key(self) -> bytes:
        """The 64-byte ``seed || public key`` private key."""
        return self._private_key

    def sign(self, domain: Domain | int, message: bytes, genesis_id: bytes) -> bytes:
        """Return the 64-byte signature of ``genesis_id || domain || message``.

        Raises ValueError for a genesis id that is not 20 bytes or an unknown domain.
        """
        signed = compute_signed_bytes(genesis_id, domain, message)
        return bytes(_sodium.crypto_sign(signed, self._private_key)[:SIGNATURE_SIZE])

    def compute_vrf_proof(self, alpha: bytes) -> bytes:
        """Return the 80-byte ECVRF proof of ``alpha`` under this identity's key."""
        return compute_vrf_proof(self._private_key, alpha)

    def __repr__(self) -> str:
        return f"Signer(node_id={self._public_key.hex()})"


# ---------------------------------------------------------------------------------------------
# Raw ed25519 verification with the reference's acceptance rules
# ---------------------------------------------------------------------------------------------


def _compute_challenge_scalar(signature: bytes, public_key: bytes, message: bytes) -> int:
    digest = hashlib.sha512(signature[:32] + public_key + message).digest()
    return int.from_bytes(digest, "little") % L


def is_valid_ed25519_signature_reference(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """Pure-Python ed25519 verification with Go ``crypto/ed25519`` semantics (the oracle).

    Raises ValueError when the public key is not 32 bytes (Go panics there).
    """
    if len(public_key) != PUBLIC_KEY_SIZE:
        raise ValueError(f"an ed25519 public key is {PUBLIC_KEY_SIZE} bytes, got {len(public_key)}")
    if len(signature) != SIGNATURE_SIZE:
        return False
    s = int.from_bytes(signature[32:], "little")
    if s >= L:
        return False
    try:
        a_point = decode_point_lenient(bytes(public_key))
    except PointDecodeError:
        return False
    k = _compute_challenge_scalar(bytes(signature), bytes(public_key), bytes(message))
    r_check = add_points(multiply_point(s, BASE), negate_point(multiply_point(k, a_point)))
    return encode_point(r_check) == bytes(signature[:32])


def _is_valid_beyond_sodium(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """The reference equation on libsodium point operations, for inputs libsodium refuses."""
    if int.from_bytes(signature[32:], "little") >= L:
        return False
    try:
        a_canonical = encode_point(decode_point_lenient(public_key))
    except PointDecodeError:
        return False
    k = _compute_challenge_scalar(signature, public_key, message)
    r_check = SODIUM_GROUP.subtract(
        SODIUM_GROUP.multiply_base(int.from_bytes(signature[32:], "little")),
        SODIUM_GROUP.multiply(k, a_canonical),
    )
    return r_check == signature[:32]


def is_valid_ed25519_signature(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """Return whether ``signature`` is a valid ed25519 signature of ``message`` (reference rules).

    Raises ValueError when the public key is not 32 bytes.
    """
    if len(public_key) != PUBLIC_KEY_SIZE:
        raise ValueError(f"an ed25519 public key is {PUBLIC_KEY_SIZE} bytes, got {len(public_key)}")
    if len(signature) != SIGNATURE_SIZE:
        return False
    public_key = bytes(public_key)
    signature = bytes(signature)
    message = bytes(message)
    try:
        _sodium.crypto_sign_open(signature + message, public_key)
        return True
    except (_nacl_exceptions.BadSignatureError, _nacl_exceptions.RuntimeError, ValueError):
        pass
    # Only libsodium's extra refusals (non-canonical or small-order A, small-order R) can still be
    # valid under the reference rules; anything else it rejected, the reference rejects too.
    libsodium_would_judge = (
        is_canonical_y(public_key)
        and not is_small_order_encoding(public_key)
        and not is_small_order_encoding(signature[:32])
    )
    if libsodium_would_judge:
        return False
    return _is_valid_beyond_sodium(public_key, message, signature)


def verify_signature(
    public_key: bytes, domain: Domain | int, message: bytes, signature: bytes, genesis_id: bytes
) -> None:
    """Check a protocol signature by ``public_key`` over ``genesis_id || domain || message``.

    Raises :class:`SignatureError` when it does not verify or the key/signature is malformed, and
    ValueError for a bad genesis id or an unknown domain.
    """
    signed = compute_signed_bytes(genesis_id, domain, message)
    if len(public_key) != PUBLIC_KEY_SIZE:
        raise SignatureError(f"an ed25519 public key is {PUBLIC_KEY_SIZE} bytes, got {len(public_key)}")
    if len(signature) != SIGNATURE_SIZE:
        raise SignatureError(f"an ed25519 signature is {SIGNATURE_SIZE} bytes, got {len(signature)}")
    if not is_valid_ed25519_signature(public_key, signed, signature):
        raise SignatureError(f"invalid {Domain(domain).name} signature by {bytes(public_key).hex()}")


def is_valid_signature(
    public_key: bytes, domain: Domain | int, message: bytes, signature: bytes, genesis_id: bytes
) -> bool:
    """Return whether a protocol signature verifies (False for malformed keys or signatures).

    Raises ValueError only for a bad genesis id or an unknown domain (caller errors).
    """
    try:
        verify_signature(public_key, domain, message, signature, genesis_id)
    except SignatureError:
        return False
    return True


# ---------------------------------------------------------------------------------------------
# Batches
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SignedMessage:
    """One protocol signature to verify: signer, domain, message and the 64-byte signature."""

    public_key: bytes
    domain: Domain
    message: bytes
    signature: bytes


_Triple = tuple[bytes, bytes, bytes]

_executor_lock = threading.Lock()
_executor: ThreadPoolExecutor | None = None


def _get_executor() -> ThreadPoolExecutor:
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1), thread_name_prefix="ed25519-verify")
        return _executor


def _is_valid_triple(entry: _Triple) -> bool:
    public_key, message, signature = entry
    if len(public_key) != PUBLIC_KEY_SIZE:
        return False
    return is_valid_ed25519_signature(public_key, message, signature)


def _invalid_indices_loop(entries: Sequence[_Triple]) -> list[int]:
    return [index for index, entry in enumerate(entries) if not _is_valid_triple(entry)]


def _invalid_indices_threads(entries: Sequence[_Triple]) -> list[int]:
    workers = max(1, os.cpu_count() or 1)
    if workers == 1 or len(entries) < 2:
        return _invalid_indices_loop(entries)
    chunk = -(-len(entries) // workers)
    starts = range(0, len(entries), chunk)
    futures = [_get_executor().submit(_invalid_indices_loop, entries[start : start + chunk]) for start in starts]
    invalid: list[int] = []
    for start, future in zip(starts, futures, strict=True):
        invalid.extend(start + index for index in future.result())
    return invalid


def _is_valid_batch_rlc(entries: Sequence[_Triple]) -> bool:
    """Random-linear-combination check; True only when every signature verifies (error < 2^-128).

    Sound for the cofactorless per-signature rule because libsodium's variable-base
    multiplication refuses points outside the prime-order subgroup (we then answer False and the
    caller falls back to checking one by one).
    """
    s_sum = 0
    right = SODIUM_GROUP.multiply_base(0)
    try:
        for public_key, message, signature in entries:
            if len(public_key) != PUBLIC_KEY_SIZE or len(signature) != SIGNATURE_SIZE:
                return False
            s = int.from_bytes(signature[32:], "little")
            if s >= L:
                return False
            z = secrets.randbits(128) | 1
            k = _compute_challenge_scalar(signature, public_key, message)
            s_sum += z * s
            z_r = _sodium.crypto_scalarmult_ed25519_noclamp(z.to_bytes(32, "little"), signature[:32])
            z_k_a = _sodium.crypto_scalarmult_ed25519_noclamp((z * k % L).to_bytes(32, "little"), public_key)
            right = _sodium.crypto_core_ed25519_add(right, _sodium.crypto_core_ed25519_add(z_r, z_k_a))
    except (_nacl_exceptions.RuntimeError, ValueError):
        return False
    return bytes(right) == SODIUM_GROUP.multiply_base(s_sum % L)


def get_invalid_ed25519_indices(entries: Sequence[_Triple], *, method: str = "auto") -> list[int]:
    """Verify ``(public_key, message, signature)`` triples; return the indices that fail.

    ``method`` is one of :data:`BATCH_METHODS` (see the module docstring; ``"auto"`` = ``"loop"``);
    every method returns the same indices. Malformed entries count as invalid.
    """
    if method in ("auto", "loop"):
        return _invalid_indices_loop(entries)
    if method == "threads":
        return _invalid_indices_threads(entries)
    if method == "rlc":
        if _is_valid_batch_rlc(entries):
            return []
        return _invalid_indices_loop(entries)
    raise ValueError(f"unknown batch verification method {method!r}")


def get_invalid_signature_indices(
    items: Sequence[SignedMessage], genesis_id: bytes, *, method: str = "auto"
) -> list[int]:
    """Verify protocol signatures in a batch; return the indices of those that do not verify.

    Raises ValueError for a bad genesis id, an unknown domain or an unknown method.
    """
    entries = [
        (
            bytes(item.public_key),
            compute_signed_bytes(genesis_id, item.domain, item.message),
            bytes(item.signature),
        )
        for item in items
    ]
    return get_invalid_ed25519_indices(entries, method=method)


def verify_signature_batch(items: Sequence[SignedMessage], genesis_id: bytes, *, method: str = "auto") -> None:
    """Check every signature of a batch; raise :class:`BatchSignatureError` naming the bad ones."""
    invalid = get_invalid_signature_indices(items, genesis_id, method=method)
    if invalid:
        raise BatchSignatureError(invalid)


def is_valid_signature_batch(items: Sequence[SignedMessage], genesis_id: bytes, *, method: str = "auto") -> bool:
    """Return whether every signature of a batch verifies."""
    return not get_invalid_signature_indices(items, genesis_id, method=method)


__all__ = [
    "GENESIS_ID_SIZE",
    "PRIVATE_KEY_SIZE",
    "PUBLIC_KEY_SIZE",
    "SEED_SIZE",
    "SIGNATURE_SIZE",
    "BATCH_METHODS",
    "BatchSignatureError",
    "Domain",
    "SignatureError",
    "SignedMessage",
    "Signer",
    "compute_signed_bytes",
    "get_invalid_ed25519_indices",
    "get_invalid_signature_indices",
    "is_valid_ed25519_signature",
    "is_valid_ed25519_signature_reference",
    "is_valid_signature",
    "is_valid_signature_batch",
    "verify_signature",
    "verify_signature_batch",
]
