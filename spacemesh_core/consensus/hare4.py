"""Hare4: the hare3 state machine with compact proposal ids in preround messages (protocol.md §5.6).

A preround message names up to ~2000 proposals; hare4 sends, instead of the 20-byte ids, each
proposal's **compact id**: the first 4 bytes of the VRF signature of its ballot's first eligibility
proof. Receivers map compact ids back to the proposals they hold for the layer; when they cannot
(an unknown proposal, or a collision that makes the signature fail) they ask the sender for the full
id list over the ``hare4/full_exchange`` stream (:class:`CompactIdRequest` →
:class:`CompactIdResponse`).

The signature always covers the body with the **full** ids and no compact ids; the wire message
carries the compact ids and an empty full list. The message id used for the full exchange is the hash
of the wire body.

The wire types (``hare4/types.go``: ``Value{Proposals, Reference, CompactProposals}``) are defined
here because only this engine uses them. :class:`Hare4Engine` reuses :class:`~.hare3.Hare3Engine` for
everything else (rounds, eligibility, gossip, equivocation proofs); the full exchange is returned to
the caller as a request to send, so the engine stays free of I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import ClassVar, Final

import attrs

from spacemesh_core.codec.scale import Bytes, List, Option, decode, encode, field
from spacemesh_core.consensus.hare3 import (
    PREROUND,
    Hare3Engine,
    HareInputResult,
    HareMessageError,
    HareRoundOutput,
)
from spacemesh_core.crypto.hashes import compute_blake3
from spacemesh_core.crypto.signing import Signer
from spacemesh_core.types.ballot import Proposal
from spacemesh_core.types.hare import MAX_HARE_PROPOSALS, HareEligibility, HareMetadata, IterRound
from spacemesh_core.types.primitives import (
    ED_SIGNATURE,
    HASH32,
    LAYER_ID,
    NODE_ID,
    PROPOSAL_ID,
    SigningDomain,
)

__all__ = [
    "COMPACT_ID_SIZE",
    "MAX_COMPACT_RESPONSE_IDS",
    "CompactIdRequest",
    "CompactIdResponse",
    "Hare4Body",
    "Hare4Engine",
    "Hare4InputResult",
    "Hare4Message",
    "Hare4Value",
    "compute_compact_id",
    "create_hare4_message",
    "resolve_compact_ids",
]

#: A compact proposal id: the first 4 bytes of the proposal's first eligibility VRF signature.
COMPACT_ID_SIZE: Final = 4
#: ``CompactIdResponse.Ids``: at most 2050 ids.
MAX_COMPACT_RESPONSE_IDS: Final = 2050

COMPACT_ID: Final = Bytes(COMPACT_ID_SIZE)


@attrs.frozen
class Hare4Value:
    """Full ids (propose, reconstructed preround), a reference (commit, notify) or compact ids (preround)."""

    proposals: tuple[bytes, ...] = field(List(PROPOSAL_ID, MAX_HARE_PROPOSALS))
    reference: bytes | None = field(Option(HASH32))
    compact_proposals: tuple[bytes, ...] = field(List(COMPACT_ID, MAX_HARE_PROPOSALS))


@attrs.frozen
class Hare4Body:
    """The hashed part of a hare4 message."""

    layer: int = field(LAYER_ID)
    iter_round: IterRound = field(IterRound)
    value: Hare4Value = field(Hare4Value)
    eligibility: HareEligibility = field(HareEligibility)


@attrs.frozen
class Hare4Message:
    """A hare4 message as sent on ``/h/4.0``."""

    SIGNING_DOMAIN: ClassVar[SigningDomain] = SigningDomain.HARE

    body: Hare4Body = field(Hare4Body)
    sender: bytes = field(NODE_ID)
    signature: bytes = field(ED_SIGNATURE)

    def compute_body_hash(self) -> bytes:
        """Return ``blake3(SCALE(Body))`` (the message id)."""
        return compute_blake3(encode(self.body))

    def get_metadata(self) -> HareMetadata:
        """Return ``HareMetadata{Layer, absolute round, body hash}``."""
        return HareMetadata(self.body.layer, self.body.iter_round.compute_absolute(), self.compute_body_hash())

    def get_signed_bytes(self) -> bytes:
        """Return ``SCALE(HareMetadata)`` (signed under the HARE domain, no prefix)."""
        return encode(self.get_metadata())

    def to_bytes(self) -> bytes:
        """Return the message's SCALE encoding."""
        return encode(self)

    @classmethod
    def from_bytes(cls, data: bytes) -> Hare4Message:
        """Decode a hare4 message; raises ScaleError on a bad encoding."""
        return decode(cls, data)

    def with_full_proposals(self, proposals: Sequence[bytes]) -> Hare4Message:
        """Return the message with ``proposals`` (sorted) as full ids and no compact ids."""
        value = Hare4Value(tuple(sorted(bytes(p) for p in proposals)), self.body.value.reference, ())
        return Hare4Message(attrs.evolve(self.body, value=value), self.sender, self.signature)


@attrs.frozen
class CompactIdRequest:
    """Ask a peer for the full ids of a preround message it sent (``hare4/full_exchange``)."""

    msg_id: bytes = field(HASH32)


@attrs.frozen
class CompactIdResponse:
    """The full ids of the requested message."""

    ids: tuple[bytes, ...] = field(List(PROPOSAL_ID, MAX_COMPACT_RESPONSE_IDS))


def compute_compact_id(proposal: Proposal) -> bytes:
    """Return a proposal's compact id: its ballot's first eligibility VRF signature, first 4 bytes.

    Raises ValueError for a proposal without eligibility proofs.
    """
    proofs = proposal.ballot.eligibility_proofs
    if not proofs:
        raise ValueError("a proposal without eligibility proofs has no compact id")
    return bytes(proofs[0].sig[:COMPACT_ID_SIZE])


def resolve_compact_ids(compact_ids: Sequence[bytes], known: Mapping[bytes, bytes]) -> list[bytes] | None:
    """Map compact ids to full proposal ids using the proposals the node holds.

    ``known`` maps full proposal id → compact id. Each compact id takes the smallest not yet taken
    full id with that compact id (as the reference does). Returns the sorted full ids, or None when
    some compact id matches nothing (the caller then asks for the full list).
    """
    candidates: dict[bytes, list[bytes]] = {}
    for full_id in sorted(known):
        candidates.setdefault(bytes(known[full_id]), []).append(bytes(full_id))
    cursor: dict[bytes, int] = {}
    resolved = []
    for compact in compact_ids:
        pool = candidates.get(bytes(compact), [])
        taken = cursor.get(bytes(compact), 0)
        if taken >= len(pool):
            return None
        resolved.append(pool[taken])
        cursor[bytes(compact)] = taken + 1
    return sorted(resolved)


def create_hare4_message(
    signer: Signer,
    genesis_id: bytes,
    layer: int,
    iter_: int,
    round_: int,
    eligibility: HareEligibility,
    *,
    proposals: Sequence[bytes] = (),
    reference: bytes | None = None,
) -> Hare4Message:
    """Build and sign a hare4 message with full ids (compact them with :meth:`Hare4Engine.compact`)."""
    value = Hare4Value(tuple(proposals), reference, ())
    body = Hare4Body(layer, IterRound(iter_, round_), value, eligibility)
    unsigned = Hare4Message(body, signer.node_id, bytes(64))
    signature = signer.sign(SigningDomain.HARE, unsigned.get_signed_bytes(), genesis_id)
    return Hare4Message(body, signer.node_id, signature)


@attrs.frozen
class Hare4InputResult(HareInputResult):
    """A hare verdict, or a full-exchange request to send to the message's sender first."""

    request: CompactIdRequest | None = None


class Hare4Engine(Hare3Engine):
    """One node's hare4 instance for one layer (same arguments as :class:`~.hare3.Hare3Engine`).

    Besides :meth:`set_initial`, tell it about every proposal of the layer it holds with
    :meth:`add_proposal` (full id → compact id), so it can resolve compact ids. A preround message
    it cannot resolve comes back from :meth:`on_message` with a :class:`CompactIdRequest`; send it to
    the sender, whose engine answers with :meth:`on_full_exchange_request`, and pass the answer to
    :meth:`on_full_exchange_response`.
    """

    def __init__(self, *args: object, **kwargs: object) -> None:
        """Create the instance (see :class:`~.hare3.Hare3Engine`)."""
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._compact_of: dict[bytes, bytes] = {}
        self._sent: dict[bytes, Hare4Message] = {}  # wire message id -> full message

    def add_proposal(self, proposal_id: bytes, compact_id: bytes) -> None:
        """Register a proposal of the layer the node holds, with its compact id."""
        if len(compact_id) != COMPACT_ID_SIZE:
            raise ValueError(f"a compact id is {COMPACT_ID_SIZE} bytes")
        self._compact_of[bytes(proposal_id)] = bytes(compact_id)

    def add_proposals(self, proposals: Iterable[Proposal]) -> None:
        """Register full proposals of the layer."""
        for proposal in proposals:
            self.add_proposal(proposal.compute_id(), compute_compact_id(proposal))

    def compact(self, message: Hare4Message) -> Hare4Message:
        """Return the wire form of a signed preround message: compact ids, no full ids.

        Raises ValueError when a proposal's compact id is unknown.
        """
        try:
            compacts = tuple(self._compact_of[bytes(pid)] for pid in message.body.value.proposals)
        except KeyError as error:
            raise ValueError("no compact id for a proposal in the message") from error
        value = Hare4Value((), message.body.value.reference, compacts)
        return Hare4Message(attrs.evolve(message.body, value=value), message.sender, message.signature)

    # -- outgoing --------------------------------------------------------------------------

    def _build_messages(self, out: HareRoundOutput) -> list[Hare4Message]:  # type: ignore[override]
        if not out.send or not self.signers:
            return []
        iter_, round_ = out.executed
        messages = []
        for signer in self.signers:
            eligibility = self.oracle.compute_eligibility(signer, self.layer, iter_, round_)
            if eligibility is None:
                continue
            full = create_hare4_message(
                signer,
                self.genesis_id,
                self.layer,
                iter_,
                round_,
                eligibility,
                proposals=out.proposals or (),
                reference=out.reference,
            )
            if round_ == PREROUND:
                try:
                    wire = self.compact(full)
                except ValueError:
                    continue  # the reference skips the message when it cannot compact it
                self._sent[wire.compute_body_hash()] = full
                messages.append(wire)
            else:
                messages.append(full)
        return messages

    def _deliver_own(self, messages: Sequence[Hare4Message]) -> None:  # type: ignore[override]
        for message in messages:
            if message.body.iter_round.round == PREROUND:
                message = self._sent[message.compute_body_hash()]
            self._submit(self._to_input(message, message.compute_body_hash(), tuple(message.body.value.proposals)))  # type: ignore[arg-type]

    def on_full_exchange_request(self, request: CompactIdRequest) -> CompactIdResponse | None:
        """Answer a peer's full-exchange request for a preround message this node sent (None: unknown)."""
        full = self._sent.get(bytes(request.msg_id))
        if full is None:
            return None
        return CompactIdResponse(tuple(full.body.value.proposals))

    # -- incoming --------------------------------------------------------------------------

    def _accept_full(self, message: Hare4Message) -> Hare4InputResult:
        try:
            self._check_message(message)  # type: ignore[arg-type]
        except HareMessageError as error:
            return Hare4InputResult(False, None, str(error))
        verdict = self._submit(
            self._to_input(message, message.compute_body_hash(), tuple(message.body.value.proposals))  # type: ignore[arg-type]
        )
        return Hare4InputResult(verdict.accepted, verdict.proof, verdict.reason)

    def on_message(self, message: Hare4Message) -> Hare4InputResult:  # type: ignore[override]
        """Receive a hare4 wire message; preround compact ids are resolved first.

        Returns a result with ``request`` set when the full id list must be fetched from the sender.
        """
        if self.finished:
            return Hare4InputResult(False, None, "instance finished")
        if message.body.layer != self.layer:
            return Hare4InputResult(False, None, f"message for layer {message.body.layer}, instance for {self.layer}")
        value = message.body.value
        if message.body.iter_round.round != PREROUND:
            if value.compact_proposals:
                return Hare4InputResult(False, None, "compact ids outside the preround")
            return self._accept_full(message)
        if value.proposals:
            return Hare4InputResult(False, None, "a preround message carries compact ids only")
        request = CompactIdRequest(message.compute_body_hash())
        resolved = resolve_compact_ids(value.compact_proposals, self._compact_of)
        if resolved is None:
            return Hare4InputResult(False, None, "unresolved compact ids", request)
        verdict = self._accept_full(message.with_full_proposals(resolved))
        if not verdict.accepted and verdict.reason == "invalid hare signature":
            # a local compact-id collision picked the wrong proposal: ask for the full list
            return Hare4InputResult(False, None, verdict.reason, request)
        return verdict

    def on_full_exchange_response(self, message: Hare4Message, response: CompactIdResponse | None) -> Hare4InputResult:
        """Complete a preround message with the full ids its sender returned."""
        if response is None:
            return Hare4InputResult(False, None, "full exchange failed")
        if len(response.ids) != len(message.body.value.compact_proposals):
            return Hare4InputResult(False, None, "full exchange returned another number of ids")
        return self._accept_full(message.with_full_proposals(response.ids))
