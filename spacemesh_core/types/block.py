"""Blocks, rewards, certify messages and certificates (protocol.md §7.1-7.2; ``common/types/block.go``).

::

    Block          = InnerBlock{LayerIndex, TickHeight u64, Rewards [] (≤2350) of
                                {AtxID[32], Weight{Num u64, Denom u64}}, TxIDs [][32] (≤100000)}
    CertifyMessage = CertifyContent{LayerID, BlockID[20], EligibilityCnt u16, Proof[80]}
                     || Signature[64] || SmesherID[32]
    Certificate    = BlockID[20], Signatures []CertifyMessage (≤1000)

``BlockID = blake3(SCALE(InnerBlock))[:20]``; a certify message is signed (HARE domain) over
``SCALE(CertifyContent)``.
"""

from __future__ import annotations

from fractions import Fraction
from typing import ClassVar, Final

import attrs

from spacemesh_core.codec.scale import U16, U64, List, decode, encode, field
from spacemesh_core.crypto.hashes import compute_blake3_id20
from spacemesh_core.types.primitives import (
    ATX_ID,
    BLOCK_ID,
    ED_SIGNATURE,
    LAYER_ID,
    NODE_ID,
    TRANSACTION_ID,
    VRF_SIGNATURE,
    SigningDomain,
)

#: ``InnerBlock.Rewards``: one entry per proposal of the hare output (≤ 2350 per layer).
MAX_BLOCK_REWARDS: Final = 2350
#: ``InnerBlock.TxIDs``.
MAX_BLOCK_TX_IDS: Final = 100_000
#: ``Certificate.Signatures``: committee size plus a safety margin.
MAX_CERTIFICATE_SIGNATURES: Final = 1000


@attrs.frozen
class RatNum:
    """A rational number ``num / denom`` with 64-bit parts (reward weights)."""

    num: int = field(U64)
    denom: int = field(U64)

    def to_fraction(self) -> Fraction:
        """Return the value as a :class:`fractions.Fraction`.

        :raises ZeroDivisionError: if the denominator is zero.
        """
        return Fraction(self.num, self.denom)


@attrs.frozen
class AnyReward:
    """A reward entry: the ATX (whose coinbase is paid) and its weight in the layer."""

    atx_id: bytes = field(ATX_ID)
    weight: RatNum = field(RatNum)


@attrs.frozen
class Block:
    """The unified block of a layer (``types.Block``, whose SCALE form is ``InnerBlock``)."""

    layer_index: int = field(LAYER_ID)
    tick_height: int = field(U64)
    rewards: tuple[AnyReward, ...] = field(List(AnyReward, MAX_BLOCK_REWARDS))
    tx_ids: tuple[bytes, ...] = field(List(TRANSACTION_ID, MAX_BLOCK_TX_IDS))

    def compute_id(self) -> bytes:
        """Return the 20-byte block id, ``blake3(SCALE(InnerBlock))[:20]``."""
        return compute_blake3_id20(encode(self))

    def to_bytes(self) -> bytes:
        """Return the block's SCALE encoding."""
        return encode(self)

    @classmethod
    def from_bytes(cls, data: bytes) -> Block:
        """Decode a block.

        :raises ScaleError: if ``data`` is not exactly one valid block encoding.
        """
        return decode(cls, data)


@attrs.frozen
class CertifyContent:
    """The signed part of a certify message."""

    layer_id: int = field(LAYER_ID)
    block_id: bytes = field(BLOCK_ID)
    eligibility_count: int = field(U16)
    proof: bytes = field(VRF_SIGNATURE)  # VRF over the hare message with round CERTIFY_ROUND


@attrs.frozen
class CertifyMessage:
    """A certifier's vote for the layer's block, gossiped on ``bc1``."""

    SIGNING_DOMAIN: ClassVar[SigningDomain] = SigningDomain.HARE

    content: CertifyContent = field(CertifyContent)
    signature: bytes = field(ED_SIGNATURE)
    smesher_id: bytes = field(NODE_ID)

    def get_signed_bytes(self) -> bytes:
        """Return ``SCALE(CertifyContent)``, signed under the HARE domain (no prefix)."""
        return encode(self.content)


@attrs.frozen
class Certificate:
    """Enough certify messages for one block (≥ threshold eligibilities)."""

    block_id: bytes = field(BLOCK_ID)
    signatures: tuple[CertifyMessage, ...] = field(List(CertifyMessage, MAX_CERTIFICATE_SIGNATURES))

    def to_bytes(self) -> bytes:
        """Return the certificate's SCALE encoding."""
        return encode(self)

    @classmethod
    def from_bytes(cls, data: bytes) -> Certificate:
        """Decode a certificate.

        :raises ScaleError: if ``data`` is not exactly one valid certificate encoding.
        """
        return decode(cls, data)
