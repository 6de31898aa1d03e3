"""In-process nodes run the beacon protocol (``bp1``/``bf1``, and ``bo1``/``bw1`` with following rounds)
over the memory transport under a virtual clock, as part of the mesh (the setup of test_mesh_service):
the nodes agree on protocol beacons, store them and put them in their ballots; a node started late
learns them from ballots; a peer's invalid beacon messages are rejected and change nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import pytest

from spacemesh_core.clock import VirtualTime, parse_genesis_time
from spacemesh_core.codec.scale import decode, encode
from spacemesh_core.config import build_config
from spacemesh_core.consensus.beacon import compute_beacon_proposal_vrf_message
from spacemesh_core.crypto.address import compute_wallet_principal
from spacemesh_core.crypto.signing import Signer
from spacemesh_core.kernel.plugins import load_plugin_manager
from spacemesh_core.node import Node
from spacemesh_core.storage.state import AtxRecord
from spacemesh_core.sync.syncer import SyncProgress
from spacemesh_core.types.atx import ActivationTxV1, InnerActivationTxV1, NIPostChallengeV1
from spacemesh_core.types.ballot import Ballot
from spacemesh_core.types.beacon import BeaconProposalMessage, FirstVotingMessage, FirstVotingMessageBody
from spacemesh_core.types.primitives import SigningDomain
from spacemesh_hooks.interfaces import ValidationResult
from spacemesh_plugins.mesh.beacon_service import (
    SOURCE_BALLOTS,
    SOURCE_PROTOCOL,
    TOPIC_BEACON_PROPOSAL,
    compute_fallback_beacon,
)
from spacemesh_plugins.mesh.events import BeaconDecided
from spacemesh_plugins.transport_memory.transport import MemoryTransport

pytestmark = pytest.mark.slow

LAYERS_PER_EPOCH = 6
VRF_NONCE_BASE = 7  # the synthetic ATXs' VRF nonce is 7 + publish epoch


def make_signed_atx(signer: Signer, node: Node, publish_epoch: int, units: int) -> AtxRecord:
    """A signed ATX of ``signer`` whose derived fields are given directly (no NIPoST), as in test_mesh_service."""
    coinbase = compute_wallet_principal(signer.public_key)
    challenge = NIPostChallengeV1(publish_epoch, 0, bytes(32), node.golden_atx, None, None)
    inner = InnerActivationTxV1(
        challenge, coinbase, units, None, signer.node_id, VRF_NONCE_BASE + publish_epoch
    )
    unsigned = ActivationTxV1(inner, signer.node_id, bytes(64))
    atx = ActivationTxV1(
        inner, signer.node_id, signer.sign(SigningDomain.ATX, unsigned.get_signed_bytes(), node.genesis_id)
    )
    return AtxRecord(atx.compute_id(), publish_epoch, signer.node_id, units, 1, units, 0.0, encode(atx))


class Network:
    """Nodes of the devnet preset (6-layer epochs, sim bundle) sharing one virtual clock."""

    def __init__(self, tmp_path: Path, extra_flags: Sequence[str] = ()) -> None:
        self.plugins = load_plugin_manager(environ={})
        self.schema = self.plugins.get_config_schema()
        self.base = build_config(self.schema, preset="devnet", environ={})
        self.genesis = parse_genesis_time(self.base.network.genesis_time)
        self.time = VirtualTime(self.genesis - 1)
        self.tmp_path = tmp_path
        self.extra_flags = list(extra_flags)
        self.nodes: list[Node] = []
        self.atxs: list[AtxRecord] = []

    async def add_node(self) -> Node:
        flags = [f"node.data_dir={self.tmp_path / str(len(self.nodes))}", "node.bundle=sim",
                 f"network.layers_per_epoch={LAYERS_PER_EPOCH}", *self.extra_flags]
        node = Node(build_config(self.schema, preset="devnet", flags=flags, environ={}), self.plugins, self.time)
        await node.start()
        for record in self.atxs:  # as after ATX gossip and sync
            node.storage.state.add_atx(record)
        if self.nodes:
            assert node.transport is not None
            await node.transport.connect(self.nodes[0].transport.get_address())
        self.nodes.append(node)
        return node

    def add_atxs(self, signers: Sequence[Signer], epochs: range) -> None:
        for epoch in epochs:
            for units, signer in enumerate(signers, start=1):
                record = make_signed_atx(signer, self.nodes[0], epoch, units)
                self.atxs.append(record)
                for node in self.nodes:
                    node.storage.state.add_atx(record)

    async def run_until(self, layer: float) -> None:
        target = self.genesis + layer * self.base.network.layer_duration_s
        while self.time.now() < target:
            await self.time.advance(0.05)
            await asyncio.sleep(0)

    async def stop(self) -> None:
        for node in self.nodes:
            await node.stop()


def get_ballot_beacons(node: Node, epoch: int) -> set[bytes]:
    """Return the beacons the reference ballots of ``epoch`` stored by ``node`` carry."""
    found = set()
    first = epoch * LAYERS_PER_EPOCH
    for layer in range(first, first + LAYERS_PER_EPOCH):
        for record in node.storage.state.get_ballots_in_layer(layer):
            data = decode(Ballot, record.blob).inner.epoch_data
            if data is not None:
                found.add(bytes(data.beacon))
    return found


async def test_nodes_agree_on_protocol_beacons_a_late_node_learns_them_and_bad_messages_do_nothing(
    tmp_path: Path,
) -> None:
    network = Network(tmp_path)
    try:
        for _ in range(4):
            await network.add_node()
        nodes = list(network.nodes)
        genesis_id = nodes[0].genesis_id
        # an extra identity with ATXs (it never publishes anything valid) and one with none
        evil = Signer.from_seed(b"\x66" * 32)
        stranger = Signer.from_seed(b"\x67" * 32)
        signers = [n.identity for n in nodes]
        network.add_atxs([*signers, evil], range(0, 6))  # type: ignore[list-item]

        # epoch 3 starts at layer 18: its proposal phase runs (3 s of a 4 s layer)
        await network.run_until(18.25)
        beacon = nodes[0].beacon  # type: ignore[attr-defined]
        run = beacon.runs[3]
        # a peer gossips a proposal of the evil identity whose VRF is not a VRF of it
        bad_vrf = bytes(80)
        bad_proposal = encode(BeaconProposalMessage(3, evil.node_id, bad_vrf))
        peer = MemoryTransport(network=nodes[0].transport.network, peer_exchange=False)
        for topic in ("bp1", "bf1"):
            peer.register_gossip(topic, _accept_everything)
        await peer.start()
        try:
            await peer.connect(nodes[0].transport.get_address())
            await peer.publish(TOPIC_BEACON_PROPOSAL, bad_proposal)
            for _ in range(20):
                await asyncio.sleep(0)
            router = nodes[0].transport.router
            assert router.get_score(peer.peer_id) < 0, "the sender of an invalid proposal was not penalized"
        finally:
            await peer.stop()
        # the same and other invalid messages, straight to the validators
        assert await beacon.handle_proposal(b"p", bad_proposal) is ValidationResult.REJECT
        stranger_vrf = stranger.compute_vrf_proof(compute_beacon_proposal_vrf_message(3, VRF_NONCE_BASE + 2))
        stranger_proposal = encode(BeaconProposalMessage(3, stranger.node_id, stranger_vrf))
        assert await beacon.handle_proposal(b"p", stranger_proposal) is ValidationResult.REJECT  # no ATX
        body = FirstVotingMessageBody(3, (stranger_vrf[:4], bad_vrf[:4]), ())
        forged = FirstVotingMessage(body, evil.node_id, bytes(64))  # bad signature
        assert await beacon.handle_first_votes(b"p", encode(forged)) is ValidationResult.REJECT
        unsigned = FirstVotingMessage(body, stranger.node_id, bytes(64))
        signed = FirstVotingMessage(
            body, stranger.node_id,
            stranger.sign(SigningDomain.BEACON_FIRST_MSG, unsigned.get_signed_bytes(), genesis_id),
        )
        assert await beacon.handle_first_votes(b"p", encode(signed)) is ValidationResult.REJECT  # no ATX
        assert await beacon.handle_proposal(b"p", b"\x01\x02") is ValidationResult.REJECT  # not decodable
        # nothing of them was counted
        assert evil.node_id not in run.proposals and stranger.node_id not in run.proposals
        assert not {bad_vrf[:4], stranger_vrf[:4]} & set(run.engine.margins)
        assert evil.node_id not in run.first_voters and stranger.node_id not in run.first_voters

        # a node started late (in epoch 3, after its proposal phase): it did not run epoch 3's protocol
        await network.run_until(19.5)
        late = await network.add_node()
        # it started before it was linked (a memory transport dials no bootnodes), so its first sync
        # round found no peer and counted it as caught up: have it sync from the start, as a late joiner does
        late.sync.syncer.progress = SyncProgress()  # type: ignore[attr-defined]
        await network.run_until(31.5)  # epoch 5 started at layer 30: its ballots carry beacon(5)

        beacons = {}
        for epoch in (3, 4, 5):  # the protocol ran in epochs 2, 3 and 4
            values = {n.storage.state.get_beacon(epoch) for n in nodes}
            assert len(values) == 1, f"epoch {epoch}: nodes disagree: {values}"
            value = values.pop()
            assert value is not None and value != compute_fallback_beacon(genesis_id, epoch)
            assert all(n.beacon.decided[epoch] == (value, SOURCE_PROTOCOL) for n in nodes)  # type: ignore[attr-defined]
            beacons[epoch] = value
            for node in nodes:  # the ballots carry it, and the tortoise sees no ballot with a bad beacon
                assert get_ballot_beacons(node, epoch) == {value}
        assert len(set(beacons.values())) == 3
        # the late node adopted the beacons of epochs 3 and 4 from ballots and ran epoch 4's protocol
        decided = late.beacon.decided  # type: ignore[attr-defined]
        assert decided[3] == (beacons[3], SOURCE_BALLOTS)
        assert decided[4] == (beacons[4], SOURCE_BALLOTS)
        assert decided[5] == (beacons[5], SOURCE_PROTOCOL)
        assert all(late.storage.state.get_beacon(e) == beacons[e] for e in (3, 4, 5))
        # the mesh went on: every node applied the same states in the protocol epochs
        hashes = [n.storage.state.get_state_hashes() for n in network.nodes]
        applied = [layer for layer in hashes[0] if layer >= 3 * LAYERS_PER_EPOCH]
        assert len(applied) >= 2 * LAYERS_PER_EPOCH
        for other in hashes[1:]:
            assert all(hashes[0][layer] == other[layer] for layer in set(hashes[0]) & set(other))
        assert len(set(hashes[0]) & set(hashes[4])) >= LAYERS_PER_EPOCH  # the late node applied layers too
        blocks = [nodes[0].storage.state.get_layer(layer).applied_block for layer in applied]
        assert sum(b is not None for b in blocks) >= len(blocks) * 0.75
    finally:
        await network.stop()


async def test_following_rounds_and_the_weak_coin_run_when_configured(tmp_path: Path) -> None:
    network = Network(tmp_path, ["beacon.rounds=2"])
    try:
        for _ in range(3):
            await network.add_node()
        nodes = network.nodes
        network.add_atxs([n.identity for n in nodes], range(0, 4))  # type: ignore[misc]
        assert nodes[0].bus is not None
        subscription = await nodes[0].bus.subscribe([BeaconDecided])
        await network.run_until(2 * LAYERS_PER_EPOCH + 2.9)  # the run of epoch 2 lasts 3 + 3 + 2 × (1 + 1) s
        values = {n.storage.state.get_beacon(3) for n in nodes}
        assert len(values) == 1 and None not in values
        # the decision was announced on the node's bus
        announced = await subscription.get(timeout=10)
        subscription.close()
        assert announced == BeaconDecided(epoch=3, beacon=values.pop(), source=SOURCE_PROTOCOL)
        for node in nodes:
            status = node.beacon.get_status()  # type: ignore[attr-defined]
            assert status["sent"]["bo1"] == 2  # one vote per round
            assert status["epochs"]["3"]["source"] == SOURCE_PROTOCOL
        assert sum(n.beacon.get_status()["sent"].get("bw1", 0) for n in nodes) >= 2  # type: ignore[attr-defined]
    finally:
        await network.stop()


async def _accept_everything(peer: bytes, data: bytes) -> ValidationResult:
    return ValidationResult.ACCEPT
