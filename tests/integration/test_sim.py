"""Simulated networks running the real hare, eligibility, tortoise, block and reward engines."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from spacemesh_core.sim import SimConfig, Simulation, run_simulation
from spacemesh_core.sim.fairness import compute_trend, run_fairness


def test_honest_network_agrees() -> None:
    result = run_simulation(SimConfig(nodes=8, layers=12, seed=1))
    assert result.hare_agree and result.opinion_agree and result.honest_agree
    assert result.layers_with_block == 12
    assert result.converged_layer == 1
    assert result.malicious_detected == ()
    assert all(s.reward > 0 for s in result.smeshers if s.eligibilities)


def test_reproducible_from_seed() -> None:
    first = run_simulation(SimConfig(nodes=5, layers=4, seed=9)).to_json()
    again = run_simulation(SimConfig(nodes=5, layers=4, seed=9)).to_json()
    other = run_simulation(SimConfig(nodes=5, layers=4, seed=10)).to_json()
    assert first == again
    assert first != other


@pytest.mark.slow
def test_quarter_adversarial_weight() -> None:
    """Equivocating, withholding and voting-against smeshers with ≤ 25 % of the weight: the honest
    nodes agree, every equivocator is caught and weighs zero."""
    simulation = Simulation(SimConfig(nodes=12, layers=12, seed=2, adversary=0.25))
    adversarial = sum(n.units for n in simulation.nodes if not n.honest) / simulation.total_units
    assert 0.15 <= adversarial <= 0.25
    result = simulation.run()
    assert result.hare_agree and result.opinion_agree and result.honest_agree
    equivocators = {n.signer.node_id.hex() for n in simulation.nodes if n.behaviour == "equivocate"}
    assert equivocators and equivocators <= set(result.malicious_detected)
    assert result.malicious_weight_zero
    for node in simulation.nodes:
        if node.honest:
            for node_id in equivocators:
                assert node.tortoise.is_malicious(bytes.fromhex(node_id))


@pytest.mark.slow
def test_partition_heals() -> None:
    """A 10-layer 60/40 partition: after it heals every node converges on one mesh hash."""
    config = SimConfig(nodes=10, layers=32, seed=5, partition=(5, 14))
    simulation = Simulation(config)
    result = simulation.run()
    assert len({n.group for n in simulation.nodes}) == 2
    assert not all(simulation.agreement.values())  # the partition did split opinions
    assert result.converged_layer is not None
    heal = config.partition[1] + 1  # type: ignore[index]
    assert result.converged_layer - heal <= config.hdist + 4
    assert result.opinion_agree and result.honest_agree
    assert len(set(result.mesh_hashes)) == 1
    for node in simulation.nodes:
        assert node.tortoise.verified >= simulation.genesis + config.layers - 3


@pytest.mark.slow
def test_reward_fairness() -> None:
    """20 epochs, 30 smeshers with 1-100 units: reward per unit within 5 % of the mean for everyone
    with ≥ 10 eligibilities per epoch, and no trend by size."""
    result = run_fairness(epochs=20, smeshers=30, seed=0)
    deviations = result.get_deviations(min_eligibilities=10)
    assert len(deviations) >= 15
    assert max(abs(d) for _, d in deviations) < 0.05
    assert abs(compute_trend(deviations)) < 0.02


def test_cli_sim_json() -> None:
    from spacemesh_core.cli import cli

    runner = CliRunner()
    out = runner.invoke(cli, ["sim", "--nodes", "4", "--layers", "3", "--seed", "1", "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert set(data) == {"honest_agree", "layers", "layers_with_block", "converged_layer", "malicious_detected",
                         "smeshers"}
    assert data["layers"] == 3 and data["honest_agree"] is True
    assert set(data["smeshers"][0]) == {"id", "units", "honest", "eligibilities", "reward", "reward_per_unit"}
    bad = runner.invoke(cli, ["sim", "--partition", "9-3"])
    assert bad.exit_code != 0
