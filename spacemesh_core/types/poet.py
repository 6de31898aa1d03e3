"""PoET wire types: the proof message, the proof reference and the registration certificate.

* ``PoetProof{MerkleProof{Root, ProvenLeaves (≤150), ProofNodes (≤5400)}, LeafCount}``
  (go-spacemesh ``common/types/poet.go``, poet ``shared.MerkleProof``); every leaf and node is a
  byte string of at most 32 bytes.
* ``PoetProofRef = blake3(SCALE(PoetProof))`` (post-poet.md §6.6) is the PoST challenge.
* ``PoetProofMessage`` adds the PoET service id, round id, statement and signature.
* ``CertOnWire{Pubkey bytes (≤32), Expiration Option<u64 unix seconds>}`` is the certifier
  certificate presented at registration (post-poet.md §6.5).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

import attrs

from spacemesh_core.codec.scale import U64, ByteSlice, List, Option, String, encode, field
from spacemesh_core.crypto.hashes import compute_blake3
from spacemesh_core.types.primitives import ED_SIGNATURE, HASH32

#: Size of every root, leaf and node of the PoET Merkle proof.
POET_NODE_SIZE: Final = 32
#: ``ProvenLeaves``: at most T = 150 leaves (the Fiat-Shamir security parameter).
MAX_PROVEN_LEAVES: Final = 150
#: ``ProofNodes``: at most 5400 nodes (36 per proven leaf).
MAX_PROOF_NODES: Final = 5400
#: ``PoetServiceID`` (the PoET's public key) and ``RoundID`` (a decimal string): at most 32 bytes.
MAX_POET_SERVICE_ID_SIZE: Final = 32
MAX_ROUND_ID_SIZE: Final = 32
#: ``CertOnWire.Pubkey``: at most 32 bytes (the node id the certificate names).
MAX_CERT_PUBKEY_SIZE: Final = 32

_NODE_BYTES = ByteSlice(POET_NODE_SIZE)


@attrs.frozen
class MerkleProof:
    """The PoET's non-interactive proof of sequential work (root, proven leaves, proof nodes)."""

    root: bytes = field(_NODE_BYTES)
    proven_leaves: tuple[bytes, ...] = field(List(_NODE_BYTES, MAX_PROVEN_LEAVES))
    proof_nodes: tuple[bytes, ...] = field(List(_NODE_BYTES, MAX_PROOF_NODES))


@attrs.frozen
class PoetProof:
    """A PoET proof: the Merkle proof and the number of leaves (sequential work) it covers."""

    merkle_proof: MerkleProof = field(MerkleProof)
    leaf_count: int = field(U64)

    def compute_ref(self) -> bytes:
        """Return the proof reference ``blake3(SCALE(PoetProof))``, the PoST challenge of the ATX."""
        return compute_blake3(encode(self))


@attrs.frozen
class PoetProofMessage:
    """The PoET proof as nodes store and share it (fetched by reference, hint POETDB)."""

    poet_proof: PoetProof = field(PoetProof)
    poet_service_id: bytes = field(ByteSlice(MAX_POET_SERVICE_ID_SIZE))  # the PoET's public key
    round_id: str = field(String(MAX_ROUND_ID_SIZE))
    statement: bytes = field(HASH32)  # root of the round's member tree
    signature: bytes = field(ED_SIGNATURE)  # not checked by the reference node

    def compute_ref(self) -> bytes:
        """Return the reference of the enclosed proof (see :meth:`PoetProof.compute_ref`)."""
        return self.poet_proof.compute_ref()


@attrs.frozen
class UnixTimestamp:
    """Seconds since the Unix epoch (poet ``shared.UnixTimestamp``)."""

    seconds: int = field(U64)

    def to_datetime(self) -> datetime:
        """Return the timestamp as an aware UTC datetime.

        :raises ValueError: if the timestamp lies beyond what :class:`datetime` can represent.
        """
        try:
            return datetime.fromtimestamp(self.seconds, tz=UTC)
        except (OverflowError, OSError) as exc:
            raise ValueError(f"timestamp {self.seconds} is out of range: {exc}") from None


@attrs.frozen
class PoetCertificate:
    """A certifier certificate allowing a node id to register at a PoET (``CertOnWire``).

    The certifier signs the SCALE encoding of this object with its ed25519 key (no prefix).
    """

    pubkey: bytes = field(ByteSlice(MAX_CERT_PUBKEY_SIZE))  # the node id it certifies
    expiration: UnixTimestamp | None = field(Option(UnixTimestamp))  # None: never expires

    def get_signed_bytes(self) -> bytes:
        """Return the bytes the certifier signs: ``SCALE(CertOnWire)``."""
        return encode(self)

    def is_expired(self, now: datetime) -> bool:
        """Return True if the certificate expired strictly before ``now`` (an aware datetime).

        This is the PoET's rule (``Expiration.Before(now)``); no expiration means never expired.
        """
        return self.expiration is not None and self.expiration.seconds < now.timestamp()
