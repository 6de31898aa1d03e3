"""Layer rewards: the subsidy plus fees split by weight among the block's reward entries (protocol.md §7.3).

``total = subsidy(layer) + fees``; entry ``i`` with weight ``w_i`` receives ``floor(total × w_i / Σw)``
on the coinbase of its ATX, of which ``floor(subsidy × w_i / Σw)`` is recorded as the layer (subsidy)
reward. What rounding leaves over is burnt. Only proposals included by the hare output appear in the
block's reward list, so an eligible smesher whose proposal was left out earns nothing for it.

The subsidy curve is :func:`spacemesh_core.economics.compute_subsidy_for_layer` (decimal128 maths of
``spacemeshos/economics``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from fractions import Fraction

import attrs

from spacemesh_core.economics import EFFECTIVE_GENESIS_MAINNET, compute_subsidy_for_layer
from spacemesh_core.types.block import AnyReward

__all__ = ["CoinbaseReward", "LayerRewards", "RewardError", "compute_layer_rewards"]


class RewardError(ValueError):
    """A reward list cannot be paid (no entries with weight, a zero denominator, negative fees)."""


@attrs.frozen
class CoinbaseReward:
    """What one reward entry earns: ``total`` (subsidy share + fee share) and the subsidy share alone."""

    atx_id: bytes
    coinbase: bytes
    total: int
    layer_reward: int


@attrs.frozen
class LayerRewards:
    """The rewards of one applied block."""

    layer: int
    subsidy: int
    fees: int
    rewards: tuple[CoinbaseReward, ...]

    @property
    def paid(self) -> int:
        """Smidge credited in total."""
        return sum(r.total for r in self.rewards)

    @property
    def burnt(self) -> int:
        """Smidge lost to rounding: ``subsidy + fees − paid``."""
        return self.subsidy + self.fees - self.paid


def compute_layer_rewards(
    layer: int,
    rewards: Sequence[AnyReward],
    fees: int = 0,
    *,
    get_coinbase: Callable[[bytes], bytes] = lambda atx_id: atx_id,
    effective_genesis: int = EFFECTIVE_GENESIS_MAINNET,
    subsidy: int | None = None,
) -> LayerRewards:
    """Split ``subsidy(layer) + fees`` over the block's reward entries by weight.

    ``get_coinbase`` maps an ATX id to the coinbase credited (identity by default). ``subsidy``
    overrides the curve (simulations with scaled economics).

    :raises RewardError: for negative fees, an entry with a zero denominator or a zero total weight.
    :raises InvalidLayerError: for a layer before the effective genesis (from the subsidy curve).
    """
    if fees < 0:
        raise RewardError("fees must not be negative")
    layer_subsidy = compute_subsidy_for_layer(layer, effective_genesis) if subsidy is None else subsidy
    weights = []
    for entry in rewards:
        if entry.weight.denom == 0:
            raise RewardError(f"reward weight of ATX {entry.atx_id.hex()} has a zero denominator")
        weights.append(entry.weight.to_fraction())
    total_weight = sum(weights, Fraction(0))
    if total_weight <= 0:
        raise RewardError("the reward entries carry no weight")
    total = layer_subsidy + fees
    paid = []
    for entry, weight in zip(rewards, weights, strict=True):
        share = weight / total_weight
        paid.append(
            CoinbaseReward(
                atx_id=entry.atx_id,
                coinbase=get_coinbase(entry.atx_id),
                total=int(share * total),
                layer_reward=int(share * layer_subsidy),
            )
        )
    return LayerRewards(layer, layer_subsidy, fees, tuple(paid))
