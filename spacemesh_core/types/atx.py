"""Activation transactions, version 1 (protocol.md §2.2; go-spacemesh ``activation/wire``).

::

    ActivationTxV1      = InnerActivationTxV1 || SmesherID[32] || Signature[64]
    InnerActivationTxV1 = NIPostChallengeV1, Coinbase[24], NumUnits u32, NIPost Option<NIPostV1>,
                          NodeID Option<[32]>, VRFNonce Option<u64>

``ATXID = blake3(SCALE(InnerActivationTxV1))``; the smesher signs (ATX domain)
``SCALE(AtxMetadata{PublishEpoch, MsgHash=ATXID})``. The PoET challenge registered for the ATX is
``blake3(0x00 || SCALE(NIPostChallengeV1))``.
"""

from __future__ import annotations

from typing import ClassVar, Final

import attrs

from spacemesh_core.codec.scale import U32, U64, ByteSlice, List, Option, decode, encode, field
from spacemesh_core.crypto.hashes import compute_blake3
from spacemesh_core.types.primitives import (
    ADDRESS,
    ATX_ID,
    ED_SIGNATURE,
    EMPTY_ATX_ID,
    EPOCH_ID,
    HASH32,
    NODE_ID,
    SigningDomain,
)

#: ``PostV1.Indices``: ``scale:"max=800"`` (K2 indices, bit-packed).
MAX_POST_INDICES_SIZE: Final = 800
#: ``MerkleProofV1.Nodes``: at most 32 sibling hashes (a member tree of up to 2^32 leaves).
MAX_MEMBERSHIP_NODES: Final = 32
#: ``PostMetadataV1.Challenge``: at most 32 bytes (the PoET proof reference).
MAX_POST_CHALLENGE_SIZE: Final = 32

#: Byte prepended to the SCALE challenge before hashing it into a PoET member-tree leaf.
POET_CHALLENGE_PREFIX: Final = b"\x00"


@attrs.frozen
class PostV1:
    """A PoST proof: the winning nonce, the bit-packed label indices and the k2pow nonce."""

    nonce: int = field(U32)
    indices: bytes = field(ByteSlice(MAX_POST_INDICES_SIZE))
    pow: int = field(U64)


@attrs.frozen
class MerkleProofV1:
    """Membership proof of the ATX's challenge in the PoET's member tree."""

    nodes: tuple[bytes, ...] = field(List(HASH32, MAX_MEMBERSHIP_NODES))  # leaf-to-root siblings
    leaf_index: int = field(U64)


@attrs.frozen
class PostMetadataV1:
    """PoST metadata: the challenge the PoST answered (the PoET proof ref) and labels per unit."""

    challenge: bytes = field(ByteSlice(MAX_POST_CHALLENGE_SIZE))
    labels_per_unit: int = field(U64)


@attrs.frozen
class NIPostV1:
    """A NIPoST: PoET membership, the PoST proof and its metadata."""

    membership: MerkleProofV1 = field(MerkleProofV1)
    post: PostV1 | None = field(Option(PostV1))
    post_metadata: PostMetadataV1 | None = field(Option(PostMetadataV1))


@attrs.frozen
class NIPostChallengeV1:
    """The challenge an ATX registers at the PoETs (the first fields of the ATX)."""

    publish_epoch: int = field(EPOCH_ID)
    sequence: int = field(U64)
    prev_atx_id: bytes = field(ATX_ID)
    positioning_atx_id: bytes = field(ATX_ID)
    commitment_atx_id: bytes | None = field(Option(ATX_ID))  # initial ATX only
    initial_post: PostV1 | None = field(Option(PostV1))  # initial ATX only

    def compute_challenge_hash(self) -> bytes:
        """Return ``blake3(0x00 || SCALE(challenge))``, the leaf registered in the PoET member tree."""
        return compute_blake3(POET_CHALLENGE_PREFIX, encode(self))

    def is_initial(self) -> bool:
        """Return True if this is the challenge of an identity's first ATX (no previous ATX)."""
        return self.prev_atx_id == EMPTY_ATX_ID


@attrs.frozen
class InnerActivationTxV1:
    """Every ATX field covered by the ATX id (all but the smesher id and the signature)."""

    challenge: NIPostChallengeV1 = field(NIPostChallengeV1)
    coinbase: bytes = field(ADDRESS)
    num_units: int = field(U32)
    nipost: NIPostV1 | None = field(Option(NIPostV1))
    node_id: bytes | None = field(Option(NODE_ID))  # initial ATX only: makes its id unique
    vrf_nonce: int | None = field(Option(U64))  # initial ATX, or when the nonce changed


@attrs.frozen
class AtxMetadata:
    """What an ATX signature covers: the publish epoch and the ATX id (``types.ATXMetadata``)."""

    publish_epoch: int = field(EPOCH_ID)
    msg_hash: bytes = field(HASH32)


@attrs.frozen
class ActivationTxV1:
    """A signed version-1 activation transaction as gossiped on ``ax1``."""

    SIGNING_DOMAIN: ClassVar[SigningDomain] = SigningDomain.ATX

    inner: InnerActivationTxV1 = field(InnerActivationTxV1)
    smesher_id: bytes = field(NODE_ID)
    signature: bytes = field(ED_SIGNATURE)

    @property
    def publish_epoch(self) -> int:
        """Return the epoch the ATX is published in (it gives eligibility in the next one)."""
        return self.inner.challenge.publish_epoch

    def compute_id(self) -> bytes:
        """Return the 32-byte ATX id, ``blake3(SCALE(InnerActivationTxV1))``."""
        return compute_blake3(encode(self.inner))

    def get_metadata(self) -> AtxMetadata:
        """Return the signed metadata ``{PublishEpoch, MsgHash = ATX id}``."""
        return AtxMetadata(self.publish_epoch, self.compute_id())

    def get_signed_bytes(self) -> bytes:
        """Return ``SCALE(AtxMetadata)``, the bytes signed under the ATX domain (no prefix)."""
        return encode(self.get_metadata())

    def to_bytes(self) -> bytes:
        """Return the ATX's SCALE encoding (the blob stored and gossiped)."""
        return encode(self)

    @classmethod
    def from_bytes(cls, data: bytes) -> ActivationTxV1:
        """Decode an ATX blob.

        :raises ScaleError: if ``data`` is not exactly one valid ATX v1 encoding.
        """
        return decode(cls, data)
