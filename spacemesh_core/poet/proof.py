"""The PoET proof types and their JSON forms.

Two JSON forms exist:

* the CLI form (``spacemesh poet prove --json``): hex strings, ``{"root", "leaves", "proven_ids",
  "proven_leaves", "proof_nodes"}`` (plus ``"statement"`` so that the file verifies on its own);
* the REST form of the reference PoET (protojson): base64 bytes, camelCase names, the leaf count
  as a decimal string — ``{"proof": {"root", "provenLeaves", "proofNodes"}, "members", "leaves"}``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs

NODE_SIZE = 32


class ProofFormatError(ValueError):
    """A proof document that is not well formed (missing field, bad hex or base64, wrong sizes)."""


def _check_node(value: bytes, what: str) -> bytes:
    if len(value) != NODE_SIZE:
        raise ProofFormatError(f"{what} must be {NODE_SIZE} bytes, got {len(value)}")
    return value


def _to_byte_tuple(values: Iterable[bytes]) -> tuple[bytes, ...]:
    return tuple(bytes(v) for v in values)


def _nodes(values: Sequence[bytes], what: str) -> tuple[bytes, ...]:
    return tuple(_check_node(bytes(v), what) for v in values)


@attrs.frozen
class PoetProof:
    """A non-interactive PoET proof: the Merkle proof of the opened leaves and the leaf count.

    Mirrors go-spacemesh ``types.PoetProof`` (``shared.MerkleProof`` + ``LeafCount``).
    """

    root: bytes = attrs.field(converter=bytes)
    proven_leaves: tuple[bytes, ...] = attrs.field(converter=_to_byte_tuple)
    proof_nodes: tuple[bytes, ...] = attrs.field(converter=_to_byte_tuple)
    leaves: int = attrs.field(converter=int)

    def to_json_dict(self, statement: bytes | None = None) -> dict[str, Any]:
        """Return the CLI JSON form (hex), with the proven ids recomputed from the root."""
        from spacemesh_core.poet.reference import SECURITY_PARAM, compute_fiat_shamir_ids

        document: dict[str, Any] = {}
        if statement is not None:
            document["statement"] = statement.hex()
        document.update(
            {
                "root": self.root.hex(),
                "leaves": self.leaves,
                "proven_ids": compute_fiat_shamir_ids(self.root, self.leaves, SECURITY_PARAM)
                if self.leaves > 0
                else [],
                "proven_leaves": [leaf.hex() for leaf in self.proven_leaves],
                "proof_nodes": [node.hex() for node in self.proof_nodes],
            }
        )
        return document

    @classmethod
    def from_json_dict(cls, document: Mapping[str, Any]) -> PoetProof:
        """Parse the CLI JSON form.

        :raises ProofFormatError: a missing field, bad hex, or a node that is not 32 bytes.
        """
        try:
            leaves = document["leaves"]
            if isinstance(leaves, bool) or not isinstance(leaves, int | str):
                raise ProofFormatError("'leaves' must be an integer")
            return cls(
                root=_check_node(bytes.fromhex(document["root"]), "root"),
                proven_leaves=_nodes([bytes.fromhex(v) for v in document["proven_leaves"]], "a proven leaf"),
                proof_nodes=_nodes([bytes.fromhex(v) for v in document["proof_nodes"]], "a proof node"),
                leaves=int(leaves),
            )
        except KeyError as exc:
            raise ProofFormatError(f"proof document lacks field {exc.args[0]!r}") from None
        except (TypeError, ValueError) as exc:
            if isinstance(exc, ProofFormatError):
                raise
            raise ProofFormatError(f"malformed proof document: {exc}") from None

    def to_rest_dict(self) -> dict[str, Any]:
        """Return the reference REST ``MerkleProof`` object (base64 bytes)."""
        return {
            "root": encode_base64(self.root),
            "provenLeaves": [encode_base64(v) for v in self.proven_leaves],
            "proofNodes": [encode_base64(v) for v in self.proof_nodes],
        }


@attrs.frozen
class MembershipProof:
    """Proof that one challenge is a leaf of the membership tree (go-spacemesh ``MerkleProof``)."""

    leaf_index: int
    nodes: tuple[bytes, ...] = attrs.field(converter=_to_byte_tuple)

    def to_json_dict(self) -> dict[str, Any]:
        """Return ``{"leaf_index": int, "nodes": [hex]}``."""
        return {"leaf_index": self.leaf_index, "nodes": [n.hex() for n in self.nodes]}

    @classmethod
    def from_json_dict(cls, document: Mapping[str, Any]) -> MembershipProof:
        """Parse the form :meth:`to_json_dict` writes.

        :raises ProofFormatError: a missing field or bad node.
        """
        try:
            return cls(
                leaf_index=int(document["leaf_index"]),
                nodes=_nodes([bytes.fromhex(v) for v in document["nodes"]], "a membership node"),
            )
        except KeyError as exc:
            raise ProofFormatError(f"membership proof lacks field {exc.args[0]!r}") from None
        except (TypeError, ValueError) as exc:
            if isinstance(exc, ProofFormatError):
                raise
            raise ProofFormatError(f"malformed membership proof: {exc}") from None


@attrs.frozen
class RoundProof:
    """What a PoET serves for a finished round: the proof, the members and its public key."""

    proof: PoetProof
    members: tuple[bytes, ...] = attrs.field(converter=_to_byte_tuple)
    service_pubkey: bytes = attrs.field(converter=bytes)

    def to_rest_dict(self) -> dict[str, Any]:
        """Return the reference ``ProofResponse`` JSON (protojson: base64, the count as a string)."""
        return {
            "proof": {
                "proof": self.proof.to_rest_dict(),
                "members": [encode_base64(m) for m in self.members],
                "leaves": str(self.proof.leaves),
            },
            "pubkey": encode_base64(self.service_pubkey),
        }

    @classmethod
    def from_rest_dict(cls, document: Mapping[str, Any]) -> RoundProof:
        """Parse a ``ProofResponse`` JSON (accepts camelCase and proto field names).

        :raises ProofFormatError: a missing field, bad base64 or bad sizes.
        """
        try:
            outer = document["proof"]
            merkle = outer["proof"]
            proof = PoetProof(
                root=_check_node(decode_base64(merkle["root"]), "root"),
                proven_leaves=_nodes(
                    [decode_base64(v) for v in _get(merkle, "provenLeaves", "proven_leaves")], "a proven leaf"
                ),
                proof_nodes=_nodes(
                    [decode_base64(v) for v in _get(merkle, "proofNodes", "proof_nodes")], "a proof node"
                ),
                leaves=int(outer.get("leaves", 0)),
            )
            members = _nodes([decode_base64(v) for v in outer.get("members") or []], "a member")
            return cls(proof=proof, members=members, service_pubkey=decode_base64(document.get("pubkey") or ""))
        except KeyError as exc:
            raise ProofFormatError(f"proof response lacks field {exc.args[0]!r}") from None
        except (TypeError, ValueError, AttributeError) as exc:
            if isinstance(exc, ProofFormatError):
                raise
            raise ProofFormatError(f"malformed proof response: {exc}") from None


def _get(document: Mapping[str, Any], camel: str, snake: str) -> Any:
    if camel in document:
        return document[camel] or []
    return document.get(snake) or []


def encode_base64(data: bytes) -> str:
    """Return standard padded base64, as protojson writes ``bytes`` fields."""
    return base64.b64encode(data).decode("ascii")


def decode_base64(text: str) -> bytes:
    """Decode protojson ``bytes``: standard or URL-safe alphabet, padding optional.

    :raises ProofFormatError: not base64.
    """
    if not isinstance(text, str):
        raise ProofFormatError(f"expected a base64 string, got {type(text).__name__}")
    cleaned = text.replace("-", "+").replace("_", "/")
    cleaned += "=" * (-len(cleaned) % 4)
    try:
        return base64.b64decode(cleaned, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ProofFormatError(f"invalid base64: {exc}") from None
