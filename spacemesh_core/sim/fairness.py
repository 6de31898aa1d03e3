"""Fast-mode fairness measurement: rewards per unit over many epochs with real eligibilities.

The full simulator shows that in an honest network every proposal of a layer is in the hare output; the
fast mode takes that as given and skips hare and tortoise. What it keeps real is what decides the
split: ECVRF eligibilities (:func:`~spacemesh_core.consensus.eligibility.compute_eligibilities`),
slot counts, the block's reward entries (:func:`~spacemesh_core.consensus.blocks.compute_block_rewards`)
and the reward split on the mainnet subsidy curve (:func:`~spacemesh_core.consensus.rewards.compute_layer_rewards`).
"""

from __future__ import annotations

import random
from statistics import fmean

import attrs

from spacemesh_core.consensus.blocks import BlockProposal, compute_block_rewards
from spacemesh_core.consensus.eligibility import EligibilityConfig, compute_eligibilities, compute_slots
from spacemesh_core.consensus.rewards import compute_layer_rewards
from spacemesh_core.crypto.hashes import compute_blake3
from spacemesh_core.crypto.signing import Signer

__all__ = ["FairnessResult", "SmesherFairness", "compute_trend", "run_fairness"]


@attrs.frozen
class SmesherFairness:
    """One smesher over the whole run."""

    units: int
    eligibilities: int
    min_eligibilities_per_epoch: int
    reward: int

    @property
    def reward_per_unit(self) -> float:
        """Reward per unit."""
        return self.reward / self.units


@attrs.frozen
class FairnessResult:
    """Per-smesher totals and the network mean reward per unit."""

    epochs: int
    smeshers: tuple[SmesherFairness, ...]
    mean_reward_per_unit: float

    def get_deviations(self, min_eligibilities: int = 10) -> list[tuple[int, float]]:
        """``(units, reward_per_unit / mean − 1)`` for smeshers with ≥ ``min_eligibilities`` every epoch."""
        return [
            (s.units, s.reward_per_unit / self.mean_reward_per_unit - 1.0)
            for s in self.smeshers
            if s.min_eligibilities_per_epoch >= min_eligibilities
        ]


def compute_trend(points: list[tuple[int, float]]) -> float:
    """Least-squares slope of deviation against units, times the unit range: the drift across sizes."""
    if len(points) < 2:
        return 0.0
    xs = [float(x) for x, _ in points]
    ys = [y for _, y in points]
    mx, my = fmean(xs), fmean(ys)
    var = sum((x - mx) ** 2 for x in xs)
    if var == 0:
        return 0.0
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var
    return slope * (max(xs) - min(xs))


def run_fairness(
    epochs: int = 20, smeshers: int = 30, seed: int = 0, layers_per_epoch: int = 10, layer_avg_size: int = 60
) -> FairnessResult:
    """Run ``epochs`` epochs of ``smeshers`` honest smeshers with 1..100 units (seeded) and return rewards."""
    rng = random.Random(seed)
    units = [rng.randint(1, 100) for _ in range(smeshers)]
    signers = [Signer.from_seed(compute_blake3(b"fair", seed.to_bytes(8, "little"), i.to_bytes(4, "little")))
               for i in range(smeshers)]
    total = sum(units)
    config = EligibilityConfig(layers_per_epoch, layer_avg_size, 1)
    genesis = layers_per_epoch - 1
    rewards = [0] * smeshers
    counts = [0] * smeshers
    per_epoch_min = [1 << 30] * smeshers
    for epoch in range(1, epochs + 1):
        beacon = compute_blake3(b"beacon", seed.to_bytes(8, "little"), epoch.to_bytes(4, "little"))[:4]
        by_layer: dict[int, list[BlockProposal]] = {}
        for i, signer in enumerate(signers):
            slots = compute_slots(units[i], total, config)
            atx_id = compute_blake3(b"atx", signer.node_id, epoch.to_bytes(4, "little"))
            eligibilities = compute_eligibilities(signer, beacon, epoch, i, slots, layers_per_epoch)
            got = 0
            for layer, proofs in eligibilities.items():
                got += len(proofs)
                by_layer.setdefault(layer, []).append(
                    BlockProposal(atx_id[:20], atx_id, units[i], slots, len(proofs), 0)
                )
            counts[i] += got
            per_epoch_min[i] = min(per_epoch_min[i], got)
        owner = {compute_blake3(b"atx", s.node_id, epoch.to_bytes(4, "little")): i for i, s in enumerate(signers)}
        for layer in sorted(by_layer):
            block_rewards = compute_block_rewards(by_layer[layer])
            for entry in compute_layer_rewards(layer, block_rewards, effective_genesis=genesis).rewards:
                rewards[owner[entry.atx_id]] += entry.total
    mean = sum(rewards) / total
    return FairnessResult(
        epochs,
        tuple(SmesherFairness(units[i], counts[i], per_epoch_min[i], rewards[i]) for i in range(smeshers)),
        mean,
    )
