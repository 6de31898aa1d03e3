"""Emission constants, the subsidy curve and vault vesting against the shared economics vectors.

Besides every case of ``economics.json`` this checks the properties the reference's own tests assert
(rounding down each layer, exact accumulation, the half-life margin, the final smidge) and the first
subsidies that go-spacemesh's VM tests hard-code.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spacemesh_core import economics as econ
from spacemesh_core.testing.vectors import load_vectors

MAX_U32 = (1 << 32) - 1


def _cases(kind: str) -> list[dict[str, Any]]:
    return [case for case in load_vectors("economics")["cases"] if case["kind"] == kind]


def test_vector_file_kinds() -> None:
    kinds = {case["kind"] for case in load_vectors("economics")["cases"]}
    assert kinds == {"subsidy", "curve_constants", "constants", "vesting"}
    assert len(_cases("subsidy")) == 13
    assert len(_cases("vesting")) == 7


@pytest.mark.parametrize("index", range(13))
def test_subsidy_vectors(index: int) -> None:
    case = _cases("subsidy")[index]
    n = case["layers_after_effective_genesis"]
    assert econ.compute_accumulated_subsidy(n) == case["accumulated_subsidy"]
    if "subsidy_at_layer" in case:
        assert econ.compute_layer_subsidy(n) == case["subsidy_at_layer"]
    if "next_layer_subsidy" in case:
        assert econ.compute_layer_subsidy(n + 1) == case["next_layer_subsidy"]
    if "mainnet_layer" in case:
        assert econ.compute_subsidy_for_layer(case["mainnet_layer"]) == case["subsidy_at_layer"]


def test_curve_constants_vector() -> None:
    (case,) = _cases("curve_constants")
    assert Decimal(case["half_life_layers"]) == econ.HALF_LIFE
    scaled = econ.SUBSIDY_CONTEXT.multiply(econ.LAMBDA, Decimal("10e39"))
    assert scaled == Decimal(case["lambda_times_1e40"])


def test_constants_vector() -> None:
    (case,) = _cases("constants")
    assert case["one_smesh_smidge"] == econ.ONE_SMESH
    assert case["total_vaulted"] == econ.TOTAL_VAULTED
    assert case["total_issuance"] == econ.TOTAL_ISSUANCE
    assert case["total_subsidy"] == econ.TOTAL_SUBSIDY
    assert case["ten_year_target"] == econ.TEN_YEAR_TARGET
    assert case["one_year_layers"] == econ.ONE_YEAR
    assert case["vest_start"] == econ.VEST_START
    assert case["vest_end"] == econ.VEST_END
    assert case["vest_layers"] == econ.VEST_LAYERS
    assert case["vested_at_cliff"] == econ.VESTED_AT_CLIFF
    assert case["vest_per_layer"] == econ.VEST_PER_LAYER
    assert case["effective_genesis_offset_mainnet"] == econ.EFFECTIVE_GENESIS_MAINNET


@pytest.mark.parametrize("index", range(7))
def test_vesting_vectors(index: int) -> None:
    case = _cases("vesting")[index]
    layer = case["layers_after_genesis"]
    assert econ.compute_vest_at_layer(layer) == case["vest_at_layer"]
    assert econ.compute_accumulated_vest(layer) == case["accumulated_vest"]


def test_first_subsidies_hardcoded_by_the_reference_vm_tests() -> None:
    expected = [477618397593, 477618296206, 477618194821, 477618093434, 477617992047]
    assert [econ.compute_layer_subsidy(n) for n in range(5)] == expected


def test_each_layer_rounds_down() -> None:
    total_rounddown = Decimal(0)
    for n in range(10, 20):
        unrounded = econ.compute_unrounded_accumulated_subsidy(n)
        rounddown = unrounded - econ.compute_accumulated_subsidy(n)
        assert 0 < rounddown < 1
        total_rounddown += rounddown
    assert total_rounddown > 1


def test_half_life_margin() -> None:
    half = econ.TOTAL_SUBSIDY // 2
    margin = 150 * econ.ONE_SMESH
    before = int(econ.HALF_LIFE)  # truncated toward zero
    below = econ.compute_accumulated_subsidy(before - 1)
    above = econ.compute_accumulated_subsidy(before)
    assert 0 < half - below < margin
    assert 0 < above - half < margin


def test_final_smidge() -> None:
    final = int(econ.FINAL_LAYER)
    assert final == 199069549
    assert econ.compute_layer_subsidy(final) == 1
    assert econ.compute_accumulated_subsidy(final) == econ.TOTAL_SUBSIDY - 1
    assert econ.compute_layer_subsidy(final + 1) == 0
    assert econ.compute_accumulated_subsidy(final + 1) == econ.TOTAL_SUBSIDY - 1


def test_ten_year_issuance_and_wrap_at_uint32_max() -> None:
    assert econ.compute_accumulated_subsidy(10 * econ.ONE_YEAR) == econ.TEN_YEAR_TARGET - econ.TOTAL_VAULTED
    # The reference adds one to a uint32: the last representable layer counts zero layers.
    assert econ.compute_accumulated_subsidy(MAX_U32) == 0


def test_vesting_totals() -> None:
    assert econ.VEST_PER_LAYER * econ.VEST_LAYERS < econ.TOTAL_VAULTED
    shortfall = econ.TOTAL_VAULTED - econ.VEST_PER_LAYER * econ.VEST_LAYERS
    assert 0 < shortfall < econ.ONE_SMESH
    assert econ.compute_vest_at_layer(econ.VEST_END) == econ.VEST_PER_LAYER + shortfall
    assert econ.compute_accumulated_vest(econ.VEST_END) == econ.TOTAL_VAULTED
    assert econ.compute_accumulated_vest(MAX_U32) == econ.TOTAL_VAULTED


@pytest.mark.parametrize("bad", [-1, MAX_U32 + 1])
def test_layer_range_is_checked(bad: int) -> None:
    for fn in (
        econ.compute_accumulated_subsidy,
        econ.compute_layer_subsidy,
        econ.compute_accumulated_vest,
        econ.compute_vest_at_layer,
    ):
        with pytest.raises(econ.InvalidLayerError):
            fn(bad)


def test_layer_before_effective_genesis_is_rejected() -> None:
    with pytest.raises(econ.InvalidLayerError):
        econ.compute_subsidy_for_layer(8062)
    assert econ.compute_subsidy_for_layer(10, effective_genesis=9) == econ.compute_layer_subsidy(1)


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=0, max_value=MAX_U32 - 2))
def test_subsidy_accumulates_exactly_and_decays(n: int) -> None:
    accumulated = econ.compute_accumulated_subsidy(n)
    following = econ.compute_layer_subsidy(n + 1)
    assert accumulated + following == econ.compute_accumulated_subsidy(n + 1)
    assert accumulated <= econ.TOTAL_SUBSIDY
    # Truncating a decreasing curve: a layer may get at most one smidge more than the one before.
    assert following <= econ.compute_layer_subsidy(n) + 1


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=1, max_value=MAX_U32))
def test_vest_at_layer_is_the_accumulated_difference(layer: int) -> None:
    difference = econ.compute_accumulated_vest(layer) - econ.compute_accumulated_vest(layer - 1)
    assert econ.compute_vest_at_layer(layer) == difference
