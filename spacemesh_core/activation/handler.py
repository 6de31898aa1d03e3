"""Validation and storage of received ATXs (protocol.md §2.2 derived fields, §2.3 validation, §2.6 proofs).

:meth:`AtxHandler.process_atx` takes an encoded ATX v1 and either stores it with its derived fields,
reports it as already known, or raises a specific :class:`AtxValidationError` and stores nothing of
it. Evidence of malfeasance becomes a :class:`~spacemesh_core.types.malfeasance.MalfeasanceProof`,
stored in ``state.sql`` and returned so that the caller can gossip it:

* a second ATX by one smesher in one publish epoch: MultipleATXs (the ATX itself is not stored);
* an ATX whose previous ATX another ATX of the smesher already names: InvalidPrevATX (stored);
* a PoST index that fails (distributed) verification: InvalidPostIndex (the ATX is rejected).

Dependencies (the PoET proof by reference, previous, positioning and commitment ATXs) are read from
the state database, else obtained through the caller's async ``fetch_atx(id)`` and
``fetch_poet_proof(ref)`` callbacks (which the node wires to the network); a fetched ATX is itself
validated by this handler before it is used.
"""

from __future__ import annotations

import asyncio
import enum
import time
from collections.abc import Awaitable, Callable
from typing import Any

import attrs

from spacemesh_core.clock import LayerClock
from spacemesh_core.codec.scale import ScaleError, decode, encode
from spacemesh_core.consensus.malfeasance import compute_atx_proof_msg, create_invalid_post_index_proof
from spacemesh_core.crypto.signing import Domain, SignatureError, verify_signature
from spacemesh_core.poet.proof import MembershipProof
from spacemesh_core.poet.proof import PoetProof as CorePoetProof
from spacemesh_core.poet.verify import PoetVerificationError, verify_membership_proof, verify_poet_proof
from spacemesh_core.post.labels import LabelParameterError
from spacemesh_core.post.proof import MAINNET_K1, MAINNET_K2, MAINNET_POW_DIFFICULTY, Proof, ProofParameterError
from spacemesh_core.post.verify import (
    InvalidLabelError,
    InvalidProofError,
    LabelFunction,
    ProofMetadata,
    VerifyConfig,
    VerifyMode,
    verify_proof,
    verify_vrf_nonce,
)
from spacemesh_core.storage.state import AtxRecord, StateStore
from spacemesh_core.types.atx import ActivationTxV1, PostV1
from spacemesh_core.types.malfeasance import AtxProof, InvalidPrevATXProof, MalfeasanceProof
from spacemesh_core.types.poet import PoetProofMessage
from spacemesh_core.types.primitives import EMPTY_ATX_ID

#: The all-zero challenge the initial PoST answers.
INITIAL_POST_CHALLENGE = bytes(32)
#: Weights and tick heights are u64 in the reference (overflow is an error).
U64_MAX = (1 << 64) - 1
#: How deep the handler follows ATX dependencies it has to fetch (prev → its prev → ...).
MAX_DEPENDENCY_DEPTH = 64

FetchAtx = Callable[[bytes], Awaitable[bytes | None]]
FetchPoetProof = Callable[[bytes], Awaitable[bytes | None]]


# ------------------------------------------------------------------------------------------------
# Errors
# ------------------------------------------------------------------------------------------------


class AtxValidationError(ValueError):
    """An ATX was rejected; subclasses say which rule of protocol.md §2.3 it broke."""


class AtxDecodeError(AtxValidationError):
    """The bytes are not one well-formed ATX v1."""


class AtxSignatureError(AtxValidationError):
    """The smesher's ATX-domain signature does not verify."""


class AtxSyntaxError(AtxValidationError):
    """A field rule that needs no other object: missing NIPoST, initial/non-initial fields, epochs."""


class AtxNumUnitsError(AtxValidationError):
    """NumUnits outside ``[min_num_units, max_num_units]`` or labels per unit below the network's."""


class AtxVrfNonceError(AtxValidationError):
    """The VRF nonce is missing where required or its label is not below the VRF difficulty."""


class AtxDependencyError(AtxValidationError):
    """A previous, positioning or commitment ATX, or the PoET proof, is unknown and could not be fetched."""


class AtxPrevError(AtxValidationError):
    """The previous ATX is another smesher's, not older, or the sequence does not follow it."""


class AtxPositioningError(AtxValidationError):
    """The positioning ATX is not golden and not published before this ATX's publish epoch."""


class AtxCommitmentError(AtxValidationError):
    """The commitment ATX is not golden and not published before this ATX's publish epoch."""


class AtxPoetError(AtxValidationError):
    """The PoET proof does not verify, does not match its reference, or is worth no tick."""


class AtxMembershipError(AtxValidationError):
    """The membership proof does not show the ATX's challenge in the PoET round."""


class AtxPostError(AtxValidationError):
    """The PoST proof (or initial PoST) does not verify; ``malfeasance_proof`` is set for a bad index."""

    def __init__(self, message: str, malfeasance_proof: MalfeasanceProof | None = None) -> None:
        super().__init__(message)
        self.malfeasance_proof = malfeasance_proof


class AtxWeightError(AtxValidationError):
    """A derived field (weight, tick height) overflows u64."""


# ------------------------------------------------------------------------------------------------
# Configuration and results
# ------------------------------------------------------------------------------------------------


@attrs.frozen
class AtxValidationConfig:
    """Network parameters the handler checks ATXs against."""

    tick_size: int
    labels_per_unit: int
    min_num_units: int
    max_num_units: int
    scrypt_n: int
    k1: int = MAINNET_K1
    k2: int = MAINNET_K2
    k3: int = 1
    pow_difficulty: bytes = MAINNET_POW_DIFFICULTY

    @classmethod
    def from_config(cls, config: Any) -> AtxValidationConfig:
        """Build from a node config (``[network] tick_size`` and the ``[post]`` section)."""
        post = config.post
        return cls(
            tick_size=config.network.tick_size,
            labels_per_unit=post.labels_per_unit,
            min_num_units=post.min_num_units,
            max_num_units=post.max_num_units,
            scrypt_n=post.scrypt_n,
            k1=post.k1,
            k2=post.k2,
            k3=post.k3,
            pow_difficulty=bytes.fromhex(post.pow_difficulty),
        )

    def get_verify_config(self, labels_per_unit: int | None = None) -> VerifyConfig:
        """Return the PoST verifier's parameters (with the ATX's labels per unit when given)."""
        return VerifyConfig(
            k1=self.k1,
            k2=self.k2,
            pow_difficulty=self.pow_difficulty,
            min_num_units=self.min_num_units,
            max_num_units=self.max_num_units,
            labels_per_unit=labels_per_unit or self.labels_per_unit,
            scrypt_n=self.scrypt_n,
        )


class AtxStatus(enum.Enum):
    """What :meth:`AtxHandler.process_atx` did with a valid ATX."""

    STORED = "stored"
    KNOWN = "known"  # stored before: nothing to do, nothing to forward
    MALFEASANCE = "malfeasance"  # a second ATX in the epoch: only the proof is kept and forwarded


@attrs.frozen
class AtxOutcome:
    """The result of processing one valid ATX."""

    atx_id: bytes
    status: AtxStatus
    record: AtxRecord | None
    malfeasance_proof: MalfeasanceProof | None = None


@attrs.frozen
class DerivedFields:
    """The fields of protocol.md §2.2 computed when an ATX is stored."""

    effective_num_units: int
    base_tick_height: int
    tick_count: int
    tick_height: int
    weight: int


def compute_derived_fields(
    num_units: int, previous_num_units: int | None, base_tick_height: int, poet_leaves: int, tick_size: int
) -> DerivedFields:
    """Return effective units (``min(prev, this)``), tick count (``leaves // tick_size``), tick height and
    weight (``effective units × tick count``).

    :raises AtxWeightError: a tick height or weight beyond u64.
    :raises ValueError: a tick size below 1.
    """
    if tick_size < 1:
        raise ValueError("the tick size must be at least 1")
    effective = num_units if previous_num_units is None else min(previous_num_units, num_units)
    tick_count = poet_leaves // tick_size
    tick_height = base_tick_height + tick_count
    weight = effective * tick_count
    if tick_height > U64_MAX:
        raise AtxWeightError(f"tick height {base_tick_height} + {tick_count} overflows u64")
    if weight > U64_MAX:
        raise AtxWeightError(f"weight {effective} × {tick_count} overflows u64")
    return DerivedFields(effective, base_tick_height, tick_count, tick_height, weight)


def convert_poet_proof(message: PoetProofMessage) -> CorePoetProof:
    """Return the wire PoET proof as the verifier's :class:`~spacemesh_core.poet.proof.PoetProof`."""
    merkle = message.poet_proof.merkle_proof
    return CorePoetProof(merkle.root, merkle.proven_leaves, merkle.proof_nodes, message.poet_proof.leaf_count)


def convert_post(post: PostV1) -> Proof:
    """Return a wire PoST proof as the verifier's :class:`~spacemesh_core.post.proof.Proof`."""
    return Proof(nonce=post.nonce, indices=post.indices, pow=post.pow)


@attrs.frozen
class _Context:
    """Everything validation resolved about one ATX before it is stored."""

    atx: ActivationTxV1
    atx_id: bytes
    previous: AtxRecord | None
    commitment_atx_id: bytes
    vrf_nonce: int
    base_tick_height: int
    poet_message: PoetProofMessage
    poet_blob: bytes
    poet_is_new: bool


# ------------------------------------------------------------------------------------------------
# The handler
# ------------------------------------------------------------------------------------------------


class AtxHandler:
    """Validates received ATXs fully and stores them with their derived fields.

    :param state: the chain state.
    :param genesis_id: the 20-byte signature prefix.
    :param golden_atx: the golden ATX id (valid positioning and commitment ATX, tick height 0).
    :param clock: the layer clock (current epoch, received times).
    :param config: the network parameters.
    :param local_id: seed of the K3 index selection (the local peer id), so that every node checks
        different indices (distributed verification).
    :param fetch_atx: ``await fetch_atx(id) -> bytes | None``: an unknown dependency ATX's bytes.
    :param fetch_poet_proof: ``await fetch_poet_proof(ref) -> bytes | None``: a PoET proof message.
    :param label_function: PoST label function (default: native when built).
    """

    def __init__(
        self,
        state: StateStore,
        genesis_id: bytes,
        golden_atx: bytes,
        clock: LayerClock,
        config: AtxValidationConfig,
        *,
        local_id: bytes = b"",
        fetch_atx: FetchAtx | None = None,
        fetch_poet_proof: FetchPoetProof | None = None,
        label_function: LabelFunction | None = None,
    ) -> None:
        self.state = state
        self.genesis_id = genesis_id
        self.golden_atx = golden_atx
        self.clock = clock
        self.config = config
        self.local_id = local_id
        self.fetch_atx = fetch_atx
        self.fetch_poet_proof = fetch_poet_proof
        self.label_function = label_function

    # -- entry points ---------------------------------------------------------------------------

    async def process_atx(self, blob: bytes, received: float | None = None) -> AtxOutcome:
        """Validate the encoded ATX ``blob`` and store it (see the module doc).

        :param received: arrival time (Unix seconds; default now).
        :raises AtxValidationError: a subclass naming the broken rule; nothing of the ATX is stored
            (an InvalidPostIndex proof is, and rides on the :class:`AtxPostError`).
        """
        return await self._process(blob, received, depth=0)

    def is_post_index_valid(self, atx: ActivationTxV1, position: int) -> bool:
        """Return whether the PoST of ``atx`` verifies at index ``position`` (for InvalidPostIndex proofs).

        The commitment comes from the ATX (initial) or from its stored previous ATX.

        :raises AtxDependencyError: the previous ATX is unknown.
        """
        nipost = atx.inner.nipost
        if nipost is None or nipost.post is None or nipost.post_metadata is None:
            return False
        commitment = atx.inner.challenge.commitment_atx_id
        if commitment is None:
            previous = self.state.get_atx(atx.inner.challenge.prev_atx_id)
            if previous is None:
                raise AtxDependencyError("the previous ATX of the accused ATX is unknown")
            commitment = previous.commitment_atx_id
        try:
            verify_proof(
                convert_post(nipost.post),
                ProofMetadata(atx.smesher_id, commitment, bytes(nipost.post_metadata.challenge), atx.inner.num_units),
                self.config.get_verify_config(nipost.post_metadata.labels_per_unit),
                VerifyMode.one(position),
                label_function=self.label_function,
            )
        except (InvalidProofError, ProofParameterError, LabelParameterError):
            return False
        return True

    # -- the pipeline ---------------------------------------------------------------------------

    def _now(self) -> float:
        return float(self.clock.time.now()) if self.clock is not None else time.time()

    async def _process(self, blob: bytes, received: float | None, depth: int) -> AtxOutcome:
        try:
            atx = ActivationTxV1.from_bytes(blob)
        except (ScaleError, ValueError) as exc:
            raise AtxDecodeError(f"not an ATX v1: {exc}") from None
        atx_id = atx.compute_id()
        known = self.state.get_atx(atx_id)
        if known is not None:
            return AtxOutcome(atx_id, AtxStatus.KNOWN, known)
        try:
            verify_signature(atx.smesher_id, Domain.ATX, atx.get_signed_bytes(), atx.signature, self.genesis_id)
        except SignatureError as exc:
            raise AtxSignatureError(f"ATX {atx_id.hex()}: {exc}") from None
        await self._verify_syntax(atx)
        context = await self._resolve(atx, atx_id, depth)
        leaves = await self._verify_nipost(context)
        received_at = self._now() if received is None else float(received)
        return self._store(context, leaves, received_at)

    async def _verify_syntax(self, atx: ActivationTxV1) -> None:
        inner = atx.inner
        challenge = inner.challenge
        nipost = inner.nipost
        if nipost is None or nipost.post is None or nipost.post_metadata is None:
            raise AtxSyntaxError("the ATX carries no NIPoST, PoST or PoST metadata")
        current_epoch = self.clock.get_current_epoch()
        if challenge.publish_epoch > current_epoch + 1:
            raise AtxSyntaxError(
                f"publish epoch {challenge.publish_epoch} is beyond the current epoch {current_epoch} + 1"
            )
        if challenge.positioning_atx_id == EMPTY_ATX_ID:
            raise AtxSyntaxError("the positioning ATX is empty")
        if not self.config.min_num_units <= inner.num_units <= self.config.max_num_units:
            raise AtxNumUnitsError(
                f"num units {inner.num_units} outside [{self.config.min_num_units}, {self.config.max_num_units}]"
            )
        if nipost.post_metadata.labels_per_unit < self.config.labels_per_unit:
            raise AtxNumUnitsError(
                f"labels per unit {nipost.post_metadata.labels_per_unit} below the network's "
                f"{self.config.labels_per_unit}"
            )
        if len(nipost.post_metadata.challenge) != 32:
            raise AtxSyntaxError("the PoST challenge (PoET proof reference) must be 32 bytes")
        if challenge.is_initial():
            if challenge.initial_post is None or inner.node_id is None or inner.vrf_nonce is None:
                raise AtxSyntaxError("an initial ATX needs an initial PoST, a node id and a VRF nonce")
            if challenge.commitment_atx_id is None or challenge.commitment_atx_id == EMPTY_ATX_ID:
                raise AtxSyntaxError("an initial ATX needs a commitment ATX")
            if challenge.sequence != 0:
                raise AtxSyntaxError(f"an initial ATX has sequence 0, not {challenge.sequence}")
            if inner.node_id != atx.smesher_id:
                raise AtxSyntaxError("the node id of an initial ATX must be its smesher id")
            await self._verify_vrf_nonce(atx, inner.vrf_nonce, challenge.commitment_atx_id)
            await self._verify_initial_post(atx, challenge.initial_post, challenge.commitment_atx_id)
        elif inner.node_id is not None or challenge.initial_post is not None or challenge.commitment_atx_id is not None:
            raise AtxSyntaxError("a non-initial ATX must not carry a node id, an initial PoST or a commitment ATX")

    async def _verify_vrf_nonce(self, atx: ActivationTxV1, nonce: int, commitment_atx_id: bytes) -> None:
        metadata = atx.inner.nipost.post_metadata if atx.inner.nipost else None
        labels_per_unit = metadata.labels_per_unit if metadata else self.config.labels_per_unit
        try:
            await asyncio.to_thread(
                verify_vrf_nonce,
                nonce,
                atx.smesher_id,
                commitment_atx_id,
                atx.inner.num_units,
                labels_per_unit,
                self.config.scrypt_n,
                label_function=self.label_function,
            )
        except (InvalidProofError, ProofParameterError, LabelParameterError) as exc:
            raise AtxVrfNonceError(f"invalid VRF nonce {nonce}: {exc}") from None

    async def _verify_initial_post(self, atx: ActivationTxV1, post: PostV1, commitment_atx_id: bytes) -> None:
        metadata = ProofMetadata(atx.smesher_id, commitment_atx_id, INITIAL_POST_CHALLENGE, atx.inner.num_units)
        try:
            await asyncio.to_thread(
                verify_proof,
                convert_post(post),
                metadata,
                self.config.get_verify_config(),
                VerifyMode.all(),
                label_function=self.label_function,
            )
        except (InvalidProofError, ProofParameterError, LabelParameterError) as exc:
            raise AtxPostError(f"invalid initial PoST: {exc}") from None

    async def _get_atx_dependency(self, atx_id: bytes, what: str, depth: int) -> AtxRecord:
        record = self.state.get_atx(atx_id)
        if record is not None:
            return record
        if self.fetch_atx is None or depth >= MAX_DEPENDENCY_DEPTH:
            raise AtxDependencyError(f"the {what} ATX {atx_id.hex()} is unknown")
        blob = await self.fetch_atx(atx_id)
        if blob is None:
            raise AtxDependencyError(f"the {what} ATX {atx_id.hex()} could not be fetched")
        try:
            outcome = await self._process(blob, None, depth + 1)
        except AtxValidationError as exc:
            raise AtxDependencyError(f"the {what} ATX {atx_id.hex()} is invalid: {exc}") from exc
        if outcome.atx_id != atx_id or outcome.record is None:
            raise AtxDependencyError(f"the fetched {what} ATX is not {atx_id.hex()}")
        return outcome.record

    async def _get_poet_proof(self, ref: bytes) -> tuple[PoetProofMessage, bytes, bool]:
        stored = self.state.get_poet_proof(ref)
        if stored is not None:
            return decode(PoetProofMessage, stored[1]), stored[1], False
        blob = await self.fetch_poet_proof(ref) if self.fetch_poet_proof is not None else None
        if blob is None:
            raise AtxDependencyError(f"the PoET proof {ref.hex()} is unknown")
        try:
            message = decode(PoetProofMessage, blob)
        except (ScaleError, ValueError) as exc:
            raise AtxPoetError(f"the PoET proof {ref.hex()} is malformed: {exc}") from None
        if message.compute_ref() != ref:
            raise AtxPoetError(f"the fetched PoET proof is not {ref.hex()}")
        return message, blob, True

    async def _resolve(self, atx: ActivationTxV1, atx_id: bytes, depth: int) -> _Context:
        inner = atx.inner
        challenge = inner.challenge
        publish_epoch = challenge.publish_epoch
        assert inner.nipost is not None and inner.nipost.post_metadata is not None
        ref = bytes(inner.nipost.post_metadata.challenge)
        poet_message, poet_blob, poet_is_new = await self._get_poet_proof(ref)

        previous: AtxRecord | None = None
        if challenge.is_initial():
            assert challenge.commitment_atx_id is not None and inner.vrf_nonce is not None
            commitment = challenge.commitment_atx_id
            if commitment != self.golden_atx:
                committed = await self._get_atx_dependency(commitment, "commitment", depth)
                if committed.publish_epoch >= publish_epoch:
                    raise AtxCommitmentError(
                        f"the commitment ATX (epoch {committed.publish_epoch}) is not older than epoch {publish_epoch}"
                    )
            vrf_nonce = inner.vrf_nonce
        else:
            previous = await self._get_atx_dependency(challenge.prev_atx_id, "previous", depth)
            if previous.node_id != atx.smesher_id:
                raise AtxPrevError("the previous ATX belongs to another smesher")
            if previous.publish_epoch >= publish_epoch:
                raise AtxPrevError(
                    f"the previous ATX (epoch {previous.publish_epoch}) is not older than epoch {publish_epoch}"
                )
            if challenge.sequence != previous.sequence + 1:
                raise AtxPrevError(f"sequence {challenge.sequence} does not follow the previous {previous.sequence}")
            commitment = previous.commitment_atx_id
            if inner.vrf_nonce is not None or inner.num_units > previous.num_units:
                vrf_nonce = previous.vrf_nonce if inner.vrf_nonce is None else inner.vrf_nonce
                await self._verify_vrf_nonce(atx, vrf_nonce, commitment)
            else:
                vrf_nonce = previous.vrf_nonce

        if challenge.positioning_atx_id == self.golden_atx:
            base_tick_height = 0
        else:
            positioning = await self._get_atx_dependency(challenge.positioning_atx_id, "positioning", depth)
            if positioning.publish_epoch >= publish_epoch:
                raise AtxPositioningError(
                    f"the positioning ATX (epoch {positioning.publish_epoch}) is not older than epoch {publish_epoch}"
                )
            base_tick_height = positioning.tick_height
        return _Context(
            atx, atx_id, previous, commitment, vrf_nonce, base_tick_height, poet_message, poet_blob, poet_is_new
        )

    async def _verify_nipost(self, context: _Context) -> int:
        """Check the PoET proof, the membership and the PoST; return the PoET leaf count."""
        atx = context.atx
        nipost = atx.inner.nipost
        assert nipost is not None and nipost.post is not None and nipost.post_metadata is not None
        message = context.poet_message
        if context.poet_is_new:
            try:
                await asyncio.to_thread(verify_poet_proof, convert_poet_proof(message), bytes(message.statement))
            except PoetVerificationError as exc:
                raise AtxPoetError(f"invalid PoET proof: {exc}") from None
        membership = MembershipProof(nipost.membership.leaf_index, nipost.membership.nodes)
        try:
            verify_membership_proof(atx.inner.challenge.compute_challenge_hash(), membership, bytes(message.statement))
        except (PoetVerificationError, ValueError) as exc:
            raise AtxMembershipError(f"the challenge is not a member of the PoET round: {exc}") from None
        leaves = int(message.poet_proof.leaf_count)
        if leaves < self.config.tick_size:
            raise AtxPoetError(f"the PoET proof's {leaves} leaves are fewer than one tick ({self.config.tick_size})")

        metadata = ProofMetadata(
            atx.smesher_id, context.commitment_atx_id, bytes(nipost.post_metadata.challenge), atx.inner.num_units
        )
        try:
            await asyncio.to_thread(
                verify_proof,
                convert_post(nipost.post),
                metadata,
                self.config.get_verify_config(nipost.post_metadata.labels_per_unit),
                VerifyMode.subset(self.config.k3, self.local_id),
                label_function=self.label_function,
            )
        except InvalidLabelError as exc:
            proof = create_invalid_post_index_proof(atx, exc.position, max(self.clock.get_current_layer(), 0))
            self.state.add_malfeasance_proof(atx.smesher_id, proof.to_bytes(), self._now())
            raise AtxPostError(f"invalid PoST at index position {exc.position}: {exc}", proof) from None
        except (InvalidProofError, ProofParameterError, LabelParameterError) as exc:
            raise AtxPostError(f"invalid PoST: {exc}") from None
        return leaves

    def _store(self, context: _Context, leaves: int, received: float) -> AtxOutcome:
        atx = context.atx
        inner = atx.inner
        derived = compute_derived_fields(
            inner.num_units,
            context.previous.num_units if context.previous else None,
            context.base_tick_height,
            leaves,
            self.config.tick_size,
        )
        record = AtxRecord(
            id=context.atx_id,
            publish_epoch=atx.publish_epoch,
            node_id=bytes(atx.smesher_id),
            num_units=derived.effective_num_units,
            tick_count=derived.tick_count,
            weight=derived.weight,
            received=received,
            blob=atx.to_bytes(),
            base_tick_height=derived.base_tick_height,
            tick_height=derived.tick_height,
            sequence=inner.challenge.sequence,
            prev_atx_id=bytes(inner.challenge.prev_atx_id),
            positioning_atx_id=bytes(inner.challenge.positioning_atx_id),
            commitment_atx_id=bytes(context.commitment_atx_id),
            coinbase=bytes(inner.coinbase),
            vrf_nonce=context.vrf_nonce,
        )
        layer = max(self.clock.get_current_layer(), 0)
        # One transaction, no awaits: the malfeasance checks and the insert see the same state.
        with self.state.db.transaction():
            if self.state.get_atx(context.atx_id) is not None:  # stored meanwhile (a concurrent copy)
                return AtxOutcome(context.atx_id, AtxStatus.KNOWN, self.state.get_atx(context.atx_id))
            message = context.poet_message
            self.state.add_poet_proof(message.compute_ref(), message.round_id, context.poet_blob)
            same_epoch = self.state.get_atx_of_node(record.node_id, record.publish_epoch)
            if same_epoch is not None:
                first = ActivationTxV1.from_bytes(same_epoch.blob)
                proof = MalfeasanceProof(layer, AtxProof((compute_atx_proof_msg(first), compute_atx_proof_msg(atx))))
                self.state.add_malfeasance_proof(record.node_id, proof.to_bytes(), received)
                return AtxOutcome(context.atx_id, AtxStatus.MALFEASANCE, None, proof)
            malfeasance: MalfeasanceProof | None = None
            if record.prev_atx_id != EMPTY_ATX_ID:
                siblings = self.state.get_atx_with_prev(record.node_id, record.prev_atx_id)
                if siblings:
                    other = ActivationTxV1.from_bytes(siblings[0].blob)
                    malfeasance = MalfeasanceProof(layer, InvalidPrevATXProof(other, atx))
                    self.state.add_malfeasance_proof(record.node_id, malfeasance.to_bytes(), received)
            self.state.add_atx(record)
        return AtxOutcome(context.atx_id, AtxStatus.STORED, record, malfeasance)


def encode_poet_proof_message(message: PoetProofMessage) -> bytes:
    """Return the SCALE bytes of a PoET proof message (as stored under its reference)."""
    return encode(message)
