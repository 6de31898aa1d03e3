"""The ATX builder of one identity: the NIPoST pipeline of protocol.md §2.1, persisted phase by phase.

Phases (stored in ``local.sql`` as :class:`~spacemesh_core.storage.local.NipostState`, with a CBOR
map of what the later phases need)::

    waiting_for_window  -> challenge_built -> registered -> proof_fetched -> post_proven
        -> atx_built -> published  (then waiting_for_window of the next epoch)

* ``waiting_for_window``: the publish epoch is chosen; the first ATX's initial PoST (over the
  all-zero challenge) is proven and kept; the builder sleeps until the registration window opens.
* ``challenge_built``: the positioning ATX is picked and the NIPoST challenge fixed *before* any
  registration, so that a restart registers the very same challenge (PoETs accept that again).
* ``registered``: the challenge hash is registered at every configured PoET (each registration is
  also recorded in ``poet_registrations``).
* ``proof_fetched``: after the round ends, every PoET's proof is fetched and checked; the one with
  the most leaves is kept (and stored in ``state.sql`` under its reference, for peers and the handler).
* ``post_proven``: the PoST proof over the PoET proof reference.
* ``atx_built``: the signed ATX; publishing it again after a restart is harmless (same id).
* ``published``: the ATX was handed to ``publish``; it is kept as the next ATX's previous ATX.

A restart in any phase resumes from it. Deadlines: registration before the round starts, proofs
until ``end(P) - cycle_gap``, publication until ``end(P)``; a missed deadline drops the challenge and
the builder targets the next epoch (the identity misses one epoch, as in the reference).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

import attrs
import cbor2

from spacemesh_core.activation.challenge import (
    EpochSchedule,
    PoetTiming,
    PreviousAtx,
    build_nipost_challenge,
    compute_epoch_schedule,
    get_next_publish_epoch,
    select_positioning_atx,
)
from spacemesh_core.activation.handler import INITIAL_POST_CHALLENGE
from spacemesh_core.clock import LayerClock
from spacemesh_core.codec.scale import decode, encode
from spacemesh_core.crypto.signing import Domain, Signer
from spacemesh_core.post.prover import StopFlag
from spacemesh_core.storage.local import LocalStore, NipostState, PoetRegistration
from spacemesh_core.storage.state import StateStore
from spacemesh_core.types.atx import (
    ActivationTxV1,
    InnerActivationTxV1,
    MerkleProofV1,
    NIPostChallengeV1,
    NIPostV1,
    PostMetadataV1,
    PostV1,
)
from spacemesh_core.types.poet import PoetProofMessage
from spacemesh_core.types.primitives import ADDRESS_SIZE

LOG = logging.getLogger(__name__)

PHASE_WAITING = "waiting_for_window"
PHASE_CHALLENGE = "challenge_built"
PHASE_REGISTERED = "registered"
PHASE_PROOF_FETCHED = "proof_fetched"
PHASE_POST_PROVEN = "post_proven"
PHASE_ATX_BUILT = "atx_built"
PHASE_PUBLISHED = "published"
#: every phase, in pipeline order
PHASES = (
    PHASE_WAITING,
    PHASE_CHALLENGE,
    PHASE_REGISTERED,
    PHASE_PROOF_FETCHED,
    PHASE_POST_PROVEN,
    PHASE_ATX_BUILT,
    PHASE_PUBLISHED,
)


class BuilderError(RuntimeError):
    """The builder cannot go on (corrupt persisted state, bad configuration)."""


class PoetRegistrationError(RuntimeError):
    """No PoET accepted the registration (the PoET service raises it)."""


class PoetProofUnavailableError(RuntimeError):
    """No PoET delivered a valid proof with the challenge before the deadline (raised by the PoET service)."""


@attrs.frozen
class PoetRoundRegistration:
    """A registration at one PoET: its URL, the round and when the round's proof is due (Unix seconds)."""

    poet_url: str
    round_id: str
    round_end: float


@attrs.frozen
class FetchedPoetProof:
    """The PoET proof the ATX will use: the proof message and the challenge's membership proof."""

    poet_url: str
    message: PoetProofMessage
    membership: MerkleProofV1

    @property
    def ref(self) -> bytes:
        """The PoET proof reference, the PoST challenge."""
        return self.message.compute_ref()


class PoetService(Protocol):
    """What the builder needs of the PoETs (the node adapts its PoET client to it)."""

    async def register(self, challenge_hash: bytes, deadline: float) -> list[PoetRoundRegistration]:
        """Register at every PoET; :raises PoetRegistrationError: none accepted."""
        ...

    async def fetch_best_proof(
        self, registrations: Sequence[PoetRoundRegistration], challenge_hash: bytes, timeout: float
    ) -> FetchedPoetProof:
        """Wait for the rounds, return the checked proof with the most leaves.

        :raises PoetProofUnavailableError: none arrived within ``timeout`` seconds.
        """
        ...


#: ``prove(challenge, should_stop) -> PostV1``: a PoST proof over the identity's data (blocking; the
#: builder calls it in a worker thread and sets ``should_stop`` when it is stopped).
ProveFunction = Callable[[bytes, Callable[[], bool]], PostV1]
PublishFunction = Callable[[bytes], Awaitable[Any]]


@attrs.frozen
class PostInfo:
    """The identity's PoST data as the ATX declares it."""

    num_units: int
    labels_per_unit: int
    commitment_atx_id: bytes
    vrf_nonce: int


@attrs.frozen
class BuilderEvent:
    """A phase the builder reached (persisted), for events and tests."""

    node_id: bytes
    phase: str
    publish_epoch: int
    details: dict[str, Any] = attrs.field(factory=dict)


def _encode_registrations(registrations: Sequence[PoetRoundRegistration]) -> list[list[Any]]:
    return [[r.poet_url, r.round_id, r.round_end] for r in registrations]


def _decode_registrations(values: Any) -> list[PoetRoundRegistration]:
    return [PoetRoundRegistration(str(url), str(round_id), float(end)) for url, round_id, end in values]


class AtxBuilder:
    """Builds and publishes the ATXs of one identity, epoch after epoch (see the module doc).

    :param signer: the identity.
    :param local: ``local.sql`` (phases, PoET registrations).
    :param state: ``state.sql`` (positioning ATX, own previous ATX, PoET proofs).
    :param clock: the layer clock; its time source drives every wait.
    :param timing: the PoET round parameters.
    :param genesis_id: the signature prefix; :param golden_atx: the golden ATX id.
    :param coinbase: the 24-byte reward address.
    :param post_info: units, labels per unit, commitment ATX and VRF nonce of the identity's data.
    :param prove: the PoST prover (blocking, run in a thread).
    :param poet: the PoETs.
    :param publish: ``await publish(atx_bytes)``: gossip (and locally store) the ATX.
    :param notify: ``await notify(BuilderEvent)`` after every persisted phase.
    :param retry_interval_s: pause between attempts after a failed PoET registration.
    """

    def __init__(
        self,
        signer: Signer,
        *,
        local: LocalStore,
        state: StateStore,
        clock: LayerClock,
        timing: PoetTiming,
        genesis_id: bytes,
        golden_atx: bytes,
        coinbase: bytes,
        post_info: PostInfo,
        prove: ProveFunction,
        poet: PoetService,
        publish: PublishFunction,
        notify: Callable[[BuilderEvent], Awaitable[None]] | None = None,
        retry_interval_s: float = 1.0,
    ) -> None:
        if len(coinbase) != ADDRESS_SIZE:
            raise BuilderError(f"the coinbase must be a {ADDRESS_SIZE}-byte address, got {len(coinbase)} bytes")
        self.signer = signer
        self.node_id = signer.node_id
        self.local = local
        self.state = state
        self.clock = clock
        self.timing = timing
        self.genesis_id = genesis_id
        self.golden_atx = golden_atx
        self.coinbase = bytes(coinbase)
        self.post_info = post_info
        self.prove = prove
        self.poet = poet
        self.publish = publish
        self.notify = notify
        self.retry_interval_s = retry_interval_s
        #: ATXs this builder object published (ids), for status
        self.published: list[bytes] = []

    # -- persisted state ------------------------------------------------------------------------

    def get_phase(self) -> tuple[str, int] | None:
        """Return the persisted ``(phase, publish epoch)`` or None before the first one."""
        current = self.local.get_nipost_state(self.node_id)
        return (current.phase, current.publish_epoch) if current else None

    def _load(self) -> tuple[str, int, dict[str, Any]] | None:
        current = self.local.get_nipost_state(self.node_id)
        if current is None:
            return None
        try:
            data = cbor2.loads(current.data)
        except cbor2.CBORDecodeError as exc:
            raise BuilderError(f"the persisted ATX-builder state is corrupt: {exc}") from None
        if current.phase not in PHASES or not isinstance(data, dict):
            raise BuilderError(f"unknown persisted ATX-builder phase {current.phase!r}")
        return current.phase, current.publish_epoch, data

    def _persist(self, phase: str, publish_epoch: int, data: dict[str, Any]) -> None:
        self.local.set_nipost_state(NipostState(self.node_id, publish_epoch, phase, cbor2.dumps(data)))
        LOG.info("identity %s: %s for publish epoch %d", self.node_id.hex()[:8], phase, publish_epoch)

    async def _announce(self, phase: str, publish_epoch: int, **details: Any) -> None:
        if self.notify is not None:
            await self.notify(BuilderEvent(self.node_id, phase, publish_epoch, details))

    async def _save(self, phase: str, publish_epoch: int, data: dict[str, Any], **details: Any) -> None:
        """Persist the phase, then announce it (never await inside a transaction: identities share
        the database connection, and a coroutine switching in would join the open transaction)."""
        self._persist(phase, publish_epoch, data)
        await self._announce(phase, publish_epoch, **details)

    def _now(self) -> float:
        return float(self.clock.time.now())

    # -- the loop -------------------------------------------------------------------------------

    async def run(self) -> None:
        """Build and publish ATXs forever (until cancelled)."""
        while True:
            await self.build_next_atx()

    async def build_next_atx(self) -> bytes:
        """Drive the pipeline from the persisted phase until one ATX is published; return its bytes."""
        while True:
            loaded = self._load()
            if loaded is None or loaded[0] == PHASE_PUBLISHED:
                await self._start_cycle(loaded[2] if loaded else {})
                continue
            phase, epoch, data = loaded
            if phase == PHASE_WAITING:
                await self._wait_for_window(epoch, data)
            elif phase == PHASE_CHALLENGE:
                await self._register(epoch, data)
            elif phase == PHASE_REGISTERED:
                await self._fetch_proof(epoch, data)
            elif phase == PHASE_PROOF_FETCHED:
                await self._prove(epoch, data)
            elif phase == PHASE_POST_PROVEN:
                await self._build_atx(epoch, data)
            elif phase == PHASE_ATX_BUILT:
                published = await self._publish(epoch, data)
                if published is not None:
                    return published

    def _get_previous_blob(self, data: dict[str, Any]) -> bytes | None:
        """Return the identity's latest ATX: the one this builder published, or a newer one in the state."""
        own = data.get("prev_atx")
        stored = self.state.get_last_atx_of_node(self.node_id)
        if stored is None:
            return own
        if own is None or ActivationTxV1.from_bytes(own).publish_epoch < stored.publish_epoch:
            return stored.blob
        return own

    async def _start_cycle(self, data: dict[str, Any]) -> None:
        carried: dict[str, Any] = {k: data[k] for k in ("prev_atx", "initial_post") if k in data}
        previous = self._get_previous_blob(data)
        if previous is not None:
            carried["prev_atx"] = previous
        min_epoch = ActivationTxV1.from_bytes(previous).publish_epoch + 1 if previous is not None else 1
        epoch = get_next_publish_epoch(self.clock, self.timing, self._now(), min_epoch)
        with self.local.db.transaction():
            self.local.clear_nipost_state(self.node_id)
            self._persist(PHASE_WAITING, epoch, carried)
        await self._announce(PHASE_WAITING, epoch)

    async def _restart_later(self, data: dict[str, Any], reason: str, epoch: int) -> None:
        """Drop the current challenge (a missed deadline) and wait for the next possible epoch."""
        LOG.warning("identity %s misses publish epoch %d: %s", self.node_id.hex()[:8], epoch, reason)
        carried: dict[str, Any] = {k: data[k] for k in ("prev_atx", "initial_post") if k in data}
        next_epoch = get_next_publish_epoch(self.clock, self.timing, self._now(), epoch + 1)
        with self.local.db.transaction():
            self.local.clear_nipost_state(self.node_id)
            self._persist(PHASE_WAITING, next_epoch, carried)
        await self._announce(PHASE_WAITING, next_epoch, missed_epoch=epoch, reason=reason)

    def _schedule(self, epoch: int) -> EpochSchedule:
        return compute_epoch_schedule(self.clock, self.timing, epoch)

    async def _run_prover(self, challenge: bytes) -> PostV1:
        stop = StopFlag()
        task = asyncio.ensure_future(asyncio.to_thread(self.prove, challenge, stop))
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            stop.set()  # the worker thread ends at its next check; wait so nothing runs on after us
            await asyncio.gather(task, return_exceptions=True)
            raise

    async def _wait_for_window(self, epoch: int, data: dict[str, Any]) -> None:
        if "prev_atx" not in data and "initial_post" not in data:
            post = await self._run_prover(INITIAL_POST_CHALLENGE)
            data = {**data, "initial_post": encode(post)}
            await self._save(PHASE_WAITING, epoch, data, initial_post=True)
        schedule = self._schedule(epoch)
        if not schedule.is_registration_open(self._now()):
            await self._restart_later(data, "the registration window closed", epoch)
            return
        await self.clock.time.sleep_until(schedule.window_opens)
        challenge = self._build_challenge(epoch, data)
        await self._save(
            PHASE_CHALLENGE,
            epoch,
            {**data, "challenge": encode(challenge)},
            positioning_atx=challenge.positioning_atx_id.hex(),
        )

    def _build_challenge(self, epoch: int, data: dict[str, Any]) -> NIPostChallengeV1:
        prev_blob = data.get("prev_atx")
        if prev_blob is None:
            positioning = select_positioning_atx(self.state, epoch, self.golden_atx)
            return build_nipost_challenge(
                epoch,
                positioning.atx_id,
                None,
                commitment_atx_id=self.post_info.commitment_atx_id,
                initial_post=decode(PostV1, data["initial_post"]),
            )
        prev = ActivationTxV1.from_bytes(prev_blob)
        prev_id = prev.compute_id()
        own_record = self.state.get_atx(prev_id)
        positioning = select_positioning_atx(self.state, epoch, self.golden_atx, own_record)
        return build_nipost_challenge(
            epoch, positioning.atx_id, PreviousAtx(prev_id, prev.publish_epoch, prev.inner.challenge.sequence)
        )

    async def _register(self, epoch: int, data: dict[str, Any]) -> None:
        challenge = decode(NIPostChallengeV1, data["challenge"])
        challenge_hash = challenge.compute_challenge_hash()
        schedule = self._schedule(epoch)
        while True:
            if not schedule.is_registration_open(self._now()):
                await self._restart_later(data, "no PoET registration before the round started", epoch)
                return
            try:
                registrations = await self.poet.register(challenge_hash, schedule.proof_deadline)
                break
            except PoetRegistrationError as exc:
                LOG.warning("identity %s: PoET registration failed: %s", self.node_id.hex()[:8], exc)
                wake = min(self._now() + self.retry_interval_s, schedule.round_start)
                await self.clock.time.sleep_until(wake)
        now = self._now()
        with self.local.db.transaction():
            for registration in registrations:
                self.local.add_poet_registration(
                    PoetRegistration(self.node_id, registration.poet_url, registration.round_id, challenge_hash, now)
                )
            self._persist(PHASE_REGISTERED, epoch, {**data, "registrations": _encode_registrations(registrations)})
        await self._announce(
            PHASE_REGISTERED,
            epoch,
            poets=[r.poet_url for r in registrations],
            rounds=[r.round_id for r in registrations],
        )

    async def _fetch_proof(self, epoch: int, data: dict[str, Any]) -> None:
        challenge = decode(NIPostChallengeV1, data["challenge"])
        registrations = _decode_registrations(data["registrations"])
        schedule = self._schedule(epoch)
        timeout = schedule.proof_deadline - self._now()
        try:
            if timeout <= 0:
                raise PoetProofUnavailableError("the proof deadline passed")
            fetched = await self.poet.fetch_best_proof(registrations, challenge.compute_challenge_hash(), timeout)
        except PoetProofUnavailableError as exc:
            await self._restart_later(data, f"no PoET proof: {exc}", epoch)
            return
        message_blob = encode(fetched.message)
        self.state.add_poet_proof(fetched.ref, fetched.message.round_id, message_blob)
        await self._save(
            PHASE_PROOF_FETCHED,
            epoch,
            {**data, "poet_proof": message_blob, "membership": encode(fetched.membership)},
            poet=fetched.poet_url,
            leaves=fetched.message.poet_proof.leaf_count,
            ref=fetched.ref.hex(),
        )

    async def _prove(self, epoch: int, data: dict[str, Any]) -> None:
        message = decode(PoetProofMessage, data["poet_proof"])
        ref = message.compute_ref()
        # the state copy may be gone (a fresh state.sql); the handler needs it to accept our ATX
        self.state.add_poet_proof(ref, message.round_id, data["poet_proof"])
        post = await self._run_prover(ref)
        await self._save(PHASE_POST_PROVEN, epoch, {**data, "post": encode(post)})

    async def _build_atx(self, epoch: int, data: dict[str, Any]) -> None:
        challenge = decode(NIPostChallengeV1, data["challenge"])
        message = decode(PoetProofMessage, data["poet_proof"])
        nipost = NIPostV1(
            membership=decode(MerkleProofV1, data["membership"]),
            post=decode(PostV1, data["post"]),
            post_metadata=PostMetadataV1(message.compute_ref(), self.post_info.labels_per_unit),
        )
        initial = challenge.is_initial()
        vrf_nonce: int | None = self.post_info.vrf_nonce
        if not initial and self._get_previous_vrf_nonce(data) == self.post_info.vrf_nonce:
            vrf_nonce = None  # unchanged: the chain's nonce stays in force
        inner = InnerActivationTxV1(
            challenge=challenge,
            coinbase=self.coinbase,
            num_units=self.post_info.num_units,
            nipost=nipost,
            node_id=self.node_id if initial else None,
            vrf_nonce=vrf_nonce,
        )
        unsigned = ActivationTxV1(inner, self.node_id, bytes(64))
        signature = self.signer.sign(Domain.ATX, unsigned.get_signed_bytes(), self.genesis_id)
        atx = attrs.evolve(unsigned, signature=signature)
        await self._save(PHASE_ATX_BUILT, epoch, {**data, "atx": atx.to_bytes()}, atx_id=atx.compute_id().hex())

    def _get_previous_vrf_nonce(self, data: dict[str, Any]) -> int | None:
        prev_blob = data.get("prev_atx")
        if prev_blob is None:
            return None
        prev = ActivationTxV1.from_bytes(prev_blob)
        record = self.state.get_atx(prev.compute_id())
        if record is not None:
            return record.vrf_nonce
        return prev.inner.vrf_nonce  # None when the previous ATX did not repeat it: include ours

    async def _publish(self, epoch: int, data: dict[str, Any]) -> bytes | None:
        atx_bytes: bytes = data["atx"]
        if self._now() >= self._schedule(epoch).publish_deadline:
            await self._restart_later(data, "the ATX was ready after its publish epoch ended", epoch)
            return None
        await self.publish(atx_bytes)
        atx_id = ActivationTxV1.from_bytes(atx_bytes).compute_id()
        carried = {"prev_atx": atx_bytes}
        with self.local.db.transaction():
            self.local.clear_nipost_state(self.node_id)
            self._persist(PHASE_PUBLISHED, epoch, carried)
        await self._announce(PHASE_PUBLISHED, epoch, atx_id=atx_id.hex())
        self.published.append(atx_id)
        return atx_bytes
