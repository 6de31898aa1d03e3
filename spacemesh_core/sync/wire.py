"""Request and response bodies of the fetch protocols (SCALE, shaped after go-spacemesh's
``fetch/wire_types.go``).

=========  ===========================================  ===================================
protocol   request                                      response
=========  ===========================================  ===================================
``hs/1``   :class:`HashRequest` (≤ 100 hint/hash pairs)  :class:`HashResponse` (found blobs)
                                                        (a block's certificate: hint
                                                        ``CERTIFICATE`` with the block id)
``ax/1``   :class:`EpochRequest`                        :class:`IdList` (ATX ids)
``ld/1``   :class:`LayerRequest`                        :class:`LayerData` (ballots, blocks)
``lp/2``   :class:`LayerRequest`                        :class:`LayerOpinion`
``ml/1``   (empty)                                      :class:`IdList` (malicious node ids)
=========  ===========================================  ===================================
"""

from __future__ import annotations

import enum

import attrs

from spacemesh_core.codec.scale import U32, Bytes, ByteSlice, Enum, List, Option, field

HASH_SIZE = 32
MAX_HASHES_PER_REQUEST = 100
MAX_IDS = 1_000_000
MAX_BLOB_SIZE = 4 * 2**20

PROTOCOL_HASHES = "hs/1"
PROTOCOL_EPOCH_ATXS = "ax/1"
PROTOCOL_LAYER_DATA = "ld/1"
PROTOCOL_LAYER_OPINION = "lp/2"
PROTOCOL_MALICIOUS = "ml/1"


class Hint(enum.IntEnum):
    """Which database a hash-addressed blob lives in."""

    BALLOT = 1
    BLOCK = 2
    PROPOSAL = 3
    ATX = 4
    TX = 5
    POET = 6
    MALFEASANCE = 7
    ACTIVE_SET = 8
    #: the certificate of a block, asked for by the block's id (``Certificate.block_id`` proves it)
    CERTIFICATE = 9


def pad_id(object_id: bytes) -> bytes:
    """Return a 20- or 32-byte id as the 32-byte hash ``hs/1`` asks for (zero-padded, as the reference does)."""
    if len(object_id) not in (20, 32):
        raise ValueError(f"object ids have 20 or 32 bytes, not {len(object_id)}")
    return object_id.ljust(HASH_SIZE, b"\x00")


@attrs.frozen
class HashItem:
    """One wanted blob."""

    hint: Hint = field(Enum(Hint))
    hash: bytes = field(Bytes(HASH_SIZE))


@attrs.frozen
class HashRequest:
    """A batch of wanted blobs."""

    items: tuple[HashItem, ...] = field(List(HashItem, MAX_HASHES_PER_REQUEST))


@attrs.frozen
class BlobItem:
    """A found blob."""

    hash: bytes = field(Bytes(HASH_SIZE))
    data: bytes = field(ByteSlice(MAX_BLOB_SIZE))


@attrs.frozen
class HashResponse:
    """The blobs the peer had (missing ones are simply absent)."""

    blobs: tuple[BlobItem, ...] = field(List(BlobItem, MAX_HASHES_PER_REQUEST))


@attrs.frozen
class EpochRequest:
    """An epoch number."""

    epoch: int = field(U32)


@attrs.frozen
class LayerRequest:
    """A layer number."""

    layer: int = field(U32)


@attrs.frozen
class IdList:
    """A list of 32-byte ids."""

    ids: tuple[bytes, ...] = field(List(Bytes(HASH_SIZE), MAX_IDS))


@attrs.frozen
class LayerData:
    """The ballots and blocks a peer has for a layer."""

    ballots: tuple[bytes, ...] = field(List(Bytes(20), 100_000))
    blocks: tuple[bytes, ...] = field(List(Bytes(20), 1_000))


@attrs.frozen
class LayerOpinion:
    """A peer's view of a layer: the applied block (if any) and the state hash after it."""

    applied_block: bytes | None = field(Option(Bytes(20)))
    state_hash: bytes | None = field(Option(Bytes(HASH_SIZE)))
