"""Beacon: thresholds, classification, vote encoding, the weak coin, engines in a network, fallback."""

from __future__ import annotations

import contextlib
import decimal
import math
from fractions import Fraction

import pytest

from spacemesh_core.consensus.beacon import (
    BallotBeaconTally,
    BeaconConfig,
    BeaconEngine,
    BeaconMessageError,
    BeaconParticipant,
    ProposalCategory,
    classify_proposal,
    compute_beacon,
    compute_proposal_threshold,
    compute_threshold_fraction,
    compute_voting_threshold,
    decode_votes_bit_vector,
    encode_votes_bit_vector,
)
from spacemesh_core.consensus.eligibility import AtxInfo
from spacemesh_core.crypto.hashes import compute_blake3
from spacemesh_core.types.beacon import BeaconProposalMessage, FirstVotingMessage
from tests.support.hare_network import GENESIS_ID, make_signer

EPOCH = 5
START = 1_000_000.0


def test_threshold_fraction_matches_float_formula() -> None:
    for n in (1, 10, 60, 1000, 5_400_000):
        exact = compute_threshold_fraction(40, Fraction(1, 3), n)
        expected = 1 - math.pow(2.0, -(40 / ((1 - 1 / 3) * n)))
        assert abs(float(exact) - expected) <= 1e-15  # the float formula loses bits in 1 - x
        precise = 1 - Fraction(decimal.Decimal(2) ** -(decimal.Decimal(40) / (decimal.Decimal(2) / 3 * n)))
        assert abs(exact - precise) <= Fraction(1, 1 << 62)  # 2^-x is rounded to 64 bits first
        # 64-bit mantissa: the denominator is a power of two
        assert exact.denominator & (exact.denominator - 1) == 0
    assert compute_threshold_fraction(40, Fraction(1, 3), 0) == 0
    small, large = (
        compute_proposal_threshold(40, Fraction(1, 3), 100),
        compute_proposal_threshold(40, Fraction(1, 3), 1000),
    )
    assert 0 < large < small < 1 << 640


def test_voting_threshold_and_beacon_output() -> None:
    assert compute_voting_threshold(Fraction(1, 4), 10) == 2
    assert compute_voting_threshold(Fraction(1, 4), 12) == 3
    proposals = [b"\x03\x00\x00\x00", b"\x01\x00\x00\x00"]
    assert compute_beacon(proposals) == compute_blake3(b"\x01\x00\x00\x00\x03\x00\x00\x00")[:4]


def test_classification_rules() -> None:
    low = bytes(80)
    high = b"\xff" * 80
    strict, loose, grace = 1 << 600, 1 << 620, 600.0
    assert classify_proposal(low, 0, 0, strict, loose, grace) is ProposalCategory.VALID
    assert classify_proposal(low, 1, 0, strict, loose, grace) is ProposalCategory.POTENTIALLY_VALID
    assert classify_proposal(low, 0, 600, strict, loose, grace) is ProposalCategory.POTENTIALLY_VALID
    assert classify_proposal(low, 0, 601, strict, loose, grace) is ProposalCategory.INVALID
    between = (1 << 610).to_bytes(80, "big")
    assert classify_proposal(between, 0, 0, strict, loose, grace) is ProposalCategory.POTENTIALLY_VALID
    assert classify_proposal(high, 0, 0, strict, loose, grace) is ProposalCategory.INVALID


def test_bit_vector_is_big_endian_integer_with_bit_i_for_proposal_i() -> None:
    first = [bytes([i]) * 4 for i in range(10)]
    vector = encode_votes_bit_vector({first[0], first[9]}, first)
    assert vector == (1 | 1 << 9).to_bytes(2, "big")
    support, against = decode_votes_bit_vector(vector, first)
    assert support == {first[0], first[9]} and against == set(first[1:9])
    assert encode_votes_bit_vector(set(), first) == b""


def _network(
    count: int, config: BeaconConfig, *, malicious: frozenset[int] = frozenset(), late: frozenset[int] = frozenset()
):
    signers = [make_signer(i, seed=77) for i in range(count)]
    atxs = [
        AtxInfo(
            bytes([i]) * 32,
            s.node_id,
            EPOCH - 1,
            1000 + i,
            num_units=2,
            vrf_nonce=i * 3,
            received=START + (60 if i in late else -7200),
        )
        for i, s in enumerate(signers)
    ]
    bad = {signers[i].node_id for i in malicious}
    engines = [
        BeaconEngine(
            config, EPOCH, atxs, START, GENESIS_ID, [BeaconParticipant(s, atxs[i].vrf_nonce)], bad.__contains__
        )
        for i, s in enumerate(signers)
    ]
    return signers, atxs, engines


def _broadcast(engines, messages, handler_name, *args) -> None:
    for engine in engines:
        for message in messages:
            with contextlib.suppress(BeaconMessageError):  # own messages were counted when created
                getattr(engine, handler_name)(message, *args)


def test_engines_agree_on_the_beacon() -> None:
    # kappa chosen so that most identities propose in a small network
    config = BeaconConfig(kappa=400)
    _, atxs, engines = _network(6, config, late=frozenset({5}))
    proposals = [m for e in engines for m in e.create_proposals(START)]
    assert proposals
    _broadcast(engines, proposals, "on_proposal", START + 1)
    for engine in engines:
        engine.end_proposal_phase(START + config.proposal_duration)
    votes = [m for e in engines for m in e.create_first_votes()]
    _broadcast(engines, votes, "on_first_votes")
    for engine in engines:
        engine.end_first_voting()
    beacons = {engine.get_beacon() for engine in engines}
    assert len(beacons) == 1 and None not in beacons
    # the late identity's proposal is at best potentially valid
    late_value = next((m.get_proposal() for m in proposals if m.node_id == atxs[5].node_id), None)
    if late_value is not None:
        assert late_value not in engines[0].valid


def test_duplicates_and_bad_messages_are_rejected() -> None:
    config = BeaconConfig(kappa=400)
    signers, _, engines = _network(3, config)
    engine = engines[0]
    message = engines[1].create_proposals(START)[0]
    engine.on_proposal(message, START)
    with pytest.raises(BeaconMessageError):
        engine.on_proposal(message, START)
    with pytest.raises(BeaconMessageError):
        engine.on_proposal(BeaconProposalMessage(EPOCH + 1, message.node_id, message.vrf_signature), START)
    with pytest.raises(BeaconMessageError):
        engine.on_proposal(BeaconProposalMessage(EPOCH, make_signer(50).node_id, message.vrf_signature), START)
    other = engines[2].create_proposals(START)[0]
    with pytest.raises(BeaconMessageError):  # a VRF of another identity
        engine.on_proposal(BeaconProposalMessage(EPOCH, signers[0].node_id, other.vrf_signature), START)
    vote = engines[1].create_first_votes()[0]
    engine.on_first_votes(vote)
    with pytest.raises(BeaconMessageError):
        engine.on_first_votes(vote)
    with pytest.raises(BeaconMessageError):
        engine.on_first_votes(FirstVotingMessage(vote.body, signers[2].node_id, vote.signature))


def test_malicious_voters_weigh_zero() -> None:
    config = BeaconConfig(kappa=400)
    _, atxs, engines = _network(4, config, malicious=frozenset({3}))
    engine = engines[0]
    assert engine.epoch_weight == sum(a.weight for a in atxs[:3])
    fake = [m for m in engines[1].create_proposals(START)]
    _broadcast([engine], fake, "on_proposal", START)
    value = fake[0].get_proposal()
    _broadcast([engine], engines[3].create_first_votes(), "on_first_votes")
    assert engine.margins[value] == 0  # the malicious voter added nothing
    assert engines[3].create_proposals(START) == []  # malicious identities do not propose


def test_following_rounds_and_weak_coin() -> None:
    config = BeaconConfig(kappa=400, rounds_number=3, theta=Fraction(9, 10))
    _, _, engines = _network(5, config)
    proposals = [m for e in engines for m in e.create_proposals(START)]
    _broadcast(engines, proposals, "on_proposal", START)
    for engine in engines:
        engine.end_proposal_phase(START + 240)
    _broadcast(engines, [m for e in engines for m in e.create_first_votes()], "on_first_votes")
    for engine in engines:
        engine.end_first_voting()
    coins = set()
    for round_ in range(1, config.rounds_number):
        votes = [m for e in engines for m in e.create_following_votes(round_)]
        _broadcast(engines, votes, "on_following_votes")
        for engine in engines:
            engine.end_voting_round(round_)
        coin_messages = [m for e in engines for m in e.create_weak_coin_messages(round_)]
        assert coin_messages
        _broadcast(engines, coin_messages, "on_weak_coin")
        round_coins = {engine.end_weak_coin_round(round_) for engine in engines}
        assert len(round_coins) == 1 and None not in round_coins
        coins |= round_coins
    beacons = {engine.get_beacon() for engine in engines}
    assert len(beacons) == 1
    with pytest.raises(BeaconMessageError):  # unit beyond the allowance
        bad = coin_messages[0]
        engines[0].on_weak_coin(type(bad)(bad.epoch, bad.round, 99, bad.node_id, bad.vrf_signature))


def test_ballot_fallback_majority_plurality_and_minimum() -> None:
    tally = BallotBeaconTally(beacon_sync_weight_units=10)
    tally.record_ballot(b"\x01" * 20, b"aaaa", 1000, 10, 4)
    assert tally.find_beacon() is None  # 4 eligibilities < 10
    tally.record_ballot(b"\x01" * 20, b"aaaa", 1000, 10, 4)  # the same ballot: ignored
    tally.record_ballot(b"\x02" * 20, b"bbbb", 1000, 10, 3)
    tally.record_ballot(b"\x03" * 20, b"cccc", 1000, 10, 3)
    assert tally.find_beacon() == b"aaaa"  # 400 of 1000 is a plurality, not a majority
    tally.record_ballot(b"\x04" * 20, b"bbbb", 1000, 10, 5)
    assert tally.find_beacon() == b"bbbb"  # 800 of 1500: majority
