"""Tests of the layer reward split."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spacemesh_core.consensus.rewards import RewardError, compute_layer_rewards
from spacemesh_core.economics import EFFECTIVE_GENESIS_MAINNET, compute_subsidy_for_layer
from spacemesh_core.testing.vectors import load_vectors
from spacemesh_core.types.block import AnyReward, RatNum


def _reward(index: int, num: int, denom: int = 1) -> AnyReward:
    return AnyReward(bytes([index]) * 32, RatNum(num, denom))


def test_split_uses_subsidy_curve_and_fees() -> None:
    layer = EFFECTIVE_GENESIS_MAINNET + 10
    rewards = [_reward(1, 1), _reward(2, 3)]
    result = compute_layer_rewards(layer, rewards, fees=1000)
    subsidy = compute_subsidy_for_layer(layer)
    assert result.subsidy == subsidy
    assert result.rewards[0].total == (subsidy + 1000) // 4
    assert result.rewards[1].total == (subsidy + 1000) * 3 // 4
    assert result.rewards[0].layer_reward == subsidy // 4
    assert result.paid + result.burnt == subsidy + 1000
    assert 0 <= result.burnt < len(rewards)


def test_subsidy_matches_economics_vectors() -> None:
    """Every subsidy case of the economics vectors: one full-weight entry receives the layer subsidy."""
    cases = [c for c in load_vectors("economics")["cases"] if c["kind"] == "subsidy" and "subsidy_at_layer" in c]
    assert cases
    for case in cases:
        layer = EFFECTIVE_GENESIS_MAINNET + int(case["layers_after_effective_genesis"])
        result = compute_layer_rewards(layer, [_reward(1, 1), _reward(2, 0)])
        assert result.subsidy == case["subsidy_at_layer"]
        assert result.rewards[0].total == case["subsidy_at_layer"]
        assert result.rewards[1].total == 0


def test_bad_inputs() -> None:
    with pytest.raises(RewardError):
        compute_layer_rewards(EFFECTIVE_GENESIS_MAINNET, [])
    with pytest.raises(RewardError):
        compute_layer_rewards(EFFECTIVE_GENESIS_MAINNET, [_reward(1, 1, 0)])
    with pytest.raises(RewardError):
        compute_layer_rewards(EFFECTIVE_GENESIS_MAINNET, [_reward(1, 1)], fees=-1)


def test_coinbase_mapping_and_subsidy_override() -> None:
    result = compute_layer_rewards(5, [_reward(1, 2)], get_coinbase=lambda atx: b"cb" + atx[:2], subsidy=77,
                                   effective_genesis=0)
    assert result.rewards[0].coinbase == b"cb\x01\x01"
    assert result.rewards[0].total == 77


@settings(max_examples=60, deadline=None)
@given(
    weights=st.lists(st.tuples(st.integers(1, 10**9), st.integers(1, 10**6)), min_size=1, max_size=40),
    fees=st.integers(0, 10**12),
)
def test_split_is_proportional(weights: list[tuple[int, int]], fees: int) -> None:
    rewards = [_reward(i % 250, num, den) for i, (num, den) in enumerate(weights)]
    result = compute_layer_rewards(EFFECTIVE_GENESIS_MAINNET + 1, rewards, fees=fees)
    total = result.subsidy + fees
    weight_sum = sum(Fraction(n, d) for n, d in weights)
    for (num, den), paid in zip(weights, result.rewards, strict=True):
        exact = Fraction(num, den) / weight_sum * total
        assert exact - 1 < paid.total <= exact
    assert 0 <= result.burnt < len(rewards)
