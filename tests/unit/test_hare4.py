"""Hare4: compact ids, wire layout, full exchange, and a simulated network with missing proposals."""

from __future__ import annotations

import hashlib

from spacemesh_core.consensus.hare3 import PREROUND, HareConfig, HareOracle
from spacemesh_core.consensus.hare4 import (
    CompactIdRequest,
    CompactIdResponse,
    Hare4Engine,
    Hare4Message,
    compute_compact_id,
    create_hare4_message,
    resolve_compact_ids,
)
from spacemesh_core.types.ballot import (
    Ballot,
    EpochData,
    InnerBallot,
    InnerProposal,
    Proposal,
    Votes,
    VotingEligibility,
)
from spacemesh_plugins.consensus_hare4.plugin import create_hare4_suite
from tests.support.hare_network import BEACON, GENESIS_ID, LAYER, HareNetwork, make_proposal_ids, make_signer

CONFIG = HareConfig(committee=200, leaders=5)


def _compact(pid: bytes) -> bytes:
    return hashlib.sha256(b"compact" + pid).digest()[:4]


def test_compact_id_is_first_four_bytes_of_first_eligibility() -> None:
    sig = bytes(range(80))
    ballot = Ballot(
        InnerBallot(1, bytes(32), bytes(32), bytes(20), EpochData(bytes(32), BEACON, 1)),
        bytes(64),
        bytes(32),
        Votes(bytes(20), (), (), ()),
        (VotingEligibility(0, sig), VotingEligibility(1, bytes(80))),
        (),
    )
    proposal = Proposal(InnerProposal(ballot, (), bytes(32)), bytes(64))
    assert compute_compact_id(proposal) == bytes([0, 1, 2, 3])


def test_resolve_compact_ids_takes_smallest_untaken_and_detects_unknown() -> None:
    ids = sorted(make_proposal_ids(4))
    known = {ids[0]: b"aaaa", ids[1]: b"aaaa", ids[2]: b"bbbb", ids[3]: b"cccc"}
    assert resolve_compact_ids([b"aaaa", b"bbbb"], known) == sorted([ids[0], ids[2]])
    assert resolve_compact_ids([b"aaaa", b"aaaa"], known) == [ids[0], ids[1]]
    assert resolve_compact_ids([b"aaaa", b"aaaa", b"aaaa"], known) is None
    assert resolve_compact_ids([b"dddd"], known) is None


def test_wire_roundtrip_and_signature_covers_full_ids() -> None:
    signers = [make_signer(i) for i in range(3)]
    oracle = HareOracle({s.node_id: 1000 for s in signers}, BEACON, CONFIG)
    sender = Hare4Engine(CONFIG, LAYER, oracle, GENESIS_ID, [signers[0]])
    receiver = Hare4Engine(CONFIG, LAYER, oracle, GENESIS_ID, [signers[1]])
    ids = make_proposal_ids(5)
    for engine in (sender, receiver):
        for pid in ids:
            engine.add_proposal(pid, _compact(pid))
    eligibility = oracle.compute_eligibility(signers[0], LAYER, 0, PREROUND)
    assert eligibility is not None
    full = create_hare4_message(signers[0], GENESIS_ID, LAYER, 0, PREROUND, eligibility, proposals=sorted(ids))
    wire = sender.compact(full)
    assert wire.body.value.proposals == () and len(wire.body.value.compact_proposals) == 5
    assert Hare4Message.from_bytes(wire.to_bytes()) == wire
    assert len(wire.to_bytes()) < len(full.to_bytes())
    verdict = receiver.on_message(wire)
    assert verdict.accepted and verdict.request is None
    # the receiver lacks a proposal: it must ask the sender for the full list
    lacking = Hare4Engine(CONFIG, LAYER, oracle, GENESIS_ID, [signers[2]])
    for pid in ids[1:]:
        lacking.add_proposal(pid, _compact(pid))
    verdict = lacking.on_message(wire)
    assert not verdict.accepted and verdict.request == CompactIdRequest(wire.compute_body_hash())
    # the sender only answers for messages it sent itself
    assert sender.on_full_exchange_request(verdict.request) is None
    sender._sent[wire.compute_body_hash()] = full
    response = sender.on_full_exchange_request(verdict.request)
    assert response == CompactIdResponse(tuple(sorted(ids)))
    assert lacking.on_full_exchange_response(wire, response).accepted
    assert not lacking.on_full_exchange_response(wire, CompactIdResponse(tuple(ids[:2]))).accepted


def test_collision_that_breaks_the_signature_triggers_full_exchange() -> None:
    signers = [make_signer(i) for i in range(2)]
    oracle = HareOracle({s.node_id: 1000 for s in signers}, BEACON, CONFIG)
    sender = Hare4Engine(CONFIG, LAYER, oracle, GENESIS_ID, [signers[0]])
    receiver = Hare4Engine(CONFIG, LAYER, oracle, GENESIS_ID, [signers[1]])
    ids = sorted(make_proposal_ids(3))
    for pid in ids:
        sender.add_proposal(pid, _compact(pid))
    # the receiver holds another proposal with the same compact id, sorting before the real one
    impostor = b"\x00" * 20
    receiver.add_proposal(impostor, _compact(ids[0]))
    for pid in ids:
        receiver.add_proposal(pid, _compact(pid))
    eligibility = oracle.compute_eligibility(signers[0], LAYER, 0, PREROUND)
    assert eligibility is not None
    wire = sender.compact(create_hare4_message(signers[0], GENESIS_ID, LAYER, 0, PREROUND, eligibility, proposals=ids))
    verdict = receiver.on_message(wire)
    assert not verdict.accepted and verdict.request is not None


class Hare4Network(HareNetwork):
    """Resolves full-exchange requests against the sending engine, synchronously."""

    def deliver(self, engine, message):
        verdict = engine.on_message(message)
        if verdict.request is not None:
            sender = next(e for e in self.engines.values() if e.signers[0].node_id == message.sender)
            verdict = engine.on_full_exchange_response(message, sender.on_full_exchange_request(verdict.request))
        return verdict


def test_hare4_network_agrees_with_missing_proposals_and_an_equivocator() -> None:
    ids = make_proposal_ids(10)
    known = {pid: _compact(pid) for pid in ids}
    count = 7
    network = Hare4Network(
        [1000] * count,
        [ids] * count,
        seed=11,
        config=CONFIG,
        engine_factory=Hare4Engine,
        adversaries={0: "withhold"},
    )
    for node, engine in network.engines.items():
        for pid, compact in known.items():
            if node == 3 and pid == ids[0]:
                continue  # node 3 never received this proposal: it needs full exchanges
            engine.add_proposal(pid, compact)
    outcome = network.run()
    assert set(outcome.results.values()) == {tuple(sorted(ids))}


def test_hare4_suite_builds_hare4_engines() -> None:
    suite = create_hare4_suite(committee=30)
    signer = make_signer(0)
    engine = suite.create_hare_engine(LAYER, {signer.node_id: 10}, BEACON, GENESIS_ID, [signer])
    assert isinstance(engine, Hare4Engine) and engine.config.committee == 30 and suite.name == "hare4"
