"""Wire types: byte layouts, ids and signed bytes, plus codec properties for every type.

Layouts are checked against bytes assembled by hand from protocol.md / post-poet.md, so a wrong
field order, width or option in a declaration shows up here; the property tests then sweep every
wire type: decode(encode(x)) == x, and truncated, extended, mutated, oversized and random inputs
raise ScaleError and nothing else.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spacemesh_core.codec.scale import (
    ByteSlice,
    List,
    ScaleError,
    String,
    decode,
    encode,
    encode_compact,
    encode_value,
    get_scale_fields,
)
from spacemesh_core.crypto.hashes import compute_blake3
from spacemesh_core.testing.strategies import WIRE_TYPE_STRATEGIES, strategy_for, tx_envelopes
from spacemesh_core.types import atx, ballot, beacon, block, checkpoint, hare, malfeasance, poet, tx
from spacemesh_core.types import vrf_messages as vrf
from spacemesh_core.types.primitives import SigningDomain


def c(value: int) -> bytes:
    """Compact encoding (the same bytes for every declared width)."""
    return encode_compact(value, 64)


def b(fill: int, size: int) -> bytes:
    return bytes([fill]) * size


# =============================================================================================
# Layouts, ids and signed bytes, against hand-assembled bytes
# =============================================================================================


def _initial_atx() -> tuple[atx.ActivationTxV1, bytes]:
    post = atx.PostV1(nonce=7, indices=b"\x01\x02\x03", pow=300)
    challenge = atx.NIPostChallengeV1(
        publish_epoch=2,
        sequence=0,
        prev_atx_id=bytes(32),
        positioning_atx_id=b(0xAA, 32),
        commitment_atx_id=b(0xCC, 32),
        initial_post=post,
    )
    nipost = atx.NIPostV1(
        membership=atx.MerkleProofV1(nodes=(b(1, 32), b(2, 32)), leaf_index=5),
        post=atx.PostV1(nonce=70000, indices=b"\x09", pow=2**40),
        post_metadata=atx.PostMetadataV1(challenge=b(0xEE, 32), labels_per_unit=2**32),
    )
    inner = atx.InnerActivationTxV1(
        challenge=challenge,
        coinbase=b(0x0B, 24),
        num_units=4,
        nipost=nipost,
        node_id=b(0xDD, 32),
        vrf_nonce=12345,
    )
    full = atx.ActivationTxV1(inner=inner, smesher_id=b(0xDD, 32), signature=b(0x55, 64))
    post_bytes = c(7) + c(3) + b"\x01\x02\x03" + c(300)
    inner_bytes = (
        c(2)  # PublishEpoch
        + c(0)  # Sequence
        + bytes(32)  # PrevATXID
        + b(0xAA, 32)  # PositioningATXID
        + b"\x01" + b(0xCC, 32)  # CommitmentATXID Some
        + b"\x01" + post_bytes  # InitialPost Some
        + b(0x0B, 24)  # Coinbase
        + c(4)  # NumUnits
        + b"\x01"  # NIPost Some
        + c(2) + b(1, 32) + b(2, 32) + c(5)  # Membership
        + b"\x01" + c(70000) + c(1) + b"\x09" + c(2**40)  # Post
        + b"\x01" + c(32) + b(0xEE, 32) + c(2**32)  # PostMetadata
        + b"\x01" + b(0xDD, 32)  # NodeID
        + b"\x01" + c(12345)  # VRFNonce
    )  # fmt: skip
    return full, inner_bytes


def test_atx_v1_layout_id_and_signed_bytes() -> None:
    full, inner_bytes = _initial_atx()
    assert encode(full.inner) == inner_bytes
    assert full.to_bytes() == inner_bytes + b(0xDD, 32) + b(0x55, 64)
    assert atx.ActivationTxV1.from_bytes(full.to_bytes()) == full
    atx_id = compute_blake3(inner_bytes)
    assert full.compute_id() == atx_id
    assert full.get_signed_bytes() == c(2) + atx_id
    assert full.get_metadata() == atx.AtxMetadata(2, atx_id)
    assert full.SIGNING_DOMAIN is SigningDomain.ATX
    assert full.publish_epoch == 2


def test_nipost_challenge_hash_is_prefixed_with_zero() -> None:
    full, inner_bytes = _initial_atx()
    challenge = full.inner.challenge
    challenge_bytes = inner_bytes[: len(encode(challenge))]
    assert full.inner.challenge.compute_challenge_hash() == compute_blake3(b"\x00" + challenge_bytes)
    assert challenge.is_initial()
    assert not attrs.evolve(challenge, prev_atx_id=b(1, 32)).is_initial()


def test_non_initial_atx_with_absent_options() -> None:
    challenge = atx.NIPostChallengeV1(9, 3, b(1, 32), b(2, 32), None, None)
    inner = atx.InnerActivationTxV1(challenge, b(3, 24), 2**31, None, None, None)
    expected = c(9) + c(3) + b(1, 32) + b(2, 32) + b"\x00\x00" + b(3, 24) + c(2**31) + b"\x00\x00\x00"
    assert encode(inner) == expected
    assert decode(atx.InnerActivationTxV1, expected) == inner


def test_post_indices_limit_is_800_bytes() -> None:
    assert encode(atx.PostV1(1, bytes(800), 2))
    with pytest.raises(ScaleError, match="limit of 800"):
        encode(atx.PostV1(1, bytes(801), 2))
    with pytest.raises(ScaleError, match="limit of 32"):
        encode(atx.MerkleProofV1(tuple(bytes(32) for _ in range(33)), 0))


def test_poet_proof_ref_follows_post_poet_6_6() -> None:
    root, leaves, nodes = b(1, 32), [b(2, 32), b(3, 32)], [b(i, 32) for i in range(4, 9)]
    proof = poet.PoetProof(poet.MerkleProof(root, tuple(leaves), tuple(nodes)), leaf_count=8_700_000_000)
    expected = (
        c(32) + root
        + c(2) + b"".join(c(32) + leaf for leaf in leaves)
        + c(5) + b"".join(c(32) + node for node in nodes)
        + c(8_700_000_000)
    )  # fmt: skip
    assert encode(proof) == expected
    assert proof.compute_ref() == compute_blake3(expected)
    message = poet.PoetProofMessage(proof, b(9, 32), "42", b(7, 32), b(6, 64))
    assert encode(message) == expected + c(32) + b(9, 32) + c(2) + b"42" + b(7, 32) + b(6, 64)
    assert message.compute_ref() == proof.compute_ref()
    with pytest.raises(ScaleError, match="limit of 32"):
        encode(poet.MerkleProof(root, (bytes(33),), ()))


def _ballot(epoch_data: ballot.EpochData | None) -> ballot.Ballot:
    inner = ballot.InnerBallot(
        layer=8064, atx_id=b(1, 32), opinion_hash=b(2, 32), ref_ballot=bytes(20), epoch_data=epoch_data
    )
    votes = ballot.Votes(
        base=b(3, 20),
        support=(ballot.BlockHeader(b(4, 20), 8063, 9400),),
        against=(),
        abstain=(8062, 8061),
    )
    proofs = (ballot.VotingEligibility(0, b(5, 80)), ballot.VotingEligibility(300, b(6, 80)))
    return ballot.Ballot(inner, b(7, 64), b(8, 32), votes, proofs, ())


def test_ballot_layout_id_and_signed_bytes() -> None:
    epoch_data = ballot.EpochData(active_set_hash=b(9, 32), beacon=b"\x01\x02\x03\x04", eligibility_count=3)
    obj = _ballot(epoch_data)
    inner_bytes = c(8064) + b(1, 32) + b(2, 32) + bytes(20) + b"\x01" + b(9, 32) + b"\x01\x02\x03\x04" + c(3)
    votes_bytes = b(3, 20) + c(1) + b(4, 20) + c(8063) + c(9400) + c(0) + c(2) + c(8062) + c(8061)
    proofs_bytes = c(2) + c(0) + b(5, 80) + c(300) + b(6, 80)
    expected = inner_bytes + b(7, 64) + b(8, 32) + votes_bytes + proofs_bytes + c(0)
    assert encode(obj.inner) == inner_bytes
    assert obj.to_bytes() == expected
    assert ballot.Ballot.from_bytes(expected) == obj
    inner_hash = compute_blake3(inner_bytes)
    assert obj.compute_inner_hash() == inner_hash
    assert obj.compute_id() == inner_hash[:20]
    assert obj.get_signed_bytes() == c(8064) + inner_hash
    assert obj.SIGNING_DOMAIN is SigningDomain.BALLOT
    # The votes are outside the id: changing them keeps the id.
    assert attrs.evolve(obj, votes=attrs.evolve(obj.votes, abstain=())).compute_id() == obj.compute_id()


def test_ballot_active_set_holds_at_most_one_id() -> None:
    obj = _ballot(None)
    assert encode(attrs.evolve(obj, active_set=(b(1, 32),)))
    with pytest.raises(ScaleError, match="limit of 1"):
        encode(attrs.evolve(obj, active_set=(b(1, 32), b(2, 32))))


def test_proposal_layout_id_and_signed_bytes() -> None:
    obj = ballot.Proposal(ballot.InnerProposal(_ballot(None), (b(0x10, 32), b(0x11, 32)), b(0x12, 32)), b(13, 64))
    inner_bytes = obj.ballot.to_bytes() + c(2) + b(0x10, 32) + b(0x11, 32) + b(0x12, 32)
    assert obj.to_bytes() == inner_bytes + b(13, 64)
    signed = c(8064) + compute_blake3(inner_bytes)
    assert obj.get_signed_bytes() == signed
    assert obj.compute_id() == compute_blake3(signed)[:20]
    assert obj.layer == 8064
    assert obj.SIGNING_DOMAIN is SigningDomain.PROPOSAL
    assert ballot.Proposal.from_bytes(obj.to_bytes()) == obj


def test_block_layout_and_id() -> None:
    rewards = (block.AnyReward(b(1, 32), block.RatNum(3, 2)), block.AnyReward(b(2, 32), block.RatNum(2**33, 1)))
    obj = block.Block(layer_index=9000, tick_height=12, rewards=rewards, tx_ids=(b(3, 32),))
    expected = c(9000) + c(12) + c(2) + b(1, 32) + c(3) + c(2) + b(2, 32) + c(2**33) + c(1) + c(1) + b(3, 32)
    assert obj.to_bytes() == expected
    assert block.Block.from_bytes(expected) == obj
    assert obj.compute_id() == compute_blake3(expected)[:20]
    assert rewards[0].weight.to_fraction() == pytest.approx(1.5)


def test_certify_message_and_certificate() -> None:
    content = block.CertifyContent(layer_id=9000, block_id=b(1, 20), eligibility_count=3, proof=b(2, 80))
    message = block.CertifyMessage(content, b(3, 64), b(4, 32))
    content_bytes = c(9000) + b(1, 20) + c(3) + b(2, 80)
    assert message.get_signed_bytes() == content_bytes
    assert encode(message) == content_bytes + b(3, 64) + b(4, 32)
    assert message.SIGNING_DOMAIN is SigningDomain.HARE
    certificate = block.Certificate(b(1, 20), (message, message))
    assert certificate.to_bytes() == b(1, 20) + c(2) + 2 * encode(message)
    assert block.Certificate.from_bytes(certificate.to_bytes()) == certificate


def test_hare_message_layout_and_signed_bytes() -> None:
    body = hare.HareBody(
        layer=9000,
        iter_round=hare.IterRound(iter=1, round=int(hare.HareRound.COMMIT)),
        value=hare.HareValue(proposals=(), reference=b(5, 32)),
        eligibility=hare.HareEligibility(proof=b(6, 80), count=2),
    )
    message = hare.HareMessage(body, b(7, 32), b(8, 64))
    body_bytes = c(9000) + c(1) + c(6) + c(0) + b"\x01" + b(5, 32) + b(6, 80) + c(2)
    assert encode(body) == body_bytes
    assert message.to_bytes() == body_bytes + b(7, 32) + b(8, 64)
    assert body.iter_round.compute_absolute() == 13  # 1 * 7 + 6
    assert message.get_signed_bytes() == c(9000) + c(13) + compute_blake3(body_bytes)
    assert message.get_metadata() == hare.HareMetadata(9000, 13, compute_blake3(body_bytes))
    assert hare.HareMessage.from_bytes(message.to_bytes()) == message
    preround = attrs.evolve(body, value=hare.HareValue((b(1, 20), b(2, 20)), None))
    assert encode(preround.value) == c(2) + b(1, 20) + b(2, 20) + b"\x00"
    with pytest.raises(ScaleError, match="limit of 2350"):
        encode(hare.HareValue(tuple(bytes(20) for _ in range(2351)), None))


def test_beacon_messages() -> None:
    proposal = beacon.BeaconProposalMessage(7, b(1, 32), bytes(range(80)))
    assert encode(proposal) == c(7) + b(1, 32) + bytes(range(80))
    assert proposal.get_proposal() == bytes(range(4))
    first_body = beacon.FirstVotingMessageBody(7, (b"abcd",), (b"efgh", b"ijkl"))
    first = beacon.FirstVotingMessage(first_body, b(2, 32), b(3, 64))
    assert first.get_signed_bytes() == c(7) + c(1) + b"abcd" + c(2) + b"efghijkl"
    assert encode(first) == first.get_signed_bytes() + b(2, 32) + b(3, 64)
    assert first.SIGNING_DOMAIN is SigningDomain.BEACON_FIRST_MSG
    following = beacon.FollowingVotingMessage(beacon.FollowingVotingMessageBody(7, 1, b"\xff\x01"), b(2, 32), b(3, 64))
    assert following.get_signed_bytes() == c(7) + c(1) + c(2) + b"\xff\x01"
    assert following.SIGNING_DOMAIN is SigningDomain.BEACON_FOLLOWUP_MSG
    coin = beacon.WeakCoinMessage(7, 2, 99, b(4, 32), b(5, 80))
    assert encode(coin) == c(7) + c(2) + c(99) + b(4, 32) + b(5, 80)
    with pytest.raises(ScaleError, match="limit of 128"):
        encode(beacon.FollowingVotingMessageBody(7, 1, bytes(129)))


def _hare_proof_msg(msg_hash: bytes) -> malfeasance.HareProofMsg:
    return malfeasance.HareProofMsg(hare.HareMetadata(9000, 13, msg_hash), b(1, 32), b(2, 64))


def test_malfeasance_proof_type_byte_is_raw() -> None:
    proof = malfeasance.HareProof((_hare_proof_msg(b(3, 32)), _hare_proof_msg(b(4, 32))))
    wrapped = malfeasance.MalfeasanceProof(layer=9001, proof=proof)
    msg_bytes = [c(9000) + c(13) + b(fill, 32) + b(1, 32) + b(2, 64) for fill in (3, 4)]
    expected = c(9001) + b"\x03" + msg_bytes[0] + msg_bytes[1]
    assert wrapped.to_bytes() == expected
    assert wrapped.proof_type is malfeasance.MalfeasanceType.HARE_EQUIVOCATION
    assert malfeasance.MalfeasanceProof.from_bytes(expected) == wrapped
    assert proof.messages[0].get_signed_bytes() == c(9000) + c(13) + b(3, 32)
    for bad_tag in (0, 6, 0x10, 0xFF):
        with pytest.raises(ScaleError, match="unknown union tag"):
            malfeasance.MalfeasanceProof.from_bytes(c(9001) + bytes([bad_tag]) + msg_bytes[0] + msg_bytes[1])
    gossip = malfeasance.MalfeasanceGossip(wrapped, None)
    assert gossip.to_bytes() == expected + b"\x00"
    eligibility = hare.HareEligibilityGossip(9000, 13, b(1, 32), hare.HareEligibility(b(9, 80), 1))
    with_eligibility = malfeasance.MalfeasanceGossip(wrapped, eligibility)
    assert with_eligibility.to_bytes() == expected + b"\x01" + c(9000) + c(13) + b(1, 32) + b(9, 80) + c(1)
    assert malfeasance.MalfeasanceGossip.from_bytes(with_eligibility.to_bytes()) == with_eligibility


def test_all_five_malfeasance_proofs_round_trip_with_their_tags() -> None:
    full, _ = _initial_atx()
    atx_msg = malfeasance.AtxProofMsg(atx.AtxMetadata(2, b(1, 32)), b(2, 32), b(3, 64))
    ballot_msg = malfeasance.BallotProofMsg(ballot.BallotMetadata(8064, b(1, 32)), b(2, 32), b(3, 64))
    proofs = {
        1: malfeasance.AtxProof((atx_msg, atx_msg)),
        2: malfeasance.BallotProof((ballot_msg, ballot_msg)),
        3: malfeasance.HareProof((_hare_proof_msg(b(1, 32)), _hare_proof_msg(b(2, 32)))),
        4: malfeasance.InvalidPostIndexProof(full, 17),
        5: malfeasance.InvalidPrevATXProof(full, full),
    }
    for tag, proof in proofs.items():
        wrapped = malfeasance.MalfeasanceProof(100, proof)
        data = wrapped.to_bytes()
        assert data[len(c(100))] == tag
        assert data[len(c(100)) + 1 :] == encode(proof)
        assert malfeasance.MalfeasanceProof.from_bytes(data) == wrapped
        assert wrapped.proof_type == tag
    assert encode(proofs[4]) == full.to_bytes() + c(17)
    assert atx_msg.get_signed_bytes() == c(2) + b(1, 32)
    assert ballot_msg.get_signed_bytes() == c(8064) + b(1, 32)
    with pytest.raises(ScaleError, match="expected 2 elements"):
        encode(malfeasance.AtxProof((atx_msg,)))  # type: ignore[arg-type]


def test_vrf_messages() -> None:
    beacon_value = b"\x01\x02\x03\x04"
    ballot_vrf = vrf.BallotVrfMessage(beacon=beacon_value, epoch=3, nonce=2**40, counter=17)
    assert ballot_vrf.to_bytes() == c(3) + beacon_value + c(3) + c(2**40) + c(17)
    hare_vrf = vrf.HareVrfMessage(beacon=beacon_value, round=vrf.CERTIFY_ROUND, layer=9000)
    assert hare_vrf.to_bytes() == c(2) + beacon_value + bytes.fromhex("03ffffff7f") + c(9000)
    beacon_vrf = vrf.BeaconProposalVrfMessage(nonce=5, epoch=3)
    assert beacon_vrf.to_bytes() == c(1) + c(5) + c(3)
    coin_vrf = vrf.WeakCoinVrfMessage(nonce=5, epoch=3, round=0, unit=7)
    assert coin_vrf.to_bytes() == c(4) + c(5) + c(3) + c(0) + c(7)
    for message in (ballot_vrf, hare_vrf, beacon_vrf, coin_vrf):
        assert decode(type(message), message.to_bytes()) == message
    # A message of another eligibility type does not decode as this one.
    with pytest.raises(ScaleError, match="must be BEACON"):
        decode(vrf.BeaconProposalVrfMessage, c(4) + c(5) + c(3))
    with pytest.raises(ScaleError, match="not a valid EligibilityType"):
        decode(vrf.BeaconProposalVrfMessage, c(9) + c(5) + c(3))
    with pytest.raises(ValueError, match="must be VOTING"):
        vrf.BallotVrfMessage(beacon=beacon_value, epoch=3, nonce=1, counter=1, type=vrf.EligibilityType.HARE)


def test_signed_types_sign_and_verify_with_their_domain() -> None:
    signing = pytest.importorskip("spacemesh_core.crypto.signing")
    genesis_id = bytes.fromhex("9eebff023abb17ccb775c602daade8ed708f0a50")  # mainnet
    signer = signing.Signer.from_seed(b(0x42, 32))
    full, _ = _initial_atx()
    content = block.CertifyContent(9000, b(1, 20), 3, b(2, 80))
    hare_body = hare.HareBody(
        9000, hare.IterRound(0, 0), hare.HareValue((b(1, 20),), None), hare.HareEligibility(b(6, 80), 1)
    )
    unsigned: list[Any] = [
        full,
        _ballot(None),
        ballot.Proposal(ballot.InnerProposal(_ballot(None), (), b(0x12, 32)), bytes(64)),
        block.CertifyMessage(content, bytes(64), signer.node_id),
        hare.HareMessage(hare_body, signer.node_id, bytes(64)),
        beacon.FirstVotingMessage(beacon.FirstVotingMessageBody(7, (b"abcd",), ()), signer.node_id, bytes(64)),
        beacon.FollowingVotingMessage(beacon.FollowingVotingMessageBody(7, 1, b"\x01"), signer.node_id, bytes(64)),
    ]
    for obj in unsigned:
        signature = signer.sign(obj.SIGNING_DOMAIN, obj.get_signed_bytes(), genesis_id)
        signed = attrs.evolve(obj, signature=signature)
        decoded = decode(type(obj), encode(signed))
        signing.verify_signature(
            signer.public_key, type(obj).SIGNING_DOMAIN, decoded.get_signed_bytes(), decoded.signature, genesis_id
        )
        # The same bytes under another domain do not verify.
        assert not signing.is_valid_signature(
            signer.public_key, SigningDomain.MARRIAGE, decoded.get_signed_bytes(), decoded.signature, genesis_id
        )
    # A changed signed field (here the ballot's layer) no longer verifies.
    ballot_obj = _ballot(None)
    signature = signer.sign(SigningDomain.BALLOT, ballot_obj.get_signed_bytes(), genesis_id)
    moved = attrs.evolve(ballot_obj, inner=attrs.evolve(ballot_obj.inner, layer=8065))
    assert not signing.is_valid_signature(
        signer.public_key, SigningDomain.BALLOT, moved.get_signed_bytes(), signature, genesis_id
    )


# =============================================================================================
# Properties of every wire type
# =============================================================================================

WIRE_TYPES = sorted(WIRE_TYPE_STRATEGIES, key=lambda cls: f"{cls.__module__}.{cls.__qualname__}")
WIRE_IDS = [cls.__name__ for cls in WIRE_TYPES]
PROPERTY_SETTINGS = settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)


def _cut_points(size: int) -> list[int]:
    if size <= 48:
        return list(range(size))
    step = max(1, size // 32)
    return sorted(set(range(0, size, step)) | set(range(size - 8, size)))


@pytest.mark.parametrize("cls", WIRE_TYPES, ids=WIRE_IDS)
@PROPERTY_SETTINGS
@given(data=st.data())
def test_wire_type_round_trip_truncation_and_mutation(cls: type, data: st.DataObject) -> None:
    obj = data.draw(WIRE_TYPE_STRATEGIES[cls])
    encoded = encode(obj)
    assert decode(cls, encoded) == obj
    for cut in _cut_points(len(encoded)):
        with pytest.raises(ScaleError):
            decode(cls, encoded[:cut])
    with pytest.raises(ScaleError, match="trailing"):
        decode(cls, encoded + b"\x00")
    position = data.draw(st.integers(0, len(encoded) - 1))
    mutated = bytearray(encoded)
    mutated[position] ^= data.draw(st.integers(1, 255))
    try:
        other: Any = decode(cls, bytes(mutated))
    except ScaleError:
        return
    assert decode(cls, encode(other)) == other


@pytest.mark.parametrize("cls", WIRE_TYPES, ids=WIRE_IDS)
@settings(max_examples=40, deadline=None)
@given(raw=st.binary(max_size=160))
def test_wire_type_random_bytes_raise_only_scale_error(cls: type, raw: bytes) -> None:
    try:
        obj: Any = decode(cls, raw)
    except ScaleError:
        return
    assert decode(cls, encode(obj)) == obj


def _limited_fields() -> list[tuple[type, str]]:
    found = []
    for cls in WIRE_TYPES:
        for name, field_type in get_scale_fields(cls):
            if isinstance(field_type, (List, ByteSlice, String)):
                found.append((cls, name))
    return found


LIMITED_FIELDS = _limited_fields()


@pytest.mark.parametrize(
    ("cls", "name"), LIMITED_FIELDS, ids=[f"{cls.__name__}.{name}" for cls, name in LIMITED_FIELDS]
)
@settings(max_examples=2, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_wire_type_oversized_field_is_refused(cls: type, name: str, data: st.DataObject) -> None:
    obj = data.draw(WIRE_TYPE_STRATEGIES[cls])
    fields = get_scale_fields(cls)
    index = [field_name for field_name, _ in fields].index(name)
    limited = fields[index][1]
    assert isinstance(limited, (List, ByteSlice, String))
    too_many = limited.max_len + 1
    if isinstance(limited, List):
        element = data.draw(strategy_for(limited.elem, max_list=1))
        oversized: Any = (element,) * too_many
        payload = encode_value(limited.elem, element) * too_many
    elif isinstance(limited, ByteSlice):
        oversized = bytes(too_many)
        payload = oversized
    else:
        oversized = "a" * too_many
        payload = oversized.encode()
    # Complete, well-formed bytes apart from the over-limit length: the limit is what refuses them.
    raw = (
        b"".join(encode_value(ft, getattr(obj, fn)) for fn, ft in fields[:index])
        + encode_compact(too_many, 32)
        + payload
        + b"".join(encode_value(ft, getattr(obj, fn)) for fn, ft in fields[index + 1 :])
    )
    with pytest.raises(ScaleError, match="exceeds the limit"):
        decode(cls, raw)
    alias = attrs.fields_dict(cls)[name].alias or name
    with pytest.raises(ScaleError, match="exceeds the limit"):
        encode(attrs.evolve(obj, **{alias: oversized}))


def test_every_wire_type_is_covered_by_the_sweep() -> None:
    modules = (atx, poet, ballot, block, hare, beacon, tx, malfeasance, vrf)
    declared = {
        obj
        for module in modules
        for obj in vars(module).values()
        if isinstance(obj, type) and obj.__module__ == module.__name__ and attrs.has(obj)
    }
    scale_declared = {cls for cls in declared if all(a.metadata for a in attrs.fields(cls))}
    assert scale_declared - set(WIRE_TYPE_STRATEGIES) == set()


# =============================================================================================
# Transaction envelope
# =============================================================================================


@settings(max_examples=100, deadline=None)
@given(tx_envelopes())
def test_tx_envelope_round_trip(envelope: tx.TxEnvelope) -> None:
    raw = envelope.to_bytes()
    assert tx.parse_tx_envelope(raw) == envelope
    assert envelope.compute_id() == compute_blake3(raw)
    if envelope.method == tx.METHOD_SPAWN:
        assert raw[26:50] == envelope.template
    for cut in range(min(len(raw), 60)):
        if cut < len(raw) - len(envelope.body):
            with pytest.raises(ScaleError):
                tx.parse_tx_envelope(raw[:cut])


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=120))
def test_tx_envelope_random_bytes_raise_only_scale_error(raw: bytes) -> None:
    try:
        envelope = tx.parse_tx_envelope(raw)
    except ScaleError:
        return
    assert tx.parse_tx_envelope(envelope.to_bytes()) == envelope


def test_tx_envelope_limits() -> None:
    principal = b(1, 24)
    envelope = tx.TxEnvelope(principal, tx.METHOD_SPEND, tx.TxPayload(1, 1), bytes(1024))
    with pytest.raises(ScaleError, match="exceeds 1024"):
        envelope.to_bytes()
    with pytest.raises(ScaleError, match="exceeds 1024"):
        tx.parse_tx_envelope(bytes(1025))
    with pytest.raises(ScaleError, match="unsupported transaction version"):
        tx.parse_tx_envelope(c(1) + principal + c(16) + c(0) + c(1))
    with pytest.raises(ValueError, match="template"):
        tx.TxEnvelope(principal, tx.METHOD_SPAWN, tx.TxPayload(1, 1), b"")
    with pytest.raises(ValueError, match="template"):
        tx.TxEnvelope(principal, tx.METHOD_SPEND, tx.TxPayload(1, 1), b"", principal)
    with pytest.raises(ScaleError, match="signature"):
        tx.get_tx_signed_bytes(bytes(64))
    spawn = tx.TxEnvelope(principal, tx.METHOD_SPAWN, tx.TxPayload(0, 1), b(9, 96), b(2, 24))
    assert spawn.to_bytes() == b"\x00" + principal + b"\x00" + b(2, 24) + c(0) + c(1) + b(9, 96)


# =============================================================================================
# Checkpoint JSON
# =============================================================================================


def _checkpoint() -> checkpoint.Checkpoint:
    atxs = (
        checkpoint.AtxSnapshot(
            id=b(1, 32),
            epoch=3,
            commitment_atx=b(2, 32),
            vrf_nonce=6637,
            base_tick_height=11821,
            tick_count=5913,
            public_key=b(3, 32),
            sequence=2,
            coinbase=b(4, 24),
            num_units=33,
            units={b(3, 32): 33},
        ),
        checkpoint.AtxSnapshot(
            b(5, 32), 2, b(2, 32), 2**64 - 1, 0, 1, b(6, 32), 0, b(4, 24), 4, {}, marriage_atx=b(7, 32)
        ),
    )
    accounts = (
        checkpoint.AccountSnapshot(b(8, 24), 6450295402459, 0),
        checkpoint.AccountSnapshot(b(9, 24), 1, 5, template=tx_template(1), state=b(10, 32)),
    )
    marriages: dict[int, tuple[checkpoint.MarriageSnapshot, ...]] = {
        1: (checkpoint.MarriageSnapshot(b(7, 32), 0, b(6, 32), b(6, 32), b(11, 64)),)
    }
    return checkpoint.Checkpoint("grpcurl ... CheckpointStream", "snapshot-1152", atxs, accounts, marriages)


def tx_template(template_id: int) -> bytes:
    return bytes(23) + bytes([template_id])


def test_checkpoint_dump_and_parse_round_trip(tmp_path: Path) -> None:
    original = _checkpoint()
    text = checkpoint.dump_checkpoint(original)
    assert text.endswith(b"\n")
    obj = json.loads(text)
    assert list(obj) == ["command", "version", "data"]
    assert obj["version"] == checkpoint.SCHEMA_VERSION
    assert list(obj["data"]["atxs"][0]) == [
        "id", "epoch", "commitmentAtx", "marriageAtx", "vrfNonce", "baseTickHeight", "tickCount",
        "publicKey", "sequence", "coinbase", "numUnits", "units",
    ]  # fmt: skip
    assert obj["data"]["atxs"][0]["marriageAtx"] is None
    assert obj["data"]["accounts"][0]["template"] is None
    assert obj["data"]["atxs"][0]["units"] == {"AwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM=": 33}
    assert checkpoint.parse_checkpoint(text) == original
    path = tmp_path / "checkpoint.json"
    checkpoint.write_checkpoint(original, path)
    assert checkpoint.load_checkpoint(path) == original
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.json"]  # no temp file left


def test_checkpoint_accepts_reference_style_files() -> None:
    # The shape go-spacemesh's recovery reads: no marriages, null template/state, extra keys ignored.
    text = json.dumps(
        {
            "command": "x",
            "version": checkpoint.SCHEMA_VERSION,
            "extra": 1,
            "data": {
                "id": "snapshot-1",
                "atxs": [],
                "accounts": [
                    {"address": "AAAAAEWFYdzEv+mfQmEIRhtXR7IavXQl", "balance": 1, "nonce": 0, "template": None}
                ],
            },
        }
    )
    parsed = checkpoint.parse_checkpoint(text)
    assert parsed.marriages == {}
    assert parsed.accounts[0].state is None
    assert parsed.accounts[0].address == base64.b64decode("AAAAAEWFYdzEv+mfQmEIRhtXR7IavXQl")


def _mutate(path: list[Any], value: Any) -> bytes:
    obj = json.loads(checkpoint.dump_checkpoint(_checkpoint()))
    target = obj
    for key in path[:-1]:
        target = target[key]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return json.dumps(obj).encode()


_DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (["version"], "https://spacemesh.io/checkpoint.schema.json.2.0", "unsupported checkpoint version"),
        (["command"], _DELETE, "missing key 'command'"),
        (["data", "atxs"], _DELETE, "missing key 'atxs'"),
        (["data", "atxs"], {}, "expected an array"),
        (["data", "atxs", 0, "id"], "AAAA", "expected 32 bytes"),
        (["data", "atxs", 0, "id"], "not base64!", "invalid base64"),
        (["data", "atxs", 0, "epoch"], 2**32, "out of range"),
        (["data", "atxs", 0, "epoch"], -1, "out of range"),
        (["data", "atxs", 0, "epoch"], 3.0, "expected an integer"),
        (["data", "atxs", 0, "epoch"], True, "expected an integer"),
        (["data", "atxs", 0, "vrfNonce"], 2**64, "out of range"),
        (["data", "atxs", 0, "units"], [], "expected an object"),
        (["data", "atxs", 0, "units"], {"AAAA": 1}, "expected 32 bytes"),
        (["data", "atxs", 0, "coinbase"], None, "expected a string"),
        (["data", "atxs", 1, "id"], "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=", "duplicate ATX id"),
        (["data", "accounts", 1, "address"], "CAgICAgICAgICAgICAgICAgICAgICAgI", "duplicate address"),
        (["data", "accounts", 0, "template"], "AAAA", "expected 24 bytes"),
        (["data", "accounts", 0, "balance"], "1", "expected an integer"),
        (["data", "marriages"], {"x": []}, "not a decimal set id"),
        (["data", "marriages", "1", 0, "signature"], "AAAA", "expected 64 bytes"),
        (["data"], [], "expected an object"),
    ],
)
def test_checkpoint_validation_errors(path: list[Any], value: Any, message: str) -> None:
    with pytest.raises(checkpoint.CheckpointError, match=message):
        checkpoint.parse_checkpoint(_mutate(path, value))


def test_checkpoint_invalid_json_and_invalid_models(tmp_path: Path) -> None:
    with pytest.raises(checkpoint.CheckpointError, match="not valid JSON"):
        checkpoint.parse_checkpoint(b"{")
    with pytest.raises(checkpoint.CheckpointError, match="not valid JSON"):
        checkpoint.parse_checkpoint(b"\xff")
    bad = attrs.evolve(_checkpoint(), atxs=(attrs.evolve(_checkpoint().atxs[0], id=b"short"),))
    path = tmp_path / "bad.json"
    with pytest.raises(checkpoint.CheckpointError, match="expected 32 bytes"):
        checkpoint.write_checkpoint(bad, path)
    assert not path.exists()
    with pytest.raises(checkpoint.CheckpointError, match="cannot be serialised"):
        checkpoint.dump_checkpoint(attrs.evolve(_checkpoint(), accounts=(checkpoint.AccountSnapshot(1, 1, 1),)))  # type: ignore[arg-type]


_snapshots = st.builds(
    checkpoint.AtxSnapshot,
    id=st.binary(min_size=32, max_size=32),
    epoch=st.integers(0, 2**32 - 1),
    commitment_atx=st.binary(min_size=32, max_size=32),
    vrf_nonce=st.integers(0, 2**64 - 1),
    base_tick_height=st.integers(0, 2**64 - 1),
    tick_count=st.integers(0, 2**64 - 1),
    public_key=st.binary(min_size=32, max_size=32),
    sequence=st.integers(0, 2**64 - 1),
    coinbase=st.binary(min_size=24, max_size=24),
    num_units=st.integers(0, 2**32 - 1),
    units=st.dictionaries(st.binary(min_size=32, max_size=32), st.integers(0, 2**32 - 1), max_size=2),
    marriage_atx=st.none() | st.binary(min_size=32, max_size=32),
)
_accounts = st.builds(
    checkpoint.AccountSnapshot,
    address=st.binary(min_size=24, max_size=24),
    balance=st.integers(0, 2**64 - 1),
    nonce=st.integers(0, 2**64 - 1),
    template=st.none() | st.binary(min_size=24, max_size=24),
    state=st.none() | st.binary(max_size=40),
)


@settings(max_examples=30, deadline=None)
@given(
    st.text(max_size=20),
    st.text(max_size=20),
    st.lists(_snapshots, max_size=3, unique_by=lambda a: a.id).map(tuple),
    st.lists(_accounts, max_size=3, unique_by=lambda a: a.address).map(tuple),
)
def test_checkpoint_round_trip_property(
    command: str, checkpoint_id: str, atxs: tuple[Any, ...], accounts: tuple[Any, ...]
) -> None:
    original = checkpoint.Checkpoint(command, checkpoint_id, atxs, accounts)
    assert checkpoint.parse_checkpoint(checkpoint.dump_checkpoint(original)) == original


def test_unix_timestamp_range() -> None:
    assert poet.UnixTimestamp(0).to_datetime() == datetime(1970, 1, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="out of range"):
        poet.UnixTimestamp(2**64 - 1).to_datetime()
    never = poet.PoetCertificate(b(1, 32), poet.UnixTimestamp(2**64 - 1))
    assert not never.is_expired(datetime.now(tz=UTC))
