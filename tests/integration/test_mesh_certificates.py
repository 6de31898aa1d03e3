"""Block certificates across in-process nodes (memory transport, virtual clock): the hare block of
every layer is certified over ``bc1`` and stored by every node; a node that joins late fetches the
certificates while syncing, verifies them and adopts the certified blocks as hare output; a peer
serving forged certificates gets them rejected, and nothing of them is stored."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pytest

from spacemesh_core.clock import VirtualTime, parse_genesis_time
from spacemesh_core.config import build_config
from spacemesh_core.crypto.signing import Signer
from spacemesh_core.kernel.plugins import load_plugin_manager
from spacemesh_core.node import Node
from spacemesh_core.storage.state import AtxRecord, StateStore
from spacemesh_core.sync.storage_server import create_fetch_server, get_stored_certificate
from spacemesh_core.sync.wire import Hint
from spacemesh_core.types.block import Certificate, CertifyContent, CertifyMessage
from spacemesh_core.types.primitives import SigningDomain
from spacemesh_plugins.mesh.certifier import compute_certify_threshold
from spacemesh_plugins.transport_memory.transport import MemoryTransport
from tests.integration.test_mesh_service import make_atx

NODES = 4
LAYERS_PER_EPOCH = 6
FIRST_LAYER = 2 * LAYERS_PER_EPOCH  # the first layer after the genesis epochs
JOIN_LAYER = FIRST_LAYER + 4


def with_seeded_state(node: Node, records: list[AtxRecord]) -> None:
    """Make ``node`` open its (in-memory) state with ``records`` in it, as after ATX sync."""
    implementation = node.components["state_storage"]

    def create(*args: Any, **kwargs: Any) -> Any:
        storage = implementation.factory(*args, **kwargs)
        for record in records:
            storage.state.add_atx(record)
        return storage

    node.components["state_storage"] = attrs.evolve(implementation, factory=create)


def with_bootnode(node: Node, address: str) -> None:
    """Make ``node``'s transport dial ``address`` as it starts (before the first sync round)."""
    implementation = node.components["transport"]

    def create(*args: Any, **kwargs: Any) -> Any:
        transport = implementation.factory(*args, **kwargs)
        transport.bootnodes = [address]
        return transport

    node.components["transport"] = attrs.evolve(implementation, factory=create)


def sign(signer: Signer, content: CertifyContent, genesis_id: bytes) -> CertifyMessage:
    unsigned = CertifyMessage(content, bytes(64), signer.node_id)
    return attrs.evolve(unsigned, signature=signer.sign(SigningDomain.HARE, unsigned.get_signed_bytes(), genesis_id))


def make_forger(honest: StateStore, genesis_id: bytes, threshold: int) -> Callable[[Hint, bytes], bytes | None]:
    """A certificate provider that serves, for every block it can see, a forged certificate: on even
    layers messages signed by identities outside the active set claiming the threshold; on odd
    layers the honest certificate cut below the threshold (every message valid, too few seats)."""
    outsiders = [Signer.from_seed(bytes([0xF0 + i]) * 32) for i in range(3)]

    def forge(hint: Hint, block_id: bytes) -> bytes | None:
        block = honest.get_block(block_id)
        if block is None:
            return None
        layer = block.layer
        honest_blob = get_stored_certificate(honest, block_id)
        messages: list[CertifyMessage] = []
        if layer % 2 == 1 and honest_blob is not None:
            total = 0
            for message in sorted(Certificate.from_bytes(honest_blob).signatures,
                                  key=lambda m: m.content.eligibility_count):
                if total + message.content.eligibility_count >= threshold:
                    break
                total += message.content.eligibility_count
                messages.append(message)
        if not messages:
            messages = [
                sign(s, CertifyContent(layer, block_id, threshold, s.compute_vrf_proof(b"forged")), genesis_id)
                for s in outsiders
            ]
        return Certificate(block_id, tuple(messages)).to_bytes()

    return forge


def get_certified_blocks(node: Node, layers: range) -> dict[int, list[bytes]]:
    state = node.storage.state
    return {layer: [bid for bid, _ in state.get_certificates(layer)] for layer in layers}


@pytest.mark.slow
async def test_blocks_are_certified_synced_and_forgeries_rejected(tmp_path: Path) -> None:
    plugins = load_plugin_manager(environ={})
    schema = plugins.get_config_schema()
    base = build_config(schema, preset="devnet", environ={})
    genesis = parse_genesis_time(base.network.genesis_time)
    time_source = VirtualTime(genesis - 1)
    duration = base.network.layer_duration_s

    def make_node(name: str, *extra: str) -> Node:
        flags = [f"node.data_dir={tmp_path / name}", "node.bundle=sim",
                 f"network.layers_per_epoch={LAYERS_PER_EPOCH}", *extra]
        return Node(build_config(schema, preset="devnet", flags=flags, environ={}), plugins, time_source)

    async def run_until(layer: float) -> None:
        target = genesis + layer * duration
        while time_source.now() < target:
            await time_source.advance(0.05)
            for _ in range(3):
                await asyncio.sleep(0)

    nodes = [make_node(str(index)) for index in range(NODES)]
    started: list[Node] = []
    forger: MemoryTransport | None = None
    try:
        for node in nodes:
            await node.start()
            started.append(node)
        for node in nodes[1:]:
            await node.transport.connect(nodes[0].transport.get_address())
        records = []
        for epoch in range(0, 5):  # every node knows every ATX (as after ATX gossip and sync)
            records += [make_atx(node, epoch, units) for node, units in zip(nodes, (1, 2, 3, 4), strict=True)]
        for node in nodes:
            for record in records:
                node.storage.state.add_atx(record)

        await run_until(JOIN_LAYER + 0.1)

        # a late honest node, and a victim whose only peer serves forged certificates
        genesis_id = nodes[0].genesis_id
        threshold = compute_certify_threshold(base.hare.certifier_committee)
        forger = MemoryTransport(peer_exchange=False)
        create_fetch_server(
            nodes[0].storage.state,
            {Hint.CERTIFICATE: make_forger(nodes[0].storage.state, genesis_id, threshold)},
        ).register(forger)
        await forger.start()
        late = make_node("late")
        victim = make_node("victim", "p2p.peer_exchange=false")
        for node, bootnode in ((late, nodes[0].transport.get_address()), (victim, forger.get_address())):
            with_seeded_state(node, records)
            with_bootnode(node, bootnode)
            await node.start()
            started.append(node)
        assert [p.peer_id for p in victim.transport.get_peers()] == [forger.peer_id]

        await run_until(JOIN_LAYER + 5)
        last_checked = JOIN_LAYER + 3  # layers up to here are certified and synced everywhere
        layers = range(FIRST_LAYER, last_checked + 1)

        # every node certified the hare block of each layer, and all agree on it
        hare_blocks = {layer: nodes[0].storage.state.get_layer(layer).hare_output for layer in layers}
        with_block = [layer for layer, block in hare_blocks.items() if block is not None]
        assert len(with_block) >= len(layers) * 0.75, hare_blocks
        for node in nodes:
            certified = get_certified_blocks(node, layers)
            for layer in with_block:
                assert certified[layer] == [hare_blocks[layer]], (layer, certified[layer], hare_blocks[layer])
        certifier = nodes[0].mesh.certifier
        for layer in with_block:
            for node in nodes:
                (_, blob), = node.storage.state.get_certificates(layer)
                oracle = certifier.get_oracle(layer)
                assert oracle is not None
                certifier.certifier.verify_certificate(Certificate.from_bytes(blob), layer, oracle)
        assert nodes[0].get_status()["mesh"]["last_certified"] >= last_checked

        # the late node fetched, verified and adopted the certificates of the layers it missed
        late_certified = get_certified_blocks(late, layers)
        missed = [layer for layer in with_block if layer <= JOIN_LAYER]
        assert missed
        for layer in missed:
            assert late_certified[layer] == [hare_blocks[layer]]
            record = late.storage.state.get_layer(layer)
            assert record.hare_done and record.hare_output == hare_blocks[layer], layer
        late_hashes = late.storage.state.get_state_hashes()
        honest_hashes = nodes[0].storage.state.get_state_hashes()
        assert any(layer in late_hashes for layer in missed), "the late node applied the adopted blocks"
        assert all(honest_hashes[layer] == h for layer, h in late_hashes.items() if layer in honest_hashes)

        # the victim rejected every forged certificate: none stored, nothing adopted
        assert all(blocks == [] for blocks in get_certified_blocks(victim, layers).values())
        assert victim.sync.syncer.progress.rejected >= len(missed)
        for layer in missed:
            record = victim.storage.state.get_layer(layer)
            assert not record.hare_done or record.hare_output != hare_blocks[layer]
        assert victim.storage.state.get_block(hare_blocks[missed[0]]) is not None, "it did sync the blocks"

        # once an honest peer is reachable, the victim's syncer asks again and gets the real ones
        await victim.transport.connect(nodes[1].transport.get_address())
        await run_until(JOIN_LAYER + 8)
        retried = [layer for layer in with_block if layer >= JOIN_LAYER + 8 - 10 + 1]
        victim_certified = get_certified_blocks(victim, layers)
        assert retried
        for layer in retried:
            assert victim_certified[layer] == [hare_blocks[layer]], layer
            assert victim.storage.state.get_layer(layer).hare_output == hare_blocks[layer]
    finally:
        for node in reversed(started):
            await node.stop()
        if forger is not None:
            await forger.stop()
