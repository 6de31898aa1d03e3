"""The five version-1 malfeasance proofs (protocol.md §2.6; ``malfeasance/wire/malfeasance.go``).

::

    MalfeasanceProof  = Layer, Proof{Type byte (raw, not compact), Data}
    MalfeasanceGossip = MalfeasanceProof, Eligibility Option<HareEligibilityGossip> (deprecated)

| type | id | data |
| --- | --- | --- |
| MultipleATXs | 1 | ``[2]AtxProofMsg``: two signed ATX metadata of one publish epoch |
| MultipleBallots | 2 | ``[2]BallotProofMsg``: two signed ballot metadata of one layer |
| HareEquivocation | 3 | ``[2]HareProofMsg``: two signed hare metadata of one layer and round |
| InvalidPostIndex | 4 | the ATX and the index that fails verification |
| InvalidPrevATX | 5 | two ATXs of one smesher with the same previous ATX |

The type byte is a union tag: the Python value of :attr:`MalfeasanceProof.proof` is an instance
of one of the five proof classes, and decoding rejects any other tag.
"""

from __future__ import annotations

import enum
from typing import Any, ClassVar, Final

import attrs

from spacemesh_core.codec.scale import U32, Array, Option, Union, decode, encode, field
from spacemesh_core.types.atx import ActivationTxV1, AtxMetadata
from spacemesh_core.types.ballot import BallotMetadata
from spacemesh_core.types.hare import HareEligibilityGossip, HareMetadata
from spacemesh_core.types.primitives import ED_SIGNATURE, LAYER_ID, NODE_ID, SigningDomain


class MalfeasanceType(enum.IntEnum):
    """The v1 proof type byte."""

    MULTIPLE_ATXS = 1
    MULTIPLE_BALLOTS = 2
    HARE_EQUIVOCATION = 3
    INVALID_POST_INDEX = 4
    INVALID_PREV_ATX = 5


@attrs.frozen
class AtxProofMsg:
    """Signed ATX metadata (evidence of a second ATX in one epoch)."""

    SIGNING_DOMAIN: ClassVar[SigningDomain] = SigningDomain.ATX

    inner: AtxMetadata = field(AtxMetadata)
    smesher_id: bytes = field(NODE_ID)
    signature: bytes = field(ED_SIGNATURE)

    def get_signed_bytes(self) -> bytes:
        """Return ``SCALE(AtxMetadata)``, the bytes the ATX signature covers (no prefix)."""
        return encode(self.inner)


@attrs.frozen
class BallotProofMsg:
    """Signed ballot metadata (evidence of a second ballot in one layer)."""

    SIGNING_DOMAIN: ClassVar[SigningDomain] = SigningDomain.BALLOT

    inner: BallotMetadata = field(BallotMetadata)
    smesher_id: bytes = field(NODE_ID)
    signature: bytes = field(ED_SIGNATURE)

    def get_signed_bytes(self) -> bytes:
        """Return ``SCALE(BallotMetadata)``, the bytes the ballot signature covers (no prefix)."""
        return encode(self.inner)


@attrs.frozen
class HareProofMsg:
    """Signed hare metadata (evidence of a second hare message in one round)."""

    SIGNING_DOMAIN: ClassVar[SigningDomain] = SigningDomain.HARE

    inner: HareMetadata = field(HareMetadata)
    smesher_id: bytes = field(NODE_ID)
    signature: bytes = field(ED_SIGNATURE)

    def get_signed_bytes(self) -> bytes:
        """Return ``SCALE(HareMetadata)``, the bytes the hare signature covers (no prefix)."""
        return encode(self.inner)


@attrs.frozen
class AtxProof:
    """MultipleATXs: two ATX metadata messages signed by one smesher for one publish epoch."""

    PROOF_TYPE: ClassVar[MalfeasanceType] = MalfeasanceType.MULTIPLE_ATXS

    messages: tuple[AtxProofMsg, AtxProofMsg] = field(Array(AtxProofMsg, 2))


@attrs.frozen
class BallotProof:
    """MultipleBallots: two ballot metadata messages signed by one smesher for one layer."""

    PROOF_TYPE: ClassVar[MalfeasanceType] = MalfeasanceType.MULTIPLE_BALLOTS

    messages: tuple[BallotProofMsg, BallotProofMsg] = field(Array(BallotProofMsg, 2))


@attrs.frozen
class HareProof:
    """HareEquivocation: two hare metadata messages signed by one smesher for one round."""

    PROOF_TYPE: ClassVar[MalfeasanceType] = MalfeasanceType.HARE_EQUIVOCATION

    messages: tuple[HareProofMsg, HareProofMsg] = field(Array(HareProofMsg, 2))


@attrs.frozen
class InvalidPostIndexProof:
    """InvalidPostIndex: an ATX whose PoST proof fails at ``invalid_idx``."""

    PROOF_TYPE: ClassVar[MalfeasanceType] = MalfeasanceType.INVALID_POST_INDEX

    atx: ActivationTxV1 = field(ActivationTxV1)
    invalid_idx: int = field(U32)


@attrs.frozen
class InvalidPrevATXProof:
    """InvalidPrevATX: two ATXs of one smesher that name the same previous ATX."""

    PROOF_TYPE: ClassVar[MalfeasanceType] = MalfeasanceType.INVALID_PREV_ATX

    atx1: ActivationTxV1 = field(ActivationTxV1)
    atx2: ActivationTxV1 = field(ActivationTxV1)


#: Every v1 proof class by its type byte.
_PROOF_CLASSES = (AtxProof, BallotProof, HareProof, InvalidPostIndexProof, InvalidPrevATXProof)
PROOF_CLASSES: Final[dict[int, type]] = {int(cls.PROOF_TYPE): cls for cls in _PROOF_CLASSES}

ProofData = AtxProof | BallotProof | HareProof | InvalidPostIndexProof | InvalidPrevATXProof

#: ``Proof{Type byte, Data}``: the raw type byte selects the proof class.
PROOF: Final = Union(PROOF_CLASSES)


@attrs.frozen
class MalfeasanceProof:
    """A v1 malfeasance proof: the layer it was generated in and the evidence."""

    layer: int = field(LAYER_ID)
    proof: Any = field(PROOF)  # one of the ProofData classes

    @property
    def proof_type(self) -> MalfeasanceType:
        """Return the proof's type."""
        return MalfeasanceType(PROOF.get_tag(self.proof))

    def to_bytes(self) -> bytes:
        """Return the proof's SCALE encoding (as stored and served by ``ml/1`` sync)."""
        return encode(self)

    @classmethod
    def from_bytes(cls, data: bytes) -> MalfeasanceProof:
        """Decode a malfeasance proof.

        :raises ScaleError: if ``data`` is not exactly one valid proof encoding.
        """
        return decode(cls, data)


@attrs.frozen
class MalfeasanceGossip:
    """A malfeasance proof as gossiped on ``mp1``."""

    proof: MalfeasanceProof = field(MalfeasanceProof)
    eligibility: HareEligibilityGossip | None = field(Option(HareEligibilityGossip))  # deprecated

    def to_bytes(self) -> bytes:
        """Return the gossip message's SCALE encoding."""
        return encode(self)

    @classmethod
    def from_bytes(cls, data: bytes) -> MalfeasanceGossip:
        """Decode a malfeasance gossip message.

        :raises ScaleError: if ``data`` is not exactly one valid encoding.
        """
        return decode(cls, data)
