"""The 56-bit fixed-point arithmetic, BinCDF and the hare eligibility count.

Known answers marked "Go" were produced by running the reference library (``spacemeshos/fixed``
v0.1.2, Go 1.19) on the listed inputs; the eligibility answers by the reference oracle's counting rule
(``for x < n: if BinCDF(n, p, x) > frac: return x``) over that library. The property tests compare
with exact rational arithmetic within the accuracy the reference documents for its BinCDF
(1e-14 for n <= 100, 1e-12 for n <= 1000).
"""

from __future__ import annotations

import itertools
from fractions import Fraction
from math import comb

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from spacemesh_core.determinism.fixed import (
    MAX_SUPPORTED_N,
    ONE,
    ZERO,
    EligibilityInputError,
    Fixed,
    FixedDivisionByZeroError,
    FixedOverflowError,
    compute_bin_cdf,
    compute_eligibility_parameters,
    compute_hare_eligibility_count,
    compute_vrf_fraction56,
    is_hare_eligibility_count_valid,
)

ULP = Fraction(1, 1 << 56)
FRAC_MAX = (1 << 56) - 1

# Go: (n, p raw word, x, BinCDF raw word)
GO_BIN_CDF = [
    (34, 0xE6666666666666, 25, 0x150460F31169F),
    (340, 0xD1EB851EB851E8, 250, 0x48F2C7384F4),
    (3400, 0xB851EB851EB850, 2500, 0xFA5E083C20691C),
    (30000, 0x80000000000000, 15000, 0x8096F28B61A7DC),
    (50, 0x0, 3, 0x100000000000000),
    (50, 0x100000000000000, 3, 0x0),
    (1, 0x55555555555555, 0, 0xAAAAAAAAAAABA5),
    (100, 0xFFFFFFFFFFFFFF, 99, 0x63),
    (1073741824, 0xC800000, 0, 0xB3F735E6C968F),
    (1073741824, 0xC800000, 5, 0xE7284D3A5AD5EC),
    (1073741824, 0x64000000, 40, 0xFF7A9850C5FD2D),
    (1000000, 0xD6BF94D5, 0, 0xF383C5802A2D57),
    (1000000, 0x53E2D6238D, 8, 0xEE9172989155B6),
    (7, 0x80000000000000, 3, 0x7FFFFFFFFFFEDB),
    (2, 0x80000000000000, 0, 0x3FFFFFFFFFFF85),
    (2, 0x80000000000000, 1, 0xC000000000007B),
    (1000, 0x44B82FA, 0, 0xFFFFEF3908EC0A),
    (1000, 0xFFFFEF39085F48, 998, 0x85FE8CA22),
    (26853673, 0x3AF27F2DC5FD3D, 31, 0x0),
    (33708919, 0x87E3556210B784, 68, 0x0),
    (4010, 0x9CFBBAB8E3C71F, 75, 0x0),
    (52091492, 0x26FB98366C5ACD, 59, 0x0),
    (1468, 0xF2655B153D3A3F, 67, 0x0),
    (721, 0xAEB3467124890, 34, 0xC28236F77094CB),
    (73, 0xFD54755CCEDC77, 68, 0x43756E242204),
    (12, 0x7673899B02A56D, 0, 0x25F0328065A1),
    (28967315, 0xBF5CB4292AF8F3, 56, 0x0),
    (67537751, 0x97CE82D0FD6D9, 14, 0x0),
    (63582547, 0x6B4519D1D5C42F, 10, 0x0),
    (706, 0x173749E0D5425, 48, 0x100000000000000),
    (1114, 0xE6647133674334, 7, 0x0),
    (1734, 0x6770FA8BA3FB80, 16, 0x0),
]

# Go (oracle rule): (vrf fraction, weight, total weight, committee size, eligibility count)
GO_ELIGIBILITY = [
    (0x0, 10000000, 1000000000, 50, 0),
    (0xFFFFFFFFFFFFFF, 10000000, 1000000000, 50, 15),
    (0x80000000000000, 10000000, 1000000000, 50, 0),
    (0xF0FC795A9331F6, 10000000, 1000000000, 50, 2),
    (0x79E488B1EB72C8, 10000000, 1000000000, 50, 0),
    (0x0, 1000000, 1000000000, 50, 0),
    (0xFFFFFFFFFFFFFF, 1000000, 1000000000, 50, 8),
    (0x80000000000000, 1000000, 1000000000, 50, 0),
    (0xE4A11EC154269, 1000000, 1000000000, 50, 0),
    (0xBD11E121846D9E, 1000000, 1000000000, 50, 0),
    (0x0, 100000, 1000000, 50, 0),
    (0xFFFFFFFFFFFFFF, 100000, 1000000, 50, 34),
    (0x80000000000000, 100000, 1000000, 50, 5),
    (0xB7E6ACDD2A7AFE, 100000, 1000000, 50, 6),
    (0xC768BE9983D819, 100000, 1000000, 50, 7),
    (0x0, 10000000, 100000000, 400, 1),
    (0xFFFFFFFFFFFFFF, 10000000, 100000000, 400, 104),
    (0x80000000000000, 10000000, 100000000, 400, 40),
    (0x26833CBF49E557, 10000000, 100000000, 400, 33),
    (0xF0F4049BA8272C, 10000000, 100000000, 400, 50),
    (0x0, 1000000, 5000000, 200, 1),
    (0xFFFFFFFFFFFFFF, 1000000, 5000000, 200, 104),
    (0x80000000000000, 1000000, 5000000, 200, 40),
    (0x1FD68368865042, 1000000, 5000000, 200, 33),
    (0x1E641718B3205E, 1000000, 5000000, 200, 33),
    (0x0, 7, 30, 50, 0),
    (0xFFFFFFFFFFFFFF, 7, 30, 50, 49),
    (0x80000000000000, 7, 30, 50, 12),
    (0x4BC4F024C70F48, 7, 30, 50, 10),
    (0xFDBA242C941DA5, 7, 30, 50, 20),
    (0x0, 1, 1, 50, 50),
    (0xFFFFFFFFFFFFFF, 1, 1, 50, 50),
    (0x80000000000000, 1, 1, 50, 50),
    (0x68ED8A2D7A2D12, 1, 1, 50, 50),
    (0xEC940925403CFD, 1, 1, 50, 50),
    (0x0, 49, 49, 50, 4),
    (0xFFFFFFFFFFFFFF, 49, 49, 50, 119),
    (0x80000000000000, 49, 49, 50, 50),
    (0xE163E73523EB0D, 49, 49, 50, 58),
    (0x51B0F68F9B7341, 49, 49, 50, 47),
    (0x0, 2, 3, 7, 0),
    (0xFFFFFFFFFFFFFF, 2, 3, 7, 14),
    (0x80000000000000, 2, 3, 7, 5),
    (0x7FC737C543E396, 2, 3, 7, 5),
    (0x3BE144CC477944, 2, 3, 7, 3),
    (0x0, 536870912, 1099511627776, 50, 0),
    (0xFFFFFFFFFFFFFF, 536870912, 1099511627776, 50, 7),
    (0x80000000000000, 536870912, 1099511627776, 50, 0),
    (0x41F1FCD89BACFA, 536870912, 1099511627776, 50, 0),
    (0xDB9D1C1E01B04F, 536870912, 1099511627776, 50, 0),
    (0x0, 0, 123456789, 50, 0),
    (0xFFFFFFFFFFFFFF, 0, 123456789, 50, 0),
    (0x80000000000000, 0, 123456789, 50, 0),
    (0x5C988AD2856DCB, 0, 123456789, 50, 0),
    (0xADA6AF2F9A8BCB, 0, 123456789, 50, 0),
    (0x9B4597C31D8279, 10000000, 1000000000, 50, 0),
    (0x9B4597C31D827A, 10000000, 1000000000, 50, 1),
    (0xE8E863E5A5DE20, 10000000, 1000000000, 50, 1),
    (0xE8E863E5A5DE21, 10000000, 1000000000, 50, 2),
    (0xFC5116DDEB662A, 10000000, 1000000000, 50, 2),
    (0xFC5116DDEB662B, 10000000, 1000000000, 50, 3),
]

# Go: (dividend raw, divisor raw, quotient raw). The first eight divide exact multiples by a divisor
# wider than 64 bits: the reference's correction step leaves the quotient one unit short (x/x < 1).
GO_DIV = [
    (0xD0C2282666BE49EE7, 0xD0C2282666BE49EE7, 0xFFFFFFFFFFFFFF),
    (0x5092672B6B9D0179EE, 0x1ADB77B923DF007DFA, 0x2FFFFFFFFFFFFFF),
    (0x55284D42AB24C561C9, 0x11080F73BBD42779F5, 0x4FFFFFFFFFFFFFF),
    (0x28DAD6DAC14F4CE634, 0x6CF23CF2037E2265E, 0x5FFFFFFFFFFFFFF),
    (0x6A3150D0CE4770D1C, 0x11B2E2CD77B692CDA, 0x5FFFFFFFFFFFFFF),
    (0x7FCAE8790FA5F3806C, 0x2A98F8285A8CA68024, 0x2FFFFFFFFFFFFFF),
    (0xB39A1135ADCC8DC1B, 0x23EB9D0ABC5C1C59F, 0x4FFFFFFFFFFFFFF),
    (0x2ED41A224A5C97FDC1, 0x2ED41A224A5C97FDC1, 0xFFFFFFFFFFFFFF),
    (0x65E7963386F4595B605746546AB8A, 0x5E9055811FBD241F8B, 0x113DF7362CFB02D4F717370856),
    (0xD61CC2CA27A0170A8A623C58, 0x2D35256C2D62C4B090124C47, 0x4BC77C009E5847D),
    (0x480D6EDACE715DE1828C1274518A51, 0x1080222B38A331E5, 0x45DDEA53E1BA383CDD474C7B4CF7E),
    (0x48A289F87198B4D861B, 0x29AD05B816D3F7670AFA, 0x1BE2B9F5DFEE65),
]

# Go: fixed.From(float64) raw words (mantissa truncated).
GO_FROM_FLOAT = [
    (0.9, 0xE6666666666668),
    (0.82, 0xD1EB851EB851E8),
    (1e-14, 0x2D0),
    (0.5, 0x80000000000000),
    (1.0, 0x100000000000000),
    (3.75, 0x3C0000000000000),
    (-2.5, 0x80000000000000000280000000000000),
    (1e-20, 0x0),
    (123456.789, 0x1E240C9FBE76C900000),
    (2.0**70, 0x40000000000000000000000000000000),
]


def exact_bin_cdf(n: int, p_raw: int, x: int) -> Fraction:
    """P[Binomial(n, p) <= x] for p = p_raw / 2**56, exactly."""
    q_raw = (1 << 56) - p_raw
    total = sum(comb(n, k) * p_raw**k * q_raw ** (n - k) for k in range(x + 1))
    return Fraction(total, 1 << (56 * n))


def documented_error(n: int) -> Fraction:
    return Fraction(1, 10**14) if n <= 100 else Fraction(1, 10**12)


# --- known answers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("n", "p_raw", "x", "expected"), GO_BIN_CDF)
def test_bin_cdf_matches_reference(n: int, p_raw: int, x: int, expected: int) -> None:
    assert compute_bin_cdf(n, Fixed(p_raw), x).raw == expected


@pytest.mark.parametrize(("frac", "weight", "total", "committee", "expected"), GO_ELIGIBILITY)
def test_eligibility_count_matches_reference(frac: int, weight: int, total: int, committee: int, expected: int) -> None:
    assert compute_hare_eligibility_count(frac, weight, total, committee) == expected
    assert is_hare_eligibility_count_valid(frac, weight, total, committee, expected)
    assert not is_hare_eligibility_count_valid(frac, weight, total, committee, expected + 1)
    if expected > 0:
        assert not is_hare_eligibility_count_valid(frac, weight, total, committee, expected - 1)


@pytest.mark.parametrize(("u", "v", "expected"), GO_DIV)
def test_division_matches_reference(u: int, v: int, expected: int) -> None:
    assert Fixed(u).div(Fixed(v)).raw == expected


@pytest.mark.parametrize(("value", "expected"), GO_FROM_FLOAT)
def test_from_float_matches_reference(value: float, expected: int) -> None:
    assert Fixed.from_float(value).raw == expected


def test_division_of_equal_wide_values_is_one_unit_short() -> None:
    wide = Fixed(0x2ED41A224A5C97FDC1)
    assert wide.div(wide).to_fraction() == 1 - ULP
    narrow = Fixed(0x2ED41A224A5C97)
    assert narrow.div(narrow) == ONE


# --- eligibility rule ------------------------------------------------------------------------------


def test_vrf_fraction_is_low_56_bits_of_first_eight_bytes() -> None:
    signature = bytes([0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0xFF]) + bytes(72)
    assert compute_vrf_fraction56(signature) == 0x77665544332211
    assert Fixed.from_fraction_bytes(signature).raw == 0x77665544332211
    with pytest.raises(EligibilityInputError):
        compute_vrf_fraction56(b"\x00" * 7)


def test_parameters_scale_when_committee_exceeds_total_weight() -> None:
    n, p = compute_eligibility_parameters(7, 30, 50)
    assert n == 350
    assert p == Fixed.div_uint64(50, 1500)
    n, p = compute_eligibility_parameters(7, 3000, 50)
    assert n == 7
    assert p == Fixed.div_uint64(50, 3000)


@pytest.mark.parametrize(
    ("weight", "total", "committee"),
    [(1, 10, 0), (1, 0, 50), (MAX_SUPPORTED_N + 1, 1 << 40, 50), (1 << 25, 10, 50), (-1, 10, 5), (1, 1 << 64, 5)],
)
def test_oracle_rejects_bad_parameters(weight: int, total: int, committee: int) -> None:
    with pytest.raises(EligibilityInputError):
        compute_hare_eligibility_count(0, weight, total, committee)
    with pytest.raises(EligibilityInputError):
        is_hare_eligibility_count_valid(0, weight, total, committee, 1)


def test_oracle_rejects_bad_fraction_and_count() -> None:
    with pytest.raises(EligibilityInputError):
        compute_hare_eligibility_count(1 << 56, 1, 10, 5)
    with pytest.raises(EligibilityInputError):
        compute_hare_eligibility_count(-1, 1, 10, 5)
    with pytest.raises(EligibilityInputError):
        is_hare_eligibility_count_valid(0, 1, 10, 5, 1 << 16)


def test_largest_supported_weight_is_accepted() -> None:
    n, _ = compute_eligibility_parameters(MAX_SUPPORTED_N, 1 << 40, 50)
    assert n == MAX_SUPPORTED_N == 1 << 30
    assert compute_hare_eligibility_count(0, MAX_SUPPORTED_N, 1 << 40, 50) == 0


def test_zero_weight_has_no_eligibility() -> None:
    assert compute_hare_eligibility_count(FRAC_MAX, 0, 1000, 50) == 0
    assert is_hare_eligibility_count_valid(FRAC_MAX, 0, 1000, 50, 0)


def exact_count(frac: int, n: int, p_raw: int) -> tuple[int, Fraction]:
    """Smallest x with the exact CDF above frac, and the closest any exact CDF value came to frac."""
    target = Fraction(frac, 1 << 56)
    closest = Fraction(1)
    for x in range(n):
        cdf = exact_bin_cdf(n, p_raw, x)
        closest = min(closest, abs(cdf - target))
        if cdf > target:
            return x, closest
    return n, closest


@settings(max_examples=80, deadline=None, derandomize=True)
@given(
    st.integers(min_value=0, max_value=FRAC_MAX),
    st.integers(min_value=1, max_value=60),
    st.integers(min_value=1, max_value=400),
    st.sampled_from([1, 5, 50]),
)
def test_eligibility_count_agrees_with_exact_rule(frac: int, weight: int, total: int, committee: int) -> None:
    assume(weight <= total)
    count = compute_hare_eligibility_count(frac, weight, total, committee)
    assert is_hare_eligibility_count_valid(frac, weight, total, committee, count)
    assert not is_hare_eligibility_count_valid(frac, weight, total, committee, count + 1)
    n, p = compute_eligibility_parameters(weight, total, committee)
    assume(n <= 150)
    expected, closest = exact_count(frac, n, p.raw)
    if closest > documented_error(n):
        assert count == expected
    else:  # frac lies within the documented error of a CDF value: the two may differ by one
        assert abs(count - expected) <= 1


# --- BinCDF against exact arithmetic ----------------------------------------------------------------

p_raws = st.one_of(
    st.integers(min_value=0, max_value=1 << 56),
    st.integers(min_value=0, max_value=1 << 40),
    st.integers(min_value=(1 << 56) - (1 << 40), max_value=1 << 56),
)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(st.integers(min_value=1, max_value=160), p_raws, st.data())
def test_bin_cdf_within_documented_error_of_exact(n: int, p_raw: int, data: st.DataObject) -> None:
    x = data.draw(st.integers(min_value=-1, max_value=n))
    got = compute_bin_cdf(n, Fixed(p_raw), x)
    assert not got.is_negative()
    assert abs(got.to_fraction() - exact_bin_cdf(n, p_raw, x)) <= documented_error(n)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(st.integers(min_value=1, max_value=120), p_raws)
def test_bin_cdf_is_monotone_in_x(n: int, p_raw: int) -> None:
    values = [compute_bin_cdf(n, Fixed(p_raw), x) for x in range(-1, n + 1)]
    assert values[0] == ZERO and values[-1] == ONE
    for lower, upper in itertools.pairwise(values):
        assert not lower.is_greater_than(upper)


def test_bin_cdf_edges() -> None:
    p = Fixed.div_uint64(1, 3)
    assert compute_bin_cdf(10, p, -1) == ZERO
    assert compute_bin_cdf(10, p, 10) == ONE
    assert compute_bin_cdf(10, p, 99) == ONE
    assert compute_bin_cdf(10, ZERO, 0) == ONE  # p = 0: all mass at 0
    assert compute_bin_cdf(10, ONE, 9) == ZERO  # p = 1: all mass at n


@pytest.mark.parametrize(
    ("n", "p", "x"),
    [
        (10, Fixed.from_float(1.5), 3),
        (10, Fixed.from_float(-0.25), 3),
        ((1 << 30) + 2, Fixed.div_uint64(1, 9), 0),
        (10, Fixed.from_int(1 << 20), 2),
    ],
)
def test_bin_cdf_rejects_what_the_reference_rejects(n: int, p: Fixed, x: int) -> None:
    with pytest.raises(FixedOverflowError):
        compute_bin_cdf(n, p, x)


# --- the Fixed type ------------------------------------------------------------------------------

raw56 = st.integers(min_value=-(1 << 63) + 1, max_value=(1 << 63) - 1)


@settings(max_examples=60, deadline=None)
@given(raw56, raw56)
def test_add_sub_mul_are_exact_or_truncated(a: int, b: int) -> None:
    fa, fb = Fixed.from_raw56(a), Fixed.from_raw56(b)
    assert fa.add(fb).to_fraction() == (a + b) * ULP
    assert fa.sub(fb).to_fraction() == (a - b) * ULP
    product = fa.mul(fb).to_fraction()
    magnitude = (abs(a) * abs(b)) >> 56
    assert product == (magnitude if (a < 0) == (b < 0) else -magnitude) * ULP


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=0, max_value=1 << 40), st.integers(min_value=1, max_value=(1 << 64) - 1))
def test_div_uint64_is_within_two_units_below_exact(p: int, q: int) -> None:
    got = Fixed.div_uint64(p, q).to_fraction()
    exact = Fraction(p, q)
    assert 0 <= exact - got < 2 * ULP


def test_fixed_value_api() -> None:
    three = Fixed.from_int(3)
    assert three.to_fraction() == 3
    assert three.get_integer_part() == 3
    assert Fixed.from_int(-7).get_integer_part() == -7
    assert Fixed.from_raw56(-(1 << 55)).to_float() == -0.5
    assert Fixed.from_bytes(three.to_bytes()) == three
    assert len(three.to_bytes()) == 16
    assert three.neg().is_negative() and three.neg().abs() == three
    assert three.to_raw56() == 3 << 56
    assert ZERO.neg() != ZERO and ZERO.neg().is_zero()
    assert hash(Fixed.from_int(3)) == hash(three)
    assert repr(Fixed.from_raw56(-(3 << 55))) == "Fixed(-1'80000000000000/56)"
    assert Fixed.div_uint64(1, 4).div(Fixed.from_int(2)).to_fraction() == Fraction(1, 8)


def test_comparisons_use_the_reference_raw_order() -> None:
    half = Fixed.from_float(0.5)
    assert half.is_less_than(ONE) and ONE.is_greater_than(half)
    # Sign-magnitude words compared as unsigned: every negative value sorts above every positive one.
    assert Fixed.from_int(-1).is_greater_than(ONE)
    assert ZERO.neg().is_greater_than(ONE)


def test_errors() -> None:
    with pytest.raises(FixedDivisionByZeroError):
        ONE.div(ZERO)
    with pytest.raises(FixedDivisionByZeroError):
        Fixed.div_uint64(1, 0)
    with pytest.raises(FixedOverflowError):
        Fixed.from_int(1 << 62).mul(Fixed.from_int(1 << 62))
    with pytest.raises(FixedOverflowError):
        Fixed.from_float(2.0**72)
    with pytest.raises(FixedOverflowError):
        Fixed.from_int(1 << 62).to_raw56()
    with pytest.raises(FixedOverflowError):
        Fixed((1 << 126) | 5).add(Fixed((1 << 126) | 5))
    with pytest.raises(ValueError):
        Fixed(1 << 128)
    with pytest.raises(ValueError):
        Fixed.from_int(1 << 63)
    with pytest.raises(ValueError):
        Fixed.from_raw56(1 << 63)
    with pytest.raises(ValueError):
        Fixed.from_bytes(b"\x00" * 15)
    with pytest.raises(ValueError):
        Fixed.from_fraction_bytes(b"\x00" * 7)
    with pytest.raises(ValueError):
        Fixed.div_uint64(-1, 3)
