"""Ballots, votes, eligibility proofs and proposals (protocol.md §3.3; ``common/types``).

::

    Ballot      = InnerBallot || Signature[64] || SmesherID[32] || Votes
                  || EligibilityProofs [] (≤25000) || ActiveSet [] (≤1, unused)
    InnerBallot = Layer, AtxID[32], OpinionHash[32], RefBallot[20],
                  EpochData Option<{ActiveSetHash[32], Beacon[4], EligibilityCount u32}>
    Votes       = Base[20], Support []BlockHeader (≤10000), Against []BlockHeader (≤10000),
                  Abstain []LayerID (≤10000)
    Proposal    = InnerProposal{Ballot, TxIDs [][32] (≤100000), MeshHash[32]} || Signature[64]

* ``BallotID = blake3(SCALE(InnerBallot))[:20]``; the ballot signature (BALLOT domain) covers
  ``SCALE(BallotMetadata{Layer, blake3(SCALE(InnerBallot))})``. Votes are not signed: they are
  bound through ``OpinionHash``.
* The proposal signature (PROPOSAL domain) covers
  ``SCALE(BallotMetadata{Layer, blake3(SCALE(InnerProposal))})`` and
  ``ProposalID = blake3(those signed bytes)[:20]``.
"""

from __future__ import annotations

from typing import ClassVar, Final

import attrs

from spacemesh_core.codec.scale import U32, U64, List, Option, decode, encode, field
from spacemesh_core.crypto.hashes import compute_blake3, compute_blake3_id20
from spacemesh_core.types.primitives import (
    ATX_ID,
    BALLOT_ID,
    BEACON,
    BLOCK_ID,
    ED_SIGNATURE,
    HASH32,
    LAYER_ID,
    NODE_ID,
    TRANSACTION_ID,
    VRF_SIGNATURE,
    SigningDomain,
)

#: Limits from the reference's ``scale:"max=N"`` tags.
MAX_VOTES_SUPPORT: Final = 10_000
MAX_VOTES_AGAINST: Final = 10_000
MAX_VOTES_ABSTAIN: Final = 10_000
MAX_ELIGIBILITY_PROOFS: Final = 25_000
MAX_BALLOT_ACTIVE_SET: Final = 1  # the field is unused: active sets travel separately (as/1)
MAX_PROPOSAL_TX_IDS: Final = 100_000


@attrs.frozen
class BlockHeader:
    """A vote for a block: its id, layer and tick height (``types.Vote`` = ``BlockHeader``)."""

    id: bytes = field(BLOCK_ID)
    layer_id: int = field(LAYER_ID)
    height: int = field(U64)


#: A vote names a block by its header.
Vote = BlockHeader


@attrs.frozen
class Votes:
    """A ballot's opinion as a diff against its base ballot (protocol.md §6.2)."""

    base: bytes = field(BALLOT_ID)
    support: tuple[BlockHeader, ...] = field(List(BlockHeader, MAX_VOTES_SUPPORT))
    against: tuple[BlockHeader, ...] = field(List(BlockHeader, MAX_VOTES_AGAINST))
    abstain: tuple[int, ...] = field(List(LAYER_ID, MAX_VOTES_ABSTAIN))


@attrs.frozen
class Opinion:
    """An opinion hash with the votes that encode it (``types.Opinion``; tortoise bookkeeping)."""

    hash: bytes = field(HASH32)
    votes: Votes = field(Votes)


@attrs.frozen
class EpochData:
    """Carried by the reference (first) ballot of an epoch."""

    active_set_hash: bytes = field(HASH32)
    beacon: bytes = field(BEACON)
    eligibility_count: int = field(U32)


@attrs.frozen
class VotingEligibility:
    """One eligibility proof: the counter ``j`` and its VRF signature."""

    j: int = field(U32)
    sig: bytes = field(VRF_SIGNATURE)


@attrs.frozen
class BallotMetadata:
    """What ballot and proposal signatures cover: the layer and a hash of the inner bytes."""

    layer: int = field(LAYER_ID)
    msg_hash: bytes = field(HASH32)


@attrs.frozen
class InnerBallot:
    """The ballot fields covered by its id and signature."""

    layer: int = field(LAYER_ID)
    atx_id: bytes = field(ATX_ID)
    opinion_hash: bytes = field(HASH32)
    ref_ballot: bytes = field(BALLOT_ID)  # empty in the reference ballot itself
    epoch_data: EpochData | None = field(Option(EpochData))  # reference ballot only


@attrs.frozen
class Ballot:
    """A ballot: the smesher's votes and eligibility proofs for one layer."""

    SIGNING_DOMAIN: ClassVar[SigningDomain] = SigningDomain.BALLOT

    inner: InnerBallot = field(InnerBallot)
    signature: bytes = field(ED_SIGNATURE)
    smesher_id: bytes = field(NODE_ID)
    votes: Votes = field(Votes)
    eligibility_proofs: tuple[VotingEligibility, ...] = field(List(VotingEligibility, MAX_ELIGIBILITY_PROOFS))
    active_set: tuple[bytes, ...] = field(List(ATX_ID, MAX_BALLOT_ACTIVE_SET))

    @property
    def layer(self) -> int:
        """Return the layer the ballot votes in."""
        return self.inner.layer

    def compute_inner_hash(self) -> bytes:
        """Return ``blake3(SCALE(InnerBallot))``."""
        return compute_blake3(encode(self.inner))

    def compute_id(self) -> bytes:
        """Return the 20-byte ballot id, ``blake3(SCALE(InnerBallot))[:20]``."""
        return compute_blake3_id20(encode(self.inner))

    def get_signed_bytes(self) -> bytes:
        """Return ``SCALE(BallotMetadata{Layer, inner hash})``, signed under the BALLOT domain."""
        return encode(BallotMetadata(self.inner.layer, self.compute_inner_hash()))

    def to_bytes(self) -> bytes:
        """Return the ballot's SCALE encoding."""
        return encode(self)

    @classmethod
    def from_bytes(cls, data: bytes) -> Ballot:
        """Decode a ballot.

        :raises ScaleError: if ``data`` is not exactly one valid ballot encoding.
        """
        return decode(cls, data)


@attrs.frozen
class InnerProposal:
    """The proposal fields covered by its signature: the ballot, tx ids and mesh hash."""

    ballot: Ballot = field(Ballot)
    tx_ids: tuple[bytes, ...] = field(List(TRANSACTION_ID, MAX_PROPOSAL_TX_IDS))
    mesh_hash: bytes = field(HASH32)


@attrs.frozen
class Proposal:
    """A proposal as gossiped on ``pp1``: a ballot plus the transactions it proposes."""

    SIGNING_DOMAIN: ClassVar[SigningDomain] = SigningDomain.PROPOSAL

    inner: InnerProposal = field(InnerProposal)
    signature: bytes = field(ED_SIGNATURE)

    @property
    def ballot(self) -> Ballot:
        """Return the enclosed ballot."""
        return self.inner.ballot

    @property
    def layer(self) -> int:
        """Return the layer of the proposal (its ballot's layer)."""
        return self.inner.ballot.inner.layer

    def compute_inner_hash(self) -> bytes:
        """Return ``blake3(SCALE(InnerProposal))``."""
        return compute_blake3(encode(self.inner))

    def get_signed_bytes(self) -> bytes:
        """Return ``SCALE(BallotMetadata{Layer, inner hash})``, signed under the PROPOSAL domain."""
        return encode(BallotMetadata(self.layer, self.compute_inner_hash()))

    def compute_id(self) -> bytes:
        """Return the 20-byte proposal id, ``blake3(signed bytes)[:20]``."""
        return compute_blake3_id20(self.get_signed_bytes())

    def to_bytes(self) -> bytes:
        """Return the proposal's SCALE encoding."""
        return encode(self)

    @classmethod
    def from_bytes(cls, data: bytes) -> Proposal:
        """Decode a proposal.

        :raises ScaleError: if ``data`` is not exactly one valid proposal encoding.
        """
        return decode(cls, data)
