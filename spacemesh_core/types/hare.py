"""Hare3 messages (protocol.md §5.3; go-spacemesh ``hare3/types.go``).

::

    Message = Body{Layer, IterRound{Iter u8, Round u8},
                   Value{Proposals [][20] (≤2350), Reference Option<[32]>},
                   Eligibility{Proof VrfSig[80], Count u16}}
              || Sender[32] || Signature[64]

The signature (HARE domain) covers
``SCALE(HareMetadata{Layer, Round = absolute round u32, MsgHash = blake3(SCALE(Body))})``;
the absolute round is ``iter * 7 + round``.
"""

from __future__ import annotations

import enum
from typing import ClassVar, Final

import attrs

from spacemesh_core.codec.scale import U8, U16, U32, List, Option, decode, encode, field
from spacemesh_core.crypto.hashes import compute_blake3
from spacemesh_core.types.primitives import (
    ED_SIGNATURE,
    HASH32,
    LAYER_ID,
    NODE_ID,
    PROPOSAL_ID,
    VRF_SIGNATURE,
    SigningDomain,
)

#: ``Value.Proposals``: at most 2350 proposal ids in one message.
MAX_HARE_PROPOSALS: Final = 2350


class HareRound(enum.IntEnum):
    """The rounds of one hare3 iteration."""

    PREROUND = 0
    HARDLOCK = 1
    SOFTLOCK = 2
    PROPOSE = 3
    WAIT1 = 4
    WAIT2 = 5
    COMMIT = 6
    NOTIFY = 7


#: Rounds per iteration used by the absolute round number (``iter * NOTIFY + round``).
ROUNDS_PER_ITERATION: Final = int(HareRound.NOTIFY)


@attrs.frozen
class IterRound:
    """An iteration and a round within it (the round is kept as a raw ``uint8``, as on the wire)."""

    iter: int = field(U8)
    round: int = field(U8)

    def compute_absolute(self) -> int:
        """Return the absolute round ``iter * 7 + round`` used in signatures and VRFs."""
        return self.iter * ROUNDS_PER_ITERATION + self.round


@attrs.frozen
class HareValue:
    """Proposal ids (preround, propose) or a reference to a proposal set (commit, notify)."""

    proposals: tuple[bytes, ...] = field(List(PROPOSAL_ID, MAX_HARE_PROPOSALS))
    reference: bytes | None = field(Option(HASH32))


@attrs.frozen
class HareEligibility:
    """A hare eligibility: the VRF proof and how many committee seats it wins."""

    proof: bytes = field(VRF_SIGNATURE)
    count: int = field(U16)


@attrs.frozen
class HareBody:
    """The hashed part of a hare message."""

    layer: int = field(LAYER_ID)
    iter_round: IterRound = field(IterRound)
    value: HareValue = field(HareValue)
    eligibility: HareEligibility = field(HareEligibility)


@attrs.frozen
class HareMetadata:
    """What a hare signature covers (also the evidence of a hare equivocation proof)."""

    layer: int = field(LAYER_ID)
    round: int = field(U32)  # the absolute round
    msg_hash: bytes = field(HASH32)


@attrs.frozen
class HareMessage:
    """A hare3 message as sent on ``/h/3.0``."""

    SIGNING_DOMAIN: ClassVar[SigningDomain] = SigningDomain.HARE

    body: HareBody = field(HareBody)
    sender: bytes = field(NODE_ID)
    signature: bytes = field(ED_SIGNATURE)

    def compute_body_hash(self) -> bytes:
        """Return ``blake3(SCALE(Body))``."""
        return compute_blake3(encode(self.body))

    def get_metadata(self) -> HareMetadata:
        """Return ``HareMetadata{Layer, absolute round, body hash}``."""
        body = self.body
        return HareMetadata(body.layer, body.iter_round.compute_absolute(), self.compute_body_hash())

    def get_signed_bytes(self) -> bytes:
        """Return ``SCALE(HareMetadata)``, signed under the HARE domain (no prefix)."""
        return encode(self.get_metadata())

    def to_bytes(self) -> bytes:
        """Return the message's SCALE encoding."""
        return encode(self)

    @classmethod
    def from_bytes(cls, data: bytes) -> HareMessage:
        """Decode a hare message.

        :raises ScaleError: if ``data`` is not exactly one valid hare message encoding.
        """
        return decode(cls, data)


@attrs.frozen
class HareEligibilityGossip:
    """A node's hare eligibility as attached to malfeasance gossip (deprecated in the reference)."""

    layer: int = field(LAYER_ID)
    round: int = field(U32)
    node_id: bytes = field(NODE_ID)
    eligibility: HareEligibility = field(HareEligibility)
