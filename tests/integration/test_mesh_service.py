"""Several in-process nodes run the mesh service (proposals, hare, blocks, tortoise, VM) over the
memory transport under a virtual clock. ATXs are synthetic (signed, but without PoST): this test is
about consensus and execution; the activation pipeline has its own tests."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from spacemesh_core.clock import VirtualTime, parse_genesis_time
from spacemesh_core.codec.scale import encode
from spacemesh_core.config import build_config
from spacemesh_core.config.presets import DEVNET_FAUCET_ADDRESS
from spacemesh_core.crypto.address import compute_wallet_principal
from spacemesh_core.kernel.plugins import load_plugin_manager
from spacemesh_core.node import Node
from spacemesh_core.storage.state import AtxRecord
from spacemesh_core.types.atx import ActivationTxV1, InnerActivationTxV1, NIPostChallengeV1
from spacemesh_core.types.primitives import SigningDomain
from tests.support.faucet import make_faucet_txs

NODES = 4
LAYERS_PER_EPOCH = 6


def make_atx(node: Node, publish_epoch: int, units: int) -> AtxRecord:
    """A signed ATX whose derived fields are given directly (no NIPoST)."""
    assert node.identity is not None
    coinbase = compute_wallet_principal(node.identity.public_key)
    challenge = NIPostChallengeV1(publish_epoch, 0, bytes(32), node.golden_atx, None, None)
    inner = InnerActivationTxV1(challenge, coinbase, units, None, node.identity.node_id, 7 + publish_epoch)
    unsigned = ActivationTxV1(inner, node.identity.node_id, bytes(64))
    atx = ActivationTxV1(
        inner, node.identity.node_id,
        node.identity.sign(SigningDomain.ATX, unsigned.get_signed_bytes(), node.genesis_id),
    )
    return AtxRecord(atx.compute_id(), publish_epoch, node.identity.node_id, units, 1, units, 0.0, encode(atx))


@pytest.mark.slow
async def test_nodes_agree_on_blocks_state_and_transactions(tmp_path: Path) -> None:
    plugins = load_plugin_manager(environ={})
    schema = plugins.get_config_schema()
    base = build_config(schema, preset="devnet", environ={})
    genesis = parse_genesis_time(base.network.genesis_time)
    time_source = VirtualTime(genesis - 1)
    nodes: list[Node] = []
    for index in range(NODES):
        flags = [f"node.data_dir={tmp_path / str(index)}", "node.bundle=sim",
                 f"network.layers_per_epoch={LAYERS_PER_EPOCH}"]
        config = build_config(schema, preset="devnet", flags=flags, environ={})
        node = Node(config, plugins, time_source)
        nodes.append(node)
    for node in nodes:
        await node.start()
    try:
        for node in nodes[1:]:
            assert node.transport is not None
            await node.transport.connect(nodes[0].transport.get_address())
        for epoch in range(0, 5):  # every node knows every ATX (as after ATX gossip and sync)
            records = [make_atx(node, epoch, units) for node, units in zip(nodes, (1, 2, 3, 4), strict=True)]
            for node in nodes:
                for record in records:
                    node.storage.state.add_atx(record)

        first_layer = 2 * LAYERS_PER_EPOCH  # the first layer after the genesis epochs
        duration = base.network.layer_duration_s

        async def run_until(layer: int) -> None:
            target = genesis + layer * duration
            while time_source.now() < target:
                await time_source.advance(0.05)
                await asyncio.sleep(0)

        await run_until(first_layer + 2)
        # a spend from the devnet faucet, submitted to one node
        mesh = nodes[1].mesh
        destination = bytes(compute_wallet_principal(b"\x05" * 32))
        spawn, spend = make_faucet_txs(nodes[1].genesis_id, destination, 12345)
        tx_ids = [await mesh.submit_transaction(spawn)]
        await run_until(first_layer + LAYERS_PER_EPOCH)  # the wallet must be spawned before it spends
        tx_ids.append(await nodes[2].mesh.submit_transaction(spend))
        await run_until(first_layer + 2 * LAYERS_PER_EPOCH + 1)

        hashes = [node.storage.state.get_state_hashes() for node in nodes]
        applied = [h for h in hashes[0] if h >= first_layer]
        assert len(applied) >= 2 * LAYERS_PER_EPOCH - 2, hashes[0]
        for other in hashes[1:]:
            common = set(hashes[0]) & set(other)
            assert len(common) >= len(applied)
            assert all(hashes[0][layer] == other[layer] for layer in common)
        blocks = [nodes[0].storage.state.get_layer(layer).applied_block for layer in applied]
        assert sum(b is not None for b in blocks) >= len(blocks) * 0.75  # hare gave a block in most layers
        for node in nodes:
            for tx_id in tx_ids:
                record = node.storage.state.get_transaction(tx_id)
                assert record is not None and record.result == 1, "the transactions are applied on every node"
            faucet = node.storage.state.get_account(bytes(DEVNET_FAUCET_ADDRESS))
            assert faucet is not None and faucet.next_nonce == 2
            receiver = node.storage.state.get_account(destination)
            assert receiver is not None and receiver.balance == 12345
        # rewards are paid in proportion to space (units 1:2:3:4 with equal tick counts)
        coinbases = [bytes(compute_wallet_principal(n.identity.public_key)) for n in nodes]  # type: ignore[union-attr]
        rewards = [sum(r.total for r in nodes[0].storage.state.get_rewards(c)) for c in coinbases]
        assert all(r > 0 for r in rewards)
        per_unit = [r / u for r, u in zip(rewards, (1, 2, 3, 4), strict=True)]
        mean = sum(per_unit) / len(per_unit)
        assert max(abs(p - mean) / mean for p in per_unit) < 0.6  # few layers: coarse, see the sim for fairness
    finally:
        for node in nodes:
            await node.stop()
