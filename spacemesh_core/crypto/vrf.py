"""ECVRF-EDWARDS25519-SHA512-ELL2 (RFC 9381, suite 0x04) and the protocol's VRF randomness helpers.

The VRF key is the node's ed25519 key (32-byte seed, or the 64-byte ``seed || public key`` form the
reference uses). The protocol uses the 80-byte proof ``pi = Gamma(32) || c(16) || s(32)`` itself
as randomness (spec §1.5); :func:`compute_vrf_hash` gives the RFC's 64-byte ``beta``.

Hash-to-curve is RFC 9380 ``edwards25519_XMD:SHA-512_ELL2_NU_`` written here with Python integers
(libsodium's ``from_uniform``/``from_hash`` are different maps); the scalar multiplications run on
libsodium (:class:`~spacemesh_core.crypto.edwards25519.SodiumGroup`) by default, or on the
pure-Python reference group with ``backend="reference"``. Both give identical bytes.

Verification follows the reference (curve25519-voi ``ecvrf.Verify``): the public key must be a
canonical encoding of a point that is not of small order; Gamma must be a canonical curve point
(any order); ``s`` must be below the group order.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from fractions import Fraction

from nacl import bindings as _sodium

from spacemesh_core.crypto.edwards25519 import (
    IDENTITY_ENCODING,
    POINT_SIZE,
    SQRT_M1,
    GroupBackend,
    L,
    P,
    add_points,
    compute_field_inverse,
    compute_field_sqrt,
    encode_point,
    get_group_backend,
    is_canonical_encoding,
)

#: Size of a VRF proof ``pi`` (the value the protocol calls ``VrfSignature``).
VRF_PROOF_SIZE = 80
#: Size of the VRF output ``beta``.
VRF_HASH_SIZE = 64
#: Length of the challenge ``c`` in bytes.
CHALLENGE_SIZE = 16
SUITE_STRING = b"\x04"
#: RFC 9381 §5.5: "ECVRF_" || h2c_suite_ID_string || suite_string.
HASH_TO_CURVE_DST = b"ECVRF_edwards25519_XMD:SHA-512_ELL2_NU_" + SUITE_STRING

#: Layers per epoch on mainnet (for :func:`get_vrf_layer_offset`).
MAINNET_LAYERS_PER_EPOCH = 4032

# Elligator 2 constants for curve25519 (RFC 9380 §6.7.1 with J = 486662, K = 1, Z = 2).
_ELL2_J = 486662
_ELL2_Z = 2


# sqrt(-486664) with sgn0 = 0, for the Montgomery -> Edwards rational map (RFC 9380 appendix D).
def _compute_even_sqrt(value: int) -> int:
    root = compute_field_sqrt(value)
    if root is None:
        raise ArithmeticError("constant has no square root")
    return root if root & 1 == 0 else P - root


_SQRT_MINUS_486664 = _compute_even_sqrt(-486664 % P)


class VrfError(ValueError):
    """A VRF proof, key or input is invalid."""


@dataclass(frozen=True, slots=True)
class VrfProofTrace:
    """All intermediate values of one proof computation (RFC 9381 §5.1 names)."""

    public_key: bytes
    h_point: bytes  # H = encode_to_curve(PK, alpha)
    k_scalar: int  # nonce
    u_point: bytes  # k*B
    v_point: bytes  # k*H
    gamma: bytes  # x*H
    c_scalar: int
    s_scalar: int
    proof: bytes
    vrf_hash: bytes


# ---------------------------------------------------------------------------------------------
# RFC 9380 hash-to-curve: edwards25519_XMD:SHA-512_ELL2_NU_
# ---------------------------------------------------------------------------------------------


def compute_expand_message_xmd(message: bytes, dst: bytes, length: int) -> bytes:
    """RFC 9380 §5.3.1 ``expand_message_xmd`` with SHA-512 (b_in_bytes 64, block size 128)."""
    if len(dst) > 255:
        raise ValueError("domain separation tag longer than 255 bytes")
    blocks = -(-length // 64)
    if blocks > 255 or length > 65535:
        raise ValueError("expand_message_xmd output too long")
    dst_prime = dst + bytes([len(dst)])
    b_0 = hashlib.sha512(bytes(128) + message + length.to_bytes(2, "big") + b"\x00" + dst_prime).digest()
    b_i = hashlib.sha512(b_0 + b"\x01" + dst_prime).digest()
    out = [b_i]
    for i in range(2, blocks + 1):
        mixed = bytes(x ^ y for x, y in zip(b_0, b_i, strict=True))
        b_i = hashlib.sha512(mixed + bytes([i]) + dst_prime).digest()
        out.append(b_i)
    return b"".join(out)[:length]


def compute_elligator2_curve25519(u: int) -> tuple[int, int]:
    """RFC 9380 §6.7.1 Elligator 2 onto curve25519: field element ``u`` -> Montgomery ``(s, t)``.

    x1 = -J / (1 + Z u^2) (x1 = -J when the denominator vanishes), x2 = -x1 - J = Z u^2 x1.
    If g(x1) = x1^3 + J x1^2 + x1 is square: (x1, sqrt(g(x1))) with sgn0 = 1; otherwise
    (x2, sqrt(g(x2))) with sgn0 = 0. Since g(x2) = Z u^2 g(x1), one exponentiation serves both
    square roots: with r = g(x1)^((p+3)/8), a non-square g(x1) gives r^2 = ±i g(x1), and then
    u r (1 ∓ i) squares to 2 u^2 g(x1).
    """
    u %= P
    tv = u * u % P
    x1 = (-_ELL2_J * compute_field_inverse(1 + _ELL2_Z * tv)) % P  # inv0(0) = 0
    if x1 == 0:
        x1 = (-_ELL2_J) % P
    gx1 = (x1 * x1 * x1 + _ELL2_J * x1 * x1 + x1) % P
    root = pow(gx1, (P + 3) // 8, P)
    root_squared = root * root % P
    if root_squared == gx1:
        x, y, want_sign = x1, root, 1
    elif root_squared == (-gx1) % P:
        x, y, want_sign = x1, root * SQRT_M1 % P, 1
    else:
        x = x1 * _ELL2_Z * tv % P
        gx2 = _ELL2_Z * tv * gx1 % P
        y = u * root * (1 - SQRT_M1) % P
        if y * y % P != gx2:
            y = u * root * (1 + SQRT_M1) % P
        assert y * y % P == gx2  # exactly one of g(x1), g(x2) is square
        want_sign = 0
    if y & 1 != want_sign:
        y = (-y) % P
    return x, y


def compute_hash_to_curve(message: bytes, dst: bytes = HASH_TO_CURVE_DST) -> bytes:
    """RFC 9380 ``encode_to_curve`` for edwards25519_XMD:SHA-512_ELL2_NU_; returns the point encoding."""
    uniform = compute_expand_message_xmd(message, dst, 48)
    u = int.from_bytes(uniform, "big") % P
    s, t = compute_elligator2_curve25519(u)
    # Rational map to edwards25519: x = sqrt(-486664) * s / t, y = (s - 1) / (s + 1); identity on
    # the exceptional inputs t = 0 or s = -1. One inversion serves both denominators.
    denominator = t * (s + 1) % P
    if denominator == 0:
        point = (0, 1, 1, 0)
    else:
        inverse = compute_field_inverse(denominator)
        x = _SQRT_MINUS_486664 * s * (s + 1) * inverse % P
        y = (s - 1) * t * inverse % P
        point = (x, y, 1, x * y % P)
    for _ in range(3):  # clear the cofactor: h_eff = 8
        point = add_points(point, point)
    return encode_point(point)


# ---------------------------------------------------------------------------------------------
# ECVRF (RFC 9381 §5)
# ---------------------------------------------------------------------------------------------


def _expand_secret(secret_key: bytes) -> tuple[int, bytes, bytes]:
    """Return (x, nonce prefix, public key) for a 32-byte seed or 64-byte ``seed || pk`` key."""
    if len(secret_key) not in (32, 64):
        raise VrfError(f"a VRF secret key is 32 (seed) or 64 (seed || public key) bytes, got {len(secret_key)}")
    seed = bytes(secret_key[:32])
    digest = hashlib.sha512(seed).digest()
    scalar_bytes = bytearray(digest[:32])
    scalar_bytes[0] &= 248
    scalar_bytes[31] &= 127
    scalar_bytes[31] |= 64
    x = int.from_bytes(scalar_bytes, "little")
    public_key = bytes(_sodium.crypto_sign_seed_keypair(seed)[0])
    if len(secret_key) == 64 and bytes(secret_key[32:]) != public_key:
        raise VrfError("the public half of the 64-byte secret key does not match its seed")
    return x, digest[32:], public_key


def _compute_challenge(public_key: bytes, h_point: bytes, gamma: bytes, u_point: bytes, v_point: bytes) -> int:
    """RFC 9381 §5.4.3 ``ECVRF_challenge_generation`` (five points, trailing zero octet)."""
    digest = hashlib.sha512(
        SUITE_STRING + b"\x02" + public_key + h_point + gamma + u_point + v_point + b"\x00"
    ).digest()
    return int.from_bytes(digest[:CHALLENGE_SIZE], "little")


def _gamma_to_hash(gamma: bytes, group: GroupBackend) -> bytes:
    cofactor_gamma = group.multiply_by_cofactor(gamma)
    return hashlib.sha512(SUITE_STRING + b"\x03" + cofactor_gamma + b"\x00").digest()


def compute_vrf_proof_trace(secret_key: bytes, alpha: bytes, *, backend: str = "sodium") -> VrfProofTrace:
    """Run RFC 9381 ``ECVRF_prove`` and return every intermediate value.

    ``secret_key``: 32-byte ed25519 seed, or 64-byte ``seed || public key``. ``backend`` selects
    the group arithmetic (``"sodium"`` or ``"reference"``). Raises :class:`VrfError` on a bad key.
    """
    group = get_group_backend(backend)
    x, nonce_prefix, public_key = _expand_secret(secret_key)
    h_point = compute_hash_to_curve(public_key + bytes(alpha))
    gamma = group.multiply(x, h_point)
    k = int.from_bytes(hashlib.sha512(nonce_prefix + h_point).digest(), "little") % L
    u_point = group.multiply_base(k)
    v_point = group.multiply(k, h_point)
    c = _compute_challenge(public_key, h_point, gamma, u_point, v_point)
    s = (k + c * x) % L
    proof = gamma + c.to_bytes(CHALLENGE_SIZE, "little") + s.to_bytes(32, "little")
    return VrfProofTrace(
        public_key=public_key,
        h_point=h_point,
        k_scalar=k,
        u_point=u_point,
        v_point=v_point,
        gamma=gamma,
        c_scalar=c,
        s_scalar=s,
        proof=proof,
        vrf_hash=_gamma_to_hash(gamma, group),
    )


def compute_vrf_proof(secret_key: bytes, alpha: bytes, *, backend: str = "sodium") -> bytes:
    """Return the 80-byte ECVRF proof of ``alpha`` under ``secret_key`` (deterministic).

    Raises :class:`VrfError` when the key has the wrong length or a mismatching public half.
    """
    return compute_vrf_proof_trace(secret_key, alpha, backend=backend).proof


def _decode_proof(proof: bytes, group: GroupBackend) -> tuple[bytes, int, int]:
    """RFC 9381 §5.4.4 ``ECVRF_decode_proof``: (Gamma encoding, c, s); raises VrfError."""
    if len(proof) != VRF_PROOF_SIZE:
        raise VrfError(f"a VRF proof is {VRF_PROOF_SIZE} bytes, got {len(proof)}")
    gamma = bytes(proof[:POINT_SIZE])
    if not is_canonical_encoding(gamma):
        raise VrfError("invalid Gamma in VRF proof: non-canonical point encoding")
    if not group.is_on_curve(gamma):
        raise VrfError("invalid Gamma in VRF proof: not a curve point")
    c = int.from_bytes(proof[POINT_SIZE : POINT_SIZE + CHALLENGE_SIZE], "little")
    s = int.from_bytes(proof[POINT_SIZE + CHALLENGE_SIZE :], "little")
    if s >= L:
        raise VrfError("non-canonical s in VRF proof (s >= group order)")
    return gamma, c, s


def _validate_public_key(public_key: bytes, group: GroupBackend) -> None:
    """RFC 9381 §5.6.1 ``ECVRF_validate_key``: canonical, on the curve, not of small order."""
    if len(public_key) != POINT_SIZE:
        raise VrfError(f"a VRF public key is {POINT_SIZE} bytes, got {len(public_key)}")
    if not is_canonical_encoding(public_key):
        raise VrfError("invalid VRF public key: non-canonical point encoding")
    if not group.is_on_curve(public_key):
        raise VrfError("invalid VRF public key: not a curve point")
    if group.multiply_by_cofactor(public_key) == IDENTITY_ENCODING:
        raise VrfError("invalid VRF public key: small-order point")


def verify_vrf_proof(public_key: bytes, alpha: bytes, proof: bytes, *, backend: str = "sodium") -> bytes:
    """Verify ``proof`` for ``alpha`` under ``public_key`` and return the 64-byte output ``beta``.

    Raises :class:`VrfError` for a malformed key or proof or a failed check.
    """
    group = get_group_backend(backend)
    public_key = bytes(public_key)
    _validate_public_key(public_key, group)
    gamma, c, s = _decode_proof(bytes(proof), group)
    h_point = compute_hash_to_curve(public_key + bytes(alpha))
    u_point = group.subtract(group.multiply_base(s), group.multiply(c, public_key))
    v_point = group.subtract(group.multiply(s, h_point), group.multiply(c, gamma))
    if _compute_challenge(public_key, h_point, gamma, u_point, v_point) != c:
        raise VrfError("VRF proof does not verify")
    return _gamma_to_hash(gamma, group)


def is_valid_vrf_proof(public_key: bytes, alpha: bytes, proof: bytes) -> bool:
    """Return whether ``proof`` verifies for ``alpha`` under ``public_key`` (never raises on bad input)."""
    try:
        verify_vrf_proof(public_key, alpha, proof)
    except VrfError:
        return False
    return True


def compute_vrf_hash(proof: bytes, *, backend: str = "sodium") -> bytes:
    """RFC 9381 ``ECVRF_proof_to_hash``: the 64-byte ``beta`` of a (decodable) proof.

    Only meaningful for a proof that verifies; raises :class:`VrfError` when it does not decode.
    """
    group = get_group_backend(backend)
    gamma, _, _ = _decode_proof(bytes(proof), group)
    return _gamma_to_hash(gamma, group)


def get_vrf_public_key(secret_key: bytes) -> bytes:
    """Return the public key (the node id) of a 32- or 64-byte VRF/ed25519 secret key."""
    return _expand_secret(secret_key)[2]


# ---------------------------------------------------------------------------------------------
# Randomness extraction from the 80-byte proof (spec §1.5)
# ---------------------------------------------------------------------------------------------


def _check_proof_length(proof: bytes) -> None:
    if len(proof) != VRF_PROOF_SIZE:
        raise VrfError(f"a VRF proof is {VRF_PROOF_SIZE} bytes, got {len(proof)}")


def get_vrf_layer_offset(proof: bytes, layers_per_epoch: int = MAINNET_LAYERS_PER_EPOCH) -> int:
    """Ballot eligibility layer offset: ``LE_uint64(pi[0:8]) mod layers_per_epoch``."""
    _check_proof_length(proof)
    if layers_per_epoch <= 0:
        raise ValueError("layers_per_epoch must be positive")
    return int.from_bytes(proof[:8], "little") % layers_per_epoch


def get_vrf_fraction56(proof: bytes) -> Fraction:
    """Hare/certifier fraction: ``(LE_uint64(pi[0:8]) & (2^56 - 1)) / 2^56`` (``fixed.FracFromBytes``).

    The numerator of the returned fraction (before reduction) is the 56-bit integer; use
    :func:`get_vrf_fraction56_numerator` when fixed-point code needs it directly.
    """
    return Fraction(get_vrf_fraction56_numerator(proof), 1 << 56)


def get_vrf_fraction56_numerator(proof: bytes) -> int:
    """The 56-bit integer ``LE_uint64(pi[0:8]) & (2^56 - 1)`` behind :func:`get_vrf_fraction56`."""
    _check_proof_length(proof)
    return int.from_bytes(proof[:8], "little") & ((1 << 56) - 1)


def get_vrf_weak_coin(proof: bytes) -> bool:
    """Weak-coin bit: ``pi[0] & 1``."""
    _check_proof_length(proof)
    return bool(proof[0] & 1)


def get_vrf_beacon_value(proof: bytes) -> bytes:
    """Beacon proposal value: ``pi[0:4]``."""
    _check_proof_length(proof)
    return bytes(proof[:4])


def get_vrf_big_endian_int(proof: bytes) -> int:
    """The 80-byte proof read as a big-endian integer (beacon eligibility threshold comparison)."""
    _check_proof_length(proof)
    return int.from_bytes(proof, "big")


def compare_vrf_little_endian(a: bytes, b: bytes) -> int:
    """Compare two proofs as little-endian integers ("smallest VRF" ordering): -1, 0 or 1.

    The comparison is dominated by the trailing ``s`` scalar, as in the reference.
    """
    _check_proof_length(a)
    _check_proof_length(b)
    left = int.from_bytes(a, "little")
    right = int.from_bytes(b, "little")
    return (left > right) - (left < right)


__all__ = [
    "CHALLENGE_SIZE",
    "HASH_TO_CURVE_DST",
    "IDENTITY_ENCODING",
    "VRF_HASH_SIZE",
    "VRF_PROOF_SIZE",
    "VrfError",
    "VrfProofTrace",
    "compare_vrf_little_endian",
    "compute_elligator2_curve25519",
    "compute_expand_message_xmd",
    "compute_hash_to_curve",
    "compute_vrf_hash",
    "compute_vrf_proof",
    "compute_vrf_proof_trace",
    "get_vrf_beacon_value",
    "get_vrf_big_endian_int",
    "get_vrf_fraction56",
    "get_vrf_fraction56_numerator",
    "get_vrf_layer_offset",
    "get_vrf_public_key",
    "get_vrf_weak_coin",
    "is_valid_vrf_proof",
    "verify_vrf_proof",
]
