"""Hare3: round arithmetic, the fixed-point oracle, message checks, equivocation, simulated networks."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spacemesh_core.consensus.hare3 import (
    COMMIT,
    NOTIFY,
    PREROUND,
    PROPOSE,
    SOFTLOCK,
    Hare3Engine,
    HareConfig,
    HareInput,
    HareOracle,
    HareProtocol,
    ProposalCandidate,
    compute_delay,
    compute_grade,
    compute_proposals_hash,
    create_hare_message,
    select_initial_proposals,
)
from spacemesh_core.consensus.malfeasance import verify_malfeasance_proof
from spacemesh_core.crypto.hashes import compute_blake3
from spacemesh_core.determinism.fixed import compute_hare_eligibility_count, is_hare_eligibility_count_valid
from spacemesh_core.types.hare import HareEligibility, HareMessage
from spacemesh_core.types.malfeasance import MalfeasanceType
from tests.support.hare_network import (
    BEACON,
    GENESIS_ID,
    LAYER,
    HareNetwork,
    make_proposal_ids,
    make_signer,
)

CONFIG = HareConfig(committee=200, leaders=5)


# ---------------------------------------------------------------------------------------------
# Round arithmetic
# ---------------------------------------------------------------------------------------------


def test_round_schedule_matches_reference_offsets() -> None:
    config = HareConfig()
    assert config.compute_round_start(0, PREROUND) == 25
    assert config.compute_round_start(0, SOFTLOCK) == 37
    assert config.compute_round_start(0, PROPOSE) == 49
    assert config.compute_round_start(0, COMMIT) == 85
    assert config.compute_round_start(0, NOTIFY) == 97
    assert config.compute_round_start(1, 1) == 109  # earliest output
    assert config.compute_round_start(4, 1) == 361  # last chance


def test_committee_upgrade_and_threshold() -> None:
    config = HareConfig(committee=400, committee_upgrade=(105_720, 50))
    assert config.get_committee(105_719) == 400 and config.get_threshold(105_719) == 201
    assert config.get_committee(105_720) == 50 and config.get_threshold(105_720) == 26
    assert config.get_round_committee(105_720, PROPOSE) == 5


def test_delay_skips_hardlock_of_iteration_zero() -> None:
    # a preround message received while waiting for softlock arrived on time
    assert compute_delay((0, SOFTLOCK), (0, PREROUND)) == 1
    assert compute_grade((0, SOFTLOCK), (0, PREROUND)) == 5
    assert compute_grade((0, PROPOSE), (0, PREROUND)) == 4
    assert compute_grade((0, 4), (0, PROPOSE)) == 5  # wait1
    assert compute_grade((0, PREROUND), (0, PREROUND)) == 6  # early
    assert compute_grade((3, 0), (0, PREROUND)) == 0


def test_proposals_hash_pads_ids_to_32_bytes() -> None:
    ids = make_proposal_ids(3)
    assert compute_proposals_hash(ids) == compute_blake3(b"".join(i + bytes(12) for i in ids))
    assert compute_proposals_hash([]) == compute_blake3(b"")


# ---------------------------------------------------------------------------------------------
# Oracle
# ---------------------------------------------------------------------------------------------


def test_oracle_counts_agree_with_fixed_reference_on_random_inputs() -> None:
    rng = random.Random(7)
    for _ in range(25):
        weight = rng.randint(1, 5000)
        total = weight + rng.randint(0, 200_000)
        committee = rng.choice([5, 50, 400])
        frac = rng.getrandbits(56)
        proof = frac.to_bytes(8, "little") + bytes(72)
        node = bytes(32)
        oracle = HareOracle({node: weight, b"\x01" * 32: total - weight}, BEACON)
        count = oracle.compute_count(node, committee, proof)
        assert count == compute_hare_eligibility_count(frac, weight, total, committee)
        for candidate in {count, count + 1, max(count - 1, 1)}:
            if candidate == 0:
                continue
            assert oracle.is_count_valid(node, committee, proof, candidate) == is_hare_eligibility_count_valid(
                frac, weight, total, committee, candidate
            )


def test_oracle_eligibility_roundtrip_and_rejections() -> None:
    signers = [make_signer(i) for i in range(4)]
    oracle = HareOracle({s.node_id: 1000 for s in signers}, BEACON, CONFIG)
    eligibility = oracle.compute_eligibility(signers[0], LAYER, 0, PREROUND)
    assert eligibility is not None and eligibility.count > 0
    oracle.verify_eligibility(signers[0].node_id, LAYER, 0, PREROUND, eligibility)
    from spacemesh_core.consensus.hare3 import HareEligibilityError

    with pytest.raises(HareEligibilityError):
        oracle.verify_eligibility(
            signers[0].node_id, LAYER, 0, PREROUND, HareEligibility(eligibility.proof, eligibility.count + 1)
        )
    with pytest.raises(HareEligibilityError):  # proof of another identity
        oracle.verify_eligibility(signers[1].node_id, LAYER, 0, PREROUND, eligibility)
    with pytest.raises(HareEligibilityError):  # another round
        oracle.verify_eligibility(signers[0].node_id, LAYER, 0, COMMIT, eligibility)
    with pytest.raises(HareEligibilityError):
        oracle.verify_eligibility(signers[0].node_id, LAYER, 0, PREROUND, HareEligibility(eligibility.proof, 0))
    outsider = make_signer(99)
    assert oracle.compute_eligibility(outsider, LAYER, 0, PREROUND) is None
    with pytest.raises(HareEligibilityError):
        oracle.verify_eligibility(outsider.node_id, LAYER, 0, PREROUND, eligibility)


def test_select_initial_proposals_filters() -> None:
    ids = make_proposal_ids(6)
    smeshers = [bytes([i]) * 32 for i in range(6)]
    candidates = [
        ProposalCandidate(ids[0], smeshers[0], b"a" * 32, BEACON, 5),
        ProposalCandidate(ids[1], smeshers[1], b"b" * 32, BEACON, 5),  # shares an ATX with the next one
        ProposalCandidate(ids[2], smeshers[2], b"b" * 32, BEACON, 5),
        ProposalCandidate(ids[3], smeshers[3], b"c" * 32, b"zzzz", 5),  # other beacon
        ProposalCandidate(ids[4], smeshers[4], b"d" * 32, BEACON, 10),  # base height too high
        ProposalCandidate(ids[5], smeshers[5], b"e" * 32, BEACON, 5),  # malicious smesher
    ]
    selected = select_initial_proposals(candidates, BEACON, 10, lambda node: node == smeshers[5])
    assert selected == [ids[0]]
    assert select_initial_proposals(candidates, BEACON, None) == []


# ---------------------------------------------------------------------------------------------
# The pure protocol
# ---------------------------------------------------------------------------------------------


def _input(iter_: int, round_: int, sender: int, count: int, *, proposals=(), reference=None, tag=b"") -> HareInput:
    return HareInput(
        iter=iter_,
        round=round_,
        sender=bytes([sender]) * 32,
        msg_hash=compute_blake3(bytes([iter_, round_, sender]), tag, *proposals, reference or b""),
        count=count,
        vrf_proof=bytes([sender]) + bytes(79),
        proposals=tuple(proposals),
        reference=reference,
    )


def test_protocol_outputs_after_threshold_commit_and_notify() -> None:
    ids = tuple(sorted(make_proposal_ids(3)))
    ref = compute_proposals_hash(ids)
    proto = HareProtocol(threshold=3)
    proto.set_initial(ids)
    assert proto.next_round().proposals == ids  # preround
    for sender in range(3):
        proto.on_input(_input(0, PREROUND, sender, 1, proposals=ids))
    out = proto.next_round()  # softlock: the coin comes out
    assert out.coin is not None
    out = proto.next_round()  # propose
    assert out.send and out.proposals == ids
    proto.on_input(_input(0, PROPOSE, 9, 1, proposals=ids))  # a leader's proposal, on time
    proto.next_round()  # wait1
    proto.next_round()  # wait2
    out = proto.next_round()  # commit
    assert out.reference == ref
    for sender in range(3):
        proto.on_input(_input(0, COMMIT, sender, 1, reference=ref))
    out = proto.next_round()  # notify
    assert out.reference == ref
    for sender in range(3):
        proto.on_input(_input(0, NOTIFY, sender, 1, reference=ref))
    out = proto.next_round()  # hardlock of iteration 1
    assert out.result == ids and not out.terminated
    for _ in range(6):
        proto.next_round()
    assert proto.next_round().terminated  # one more iteration, then stop


def test_protocol_late_messages_have_lower_grades() -> None:
    ids = tuple(sorted(make_proposal_ids(2)))
    proto = HareProtocol(threshold=2)
    proto.next_round()  # preround
    proto.next_round()  # softlock
    # preround messages arriving during propose are late (grade 4): not enough for grade 5
    for sender in range(2):
        proto.on_input(_input(0, PREROUND, sender, 1, proposals=ids))
    assert proto.get_threshold_proposals((0, PREROUND), 4) == list(ids)
    assert proto.get_threshold_proposals((0, PREROUND), 5) == []


def test_protocol_equivocation_counts_to_total_not_valid() -> None:
    ids = make_proposal_ids(2)
    proto = HareProtocol(threshold=2)
    proto.next_round()
    first = _input(0, PREROUND, 1, 2, proposals=[ids[0]])
    second = _input(0, PREROUND, 1, 2, proposals=[ids[1]], tag=b"x")
    assert proto.on_input(first) == (True, None)
    gossip, pair = proto.on_input(second)
    assert gossip and pair == (first, second)
    assert proto.on_input(second) == (False, None)  # already known as malicious
    # the equivocator's count reaches the threshold alone but no honest vote supports it
    assert proto.get_threshold_proposals((0, PREROUND), 5) == []
    proto.on_input(_input(0, PREROUND, 2, 1, proposals=[ids[0]]))
    assert proto.get_threshold_proposals((0, PREROUND), 5) == [ids[0]]


def test_protocol_known_equivocator_decides_threshold_only_when_honest_count_is_below_it() -> None:
    """Like the reference, a known-malicious sender's first-received message counts to the total.

    When the honest counts alone miss the threshold, two honest nodes that received an equivocator's
    two preround messages in different orders disagree on the preround set (the small-committee
    disagreement of the simulator); when the honest counts reach it, the order does not matter.
    """
    ids = tuple(sorted(make_proposal_ids(2)))

    def receive(honest_count: int, equivocator_first: tuple[bytes, ...]) -> list[bytes]:
        proto = HareProtocol(threshold=3)
        proto.next_round()  # preround
        proto.on_input(_input(0, PREROUND, 1, honest_count, proposals=ids))
        first = _input(0, PREROUND, 7, 1, proposals=equivocator_first)
        first.malicious = True  # already proven malicious (e.g. by its ballots)
        other = _input(0, PREROUND, 7, 1, proposals=ids if not equivocator_first else (), tag=b"twin")
        other.malicious = True
        assert proto.on_input(first) == (True, None)
        assert proto.on_input(other) == (False, None)  # dropped: the sender is known malicious
        return proto.get_threshold_proposals((0, PREROUND), 5)

    assert receive(2, ids) == list(ids)
    assert receive(2, ()) == []
    assert receive(3, ids) == receive(3, ()) == list(ids)


# ---------------------------------------------------------------------------------------------
# The engine: message checks and equivocation proofs
# ---------------------------------------------------------------------------------------------


def _engine_with_peer() -> tuple[Hare3Engine, list]:
    signers = [make_signer(i) for i in range(4)]
    oracle = HareOracle({s.node_id: 1000 for s in signers}, BEACON, CONFIG)
    engine = Hare3Engine(CONFIG, LAYER, oracle, GENESIS_ID, [signers[0]])
    return engine, signers


def test_engine_rejects_bad_messages_without_state_change() -> None:
    engine, signers = _engine_with_peer()
    peer = signers[1]
    eligibility = engine.oracle.compute_eligibility(peer, LAYER, 0, PREROUND)
    assert eligibility is not None
    good = create_hare_message(peer, GENESIS_ID, LAYER, 0, PREROUND, eligibility, proposals=make_proposal_ids(2))
    other_layer = create_hare_message(peer, GENESIS_ID, LAYER + 1, 0, PREROUND, eligibility)
    bad_signature = HareMessage(good.body, good.sender, bytes(64))
    with_reference = create_hare_message(peer, GENESIS_ID, LAYER, 0, PREROUND, eligibility, reference=bytes(32))
    wrong_count = create_hare_message(
        peer, GENESIS_ID, LAYER, 0, PREROUND, HareEligibility(eligibility.proof, eligibility.count + 1)
    )
    commit_without_ref = create_hare_message(peer, GENESIS_ID, LAYER, 0, COMMIT, eligibility)
    for message in (other_layer, bad_signature, with_reference, wrong_count, commit_without_ref):
        verdict = engine.on_message(message)
        assert not verdict.accepted and verdict.reason
    assert engine.protocol._state == {}
    assert engine.on_message(good).accepted
    assert not engine.on_message(good).accepted  # duplicate


def test_engine_turns_equivocation_into_a_verifiable_proof() -> None:
    engine, signers = _engine_with_peer()
    peer = signers[2]
    eligibility = engine.oracle.compute_eligibility(peer, LAYER, 0, PREROUND)
    assert eligibility is not None
    ids = make_proposal_ids(3)
    first = create_hare_message(peer, GENESIS_ID, LAYER, 0, PREROUND, eligibility, proposals=ids[:1])
    second = create_hare_message(peer, GENESIS_ID, LAYER, 0, PREROUND, eligibility, proposals=ids[1:])
    assert engine.on_message(first).proof is None
    verdict = engine.on_message(second)
    assert verdict.accepted and verdict.proof is not None
    assert verdict.proof.proof_type is MalfeasanceType.HARE_EQUIVOCATION
    assert verify_malfeasance_proof(verdict.proof, GENESIS_ID) == peer.node_id
    assert engine.proofs == [verdict.proof]


# ---------------------------------------------------------------------------------------------
# Simulated networks
# ---------------------------------------------------------------------------------------------


def test_honest_network_agrees_on_the_common_initial_set() -> None:
    ids = make_proposal_ids(12)
    outcome = HareNetwork([1000] * 7, [ids] * 7, seed=3, config=CONFIG, verify_signatures=True).run()
    assert set(outcome.results.values()) == {tuple(sorted(ids))}
    assert len(set(outcome.coins.values())) == 1 and None not in outcome.coins.values()


def test_network_with_different_initial_sets_agrees() -> None:
    ids = make_proposal_ids(10)
    rng = random.Random(5)
    sets = [[p for p in ids if rng.random() < 0.9] for _ in range(8)]
    outcome = HareNetwork([1000] * 8, sets, seed=5, config=CONFIG).run()
    results = set(outcome.results.values())
    assert len(results) == 1 and None not in results
    (agreed,) = results
    assert agreed is not None
    # only proposals most nodes saw can reach the preround threshold
    for pid in agreed:
        assert sum(pid in s for s in sets) >= 4


@settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    seed=st.integers(0, 10_000),
    node_count=st.integers(4, 9),
    strategies=st.lists(st.sampled_from(["withhold", "equivocate", "against"]), min_size=0, max_size=2),
    delay_fraction=st.floats(0.0, 1.0),
)
def test_property_agreement_and_validity_under_delays_and_adversaries(
    seed: int, node_count: int, strategies: list[str], delay_fraction: float
) -> None:
    rng = random.Random(seed)
    weights = [rng.randint(500, 1500) for _ in range(node_count)]
    total = sum(weights)
    # adversaries: the lightest identities, keeping their weight within a quarter of the total
    adversaries: dict[int, str] = {}
    budget = total // 4
    for index in sorted(range(node_count), key=lambda i: weights[i]):
        if len(adversaries) == len(strategies) or weights[index] > budget:
            break
        adversaries[index] = strategies[len(adversaries)]
        budget -= weights[index]
    ids = make_proposal_ids(8, seed)
    network = HareNetwork(
        weights,
        [ids] * node_count,
        adversaries=adversaries,
        config=CONFIG,
        max_delay=CONFIG.round_duration * delay_fraction,
        seed=seed,
    )
    outcome = network.run()
    # agreement and validity: every honest node outputs the honest nodes' common set
    assert set(outcome.results.values()) == {tuple(sorted(ids))}
    assert len(set(outcome.coins.values())) == 1
    for index, strategy in adversaries.items():
        node_id = outcome.signers[index].node_id
        if strategy == "equivocate" and network.oracle.compute_eligibility(outcome.signers[index], LAYER, 0, PREROUND):
            assert outcome.registry.is_malicious(node_id)
            proof = outcome.registry.get_proof(node_id)
            assert proof is not None and verify_malfeasance_proof(proof, GENESIS_ID) == node_id
        if strategy != "equivocate":
            assert not outcome.registry.is_malicious(node_id)


def test_consensus_plugins_register_suites() -> None:
    from spacemesh_core.kernel.plugins import load_plugin_manager

    registries = load_plugin_manager().get_registries()
    assert {"hare3", "hare4"} <= set(registries.get_names("consensus"))
    assert registries.get_default_name("consensus") == "hare3"
    suite = registries.get("consensus", "hare3").factory(committee=30)
    signer = make_signer(0)
    engine = suite.create_hare_engine(LAYER, {signer.node_id: 10}, BEACON, GENESIS_ID, [signer])
    assert type(engine) is Hare3Engine and engine.config.committee == 30
    assert suite.hare_config.committee_upgrade == (105_720, 50)
