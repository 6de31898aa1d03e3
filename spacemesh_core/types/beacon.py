"""Beacon protocol messages (protocol.md §4; go-spacemesh ``beacon/message.go``, ``beacon/weakcoin``).

* proposal (``bp1``): ``{EpochID, NodeID[32], VRFSignature[80]}``, authenticated by the VRF;
  the proposal value is the first 4 bytes of the VRF signature;
* first votes (``bf1``): ``{EpochID, ValidProposals [][4] (≤1000), PotentiallyValidProposals
  [][4] (≤1000)} || SmesherID || Signature`` signed (BEACON_FIRST_MSG) over the body;
* following votes (``bo1``): ``{EpochID, RoundID, VotesBitVector bytes (≤128)} || SmesherID ||
  Signature`` signed (BEACON_FOLLOWUP_MSG) over the body;
* weak coin (``bw1``): ``{Epoch, Round, Unit u32, NodeID[32], VRFSignature[80]}``.
"""

from __future__ import annotations

from typing import ClassVar, Final

import attrs

from spacemesh_core.codec.scale import U32, ByteSlice, List, encode, field
from spacemesh_core.types.primitives import (
    BEACON,
    BEACON_SIZE,
    ED_SIGNATURE,
    EPOCH_ID,
    NODE_ID,
    ROUND_ID,
    VRF_SIGNATURE,
    SigningDomain,
)

#: Each list of the first voting message: at most 1000 proposals.
MAX_BEACON_PROPOSALS: Final = 1000
#: ``VotesBitVector``: 128 bytes = 1024 bits, enough for the 1000 proposals.
MAX_VOTES_BIT_VECTOR_SIZE: Final = 128


@attrs.frozen
class BeaconProposalMessage:
    """A beacon proposal: the proposer's VRF signature over its beacon VRF message."""

    epoch_id: int = field(EPOCH_ID)
    node_id: bytes = field(NODE_ID)
    vrf_signature: bytes = field(VRF_SIGNATURE)

    def get_proposal(self) -> bytes:
        """Return the proposal value: the first 4 bytes of the VRF signature."""
        return self.vrf_signature[:BEACON_SIZE]


@attrs.frozen
class FirstVotingMessageBody:
    """The signed body of a first-round vote: valid and potentially valid proposals."""

    epoch_id: int = field(EPOCH_ID)
    valid_proposals: tuple[bytes, ...] = field(List(BEACON, MAX_BEACON_PROPOSALS))
    potentially_valid_proposals: tuple[bytes, ...] = field(List(BEACON, MAX_BEACON_PROPOSALS))


@attrs.frozen
class FirstVotingMessage:
    """A signed first-round beacon vote."""

    SIGNING_DOMAIN: ClassVar[SigningDomain] = SigningDomain.BEACON_FIRST_MSG

    body: FirstVotingMessageBody = field(FirstVotingMessageBody)
    smesher_id: bytes = field(NODE_ID)
    signature: bytes = field(ED_SIGNATURE)

    def get_signed_bytes(self) -> bytes:
        """Return ``SCALE(FirstVotingMessageBody)``, signed under BEACON_FIRST_MSG (no prefix)."""
        return encode(self.body)


@attrs.frozen
class FollowingVotingMessageBody:
    """The signed body of a following-round vote: one bit per first-round proposal."""

    epoch_id: int = field(EPOCH_ID)
    round_id: int = field(ROUND_ID)
    votes_bit_vector: bytes = field(ByteSlice(MAX_VOTES_BIT_VECTOR_SIZE))


@attrs.frozen
class FollowingVotingMessage:
    """A signed following-round beacon vote (unused on mainnet: zero following rounds)."""

    SIGNING_DOMAIN: ClassVar[SigningDomain] = SigningDomain.BEACON_FOLLOWUP_MSG

    body: FollowingVotingMessageBody = field(FollowingVotingMessageBody)
    smesher_id: bytes = field(NODE_ID)
    signature: bytes = field(ED_SIGNATURE)

    def get_signed_bytes(self) -> bytes:
        """Return ``SCALE(FollowingVotingMessageBody)``, signed under BEACON_FOLLOWUP_MSG."""
        return encode(self.body)


@attrs.frozen
class WeakCoinMessage:
    """A beacon weak-coin message: one VRF signature per weight unit."""

    epoch: int = field(EPOCH_ID)
    round: int = field(ROUND_ID)
    unit: int = field(U32)
    node_id: bytes = field(NODE_ID)
    vrf_signature: bytes = field(VRF_SIGNATURE)
