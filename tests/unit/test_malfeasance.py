"""Malfeasance: detection of the five kinds of evidence, proof verification and the registry."""

from __future__ import annotations

import pytest

from spacemesh_core.consensus.hare3 import create_hare_message
from spacemesh_core.consensus.malfeasance import (
    InvalidMalfeasanceProofError,
    MalfeasanceDetector,
    MalfeasanceRegistry,
    UnverifiableProofError,
    create_invalid_post_index_proof,
    get_accused_node_id,
    verify_malfeasance_proof,
)
from spacemesh_core.crypto.signing import Signer
from spacemesh_core.types.atx import ActivationTxV1, InnerActivationTxV1, NIPostChallengeV1
from spacemesh_core.types.ballot import Ballot, EpochData, InnerBallot, Votes
from spacemesh_core.types.hare import HareEligibility
from spacemesh_core.types.malfeasance import (
    AtxProof,
    BallotProof,
    HareProof,
    MalfeasanceGossip,
    MalfeasanceProof,
    MalfeasanceType,
)
from spacemesh_core.types.primitives import SigningDomain
from tests.support.hare_network import GENESIS_ID, make_signer


def _ballot(signer: Signer, layer: int, opinion: bytes) -> Ballot:
    inner = InnerBallot(layer, b"\x01" * 32, opinion, bytes(20), EpochData(bytes(32), b"abcd", 1))
    unsigned = Ballot(inner, bytes(64), signer.node_id, Votes(bytes(20), (), (), ()), (), ())
    signature = signer.sign(SigningDomain.BALLOT, unsigned.get_signed_bytes(), GENESIS_ID)
    return Ballot(inner, signature, signer.node_id, unsigned.votes, (), ())


def _atx(signer: Signer, epoch: int, prev: bytes, units: int = 4) -> ActivationTxV1:
    challenge = NIPostChallengeV1(epoch, 1, prev, b"\x07" * 32, None, None)
    inner = InnerActivationTxV1(challenge, bytes(24), units, None, None, None)
    unsigned = ActivationTxV1(inner, signer.node_id, bytes(64))
    signature = signer.sign(SigningDomain.ATX, unsigned.get_signed_bytes(), GENESIS_ID)
    return ActivationTxV1(inner, signer.node_id, signature)


def _hare(signer: Signer, proposals: list[bytes], round_: int = 0):
    return create_hare_message(signer, GENESIS_ID, 50, 0, round_, HareEligibility(bytes(80), 1), proposals=proposals)


def test_double_ballot_detection_and_proof() -> None:
    signer = make_signer(1)
    detector = MalfeasanceDetector()
    first, second = _ballot(signer, 10, b"\x01" * 32), _ballot(signer, 10, b"\x02" * 32)
    assert detector.process_ballot(first) is None
    assert detector.process_ballot(first) is None  # the same ballot again
    assert detector.process_ballot(_ballot(signer, 11, b"\x02" * 32)) is None  # another layer
    proof = detector.process_ballot(second, received=5.0)
    assert proof is not None and proof.proof_type is MalfeasanceType.MULTIPLE_BALLOTS
    assert verify_malfeasance_proof(proof, GENESIS_ID) == signer.node_id
    assert MalfeasanceProof.from_bytes(proof.to_bytes()) == proof
    assert detector.registry.is_malicious(signer.node_id) and detector.registry.get_received(signer.node_id) == 5.0
    assert detector.process_ballot(_ballot(signer, 10, b"\x03" * 32)) is None  # already malicious


def test_hare_equivocation_detection_and_proof() -> None:
    signer = make_signer(2)
    detector = MalfeasanceDetector()
    assert detector.process_hare_message(_hare(signer, [b"\x01" * 20])) is None
    assert detector.process_hare_message(_hare(signer, [b"\x02" * 20], round_=3)) is None  # other round
    proof = detector.process_hare_message(_hare(signer, [b"\x02" * 20]))
    assert proof is not None and proof.proof_type is MalfeasanceType.HARE_EQUIVOCATION
    assert verify_malfeasance_proof(proof, GENESIS_ID) == signer.node_id
    gossip = MalfeasanceGossip(proof, None)
    assert MalfeasanceGossip.from_bytes(gossip.to_bytes()) == gossip


def test_multiple_atxs_and_invalid_prev_atx() -> None:
    signer = make_signer(3)
    detector = MalfeasanceDetector()
    prev = b"\x05" * 32
    assert detector.process_atx(_atx(signer, 4, prev), layer=100) is None
    proof = detector.process_atx(_atx(signer, 4, prev, units=5), layer=101)
    assert proof is not None and proof.proof_type is MalfeasanceType.MULTIPLE_ATXS and proof.layer == 101
    assert verify_malfeasance_proof(proof, GENESIS_ID) == signer.node_id

    other = make_signer(4)
    detector = MalfeasanceDetector()
    assert detector.process_atx(_atx(other, 4, prev), layer=100) is None
    proof = detector.process_atx(_atx(other, 5, prev), layer=120)
    assert proof is not None and proof.proof_type is MalfeasanceType.INVALID_PREV_ATX
    assert verify_malfeasance_proof(proof, GENESIS_ID) == other.node_id
    # initial ATXs (no previous ATX) never conflict this way
    fresh = make_signer(5)
    assert detector.process_atx(_atx(fresh, 4, bytes(32)), layer=1) is None
    assert detector.process_atx(_atx(fresh, 5, bytes(32)), layer=1) is None


def test_invalid_post_index_needs_a_checker() -> None:
    signer = make_signer(6)
    atx = _atx(signer, 4, b"\x05" * 32)
    proof = create_invalid_post_index_proof(atx, 17, layer=3)
    assert get_accused_node_id(proof) == signer.node_id
    with pytest.raises(UnverifiableProofError):
        verify_malfeasance_proof(proof, GENESIS_ID)
    seen = []

    def index_fails(checked_atx: ActivationTxV1, index: int) -> bool:
        seen.append(index)
        return index != 17  # only index 17 fails verification

    assert verify_malfeasance_proof(proof, GENESIS_ID, is_post_index_valid=index_fails) == signer.node_id
    with pytest.raises(InvalidMalfeasanceProofError):
        verify_malfeasance_proof(
            create_invalid_post_index_proof(atx, 3, 3), GENESIS_ID, is_post_index_valid=index_fails
        )
    assert seen == [17, 3]
    with pytest.raises(ValueError):
        create_invalid_post_index_proof(atx, -1, 3)


def test_forged_proofs_are_rejected() -> None:
    signer, other = make_signer(7), make_signer(8)
    detector = MalfeasanceDetector()
    detector.process_ballot(_ballot(signer, 10, b"\x01" * 32))
    proof = detector.process_ballot(_ballot(signer, 10, b"\x02" * 32))
    assert proof is not None
    first, second = proof.proof.messages
    forgeries = [
        BallotProof((first, first)),  # the same message twice
        BallotProof((first, type(second)(second.inner, second.smesher_id, bytes(64)))),  # bad signature
        BallotProof((first, _ballot_msg(_ballot(other, 10, b"\x02" * 32)))),  # two identities
        BallotProof((first, _ballot_msg(_ballot(signer, 11, b"\x02" * 32)))),  # two layers
    ]
    for forged in forgeries:
        with pytest.raises(InvalidMalfeasanceProofError):
            verify_malfeasance_proof(MalfeasanceProof(10, forged), GENESIS_ID)
    with pytest.raises(InvalidMalfeasanceProofError):  # wrong genesis id
        verify_malfeasance_proof(proof, bytes(20))
    a1, a2 = _atx(signer, 4, b"\x05" * 32), _atx(signer, 5, b"\x05" * 32, 3)
    from spacemesh_core.consensus.malfeasance import compute_atx_proof_msg, compute_hare_proof_msg

    with pytest.raises(InvalidMalfeasanceProofError):  # different publish epochs
        verify_malfeasance_proof(
            MalfeasanceProof(1, AtxProof((compute_atx_proof_msg(a1), compute_atx_proof_msg(a2)))), GENESIS_ID
        )
    h1, h2 = _hare(signer, [b"\x01" * 20]), _hare(signer, [b"\x02" * 20], round_=3)
    with pytest.raises(InvalidMalfeasanceProofError):  # different rounds
        verify_malfeasance_proof(
            MalfeasanceProof(1, HareProof((compute_hare_proof_msg(h1), compute_hare_proof_msg(h2)))), GENESIS_ID
        )
    from spacemesh_core.types.malfeasance import InvalidPrevATXProof

    for atx_pair in (
        (a1, a1),
        (a1, _atx(other, 5, b"\x05" * 32)),
        (a1, _atx(signer, 5, b"\x06" * 32)),
        (_atx(signer, 4, bytes(32)), _atx(signer, 5, bytes(32))),
    ):
        with pytest.raises(InvalidMalfeasanceProofError):
            verify_malfeasance_proof(MalfeasanceProof(1, InvalidPrevATXProof(*atx_pair)), GENESIS_ID)


def _ballot_msg(ballot: Ballot):
    from spacemesh_core.consensus.malfeasance import compute_ballot_proof_msg

    return compute_ballot_proof_msg(ballot)


def test_registry_zeroes_weight_for_good() -> None:
    registry = MalfeasanceRegistry()
    signer = make_signer(9)
    detector = MalfeasanceDetector(registry)
    assert registry.apply_weight(signer.node_id, 500) == 500
    detector.process_ballot(_ballot(signer, 1, b"\x01" * 32))
    proof = detector.process_ballot(_ballot(signer, 1, b"\x02" * 32), received=7.0)
    assert proof is not None
    assert registry.apply_weight(signer.node_id, 500) == 0
    assert registry.get_malicious_ids() == [signer.node_id] and len(registry) == 1
    assert registry.get_proof(signer.node_id) == proof
    assert not registry.add_proof(proof, 9.0)  # the first proof stays
    assert registry.get_received(signer.node_id) == 7.0
    assert [record.proof_type for record in registry] == [MalfeasanceType.MULTIPLE_BALLOTS]
    assert registry.get_proof(bytes(32)) is None and registry.get_received(bytes(32)) is None
    with pytest.raises(ValueError):
        registry.add_proof(proof, 1.0, node_id=b"short")
