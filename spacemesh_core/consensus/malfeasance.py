"""Malfeasance: detecting equivocation, building and checking the v1 proofs, and the registry.

protocol.md §2.6: five kinds of evidence make an identity malicious for good —

* ``MultipleATXs`` (1): two ATXs signed by one smesher for one publish epoch;
* ``MultipleBallots`` (2): two ballots signed by one smesher for one layer;
* ``HareEquivocation`` (3): two hare messages signed by one smesher for one layer and round;
* ``InvalidPostIndex`` (4): an ATX and a PoST index that fails verification;
* ``InvalidPrevATX`` (5): two ATXs of one smesher naming the same previous ATX.

The wire types live in :mod:`spacemesh_core.types.malfeasance`. This module adds:

* :class:`MalfeasanceDetector`: remembers what each identity signed (ballots per layer, hare messages
  per layer and round, ATXs per publish epoch and per previous ATX) and returns a proof the moment a
  second, conflicting object arrives; it records the proof in a registry;
* :func:`verify_malfeasance_proof`: checks a proof received from the network (signatures, same
  slot, different content) and returns the accused identity;
* :class:`MalfeasanceRegistry`: the set of malicious identities with their proofs and the time each
  proof was received; :meth:`MalfeasanceRegistry.is_malicious` and
  :meth:`MalfeasanceRegistry.apply_weight` are what every engine consults, so that from then on the
  identity weighs zero everywhere (tortoise ballots, beacon votes, hare tallies, active sets).

Everything is deterministic and free of I/O: times are passed in by the caller.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Final

import attrs

from spacemesh_core.crypto.signing import is_valid_signature
from spacemesh_core.types.atx import ActivationTxV1
from spacemesh_core.types.ballot import Ballot, BallotMetadata
from spacemesh_core.types.hare import HareMessage
from spacemesh_core.types.malfeasance import (
    AtxProof,
    AtxProofMsg,
    BallotProof,
    BallotProofMsg,
    HareProof,
    HareProofMsg,
    InvalidPostIndexProof,
    InvalidPrevATXProof,
    MalfeasanceProof,
    MalfeasanceType,
)
from spacemesh_core.types.primitives import EMPTY_ATX_ID, NODE_ID_SIZE, SigningDomain

__all__ = [
    "InvalidMalfeasanceProofError",
    "MalfeasanceDetector",
    "MalfeasanceRecord",
    "MalfeasanceRegistry",
    "PostIndexChecker",
    "UnverifiableProofError",
    "compute_atx_proof_msg",
    "compute_ballot_proof_msg",
    "compute_hare_proof_msg",
    "create_invalid_post_index_proof",
    "get_accused_node_id",
    "verify_malfeasance_proof",
]

#: ``is_post_index_valid(atx, index)``: whether label ``index`` of the ATX's PoST proof verifies.
PostIndexChecker = Callable[[ActivationTxV1, int], bool]

_SIGNATURE_SIZE: Final = 64


class InvalidMalfeasanceProofError(ValueError):
    """A malfeasance proof does not prove anything (bad signature, same content, other slots...)."""


class UnverifiableProofError(InvalidMalfeasanceProofError):
    """The proof needs a check the caller did not provide (an InvalidPostIndex without a PoST checker)."""


# ---------------------------------------------------------------------------------------------
# Evidence messages
# ---------------------------------------------------------------------------------------------


def compute_ballot_proof_msg(ballot: Ballot) -> BallotProofMsg:
    """Return the signed metadata of ``ballot`` as carried in a MultipleBallots proof."""
    return BallotProofMsg(
        BallotMetadata(ballot.layer, ballot.compute_inner_hash()), ballot.smesher_id, ballot.signature
    )


def compute_hare_proof_msg(message: HareMessage) -> HareProofMsg:
    """Return the signed metadata of a hare message as carried in a HareEquivocation proof."""
    return HareProofMsg(message.get_metadata(), message.sender, message.signature)


def compute_atx_proof_msg(atx: ActivationTxV1) -> AtxProofMsg:
    """Return the signed metadata of an ATX as carried in a MultipleATXs proof."""
    return AtxProofMsg(atx.get_metadata(), atx.smesher_id, atx.signature)


def create_invalid_post_index_proof(atx: ActivationTxV1, invalid_index: int, layer: int) -> MalfeasanceProof:
    """Return an InvalidPostIndex proof: ``atx`` with the index its PoST fails at, generated in ``layer``.

    The caller found the failing index during (distributed) PoST verification. Raises ValueError for an
    index outside uint32.
    """
    if not 0 <= invalid_index <= 0xFFFFFFFF:
        raise ValueError("a PoST index in a proof is a uint32")
    return MalfeasanceProof(layer, InvalidPostIndexProof(atx, invalid_index))


def get_accused_node_id(proof: MalfeasanceProof) -> bytes:
    """Return the identity a proof accuses (the smesher of its first piece of evidence).

    Does not check the proof; see :func:`verify_malfeasance_proof`.
    """
    data = proof.proof
    if isinstance(data, AtxProof | BallotProof | HareProof):
        return bytes(data.messages[0].smesher_id)
    if isinstance(data, InvalidPostIndexProof):
        return bytes(data.atx.smesher_id)
    if isinstance(data, InvalidPrevATXProof):
        return bytes(data.atx1.smesher_id)
    raise InvalidMalfeasanceProofError(f"unknown proof data {type(data).__name__}")


# ---------------------------------------------------------------------------------------------
# Verification of received proofs
# ---------------------------------------------------------------------------------------------


def _check_signed_pair(
    messages: tuple[AtxProofMsg, AtxProofMsg]
    | tuple[BallotProofMsg, BallotProofMsg]
    | tuple[HareProofMsg, HareProofMsg],
    domain: SigningDomain,
    genesis_id: bytes,
) -> bytes:
    first, second = messages
    if first.smesher_id != second.smesher_id:
        raise InvalidMalfeasanceProofError("the two messages are signed by different identities")
    if first.inner.msg_hash == second.inner.msg_hash:
        raise InvalidMalfeasanceProofError("the two messages are the same message")
    for message in messages:
        if not is_valid_signature(
            message.smesher_id, domain, message.get_signed_bytes(), message.signature, genesis_id
        ):
            raise InvalidMalfeasanceProofError(f"invalid {domain.name} signature in the proof")
    return bytes(first.smesher_id)


def _check_atx_signature(atx: ActivationTxV1, genesis_id: bytes) -> None:
    if not is_valid_signature(atx.smesher_id, SigningDomain.ATX, atx.get_signed_bytes(), atx.signature, genesis_id):
        raise InvalidMalfeasanceProofError("invalid ATX signature in the proof")


def verify_malfeasance_proof(
    proof: MalfeasanceProof,
    genesis_id: bytes,
    *,
    is_post_index_valid: PostIndexChecker | None = None,
) -> bytes:
    """Check a v1 malfeasance proof and return the node id it proves malicious.

    * MultipleATXs: both ATX metadata signed by one smesher, same publish epoch, different ATX ids;
    * MultipleBallots: both ballot metadata signed by one smesher, same layer, different content;
    * HareEquivocation: both hare metadata signed by one smesher, same layer and round, different bodies;
    * InvalidPrevATX: two validly signed ATXs of one smesher with the same (non-empty) previous ATX and
      different ids;
    * InvalidPostIndex: a validly signed ATX with a PoST whose index ``invalid_idx`` fails
      ``is_post_index_valid`` (the caller's PoST verifier, which knows the commitment and labels).

    :raises InvalidMalfeasanceProofError: when the proof proves nothing.
    :raises UnverifiableProofError: for an InvalidPostIndex proof without ``is_post_index_valid``.
    """
    data = proof.proof
    if isinstance(data, AtxProof):
        node_id = _check_signed_pair(data.messages, SigningDomain.ATX, genesis_id)
        if data.messages[0].inner.publish_epoch != data.messages[1].inner.publish_epoch:
            raise InvalidMalfeasanceProofError("the two ATXs are for different publish epochs")
        return node_id
    if isinstance(data, BallotProof):
        node_id = _check_signed_pair(data.messages, SigningDomain.BALLOT, genesis_id)
        if data.messages[0].inner.layer != data.messages[1].inner.layer:
            raise InvalidMalfeasanceProofError("the two ballots are for different layers")
        return node_id
    if isinstance(data, HareProof):
        node_id = _check_signed_pair(data.messages, SigningDomain.HARE, genesis_id)
        first, second = data.messages[0].inner, data.messages[1].inner
        if (first.layer, first.round) != (second.layer, second.round):
            raise InvalidMalfeasanceProofError("the two hare messages are for different layers or rounds")
        return node_id
    if isinstance(data, InvalidPrevATXProof):
        atx1, atx2 = data.atx1, data.atx2
        if atx1.smesher_id != atx2.smesher_id:
            raise InvalidMalfeasanceProofError("the two ATXs are by different identities")
        if atx1.inner.challenge.prev_atx_id != atx2.inner.challenge.prev_atx_id:
            raise InvalidMalfeasanceProofError("the two ATXs name different previous ATXs")
        if atx1.inner.challenge.prev_atx_id == EMPTY_ATX_ID:
            raise InvalidMalfeasanceProofError("initial ATXs have no previous ATX")
        if atx1.compute_id() == atx2.compute_id():
            raise InvalidMalfeasanceProofError("the two ATXs are the same ATX")
        _check_atx_signature(atx1, genesis_id)
        _check_atx_signature(atx2, genesis_id)
        return bytes(atx1.smesher_id)
    if isinstance(data, InvalidPostIndexProof):
        _check_atx_signature(data.atx, genesis_id)
        if is_post_index_valid is None:
            raise UnverifiableProofError("an InvalidPostIndex proof needs a PoST index checker")
        if is_post_index_valid(data.atx, data.invalid_idx):
            raise InvalidMalfeasanceProofError(f"PoST index {data.invalid_idx} of the ATX is valid")
        return bytes(data.atx.smesher_id)
    raise InvalidMalfeasanceProofError(f"unknown proof data {type(data).__name__}")


# ---------------------------------------------------------------------------------------------
# Registry
# ---------------------------------------------------------------------------------------------


@attrs.frozen
class MalfeasanceRecord:
    """One malicious identity: its (first) proof and when the node received it."""

    node_id: bytes
    proof: MalfeasanceProof
    received: float

    @property
    def proof_type(self) -> MalfeasanceType:
        """Return the kind of the recorded proof."""
        return self.proof.proof_type


class MalfeasanceRegistry:
    """The identities known to be malicious, each with the first proof seen and its arrival time.

    Once registered an identity stays malicious; :meth:`apply_weight` makes its weight zero for every
    consumer (tortoise ballots, beacon votes, hare tallies, active sets, rewards).
    """

    def __init__(self) -> None:
        """Create an empty registry."""
        self._records: dict[bytes, MalfeasanceRecord] = {}

    def add_proof(self, proof: MalfeasanceProof, received: float, node_id: bytes | None = None) -> bool:
        """Record ``proof`` (already verified by the caller) against its accused identity.

        ``node_id`` defaults to :func:`get_accused_node_id`. Returns True if the identity was not
        known to be malicious before; a later proof for a known identity is ignored (False).
        """
        accused = bytes(node_id) if node_id is not None else get_accused_node_id(proof)
        if len(accused) != NODE_ID_SIZE:
            raise ValueError(f"a node id is {NODE_ID_SIZE} bytes, got {len(accused)}")
        if accused in self._records:
            return False
        self._records[accused] = MalfeasanceRecord(accused, proof, float(received))
        return True

    def is_malicious(self, node_id: bytes) -> bool:
        """Return whether ``node_id`` has a malfeasance proof."""
        return bytes(node_id) in self._records

    def get_record(self, node_id: bytes) -> MalfeasanceRecord | None:
        """Return the record of ``node_id``, or None if it is honest as far as the node knows."""
        return self._records.get(bytes(node_id))

    def get_proof(self, node_id: bytes) -> MalfeasanceProof | None:
        """Return the proof recorded against ``node_id``, or None."""
        record = self._records.get(bytes(node_id))
        return record.proof if record else None

    def get_received(self, node_id: bytes) -> float | None:
        """Return when the proof against ``node_id`` was received (for ATX grading), or None."""
        record = self._records.get(bytes(node_id))
        return record.received if record else None

    def get_malicious_ids(self) -> list[bytes]:
        """Return every malicious identity, sorted."""
        return sorted(self._records)

    def apply_weight(self, node_id: bytes, weight: int) -> int:
        """Return ``weight``, or 0 when ``node_id`` is malicious."""
        return 0 if bytes(node_id) in self._records else weight

    def __len__(self) -> int:
        return len(self._records)

    def __iter__(self) -> Iterator[MalfeasanceRecord]:
        return iter(sorted(self._records.values(), key=lambda record: record.node_id))


# ---------------------------------------------------------------------------------------------
# Detection
# ---------------------------------------------------------------------------------------------


class MalfeasanceDetector:
    """Detects equivocation in the objects a node accepts and turns it into proofs.

    Feed it every *valid* ballot, hare message and ATX (signatures already checked by the caller).
    Each ``process_*`` method returns a new :class:`MalfeasanceProof` when the object conflicts with
    one seen before from the same identity (and records it in :attr:`registry`), else None.
    """

    def __init__(self, registry: MalfeasanceRegistry | None = None) -> None:
        """Create a detector recording into ``registry`` (a fresh one by default)."""
        self.registry = registry if registry is not None else MalfeasanceRegistry()
        self._ballots: dict[tuple[bytes, int], BallotProofMsg] = {}
        self._hare: dict[tuple[bytes, int, int], HareProofMsg] = {}
        self._atxs_by_epoch: dict[tuple[bytes, int], ActivationTxV1] = {}
        self._atxs_by_prev: dict[tuple[bytes, bytes], ActivationTxV1] = {}

    def _record(self, proof: MalfeasanceProof, node_id: bytes, received: float) -> MalfeasanceProof | None:
        return proof if self.registry.add_proof(proof, received, node_id) else None

    def process_ballot(self, ballot: Ballot, received: float = 0.0) -> MalfeasanceProof | None:
        """Check a ballot against the smesher's other ballot in its layer (MultipleBallots)."""
        message = compute_ballot_proof_msg(ballot)
        key = (bytes(ballot.smesher_id), ballot.layer)
        first = self._ballots.setdefault(key, message)
        if first.inner.msg_hash == message.inner.msg_hash:
            return None
        proof = MalfeasanceProof(ballot.layer, BallotProof((first, message)))
        return self._record(proof, key[0], received)

    def process_hare_message(self, message: HareMessage, received: float = 0.0) -> MalfeasanceProof | None:
        """Check a hare message against the sender's other message in its layer and round."""
        evidence = compute_hare_proof_msg(message)
        key = (bytes(message.sender), evidence.inner.layer, evidence.inner.round)
        first = self._hare.setdefault(key, evidence)
        if first.inner.msg_hash == evidence.inner.msg_hash:
            return None
        proof = MalfeasanceProof(evidence.inner.layer, HareProof((first, evidence)))
        return self._record(proof, key[0], received)

    def process_atx(self, atx: ActivationTxV1, layer: int, received: float = 0.0) -> MalfeasanceProof | None:
        """Check an ATX for a second ATX in its publish epoch (MultipleATXs) or a reused previous ATX.

        ``layer`` is the current layer, recorded in the proof.
        """
        smesher = bytes(atx.smesher_id)
        atx_id = atx.compute_id()
        key = (smesher, atx.publish_epoch)
        first = self._atxs_by_epoch.setdefault(key, atx)
        if first.compute_id() != atx_id:
            proof = MalfeasanceProof(layer, AtxProof((compute_atx_proof_msg(first), compute_atx_proof_msg(atx))))
            return self._record(proof, smesher, received)
        prev = bytes(atx.inner.challenge.prev_atx_id)
        if prev == EMPTY_ATX_ID:
            return None
        sibling = self._atxs_by_prev.setdefault((smesher, prev), atx)
        if sibling.compute_id() != atx_id:
            proof = MalfeasanceProof(layer, InvalidPrevATXProof(sibling, atx))
            return self._record(proof, smesher, received)
        return None
