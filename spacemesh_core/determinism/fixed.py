"""The reference's 56-bit fixed-point arithmetic and the hare eligibility rule built on it.

go-spacemesh decides how many hare/certifier eligibilities a VRF output is worth with a binomial CDF
computed in ``spacemeshos/fixed`` (v0.1.2): values carry 56 fractional bits in a sign-magnitude 128-bit
word, and ``BinCDF`` evaluates a regularized incomplete beta function by a continued fraction, with
``exp``/``log``/``lgamma`` done in integer arithmetic. Every operation truncates or rounds in its own
way, so two nodes agree on an eligibility count only if they repeat those steps exactly; a float or an
exact rational computation can land on the other side of a VRF threshold (protocol spec §5.3).

This module re-derives that arithmetic on Python integers:

* A :class:`Fixed` is held as its raw 128-bit word: bit 127 is the sign, bits 0..126 the magnitude in
  units of ``2**-56``. Comparisons (:meth:`Fixed.is_less_than`, :meth:`Fixed.is_greater_than`) compare
  the raw words as unsigned integers, exactly as the reference does, so any negative value (even
  negative zero) compares above every positive one; consensus only compares non-negative values.
* Multiplication truncates the magnitude product; division rounds to nearest only in its 64-bit
  helper (``div56``) and otherwise truncates, including the reference's 128-by-128 quotient estimate
  whose correction step leaves the quotient one short when the remainder equals the divisor.
* Situations where the reference panics (overflow, negative shift, division by zero) raise
  :class:`FixedOverflowError` or :class:`FixedDivisionByZeroError` here.

The eligibility rule (:func:`compute_hare_eligibility_count`) follows ``hare3/eligibility/oracle.go``:
``n = weight``, ``p = committee / total_weight`` (both scaled by the committee size when the committee
is larger than the total weight), and the count is the smallest ``x`` with ``BinCDF(n, p, x) > frac``
where ``frac`` is the low 56 bits of the little-endian first 8 bytes of the VRF signature.
"""

from __future__ import annotations

import functools
import struct
from fractions import Fraction
from typing import Final

__all__ = [
    "FRAC_BITS",
    "MAX_SUPPORTED_N",
    "ONE",
    "ZERO",
    "EligibilityInputError",
    "Fixed",
    "FixedDivisionByZeroError",
    "FixedOverflowError",
    "compute_bin_cdf",
    "compute_eligibility_parameters",
    "compute_hare_eligibility_count",
    "compute_vrf_fraction56",
    "is_hare_eligibility_count_valid",
]

FRAC_BITS: Final = 56
_ONE56: Final = 1 << FRAC_BITS  # 1.0 as a 56-bit fraction ("oneValue")
_HALF56: Final = _ONE56 >> 1
_FRAC_MASK: Final = _ONE56 - 1
_M32: Final = (1 << 32) - 1
_M64: Final = (1 << 64) - 1
_M128: Final = (1 << 128) - 1
_SIGN: Final = 1 << 127  # sign bit of the raw word
_MAG: Final = _SIGN - 1  # magnitude bits of the raw word
_HI_UNSIGNED: Final = (1 << 63) - 1
_ONE: Final = _ONE56  # raw word of the Fixed value 1.0

#: ln(2) and log2(e) as 56-bit fractions, truncated (the reference's constants).
_LN2_56: Final = 0xB17217F7D1CF78
_LOG2E_56: Final = 0x171547652B82FE0

#: 1/k! for k = 2..14 as truncated 56-bit fractions: the Taylor coefficients of exp.
_INV_FACTORIALS: Final = tuple(
    _ONE56 // f
    for f in (
        2,
        6,
        24,
        120,
        720,
        5040,
        40320,
        362880,
        3628800,
        39916800,
        479001600,
        6227020800,
        87178291200,
    )
)

#: Stirling-series coefficients for lgamma(x), x >= 8, as signed 56-bit fractions.
_LGAMMA_W: Final = (
    0x6B3F8E4325F5A4,  # 0.4189385332046727 = ln(2*pi)/2 - 0.5 (approx.)
    0x1555555555553B,  # 1/12
    -0xB60B60B58172,  # -1/360
    0x34033F319E71,  # 1/1260
    -0x270197181FCE,  # -1/1680
    0x36CF7499B5AB,
    -0x6AE2742E790F,
)

#: The continued fraction of the incomplete beta function runs at most this many steps.
_BCF_ITERATIONS: Final = 300
#: Largest ``a`` or ``b`` the incomplete beta function accepts.
_MAX_BETA_ARG: Final = 1 << 30
#: Largest binomial ``n`` the hare oracle accepts (``math.MaxInt32 / 2 + 1``).
MAX_SUPPORTED_N: Final = (((1 << 31) - 1) // 2) + 1


class FixedOverflowError(ArithmeticError):
    """A fixed-point operation left the representable range (the reference panics with ErrOverflow)."""


class FixedDivisionByZeroError(ZeroDivisionError):
    """A fixed-point division by zero (the reference panics with an integer divide by zero)."""


class EligibilityInputError(ValueError):
    """Inputs the hare oracle rejects: committee < 1, zero total weight, weight too large, bad fraction."""


# ---------------------------------------------------------------------------------------------------
# Integer helpers with Go's fixed-width semantics.


def _i64(v: int) -> int:
    """Wrap ``v`` to a signed 64-bit value (Go's int64 overflow behaviour)."""
    v &= _M64
    return v - (1 << 64) if v >> 63 else v


def _mul56u(x: int, y: int) -> int:
    """Unsigned 64x64 product of the bit patterns of ``x`` and ``y``, bits 56..119, as an int64."""
    return _i64((((x & _M64) * (y & _M64)) >> FRAC_BITS) & _M64)


def _mul56(x: int, y: int) -> int:
    """Signed product of two 56-bit fractions, rounded half up; raises on int64 overflow.

    The reference checks only that bit 127 and bit 119 of the 128-bit sum agree; so does this.
    """
    v = (x * y + _HALF56) & _M128
    hi = v >> 64
    if (hi >> 63) != ((hi >> 55) & 1):
        raise FixedOverflowError("mul56 overflow")
    return _i64(v >> FRAC_BITS)


def _div56(x: int, y: int) -> int:
    """Quotient ``x / y`` of two 56-bit fractions, magnitude rounded half up, sign applied after."""
    a = abs(x) & _M64
    b = abs(y) & _M64
    if b == 0:
        raise FixedDivisionByZeroError("div56 by zero")
    numerator = a << FRAC_BITS
    if (numerator >> 64) >= b:
        raise FixedOverflowError("div56 overflow")
    q, rem = divmod(numerator, b)
    q += (rem << 1) // b
    if q > _M64:
        raise FixedOverflowError("div56 overflow")
    negative = (x < 0) != (y < 0)
    return _i64(-_i64(q) if negative else _i64(q))


def _log2_56(x: int, one_bits: int) -> int:
    """log2 of ``x`` read as a fixed-point number with ``one_bits`` fractional bits, as a 56-bit fraction.

    Integer part from the bit length, then 56 fraction bits by repeated squaring of the mantissa.
    """
    one = 1 << one_bits
    if x < one:
        if x <= 0:
            raise FixedOverflowError("log of a non-positive value")
        shift = (one_bits + 1) - x.bit_length()
        result = -(shift << FRAC_BITS)
    else:
        if x == one:
            return 0
        shift = x.bit_length() - (one_bits + 1)
        result = shift << FRAC_BITS
    # Mantissa in [1, 2) with 62 fraction bits.
    m = ((x << (64 - x.bit_length())) & _M64) >> 1
    for i in range(FRAC_BITS):
        m = ((m * m) >> 62) & _M64
        carry = m >> 63
        m >>= carry
        result += (_HALF56 >> i) * carry
    return result


def _log56(x: int) -> int:
    """Natural log of a 56-bit fraction, as a 56-bit fraction."""
    return _mul56(_log2_56(x, FRAC_BITS), _LN2_56)


def _ilog56(x: int) -> int:
    """Natural log of a positive integer, as a 56-bit fraction."""
    return _mul56(_log2_56(x, 0), _LN2_56)


# ---------------------------------------------------------------------------------------------------
# Raw 128-bit sign-magnitude words (the reference's Fixed{lo, hi}).


def _raw56(v: int) -> int:
    """Raw word of the int64 56-bit fraction ``v`` (the reference's ``rawfixed``)."""
    v = _i64(v)
    return (-v | _SIGN) if v < 0 else v


def _raw_int(v: int) -> int:
    """Raw word of the int64 integer ``v`` (the reference's ``fixed``)."""
    v = _i64(v)
    return ((-v) << FRAC_BITS) | _SIGN if v < 0 else v << FRAC_BITS


def _raw_uint(v: int) -> int:
    """Raw word of the uint64 integer ``v`` (the reference's ``ufixed``)."""
    return (v & _M64) << FRAC_BITS


def _to_int56(x: int) -> int:
    """The raw word as a signed 56-bit fraction; raises unless the magnitude is below ``2**63``."""
    mag = x & _MAG
    if mag >> 63:
        raise FixedOverflowError("value does not fit a 64-bit 56-bit fraction")
    return -mag if x & _SIGN else mag


def _integer_part(x: int) -> int:
    """Integer part of the raw word, truncated toward zero; raises for magnitudes of 2**119 or more."""
    mag = x & _MAG
    if mag.bit_length() > 56 + 63:
        raise FixedOverflowError("integer part overflow")
    whole = mag >> FRAC_BITS
    return -whole if x & _SIGN else whole


def _add(x: int, y: int) -> int:
    """Sign-magnitude sum; a zero result of operands with different signs is +0."""
    xs, ys = x & _SIGN, y & _SIGN
    if xs != ys:
        if ys:
            return _usub(x, y & _MAG)
        return _usub(y, x & _MAG)
    total = (x & _MAG) + (y & _MAG)
    if total >> 127:
        raise FixedOverflowError("add overflow")
    return total | xs


def _usub(x: int, y: int) -> int:
    """Difference of two raw words compared as unsigned: ``x - y``, or ``-(y - x)`` when ``x < y``."""
    if x < y:
        return ((y - x) & _M128) | _SIGN
    return (x - y) & _M128


def _sub(x: int, y: int) -> int:
    """``x - y`` as ``x + (-y)``."""
    return _add(x, y ^ _SIGN)


def _mul(x: int, y: int) -> int:
    """Product: magnitudes multiplied and truncated to 56 fraction bits, sign xor."""
    mag = ((x & _MAG) * (y & _MAG)) >> FRAC_BITS
    if mag >> 127:
        raise FixedOverflowError("mul overflow")
    return mag | ((x ^ y) & _SIGN)


def _mul_u64_raw(x: int, y: int) -> int:
    """The whole raw word (sign bit included) times a uint64; raises past 128 bits."""
    product = x * y
    if product >> 128:
        raise FixedOverflowError("mul64 overflow")
    return product


def _div128(u: int, v: int) -> tuple[int, int]:
    """Quotient and remainder of raw words, by the reference's estimate-and-correct long division.

    For a divisor wider than 64 bits the estimate comes from the divisor's top 64 bits; after it a single
    correction runs only when the remainder is strictly greater than the divisor, so a remainder equal to
    the divisor leaves the quotient one short. The subtraction is the sign-magnitude one.
    """
    v_hi = v >> 64
    if v_hi == 0:
        if v == 0:
            raise FixedDivisionByZeroError("fixed-point division by zero")
        return divmod(u, v)
    n = 64 - v_hi.bit_length()
    v_top = ((v << n) >> 64) & _M64
    if (u >> 64) >= v_top:
        raise FixedOverflowError("div128 overflow")
    estimate = (u // v_top) >> (64 - n)
    if estimate:
        estimate -= 1
    q = estimate
    r = _sub(u, _mul_u64_raw(v, estimate))
    if r > v:
        q += 1
        r = _sub(r, v)
    return q, r


def _shl(x: int, n: int) -> int:
    """Checked left shift of the magnitude (sign kept), with the reference's exact overflow rules.

    A shift by exactly 64 moves the low word into the high word unchecked, as the reference does.
    """
    lo = x & _M64
    hi = (x >> 64) & _HI_UNSIGNED
    sign = x & _SIGN
    if n > 64:
        if hi:
            raise FixedOverflowError("shl overflow")
        hi, lo = lo, 0
        n -= 64
    if n < 0 or n > 64:
        raise FixedOverflowError("shift count out of range")
    if (hi >> (64 - n)) | ((hi << n) & _M64 & (1 << 63)):
        raise FixedOverflowError("shl overflow")
    new_hi = ((hi << n) & _M64) | (lo >> (64 - n))
    new_lo = (lo << n) & _M64
    return (new_hi << 64) | new_lo | sign


def _shr(x: int, n: int) -> int:
    """Right shift of the magnitude (truncating), sign kept."""
    if n < 0 or n > 128:
        raise FixedOverflowError("shift count out of range")
    return ((x & _MAG) >> n) | (x & _SIGN)


def _shl_max(x: int, limit: int) -> tuple[int, int]:
    """Shift the raw word left by ``min(limit, leading zeros of the high word - 1)``; return it and the shift."""
    m = min(limit, 63 - (x >> 64).bit_length())
    if m < 0:
        raise FixedOverflowError("negative shift count")
    return (x << m) & _M128, m


def _udiv(u: int, v: int) -> int:
    """Quotient of two non-negative raw words with 56 fraction bits kept.

    Small dividends are shifted up by 56 bits and divided once; larger ones divide the integer part,
    then divide the remainder shifted as far as it goes by the divisor shifted down by the rest (which
    drops the divisor's low bits).
    """
    if (u >> 64) & ~0x7F == 0:
        q, _ = _div128((u << FRAC_BITS) & _M128, v)
        return q
    a, rem = _div128(u, v)
    a = _shl(a, FRAC_BITS)
    b, n = _shl_max(rem, FRAC_BITS)
    b, _ = _div128(b, _shr(v, FRAC_BITS - n))
    return _add(a, b)


def _div(x: int, y: int) -> int:
    """Quotient of raw words: unsigned quotient of the magnitudes, sign xor OR-ed in."""
    return _udiv(x & _MAG, y & _MAG) | ((x ^ y) & _SIGN)


def _inv(x: int) -> int:
    """``1 / x``."""
    return _div(_ONE, x)


def _raw_from_float(f: float) -> int:
    """Raw word of a float64, mantissa truncated to 56 fraction bits (the reference's ``From``)."""
    bits = struct.unpack("<Q", struct.pack("<d", f))[0]
    if bits == 0:
        return 0
    mantissa = (bits & ((1 << 52) - 1)) | (1 << 52)
    exponent = ((bits >> 52) & 0x7FF) - 1023 - 52 + FRAC_BITS
    sign = (bits >> 63) << 127
    if exponent < 0:
        return (mantissa >> -exponent) | sign
    if mantissa.bit_length() + exponent > 127:
        raise FixedOverflowError("float out of fixed-point range")
    return _shl(mantissa | sign, exponent)


# ---------------------------------------------------------------------------------------------------
# exp, lgamma, incomplete beta, BinCDF on raw words.


def _exp_reduced(x: int) -> tuple[int, int]:
    """``e**|x| = 2**k * e**y`` with ``y = |x| - k*ln2``; return (``e**y`` as a 56-bit fraction, ``k``).

    ``e**y`` is a 14-term Taylor polynomial; all steps wrap like the reference's int64 arithmetic.
    """
    a = abs(x)
    t = _mul56u(a, _LOG2E_56)
    k = t & ~_FRAC_MASK
    u = _mul56u(k, _LN2_56)
    k >>= FRAC_BITS
    y = _i64(a - u)
    ey = _i64(_ONE56 + y)
    power = y
    for coefficient in _INV_FACTORIALS:
        power = _mul56u(power, y)
        ey = _i64(ey + _mul56u(power, coefficient))
    return ey, k


def _exp(x: int) -> int:
    """``e**x`` of a raw word; 0 when the integer part of ``x`` is below -38."""
    if _integer_part(x) < -38:
        return 0
    x56 = _to_int56(x)
    ey, k = _exp_reduced(x56)
    z = _raw56(ey)
    if x56 < 0:
        if z & _MAG == 0:
            raise FixedOverflowError("exp underflow")
        z = _inv(z)
        k = -k
    return _shr(z, -k) if k < 0 else _shl(z, k)


def _lgamma(x: int) -> int:
    """``ln Γ(x)`` for a positive integer ``x``, as a raw word."""
    if x <= 0:
        raise FixedOverflowError("lgamma of a non-positive integer")
    if x <= 2:
        return 0
    if x < 8:
        factorial = 1
        for k in range(2, x):
            factorial *= k
        return _raw56(_ilog56(factorial))
    t = _i64(_ilog56(x) - _ONE56)
    z = _div56(1, x)  # 2**-56 / x: the integer 1 over x, on purpose, as in the reference
    y = _mul56(z, z)
    w0, w1, w2, w3, w4, w5, w6 = _LGAMMA_W
    w = _i64(w0 + _mul56(z, w1 + _mul56(y, w2 + _mul56(y, w3 + _mul56(y, w4 + _mul56(y, w5 + _mul56(y, w6)))))))
    a = _sub(_raw_int(x), _raw56(_HALF56))
    return _add(_mul(a, _raw56(t)), _raw56(w))


def _a_log_x(x: int, a: int) -> int:
    """``a * ln(x)`` for a 56-bit fraction ``x`` and an integer ``a``."""
    return _mul(_raw56(_log56(x)), _raw_int(a))


_BCF_EPSILON: Final = _raw_from_float(1e-14)


def _nonzero(z: int) -> int:
    """``z``, or the smallest positive value when ``z`` is (either signed) zero."""
    return z if z & _MAG else 1


def _beta_continued_fraction(x: int, a: int, b: int) -> int:
    """Continued fraction of the incomplete beta function (modified Lentz), up to 300 steps.

    The loop stops when ``del - 1`` is below 1e-14 in the reference's unsigned raw order, i.e. only
    when ``del >= 1`` (a negative difference compares above everything).
    """
    xx = x  # a non-negative 56-bit fraction is its own raw word
    c = _ONE
    d = _inv(_nonzero(_sub(_ONE, _div(_mul(xx, _raw_int(a + b)), _raw_int(a + 1)))))
    h = d
    for m in range(1, _BCF_ITERATIONS):
        two_m = m + m
        # even step: d_{2m} = m (b - m) x / ((a + 2m - 1)(a + 2m))
        n = _div(_mul(xx, _raw_int(m * (b - m))), _raw_int((a + two_m - 1) * (a + two_m)))
        d = _inv(_nonzero(_add(_mul(n, d), _ONE)))
        c = _nonzero(_add(_div(n, c), _ONE))
        h = _mul(_mul(h, d), c)
        # odd step: d_{2m+1} = -(a + m)(a + b + m) x / ((a + 2m)(a + 2m + 1))
        n = _div(_mul(_raw_int((-a - m) * (a + b + m)), xx), _raw_int((a + two_m) * (a + two_m + 1)))
        d = _inv(_nonzero(_add(_mul(n, d), _ONE)))
        c = _nonzero(_add(_div(n, c), _ONE))
        delta = _mul(d, c)
        h = _mul(h, delta)
        if _sub(delta, _ONE) < _BCF_EPSILON:
            return h
    return h


def _incomplete_beta(a: int, b: int, x: int) -> int:
    """Regularized incomplete beta ``I_x(a, b)`` for integers ``a, b`` and a 56-bit fraction ``x``.

    Uses the symmetry ``I_x(a, b) = 1 - I_{1-x}(b, a)`` when ``x > (a + 1) / (a + b + 2)``.
    """
    if a > _MAX_BETA_ARG or b > _MAX_BETA_ARG:
        raise FixedOverflowError("incomplete beta argument too large")
    front = 0
    if 0 < x < _ONE56:
        log_front = _sub(_sub(_lgamma(a + b), _lgamma(a)), _lgamma(b))
        log_front = _add(_add(log_front, _a_log_x(x, a)), _a_log_x(_ONE56 - x, b))
        front = _exp(log_front)
    elif x < 0 or x > _ONE56:
        raise FixedOverflowError("incomplete beta x outside [0, 1]")

    def scaled_fraction(x: int, a: int, b: int) -> int:
        if front & _MAG == 0:
            return front
        h = _beta_continued_fraction(x, a, b)
        return _div(_mul(front, h), _raw_int(a))

    if x > _to_int56(_div(_raw_int(a + 1), _raw_int(a + b + 2))):
        return _sub(_ONE, scaled_fraction(_ONE56 - x, b, a))
    return scaled_fraction(x, a, b)


# An identity keeps the same (n, p) for a whole epoch and its counts stay small, so hare and certifier
# validation keeps asking for the same few CDF values: memoise them (a pure function of three ints).
@functools.lru_cache(maxsize=16384)
def _bin_cdf_raw(n: int, p: int, x: int) -> int:
    """Raw word of ``P[Binomial(n, p) <= x]`` for a raw-word ``p``."""
    if x < 0:
        return 0
    if x >= n:
        return _ONE
    return _incomplete_beta(n - x, x + 1, _i64(_ONE56 - _to_int56(p)))


# ---------------------------------------------------------------------------------------------------
# Public value type.


class Fixed:
    """A 72.56 sign-magnitude fixed-point value, bit-compatible with ``spacemeshos/fixed.Fixed``.

    Immutable; equality is equality of the raw 128-bit words (so +0 and -0 differ, as in the reference).
    """

    __slots__ = ("_raw",)

    def __init__(self, raw: int) -> None:
        """Wrap a raw 128-bit word (bit 127 sign, bits 0..126 magnitude in 2**-56 units).

        Raises :class:`ValueError` outside ``[0, 2**128)``.
        """
        if not 0 <= raw <= _M128:
            raise ValueError("a raw Fixed word is an unsigned 128-bit integer")
        self._raw = raw

    # -- construction ------------------------------------------------------------------------------
    @classmethod
    def from_int(cls, value: int) -> Fixed:
        """The integer ``value`` (an int64), as ``fixed.New64``. Raises :class:`ValueError` outside int64."""
        if not -(1 << 63) <= value < (1 << 63):
            raise ValueError("value must be a signed 64-bit integer")
        return cls(_raw_int(value))

    @classmethod
    def from_raw56(cls, value: int) -> Fixed:
        """The signed 56-bit fraction ``value`` (an int64 count of 2**-56 units)."""
        if not -(1 << 63) <= value < (1 << 63):
            raise ValueError("value must be a signed 64-bit integer")
        return cls(_raw56(value))

    @classmethod
    def from_float(cls, value: float) -> Fixed:
        """A float64, mantissa truncated to 56 fraction bits (``fixed.From``).

        Raises :class:`FixedOverflowError` when it does not fit.
        """
        return cls(_raw_from_float(value))

    @classmethod
    def from_fraction_bytes(cls, data: bytes) -> Fixed:
        """The low 56 bits of the little-endian uint64 in ``data[:8]`` as a fraction (``FracFromBytes``).

        Raises :class:`ValueError` when fewer than 8 bytes are given.
        """
        if len(data) < 8:
            raise ValueError("need at least 8 bytes")
        return cls(int.from_bytes(data[:8], "little") & _FRAC_MASK)

    @classmethod
    def from_bytes(cls, data: bytes) -> Fixed:
        """Decode the 16-byte form (little-endian low word, then high word) that :meth:`to_bytes` writes.

        Raises :class:`ValueError` unless ``data`` is 16 bytes long.
        """
        if len(data) != 16:
            raise ValueError("a Fixed is encoded in 16 bytes")
        return cls(int.from_bytes(data, "little"))

    @classmethod
    def div_uint64(cls, p: int, q: int) -> Fixed:
        """``p / q`` for unsigned 64-bit integers (``fixed.DivUint64``).

        Raises :class:`ValueError` for arguments outside uint64, :class:`FixedDivisionByZeroError` when
        ``q`` is 0 and :class:`FixedOverflowError` when the quotient does not fit.
        """
        if not (0 <= p <= _M64 and 0 <= q <= _M64):
            raise ValueError("arguments must be unsigned 64-bit integers")
        return cls(_udiv(_raw_uint(p), _raw_uint(q)))

    # -- inspection --------------------------------------------------------------------------------
    @property
    def raw(self) -> int:
        """The raw 128-bit word."""
        return self._raw

    def to_bytes(self) -> bytes:
        """The 16-byte little-endian form (``Fixed.Bytes``)."""
        return self._raw.to_bytes(16, "little")

    def to_raw56(self) -> int:
        """The value as a signed count of 2**-56 units; raises :class:`FixedOverflowError` past int64."""
        return _to_int56(self._raw)

    def to_fraction(self) -> Fraction:
        """The exact rational value (negative zero gives 0)."""
        mag = Fraction(self._raw & _MAG, _ONE56)
        return -mag if self._raw & _SIGN else mag

    def to_float(self) -> float:
        """The nearest float to the exact value (for display; not the reference's ``Float``)."""
        return float(self.to_fraction())

    def is_negative(self) -> bool:
        """Whether the sign bit is set (true for negative zero too)."""
        return bool(self._raw & _SIGN)

    def is_zero(self) -> bool:
        """Whether the magnitude is zero (either sign)."""
        return self._raw & _MAG == 0

    def get_integer_part(self) -> int:
        """The integer part, truncated toward zero. Raises :class:`FixedOverflowError` past 63 bits."""
        return _integer_part(self._raw)

    # -- arithmetic --------------------------------------------------------------------------------
    def add(self, other: Fixed) -> Fixed:
        """``self + other``. Raises :class:`FixedOverflowError` past 127 magnitude bits."""
        return Fixed(_add(self._raw, other._raw))

    def sub(self, other: Fixed) -> Fixed:
        """``self - other``. Raises :class:`FixedOverflowError` past 127 magnitude bits."""
        return Fixed(_sub(self._raw, other._raw))

    def mul(self, other: Fixed) -> Fixed:
        """``self * other``, truncated. Raises :class:`FixedOverflowError` past 127 magnitude bits."""
        return Fixed(_mul(self._raw, other._raw))

    def div(self, other: Fixed) -> Fixed:
        """``self / other`` by the reference's division. Raises on zero divisor or overflow."""
        return Fixed(_div(self._raw, other._raw))

    def neg(self) -> Fixed:
        """``-self`` (flips the sign bit; ``-0`` is distinct from ``+0``)."""
        return Fixed(self._raw ^ _SIGN)

    def abs(self) -> Fixed:
        """``|self|``."""
        return Fixed(self._raw & _MAG)

    def is_less_than(self, other: Fixed) -> bool:
        """The reference's ``LessThan``: the raw words compared as unsigned integers."""
        return self._raw < other._raw

    def is_greater_than(self, other: Fixed) -> bool:
        """The reference's ``GreaterThan``: the raw words compared as unsigned integers."""
        return self._raw > other._raw

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Fixed) and other._raw == self._raw

    def __hash__(self) -> int:
        return hash(self._raw)

    def __repr__(self) -> str:
        sign = "-" if self._raw & _SIGN else "+"
        mag = self._raw & _MAG
        return f"Fixed({sign}{mag >> FRAC_BITS}'{mag & _FRAC_MASK:014x}/56)"


ZERO: Final = Fixed(0)
ONE: Final = Fixed(_ONE)


def compute_bin_cdf(n: int, p: Fixed, x: int) -> Fixed:
    """``P[Binomial(n, p) <= x]`` exactly as ``fixed.BinCDF`` computes it.

    ``0`` for ``x < 0``, ``1`` for ``x >= n``; otherwise the incomplete beta ``I_{1-p}(n - x, x + 1)``.
    Raises :class:`FixedOverflowError` when the reference would panic (``n - x`` or ``x + 1`` above
    2**30, ``p`` outside [0, 1] or not a 64-bit fraction).
    """
    return Fixed(_bin_cdf_raw(n, p.raw, x))


def compute_vrf_fraction56(vrf_signature: bytes) -> int:
    """The eligibility fraction of a VRF output: low 56 bits of the LE uint64 of its first 8 bytes.

    Raises :class:`EligibilityInputError` for fewer than 8 bytes.
    """
    if len(vrf_signature) < 8:
        raise EligibilityInputError("a VRF signature has at least 8 bytes")
    return int.from_bytes(vrf_signature[:8], "little") & _FRAC_MASK


def compute_eligibility_parameters(weight: int, total_weight: int, committee_size: int) -> tuple[int, Fixed]:
    """The binomial ``(n, p)`` of the hare oracle for one identity.

    ``n = weight`` and ``p = committee_size / total_weight``; when the committee is larger than the
    total weight both weights are multiplied by the committee size first (uint64 arithmetic). Raises
    :class:`EligibilityInputError` for a committee below 1, a zero total weight, negative or over-64-bit
    weights, or ``n`` above :data:`MAX_SUPPORTED_N`.
    """
    if committee_size < 1:
        raise EligibilityInputError("zero committee size")
    if not (0 <= weight <= _M64 and 0 <= total_weight <= _M64 and committee_size <= _M64):
        raise EligibilityInputError("weights and committee size are unsigned 64-bit integers")
    if total_weight == 0:
        raise EligibilityInputError("zero total weight")
    n = weight
    if committee_size > total_weight:
        total_weight = (total_weight * committee_size) & _M64
        n = (n * committee_size) & _M64
    if n > MAX_SUPPORTED_N:
        raise EligibilityInputError(f"miner weight exceeds supported maximum ({n} > {MAX_SUPPORTED_N})")
    return n, Fixed.div_uint64(committee_size, total_weight)


def _check_fraction(vrf_fraction56: int) -> None:
    if not 0 <= vrf_fraction56 <= _FRAC_MASK:
        raise EligibilityInputError("the VRF fraction is a 56-bit unsigned integer")


def compute_hare_eligibility_count(vrf_fraction56: int, weight: int, total_weight: int, committee_size: int) -> int:
    """Number of hare (or certifier) eligibilities a VRF output is worth (the oracle's ``CalcEligibility``).

    The smallest ``x`` in ``0..n-1`` with ``BinCDF(n, p, x) > frac``, else ``n``; returned as the
    reference's ``uint16`` (the value modulo 2**16; counts that large do not occur in practice).
    ``vrf_fraction56`` comes from :func:`compute_vrf_fraction56`. Raises :class:`EligibilityInputError`
    for inputs the oracle rejects (see :func:`compute_eligibility_parameters`).
    """
    _check_fraction(vrf_fraction56)
    n, p = compute_eligibility_parameters(weight, total_weight, committee_size)
    for x in range(n):
        if _bin_cdf_raw(n, p.raw, x) > vrf_fraction56:
            return x & 0xFFFF
    return n & 0xFFFF


def is_hare_eligibility_count_valid(
    vrf_fraction56: int, weight: int, total_weight: int, committee_size: int, count: int
) -> bool:
    """Whether ``count`` is the eligibility count the oracle's ``Validate`` accepts for this VRF output.

    True iff ``not BinCDF(n, p, count-1) > frac`` and ``frac < BinCDF(n, p, count)``. Raises
    :class:`EligibilityInputError` for rejected inputs or a ``count`` outside uint16.
    """
    _check_fraction(vrf_fraction56)
    if not 0 <= count <= 0xFFFF:
        raise EligibilityInputError("an eligibility count is a uint16")
    n, p = compute_eligibility_parameters(weight, total_weight, committee_size)
    below = _bin_cdf_raw(n, p.raw, count - 1)
    at = _bin_cdf_raw(n, p.raw, count)
    return not below > vrf_fraction56 and vrf_fraction56 < at
