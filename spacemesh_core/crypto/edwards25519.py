"""edwards25519 group arithmetic shared by ed25519 signatures and the ECVRF.

Two backends with the same interface (points are passed around as 32-byte encodings):

* :class:`ReferenceGroup` — pure Python integers, extended twisted-Edwards coordinates, written to
  read like RFC 8032 §5.1. It is the oracle.
* :class:`SodiumGroup` — libsodium's ``crypto_core_ed25519_*`` / ``crypto_scalarmult_ed25519_*``
  through PyNaCl (C, GIL released). libsodium refuses some inputs (points outside the prime-order
  subgroup, identity results, a zero scalar); those cases are routed through an exact
  decomposition so both backends agree on every on-curve input.

Decoding follows the reference implementations' rules: :func:`decode_point_strict` is
curve25519-voi's canonical decoding (used by the ECVRF), :func:`decode_point_lenient` is Go's
``crypto/ed25519`` public-key decoding (accepts ``y >= p`` and a set sign bit on ``x = 0``).
"""

from __future__ import annotations

from typing import Protocol

from nacl import bindings as _sodium
from nacl import exceptions as _nacl_exceptions

#: The field prime 2^255 - 19.
P = 2**255 - 19
#: The order of the prime-order subgroup (the base point's order).
L = 2**252 + 27742317777372353535851937790883648493
#: Curve constant d = -121665/121666.
D = (-121665 * pow(121666, P - 2, P)) % P
#: A square root of -1 in the field.
SQRT_M1 = pow(2, (P - 1) // 4, P)

POINT_SIZE = 32
SCALAR_SIZE = 32
#: Encoding of the neutral element (x = 0, y = 1).
IDENTITY_ENCODING = (1).to_bytes(POINT_SIZE, "little")

_Y_MASK = (1 << 255) - 1

# Extended coordinates (X, Y, Z, T) with x = X/Z, y = Y/Z, x*y = T/Z.
ExtendedPoint = tuple[int, int, int, int]


class PointDecodeError(ValueError):
    """A 32-byte string is not the encoding of a curve point (under the decoding rules asked for)."""


def compute_field_inverse(value: int) -> int:
    """Return ``value^-1 mod p`` (``0`` for ``0``, like RFC 9380's ``inv0``)."""
    value %= P
    # pow(v, -1, p) (extended Euclid) is ~20x faster in CPython than Fermat's v^(p-2).
    return pow(value, -1, P) if value else 0


def compute_field_sqrt(value: int) -> int | None:
    """Return a square root of ``value`` mod p (p = 5 mod 8 method), or ``None`` when there is none."""
    value %= P
    candidate = pow(value, (P + 3) // 8, P)
    square = candidate * candidate % P
    if square == value:
        return candidate
    if square == (-value) % P:
        return candidate * SQRT_M1 % P
    return None


def _recover_x(y: int, sign: int) -> int | None:
    """Return x with ``-x^2 + y^2 = 1 + d x^2 y^2`` and ``x mod 2 == sign`` (x = 0 keeps 0)."""
    numerator = (y * y - 1) % P
    denominator = (D * y * y + 1) % P
    x = compute_field_sqrt(numerator * compute_field_inverse(denominator))
    if x is None:
        return None
    if x & 1 != sign:
        x = (-x) % P
    return x


_NONCANONICAL_SIGN_ENCODINGS = frozenset(
    {
        (1 | (1 << 255)).to_bytes(POINT_SIZE, "little"),  # y = 1, x = 0 with the sign bit set
        ((P - 1) | (1 << 255)).to_bytes(POINT_SIZE, "little"),  # y = -1, x = 0 with the sign bit set
    }
)


def is_canonical_encoding(encoding: bytes) -> bool:
    """Return whether ``encoding`` passes curve25519-voi's ``IsCanonical`` (RFC 8032 strictness).

    That is: ``y < p`` and not one of the two encodings of an ``x = 0`` point with the sign bit set.
    It says nothing about whether ``y`` is on the curve.
    """
    if len(encoding) != POINT_SIZE:
        return False
    return (int.from_bytes(encoding, "little") & _Y_MASK) < P and bytes(encoding) not in _NONCANONICAL_SIGN_ENCODINGS


def decode_point_strict(encoding: bytes) -> ExtendedPoint:
    """Decode a point with RFC 8032 strict rules (curve25519-voi ``IsCanonical`` + decompress).

    Rejects ``y >= p``, the two encodings of x = 0 with the sign bit set, and y-coordinates that are
    not on the curve. Raises :class:`PointDecodeError`.
    """
    if len(encoding) != POINT_SIZE:
        raise PointDecodeError(f"a point encoding is {POINT_SIZE} bytes, got {len(encoding)}")
    raw = int.from_bytes(encoding, "little")
    y = raw & _Y_MASK
    sign = raw >> 255
    if y >= P:
        raise PointDecodeError("non-canonical point encoding (y >= p)")
    x = _recover_x(y, sign)
    if x is None:
        raise PointDecodeError("not a curve point")
    if x == 0 and sign == 1:
        raise PointDecodeError("non-canonical point encoding (sign bit set on x = 0)")
    return (x, y, 1, x * y % P)


def decode_point_lenient(encoding: bytes) -> ExtendedPoint:
    """Decode a point the way Go's ``crypto/ed25519`` decodes public keys.

    ``y`` is taken modulo p (so ``y >= p`` is accepted) and a sign bit on ``x = 0`` is ignored.
    Raises :class:`PointDecodeError` only when the y-coordinate is not on the curve.
    """
    if len(encoding) != POINT_SIZE:
        raise PointDecodeError(f"a point encoding is {POINT_SIZE} bytes, got {len(encoding)}")
    raw = int.from_bytes(encoding, "little")
    y = (raw & _Y_MASK) % P
    x = _recover_x(y, raw >> 255)
    if x is None:
        raise PointDecodeError("not a curve point")
    return (x, y, 1, x * y % P)


def encode_point(point: ExtendedPoint) -> bytes:
    """Return the canonical 32-byte encoding (y little-endian, sign of x in the top bit)."""
    x_proj, y_proj, z, _ = point
    z_inv = compute_field_inverse(z)
    x = x_proj * z_inv % P
    y = y_proj * z_inv % P
    return (y | ((x & 1) << 255)).to_bytes(POINT_SIZE, "little")


def add_points(a: ExtendedPoint, b: ExtendedPoint) -> ExtendedPoint:
    """Return ``a + b`` (complete addition law for a = -1 twisted Edwards curves, RFC 8032 §5.1.4)."""
    x1, y1, z1, t1 = a
    x2, y2, z2, t2 = b
    aa = (y1 - x1) * (y2 - x2) % P
    bb = (y1 + x1) * (y2 + x2) % P
    cc = 2 * D * t1 * t2 % P
    dd = 2 * z1 * z2 % P
    e, f, g, h = bb - aa, dd - cc, dd + cc, bb + aa
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def negate_point(a: ExtendedPoint) -> ExtendedPoint:
    """Return ``-a``."""
    x, y, z, t = a
    return ((-x) % P, y, z, (-t) % P)


IDENTITY: ExtendedPoint = (0, 1, 1, 0)
_BASE_Y = 4 * compute_field_inverse(5) % P
_BASE_X = _recover_x(_BASE_Y, 0)
assert _BASE_X is not None
#: The ed25519 base point B.
BASE: ExtendedPoint = (_BASE_X, _BASE_Y, 1, _BASE_X * _BASE_Y % P)


def multiply_point(scalar: int, point: ExtendedPoint) -> ExtendedPoint:
    """Return ``[scalar] point`` by double-and-add (variable time; any non-negative scalar)."""
    if scalar < 0:
        raise ValueError("scalar must be non-negative")
    result = IDENTITY
    addend = point
    while scalar:
        if scalar & 1:
            result = add_points(result, addend)
        addend = add_points(addend, addend)
        scalar >>= 1
    return result


def is_identity(point: ExtendedPoint) -> bool:
    """Return whether ``point`` is the neutral element."""
    x, y, z, _ = point
    return x % P == 0 and (y - z) % P == 0


class GroupBackend(Protocol):
    """Group operations on encoded points; inputs must be encodings of curve points."""

    name: str

    def multiply_base(self, scalar: int) -> bytes:
        """Return the encoding of ``[scalar] B``."""
        ...

    def multiply(self, scalar: int, point: bytes) -> bytes:
        """Return the encoding of ``[scalar] point``."""
        ...

    def add(self, a: bytes, b: bytes) -> bytes:
        """Return the encoding of ``a + b``."""
        ...

    def subtract(self, a: bytes, b: bytes) -> bytes:
        """Return the encoding of ``a - b``."""
        ...

    def is_on_curve(self, point: bytes) -> bool:
        """Return whether the y-coordinate of ``point`` (taken mod p) lies on the curve."""
        ...

    def multiply_by_cofactor(self, point: bytes) -> bytes:
        """Return the encoding of ``[8] point``."""
        ...


class ReferenceGroup:
    """Pure-Python backend (the readable oracle)."""

    name = "reference"

    def multiply_base(self, scalar: int) -> bytes:
        """Return the encoding of ``[scalar] B``."""
        return encode_point(multiply_point(scalar % L, BASE))

    def multiply(self, scalar: int, point: bytes) -> bytes:
        """Return the encoding of ``[scalar] point`` (point decoded leniently)."""
        return encode_point(multiply_point(scalar, decode_point_lenient(point)))

    def add(self, a: bytes, b: bytes) -> bytes:
        """Return the encoding of ``a + b``."""
        return encode_point(add_points(decode_point_lenient(a), decode_point_lenient(b)))

    def subtract(self, a: bytes, b: bytes) -> bytes:
        """Return the encoding of ``a - b``."""
        return encode_point(add_points(decode_point_lenient(a), negate_point(decode_point_lenient(b))))

    def is_on_curve(self, point: bytes) -> bool:
        """Return whether the y-coordinate of ``point`` (taken mod p) lies on the curve."""
        try:
            decode_point_lenient(point)
        except PointDecodeError:
            return False
        return True

    def multiply_by_cofactor(self, point: bytes) -> bytes:
        """Return the encoding of ``[8] point``."""
        decoded = decode_point_lenient(point)
        for _ in range(3):
            decoded = add_points(decoded, decoded)
        return encode_point(decoded)


def _scalar_bytes(scalar: int) -> bytes:
    return scalar.to_bytes(SCALAR_SIZE, "little")


class SodiumGroup:
    """libsodium backend (PyNaCl bindings; the C calls release the GIL).

    ``crypto_scalarmult_ed25519_noclamp`` only accepts canonical points of the prime-order subgroup
    and fails on an identity result. Any other on-curve input P is handled exactly by writing
    ``[k]P = [k >> 3]([8]P) + [k & 7]P``: ``[8]P`` lies in the prime-order subgroup (or is the
    identity), and the small multiple is a few libsodium additions, which accept any curve point.
    """

    name = "sodium"

    def multiply_base(self, scalar: int) -> bytes:
        """Return the encoding of ``[scalar] B``."""
        reduced = scalar % L
        if reduced == 0:
            return IDENTITY_ENCODING
        return bytes(_sodium.crypto_scalarmult_ed25519_base_noclamp(_scalar_bytes(reduced)))

    def multiply(self, scalar: int, point: bytes) -> bytes:
        """Return the encoding of ``[scalar] point`` for any encoding of a curve point."""
        try:
            # Succeeds only for canonical prime-order-subgroup points with a non-identity result,
            # where reducing the scalar mod L is exact.
            return bytes(_sodium.crypto_scalarmult_ed25519_noclamp(_scalar_bytes(scalar % L), point))
        except _nacl_exceptions.RuntimeError:
            return self._multiply_any(scalar, point)

    def _multiply_any(self, scalar: int, point: bytes) -> bytes:
        point = encode_point(decode_point_lenient(point))  # canonical form for libsodium
        eight_p = self.multiply_by_cofactor(point)
        high = (scalar >> 3) % L
        if high == 0 or eight_p == IDENTITY_ENCODING:
            result = IDENTITY_ENCODING
        else:
            result = bytes(_sodium.crypto_scalarmult_ed25519_noclamp(_scalar_bytes(high), eight_p))
        for _ in range(scalar & 7):
            result = self.add(result, point)
        return result

    def add(self, a: bytes, b: bytes) -> bytes:
        """Return the encoding of ``a + b``."""
        return bytes(_sodium.crypto_core_ed25519_add(a, b))

    def subtract(self, a: bytes, b: bytes) -> bytes:
        """Return the encoding of ``a - b``."""
        return bytes(_sodium.crypto_core_ed25519_sub(a, b))

    def is_on_curve(self, point: bytes) -> bool:
        """Return whether the y-coordinate of ``point`` (taken mod p) lies on the curve."""
        if len(point) != POINT_SIZE:
            return False
        try:
            # libsodium decompresses both operands and fails when either is not on the curve.
            _sodium.crypto_core_ed25519_add(point, IDENTITY_ENCODING)
        except _nacl_exceptions.RuntimeError:
            return False
        return True

    def multiply_by_cofactor(self, point: bytes) -> bytes:
        """Return the encoding of ``[8] point`` (three libsodium doublings; any curve point)."""
        if not is_canonical_y(point):
            point = encode_point(decode_point_lenient(point))
        for _ in range(3):
            point = bytes(_sodium.crypto_core_ed25519_add(point, point))
        return point


REFERENCE_GROUP = ReferenceGroup()
SODIUM_GROUP = SodiumGroup()


def get_group_backend(name: str) -> GroupBackend:
    """Return the backend called ``name`` (``"sodium"`` or ``"reference"``); ValueError otherwise."""
    if name == "sodium":
        return SODIUM_GROUP
    if name == "reference":
        return REFERENCE_GROUP
    raise ValueError(f"unknown edwards25519 backend {name!r} (expected 'sodium' or 'reference')")


def is_small_order_encoding(encoding: bytes, group: GroupBackend = SODIUM_GROUP) -> bool:
    """Return whether ``encoding`` (leniently decoded: y mod p) is a point of order dividing 8.

    False for strings that are not curve points at all.
    """
    if len(encoding) != POINT_SIZE:
        return False
    raw = int.from_bytes(encoding, "little")
    y = (raw & _Y_MASK) % P
    reduced = (y | (raw >> 255) << 255).to_bytes(POINT_SIZE, "little")
    if not group.is_on_curve(reduced):
        return False
    return group.multiply_by_cofactor(reduced) == IDENTITY_ENCODING


def is_canonical_y(encoding: bytes) -> bool:
    """Return whether the y-coordinate of ``encoding`` is below p (ignoring the sign bit)."""
    return (int.from_bytes(encoding, "little") & _Y_MASK) < P
