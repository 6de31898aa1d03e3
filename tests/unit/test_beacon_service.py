"""The beacon service's rules without a network: the beacon choice, the config mapping and the
verdicts of the gossip validators (REJECT for invalid messages, IGNORE for duplicates and late ones)."""

from __future__ import annotations

from fractions import Fraction

import pytest

from spacemesh_core.config import build_config
from spacemesh_core.consensus.beacon import (
    MAINNET_BEACON,
    BeaconConfig,
    BeaconEngine,
    BeaconParticipant,
    compute_beacon_proposal_vrf_message,
)
from spacemesh_core.consensus.eligibility import AtxInfo
from spacemesh_core.crypto.signing import Signer
from spacemesh_core.kernel.plugins import load_plugin_manager
from spacemesh_core.types.beacon import (
    BeaconProposalMessage,
    FirstVotingMessage,
    FollowingVotingMessage,
    FollowingVotingMessageBody,
    WeakCoinMessage,
)
from spacemesh_core.types.primitives import SigningDomain
from spacemesh_hooks.interfaces import ValidationResult
from spacemesh_plugins.mesh.beacon_service import (
    SOURCE_BALLOTS,
    SOURCE_GENESIS,
    BeaconRun,
    choose_epoch_beacon,
    compute_beacon_config,
    compute_fallback_beacon,
)
from tests.support.hare_network import GENESIS_ID, make_signer

EPOCH = 7
START = 5_000_000.0
ACCEPT, IGNORE, REJECT = ValidationResult.ACCEPT, ValidationResult.IGNORE, ValidationResult.REJECT


def make_runs(count: int, config: BeaconConfig) -> tuple[list[Signer], list[AtxInfo], list[BeaconRun]]:
    """``count`` identities with early ATXs, each node running the epoch with its identity."""
    signers = [make_signer(i, seed=91) for i in range(count)]
    atxs = [
        AtxInfo(bytes([i + 1]) * 32, s.node_id, EPOCH - 1, 100 + i, num_units=3, vrf_nonce=5 * i, received=START - 7200)
        for i, s in enumerate(signers)
    ]
    runs = [
        BeaconRun(BeaconEngine(config, EPOCH, atxs, START, GENESIS_ID, [BeaconParticipant(s, atxs[i].vrf_nonce)]))
        for i, s in enumerate(signers)
    ]
    return signers, atxs, runs


def sign_first_votes(signer: Signer, message: FirstVotingMessage) -> FirstVotingMessage:
    unsigned = FirstVotingMessage(message.body, signer.node_id, bytes(64))
    signature = signer.sign(SigningDomain.BEACON_FIRST_MSG, unsigned.get_signed_bytes(), GENESIS_ID)
    return FirstVotingMessage(message.body, signer.node_id, signature)


def test_fallback_beacon_is_shared_and_differs_per_epoch() -> None:
    values = [compute_fallback_beacon(GENESIS_ID, epoch) for epoch in range(5)]
    assert len(set(values)) == 5 and all(len(v) == 4 for v in values)
    assert compute_fallback_beacon(GENESIS_ID, 3) == values[3]
    assert compute_fallback_beacon(bytes(20), 3) != values[3]


def test_beacon_choice_rule() -> None:
    common = {"genesis_id": GENESIS_ID, "first_protocol_epoch": 2}

    def choose(epoch: int, **kwargs: object) -> tuple[bytes | None, str]:
        values = {"stored": None, "protocol_running": False, "ballot_majority": None} | kwargs
        return choose_epoch_beacon(epoch, **common, **values)  # type: ignore[arg-type]

    for epoch in (0, 1, 2):  # before the first run: the fallback beacon, whatever else is known
        assert choose(epoch, stored=b"abcd", ballot_majority=b"wxyz") == (
            compute_fallback_beacon(GENESIS_ID, epoch), SOURCE_GENESIS
        )
    assert choose(3, stored=b"abcd", ballot_majority=b"wxyz") == (b"abcd", "")  # the stored decision wins
    assert choose(3, protocol_running=True, ballot_majority=b"wxyz") == (None, "")  # wait for the own run
    assert choose(3, ballot_majority=b"wxyz") == (b"wxyz", SOURCE_BALLOTS)  # a node that missed the run
    assert choose(3) == (None, "")  # not known yet


def test_config_section_maps_to_the_engine_config() -> None:
    schema = load_plugin_manager(environ={}).get_config_schema()
    mainnet = compute_beacon_config(build_config(schema, environ={}).beacon, MAINNET_BEACON)
    assert mainnet == MAINNET_BEACON  # the section's defaults are the reference's values
    assert mainnet.q == Fraction(1, 3) and mainnet.theta == Fraction(1, 4)
    devnet = build_config(schema, preset="devnet", flags=["beacon.rounds=3"], environ={}).beacon
    config = compute_beacon_config(devnet, MAINNET_BEACON)
    assert config.rounds_number == 4  # round 0 (first votes) + 3 following rounds
    assert config.proposal_duration + config.first_voting_round_duration < 4 * 6 / 2  # well within an epoch
    assert config.beacon_sync_weight_units == devnet.sync_weight_units


def test_proposal_verdicts_tell_invalid_from_duplicate_and_late() -> None:
    # a small kappa: only some identities are eligible to propose
    signers, atxs, runs = make_runs(12, BeaconConfig(kappa=1))
    listener = runs[0]
    messages = [m for run in runs for m in run.create_proposals(START)]
    eligible = {bytes(m.node_id) for m in messages}
    assert 0 < len(eligible) < len(signers)
    for message in messages:
        expected = IGNORE if message.node_id == signers[0].node_id else ACCEPT  # its own comes back: a repeat
        assert listener.on_proposal(message, START + 1) is expected
    assert listener.on_proposal(messages[0], START + 1) is IGNORE  # a repeat
    # an identity with an ATX whose VRF fails every threshold: not eligible
    engine = listener.engine
    ineligible = next(s for s in signers if s.node_id not in eligible)
    nonce = next(a.vrf_nonce for a in atxs if a.node_id == ineligible.node_id)
    vrf = ineligible.compute_vrf_proof(compute_beacon_proposal_vrf_message(EPOCH, nonce))
    before = dict(engine.margins)
    assert listener.on_proposal(BeaconProposalMessage(EPOCH, ineligible.node_id, vrf), START + 1) is REJECT
    assert engine.margins == before
    # a second, different "proposal" of an identity that proposed: cannot be a valid VRF
    first = messages[0]
    forged = BeaconProposalMessage(EPOCH, first.node_id, bytes(first.vrf_signature[:-1]) + b"\x00")
    assert listener.on_proposal(forged, START + 1) is REJECT
    # an identity without an ATX: REJECT; with an ATX that arrived after the run began: IGNORE
    stranger = make_signer(99, seed=91)
    vrf = stranger.compute_vrf_proof(compute_beacon_proposal_vrf_message(EPOCH, 0))
    assert listener.on_proposal(BeaconProposalMessage(EPOCH, stranger.node_id, vrf), START) is REJECT
    late_atx = BeaconRun(engine, lambda node_id: node_id == stranger.node_id)
    assert late_atx.on_proposal(BeaconProposalMessage(EPOCH, stranger.node_id, vrf), START) is IGNORE
    assert listener.on_proposal(BeaconProposalMessage(EPOCH + 1, first.node_id, first.vrf_signature), START) is IGNORE
    assert engine.margins == before


def test_late_proposals_are_ignored_and_bad_vrfs_rejected() -> None:
    config = BeaconConfig(kappa=400, grace_period=10.0)
    _, _, runs = make_runs(4, config)
    listener = runs[0]
    proposals = [run.create_proposals(START)[0] for run in runs]
    listener.engine.end_proposal_phase(START + 100)
    assert listener.on_proposal(proposals[1], START + 105) is ACCEPT  # within grace: potentially valid
    assert proposals[1].get_proposal() in listener.engine.potentially_valid
    assert listener.on_proposal(proposals[2], START + 111) is IGNORE  # beyond grace: late, not punished
    assert proposals[2].get_proposal() not in listener.engine.margins
    garbage = BeaconProposalMessage(EPOCH, proposals[3].node_id, bytes(80))
    assert listener.on_proposal(garbage, START + 101) is REJECT
    assert listener.on_proposal(proposals[3], START + 101) is ACCEPT  # the real one still counts


def test_first_vote_verdicts() -> None:
    _, _, runs = make_runs(4, BeaconConfig(kappa=400))
    proposals = [m for run in runs for m in run.create_proposals(START)]
    for run in runs:
        for message in proposals:
            run.on_proposal(message, START)
        run.engine.end_proposal_phase(START + 10)
    listener = runs[0]
    votes = [v for run in runs for v in run.create_first_votes()]
    assert listener.on_first_votes(votes[0]) is IGNORE  # its own vote, coming back
    assert listener.on_first_votes(votes[1]) is ACCEPT
    assert listener.on_first_votes(votes[1]) is IGNORE  # a second vote
    margins = dict(listener.engine.margins)
    forged = FirstVotingMessage(votes[2].body, votes[2].smesher_id, bytes(64))
    assert listener.on_first_votes(forged) is REJECT  # bad signature
    stranger = make_signer(99, seed=91)
    assert listener.on_first_votes(sign_first_votes(stranger, votes[2])) is REJECT  # no ATX
    assert listener.engine.margins == margins
    assert listener.on_first_votes(votes[2]) is ACCEPT
    listener.engine.end_first_voting()
    assert listener.on_first_votes(votes[3]) is IGNORE  # after the round
    assert listener.engine.margins != margins
    listener.finished = True
    assert listener.on_first_votes(votes[3]) is IGNORE


def test_following_vote_and_weak_coin_verdicts() -> None:
    signers, atxs, runs = make_runs(3, BeaconConfig(kappa=400, rounds_number=2))
    proposals = [m for run in runs for m in run.create_proposals(START)]
    for run in runs:
        for message in proposals:
            run.on_proposal(message, START)
        run.engine.end_proposal_phase(START + 10)
    votes = [v for run in runs for v in run.create_first_votes()]
    listener = runs[0]
    assert listener.on_first_votes(votes[1]) is ACCEPT  # not the third voter's
    listener.engine.end_first_voting()
    following = [v for run in runs for v in run.create_following_votes(1)]
    assert listener.on_following_votes(following[1]) is ACCEPT
    assert listener.on_following_votes(following[1]) is IGNORE  # repeat
    assert listener.on_following_votes(following[2]) is IGNORE  # its first vote was not counted here
    forged = FollowingVotingMessage(following[2].body, following[2].smesher_id, bytes(64))
    assert listener.on_following_votes(forged) is REJECT
    body = FollowingVotingMessageBody(EPOCH, 0, b"")
    unsigned = FollowingVotingMessage(body, signers[1].node_id, bytes(64))
    round_zero = FollowingVotingMessage(
        body, signers[1].node_id,
        signers[1].sign(SigningDomain.BEACON_FOLLOWUP_MSG, unsigned.get_signed_bytes(), GENESIS_ID),
    )
    assert listener.on_following_votes(round_zero) is REJECT
    listener.engine.end_voting_round(1)
    # weak coin: each identity's best unit VRF; the round's smallest is ACCEPTed (forwarded)
    coins = [m for run in runs[1:] for m in run.engine.create_weak_coin_messages(1)]
    assert coins
    results = [listener.on_weak_coin(m) for m in coins]
    assert ACCEPT in results
    assert listener.on_weak_coin(coins[0]) is IGNORE  # not smaller than the best any more
    beyond = WeakCoinMessage(EPOCH, 1, atxs[1].num_units, signers[1].node_id, coins[0].vrf_signature)
    assert listener.on_weak_coin(beyond) is REJECT  # a unit beyond the allowance
    assert listener.on_weak_coin(WeakCoinMessage(EPOCH, 1, 0, signers[1].node_id, bytes(80))) is REJECT
    stranger = make_signer(99, seed=91)
    assert listener.on_weak_coin(WeakCoinMessage(EPOCH, 1, 0, stranger.node_id, bytes(80))) is REJECT
    listener.closed_rounds.add(1)
    assert listener.on_weak_coin(coins[0]) is IGNORE
    assert listener.engine.end_weak_coin_round(1) in (True, False)


@pytest.mark.parametrize("epoch_offset", [1, -1])
def test_messages_of_another_epoch_are_ignored(epoch_offset: int) -> None:
    signers, _, runs = make_runs(2, BeaconConfig(kappa=400))
    listener = runs[0]
    other = runs[1].create_proposals(START)[0]
    moved = BeaconProposalMessage(EPOCH + epoch_offset, other.node_id, other.vrf_signature)
    assert listener.on_proposal(moved, START) is IGNORE
    assert listener.on_weak_coin(WeakCoinMessage(EPOCH + epoch_offset, 1, 0, signers[1].node_id, bytes(80))) is IGNORE
