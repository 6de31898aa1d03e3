"""Ballot eligibility: slots, the VRF layer mapping, epoch data, validation, weights, active sets."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spacemesh_core.consensus.eligibility import (
    AtxGrade,
    AtxInfo,
    EligibilityConfig,
    EligibilityError,
    compute_active_set,
    compute_active_set_hash,
    compute_active_set_weight,
    compute_atx_grade,
    compute_ballot_vrf_message,
    compute_ballot_weight,
    compute_ballot_weight_fixed,
    compute_eligibilities,
    compute_eligible_layer,
    compute_slots,
    get_epoch_data,
    verify_ballot_eligibility,
)
from spacemesh_core.crypto.hashes import compute_blake3
from spacemesh_core.crypto.vrf import verify_vrf_proof
from spacemesh_core.types.ballot import Ballot, EpochData, InnerBallot, Votes, VotingEligibility
from spacemesh_core.types.vrf_messages import BallotVrfMessage
from tests.support.hare_network import make_signer

BEACON = b"\xaa\xbb\xcc\xdd"
SMALL = EligibilityConfig(layers_per_epoch=8, layer_avg_size=5, min_active_weight=10)
EPOCH = 3


def test_slots_match_reference_formula_and_edges() -> None:
    mainnet = EligibilityConfig()
    assert compute_slots(10_000, 2_000_000, mainnet) == 10_000 * 50 * 4032 // 2_000_000
    assert compute_slots(1, 10**12, mainnet) == 1  # every ATX gets at least one slot
    assert compute_slots(10, 100, mainnet) == 10 * 50 * 4032 // 1_000_000  # min active weight
    big = 1 << 60  # the uint64 product wraps as in the reference
    assert compute_slots(big, 1 << 62, mainnet) == max(1, ((big * 50 * 4032) % (1 << 64)) // (1 << 62))
    with pytest.raises(EligibilityError):
        compute_slots(1, 0)


@given(weight=st.integers(0, 10**9), total=st.integers(1, 10**12))
@settings(max_examples=60)
def test_slots_property(weight: int, total: int) -> None:
    slots = compute_slots(weight, total)
    assert slots >= 1
    if weight * 50 * 4032 < 1 << 64:
        assert slots == max(1, weight * 50 * 4032 // max(1_000_000, total))


def test_vrf_message_layout_and_layer_mapping() -> None:
    message = compute_ballot_vrf_message(BEACON, EPOCH, 77, 5)
    assert message == BallotVrfMessage(beacon=BEACON, epoch=EPOCH, nonce=77, counter=5).to_bytes()
    proof = (4032 * 3 + 17).to_bytes(8, "little") + bytes(72)
    assert compute_eligible_layer(proof, 2, 4032) == 2 * 4032 + 17


def _setup(weight: int = 40, total: int = 100):
    signer = make_signer(1, seed=42)
    atx = AtxInfo(b"\x11" * 32, signer.node_id, EPOCH - 1, weight, num_units=4, vrf_nonce=9)
    slots = compute_slots(weight, total, SMALL)
    by_layer = compute_eligibilities(signer, BEACON, EPOCH, atx.vrf_nonce, slots, SMALL.layers_per_epoch)
    return signer, atx, slots, by_layer


def _ballot(signer, layer, proofs, *, epoch_data=None, ref=bytes(20), atx_id=b"\x11" * 32) -> Ballot:
    return Ballot(
        InnerBallot(layer, atx_id, bytes(32), ref, epoch_data),
        bytes(64),
        signer.node_id,
        Votes(bytes(20), (), (), ()),
        tuple(proofs),
        (),
    )


def test_eligibilities_cover_all_slots_and_verify() -> None:
    signer, _, slots, by_layer = _setup()
    assert slots == 40 * 5 * 8 // 100
    assert sum(len(v) for v in by_layer.values()) == slots
    for layer, proofs in by_layer.items():
        assert EPOCH * 8 <= layer < (EPOCH + 1) * 8
        for proof in proofs:
            verify_vrf_proof(signer.node_id, compute_ballot_vrf_message(BEACON, EPOCH, 9, proof.j), proof.sig)
            assert compute_eligible_layer(proof.sig, EPOCH, 8) == layer


def test_reference_and_secondary_ballots_validate() -> None:
    signer, atx, slots, by_layer = _setup()
    layers = sorted(by_layer)
    data = EpochData(compute_active_set_hash([atx.atx_id]), BEACON, slots)
    ref = _ballot(signer, layers[0], by_layer[layers[0]], epoch_data=data)
    assert verify_ballot_eligibility(ref, atx, active_set_weight=100, config=SMALL) == data
    if len(layers) > 1:
        second = _ballot(signer, layers[1], by_layer[layers[1]], ref=ref.compute_id())
        assert verify_ballot_eligibility(second, atx, ref_ballot=ref, config=SMALL) == data
        assert compute_ballot_weight(atx.weight, slots, len(by_layer[layers[1]])) == Fraction(
            40 * len(by_layer[layers[1]]), slots
        )


def test_ballot_validation_failures() -> None:
    signer, atx, slots, by_layer = _setup()
    layers = sorted(by_layer)
    layer = (
        next(lay for lay in layers if len(by_layer[lay]) >= 2)
        if any(len(v) >= 2 for v in by_layer.values())
        else layers[0]
    )
    proofs = by_layer[layer]
    data = EpochData(bytes(32), BEACON, slots)
    cases = [
        _ballot(signer, layer, proofs, epoch_data=EpochData(bytes(32), BEACON, slots + 1)),  # wrong count
        _ballot(signer, layer, proofs, epoch_data=EpochData(bytes(32), bytes(4), slots)),  # empty beacon
        _ballot(signer, layer, (), epoch_data=data),  # no proofs
        _ballot(signer, layer + 1 if layer + 1 not in by_layer else layer - 1, proofs, epoch_data=data),  # layer
        _ballot(signer, layer, [VotingEligibility(proofs[0].j, bytes(80))], epoch_data=data),  # bad VRF
        _ballot(signer, layer, [VotingEligibility(slots, proofs[0].sig)], epoch_data=data),  # counter too big
        _ballot(signer, layer, proofs, epoch_data=data, atx_id=b"\x22" * 32),  # another ATX
    ]
    if len(proofs) >= 2:
        cases.append(_ballot(signer, layer, list(reversed(proofs)), epoch_data=data))  # order
    for ballot in cases:
        with pytest.raises(EligibilityError):
            verify_ballot_eligibility(ballot, atx, active_set_weight=100, config=SMALL)
    good = _ballot(signer, layer, proofs, epoch_data=data)
    with pytest.raises(EligibilityError):  # weight unknown
        verify_ballot_eligibility(good, atx, config=SMALL)
    with pytest.raises(EligibilityError):  # ATX of another epoch
        verify_ballot_eligibility(
            good, AtxInfo(atx.atx_id, atx.node_id, EPOCH, 40, vrf_nonce=9), active_set_weight=100, config=SMALL
        )
    with pytest.raises(EligibilityError):  # ATX of another smesher
        verify_ballot_eligibility(
            good, AtxInfo(atx.atx_id, bytes(32), EPOCH - 1, 40, vrf_nonce=9), active_set_weight=100, config=SMALL
        )


def test_get_epoch_data_rules() -> None:
    signer = make_signer(3)
    data = EpochData(bytes(32), BEACON, 3)
    ref = _ballot(signer, 5, [], epoch_data=data)
    assert get_epoch_data(ref) == data
    with pytest.raises(EligibilityError):
        get_epoch_data(_ballot(signer, 5, []))  # reference without data
    secondary = _ballot(signer, 6, [], ref=ref.compute_id())
    assert get_epoch_data(secondary, ref) == data
    with pytest.raises(EligibilityError):
        get_epoch_data(secondary)
    with pytest.raises(EligibilityError):
        get_epoch_data(_ballot(signer, 6, [], ref=b"\x01" * 20), ref)
    with pytest.raises(EligibilityError):
        get_epoch_data(_ballot(signer, 6, [], ref=ref.compute_id(), epoch_data=data), ref)
    other = _ballot(make_signer(4), 5, [], epoch_data=data)
    with pytest.raises(EligibilityError):
        get_epoch_data(_ballot(signer, 6, [], ref=other.compute_id()), other)


def test_ballot_weight_fixed_matches_exact() -> None:
    exact = compute_ballot_weight(10_000, 7, 3)
    fixed = compute_ballot_weight_fixed(10_000, 7, 3)
    assert abs(fixed.to_fraction() - exact) < Fraction(1, 1 << 50)
    with pytest.raises(EligibilityError):
        compute_ballot_weight(1, 0, 1)


def test_active_set_hash_and_weight() -> None:
    ids = [b"\x03" * 32, b"\x01" * 32, b"\x02" * 32]
    assert compute_active_set_hash(ids) == compute_blake3(b"\x01" * 32 + b"\x02" * 32 + b"\x03" * 32)
    atxs = {i: AtxInfo(i, i, 0, n + 1) for n, i in enumerate(ids)}
    assert compute_active_set_weight(ids, atxs) == 6


def test_atx_grading_boundaries() -> None:
    start, delta = 10_000.0, 100.0
    assert compute_atx_grade(start - 401, start, None, delta) is AtxGrade.GOOD
    assert compute_atx_grade(start - 400, start, None, delta) is AtxGrade.ACCEPTABLE
    assert compute_atx_grade(start - 301, start, None, delta) is AtxGrade.ACCEPTABLE
    assert compute_atx_grade(start - 300, start, None, delta) is AtxGrade.EVIL
    assert compute_atx_grade(start - 500, start, start, delta) is AtxGrade.GOOD  # proof at epoch start: too late
    assert compute_atx_grade(start - 500, start, start - 1, delta) is AtxGrade.ACCEPTABLE
    assert compute_atx_grade(start - 500, start, start - 101, delta) is AtxGrade.EVIL


def test_active_set_selection_and_fallbacks() -> None:
    start = 100_000.0
    atxs = [AtxInfo(bytes([i]) * 32, bytes([i]) * 32, 0, 10, received=start - 10_000) for i in range(20)]
    assert compute_active_set(atxs, start) == sorted(a.atx_id for a in atxs)
    assert compute_active_set(atxs, start, trusted=[b"\x09" * 32]) == [b"\x09" * 32]
    # two late ATXs: 90 % good is not more than 90 % -> fall back
    late = [*atxs[:18], *(AtxInfo(a.atx_id, a.node_id, 0, 10, received=start) for a in atxs[18:])]
    assert compute_active_set(late, start) is None
    assert compute_active_set(late, start, first_block_active_set=[b"\x05" * 32]) == [b"\x05" * 32]
    # a proof received before the epoch start demotes the identity
    one_bad = compute_active_set(atxs, start, {atxs[0].node_id: start - 1})
    assert one_bad == sorted(a.atx_id for a in atxs[1:])
