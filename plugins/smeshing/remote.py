"""Remote proving for 1:N smeshing, the node's side: the post listener and the remote smeshers.

One node holds the keys of N identities and builds and signs their ATXs; each identity's PoST data
lives with a *post service* (``spacemesh post serve``, :mod:`spacemesh_plugins.smeshing.post_service`),
often on another machine, that proves on request. Every connection is opened by the post service;
the node never dials one (as in the reference's remote mode, protocol.md §10.3 point 2).

The node side (``[smeshing] post_listen = "tcp://127.0.0.1:PORT"``):

* :class:`PostListener` (service ``post-listener``) answers requests at ``post_listen`` (a bus
  :class:`~spacemesh_core.bus.client.Replier`, the one address a post service needs) and runs the
  *post bus*: a bus broker on TCP on the same host whose endpoints it hands out when it accepts a
  service. Requests (each answered):

  - :class:`PostServiceAnnounced` -> :class:`PostServiceAccepted` (a session, the post bus, the proving
    parameters) or :class:`PostServiceRejected` with the reason. The announced metadata must match the
    node: a remote identity of this node, ``[post]`` scrypt N and labels per unit, units within the
    network's bounds, a commitment ATX the node knows (the one of the identity's ATXs, if any), a VRF
    nonce that verifies, and the same data as any service accepted before for that identity;
  - :class:`PostServiceHeartbeatSent` -> :class:`PostServiceHeartbeatAnswered` (is the session still
    known: after a node restart it is not, and the service announces again). The service sends its
    first heartbeat once it is subscribed to the post bus: from then on the session is *ready* (the
    status shows it connected) and proof requests are published to it;
  - :class:`PostProofGenerated` / :class:`PostProofFailed` -> :class:`PostProofAnswered`. A proof is
    checked with the PoST verifier (all K2 labels) before the builder gets it; a bad one is refused
    and changes nothing.

  Proof requests travel the other way on the post bus as :class:`PostProofRequested` (state
  delivery). Each service takes only those of its own node id. A request not being proven is
  published again at the next heartbeat (a late subscriber or a reconnected service still gets
  it) and after ``remote_proof_timeout_s`` without a proof.
* :class:`RemoteSmeshingService` (``smeshing-<name>`` for each ``[smeshing] remote_identities``
  name) holds the identity's key and does not touch PoST data: it waits (status
  ``waiting_for_post_service``) for an accepted service, then runs the normal ATX builder whose
  prove step awaits the remote proof. A service that disconnects or is absent while a proof is due
  leaves the builder waiting; the builder's phases are persisted, so a node restart resumes.

The listener binds loopback only: a non-loopback ``post_listen`` is refused (reach a remote machine
through an SSH tunnel, see docs/backends.md). Messages are capped at
:data:`POST_LISTENER_MAX_MESSAGE_BYTES`.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import ipaddress
import logging
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

import attrs

from spacemesh_core.activation.builder import AtxBuilder, BuilderError
from spacemesh_core.activation.handler import AtxValidationConfig
from spacemesh_core.bus import Broker, BusClient, Replier
from spacemesh_core.events import get_topic
from spacemesh_core.identity import LOCAL_IDENTITY, load_or_create_identity
from spacemesh_core.kernel.services import cancel_task
from spacemesh_core.post.labels import LabelParameterError
from spacemesh_core.post.proof import Proof, ProofFormatError, ProofParameterError
from spacemesh_core.post.prover import ProvingStoppedError
from spacemesh_core.post.store import PostDataError, PostMetadata
from spacemesh_core.post.verify import InvalidProofError, ProofMetadata, VerifyMode, verify_proof, verify_vrf_nonce
from spacemesh_core.types.atx import PostV1
from spacemesh_plugins.smeshing.events import (
    PostProofAnswered,
    PostProofFailed,
    PostProofGenerated,
    PostProofRequested,
    PostServiceAccepted,
    PostServiceAnnounced,
    PostServiceHeartbeatAnswered,
    PostServiceHeartbeatSent,
    PostServiceRejected,
    PostSetupChanged,
)
from spacemesh_plugins.smeshing.service import SmeshingService

LOG = logging.getLogger(__name__)

#: the largest message the post listener and the post bus accept (a proof is a few hundred bytes)
POST_LISTENER_MAX_MESSAGE_BYTES = 64 * 1024
#: longest free-text field (service name, reason) accepted in a request
MAX_TEXT_LENGTH = 256
#: setup states of a remote identity, as the status and :class:`PostSetupChanged` report them
STATE_WAITING = "waiting_for_post_service"
STATE_CONNECTED = "post_service_connected"

_ENDPOINT_RE = re.compile(r"^tcp://(?P<host>[^:/\[\]]+):(?P<port>\d{1,5})$")


class PostListenerError(ValueError):
    """A ``post_listen`` endpoint that is malformed, not loopback, or cannot be bound."""


class RemoteRequestError(ValueError):
    """A request the post listener does not serve (answered with an error reply)."""


def is_loopback_host(host: str) -> bool:
    """Return whether ``host`` is ``localhost`` or an IPv4 loopback address."""
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.version == 4 and address.is_loopback


def parse_post_listen(endpoint: str) -> tuple[str, int]:
    """Return ``(host, port)`` of a ``tcp://HOST:PORT`` post listener endpoint (port 0: any free port).

    :raises PostListenerError: malformed, a port above 65535, or a host that is not IPv4 loopback
        (remote post services reach a loopback listener through an SSH tunnel; there is no
        encryption on this link).
    """
    match = _ENDPOINT_RE.match(endpoint.strip())
    if match is None:
        raise PostListenerError(f"post_listen must look like tcp://127.0.0.1:PORT, got {endpoint!r}")
    host, port = match["host"], int(match["port"])
    if port > 65535:
        raise PostListenerError(f"post_listen port {port} is above 65535")
    if not is_loopback_host(host):
        raise PostListenerError(
            f"post_listen {endpoint!r} is not a loopback address: the post listener is unencrypted and binds "
            "127.0.0.1 only; reach it from other machines through an SSH tunnel (docs/backends.md)"
        )
    return ("127.0.0.1" if host == "localhost" else host), port


@attrs.define
class RemoteSession:
    """An accepted post service: its session token, name, data and liveness."""

    session: str
    service: str
    metadata: PostMetadata
    connected_at: float
    last_seen: float
    #: the challenge the service reported proving at its last heartbeat (empty: idle)
    proving: bytes = b""
    #: the service has sent a heartbeat, so it is subscribed to the post bus and sees requests
    ready: bool = False


@attrs.define(eq=False)
class PendingProof:
    """A proof the node waits for."""

    request_id: str
    challenge: bytes
    future: asyncio.Future[PostV1]
    created: float
    #: when the request was last published (0: never)
    published_at: float = 0.0
    #: do not publish again before this time (set after a failure report)
    not_before: float = 0.0


@attrs.define(eq=False)
class RemoteIdentity:
    """The node's view of one remote identity: its service (if connected) and its pending proofs."""

    node_id: bytes
    name: str
    connected: asyncio.Event = attrs.field(factory=asyncio.Event)
    session: RemoteSession | None = None
    #: the data the first accepted service announced; later services must hold the same data
    metadata: PostMetadata | None = None
    pending: dict[str, PendingProof] = attrs.field(factory=dict)
    proofs_accepted: int = 0
    last_rejection: str | None = None


class PostListener:
    """The node's post listener and post bus (see the module doc); reachable as ``node.post_listener``."""

    name = "post-listener"

    def __init__(self, node: Any) -> None:
        self.node = node
        section = node.config.smeshing
        self.host, self.port = parse_post_listen(section.post_listen)
        self.session_timeout_s = float(section.post_service_timeout_s)
        self.heartbeat_interval_s = max(0.05, self.session_timeout_s / 5)
        self.proof_timeout_s = float(section.remote_proof_timeout_s)
        self.verify_config = AtxValidationConfig.from_config(node.config).get_verify_config()
        self.identities: dict[bytes, RemoteIdentity] = {}
        #: the bound request endpoint (``tcp://127.0.0.1:PORT``), set by :meth:`start`
        self.endpoint: str | None = None
        #: the latest refusals (``node id hex: reason``), newest last
        self.rejections: collections.deque[str] = collections.deque(maxlen=32)
        self.broker: Broker | None = None
        self.bus: BusClient | None = None
        self.replier: Replier | None = None
        self._monitor: asyncio.Task[None] | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the post bus and bind the request endpoint.

        :raises PostListenerError: the endpoint cannot be bound (port in use).
        """
        events = self.node.events
        self.broker = Broker(events, transport="tcp", host=self.host, max_message_bytes=POST_LISTENER_MAX_MESSAGE_BYTES)
        address = self.broker.start()
        self.bus = BusClient(
            address,
            events,
            "post-listener",
            context=self.broker.context,
            max_message_bytes=POST_LISTENER_MAX_MESSAGE_BYTES,
        )
        self.replier = Replier(
            events,
            self.handle_request,
            name="post-listener",
            context=self.broker.context,
            max_message_bytes=POST_LISTENER_MAX_MESSAGE_BYTES,
        )
        try:
            self.endpoint = await self.replier.start(f"tcp://{self.host}:{self.port}")
        except Exception as exc:
            await self._close()
            raise PostListenerError(f"cannot listen for post services on tcp://{self.host}:{self.port}: {exc}") from exc
        self.node.post_listener = self
        self.node.status_providers["post_listener"] = self.get_status
        self._monitor = asyncio.create_task(self._watch(), name="post-listener-monitor")
        LOG.info("post listener on %s (post bus %s)", self.endpoint, address.ingress)

    async def stop(self) -> None:
        """Stop serving; pending proofs stay unanswered (their builders are stopped first)."""
        await cancel_task(self._monitor)
        self._monitor = None
        self.node.status_providers.pop("post_listener", None)
        if getattr(self.node, "post_listener", None) is self:
            self.node.post_listener = None
        await self._close()

    async def _close(self) -> None:
        if self.replier is not None:
            await self.replier.stop()
            self.replier = None
        if self.bus is not None:
            await self.bus.close()
            self.bus = None
        if self.broker is not None:
            self.broker.stop()
            self.broker = None

    # -- what the remote smeshers use ------------------------------------------------------------

    def add_identity(self, node_id: bytes, name: str) -> RemoteIdentity:
        """Accept post services for ``node_id`` from now on; return its record."""
        identity = self.identities.get(node_id)
        if identity is None:
            identity = self.identities[node_id] = RemoteIdentity(bytes(node_id), name)
        return identity

    def remove_identity(self, node_id: bytes) -> None:
        """Stop accepting post services for ``node_id`` (its pending proofs are cancelled)."""
        identity = self.identities.pop(node_id, None)
        if identity is not None:
            for pending in identity.pending.values():
                pending.future.cancel()

    async def wait_for_service(self, node_id: bytes) -> PostMetadata:
        """Wait until a post service for ``node_id`` is accepted; return the data it announced."""
        identity = self.identities[node_id]
        await identity.connected.wait()
        assert identity.metadata is not None
        return identity.metadata

    async def request_proof(self, node_id: bytes, challenge: bytes) -> PostV1:
        """Ask ``node_id``'s post service for a proof over ``challenge`` and wait for a verified one.

        Waits through disconnections (the request is published again when a service connects).

        :raises KeyError: ``node_id`` is not a remote identity of this listener.
        """
        identity = self.identities[node_id]
        loop = asyncio.get_running_loop()
        pending = PendingProof(uuid.uuid4().hex, bytes(challenge), loop.create_future(), time.monotonic())
        identity.pending[pending.request_id] = pending
        LOG.info(
            "identity %s: asking its post service for a proof over challenge %s…", identity.name, challenge.hex()[:12]
        )
        try:
            if identity.session is not None and identity.session.ready:
                await self._publish(identity, pending)
            else:
                LOG.info("identity %s: no post service connected; the proof waits for one", identity.name)
            return await pending.future
        finally:
            identity.pending.pop(pending.request_id, None)

    def get_identity_status(self, node_id: bytes) -> dict[str, Any]:
        """Return the JSON-ready state of ``node_id``'s post service."""
        identity = self.identities.get(node_id)
        if identity is None:
            return {"connected": False}
        session = identity.session
        now = time.monotonic()
        return {
            "connected": session is not None and session.ready,
            "service": session.service if session else None,
            "last_seen_s": round(now - session.last_seen, 3) if session else None,
            "proving": bool(session and session.proving),
            "num_units": identity.metadata.num_units if identity.metadata else None,
            "pending_proofs": len(identity.pending),
            "proofs_accepted": identity.proofs_accepted,
            "last_rejection": identity.last_rejection,
        }

    def get_status(self) -> dict[str, Any]:
        """Return the ``post_listener`` status field."""
        return {
            "endpoint": self.endpoint,
            "identities": {
                identity.name: {"node_id": node_id.hex(), **self.get_identity_status(node_id)}
                for node_id, identity in self.identities.items()
            },
            "rejections": list(self.rejections),
        }

    # -- requests ----------------------------------------------------------------------------------

    async def handle_request(self, request: Any) -> Any:
        """Answer one request of a post service (the Replier's handler).

        :raises RemoteRequestError: a request of another kind (answered with an error reply).
        """
        if isinstance(request, PostServiceAnnounced):
            return await self._handle_announcement(request)
        if isinstance(request, PostServiceHeartbeatSent):
            return await self._handle_heartbeat(request)
        if isinstance(request, PostProofGenerated):
            return await self._handle_proof(request)
        if isinstance(request, PostProofFailed):
            return self._handle_failure(request)
        raise RemoteRequestError(f"{get_topic(request)} is not a request of the post listener")

    async def check_announcement(self, request: PostServiceAnnounced) -> tuple[str | None, float]:
        """Return ``(None, 0)`` when the announced data fits this node, else ``(reason, retry_after_s)``
        (``retry_after_s`` 0: the refusal is permanent)."""
        node_id = request.node_id
        if len(node_id) != 32 or len(request.commitment_atx_id) != 32:
            return "node id and commitment ATX id must be 32 bytes", 0.0
        if len(request.service) > MAX_TEXT_LENGTH:
            return f"the service name is longer than {MAX_TEXT_LENGTH} characters", 0.0
        identity = self.identities.get(node_id)
        if identity is None:
            return (
                f"node id {node_id.hex()[:12]}… is not a remote identity of this node ([smeshing] remote_identities)",
                0.0,
            )
        post = self.node.config.post
        if request.scrypt_n != post.scrypt_n:
            return f"scrypt N {request.scrypt_n} differs from the node's [post] scrypt_n {post.scrypt_n}", 0.0
        if request.labels_per_unit != post.labels_per_unit:
            return (
                f"{request.labels_per_unit} labels per unit differ from the node's [post] labels_per_unit "
                f"{post.labels_per_unit}",
                0.0,
            )
        if not post.min_num_units <= request.num_units <= post.max_num_units:
            return f"{request.num_units} units are outside [{post.min_num_units}, {post.max_num_units}]", 0.0
        try:
            metadata = self._to_metadata(request)
        except PostDataError as exc:
            return f"bad metadata: {exc}", 0.0
        if identity.metadata is not None and not (
            identity.metadata.is_same_data(metadata) and identity.metadata.nonce == metadata.nonce
        ):
            return "the data differs from the data a post service announced before for this identity", 0.0
        state = self.node.storage.state
        last = state.get_last_atx_of_node(node_id)
        commitment = request.commitment_atx_id
        if last is not None and last.commitment_atx_id != commitment:
            return (
                f"commitment ATX {commitment.hex()[:12]}… differs from {last.commitment_atx_id.hex()[:12]}… "
                "of the identity's ATXs",
                0.0,
            )
        if last is None and commitment != self.node.golden_atx and state.get_atx(commitment) is None:
            return f"the commitment ATX {commitment.hex()[:12]}… is not known to the node (yet)", self.session_timeout_s
        try:
            await asyncio.to_thread(
                verify_vrf_nonce,
                request.vrf_nonce,
                node_id,
                commitment,
                request.num_units,
                request.labels_per_unit,
                request.scrypt_n,
            )
        except (InvalidProofError, ProofParameterError, LabelParameterError) as exc:
            return f"the VRF nonce {request.vrf_nonce} does not verify: {exc}", 0.0
        live = identity.session
        if live is not None and time.monotonic() - live.last_seen < self.session_timeout_s:
            return f"a post service ({live.service}) is already connected for this identity", self.session_timeout_s
        return None, 0.0

    @staticmethod
    def _to_metadata(request: PostServiceAnnounced) -> PostMetadata:
        if not 0 <= request.vrf_nonce < 2**64:
            raise PostDataError(f"VRF nonce {request.vrf_nonce} is not a u64")
        return PostMetadata(
            node_id=request.node_id,
            commitment_atx_id=request.commitment_atx_id,
            labels_per_unit=request.labels_per_unit,
            num_units=request.num_units,
            max_file_size=request.max_file_size,
            nonce=request.vrf_nonce,
        )

    async def _handle_announcement(self, request: PostServiceAnnounced) -> PostServiceAccepted | PostServiceRejected:
        reason, retry_after = await self.check_announcement(request)
        identity = self.identities.get(request.node_id)
        if reason is not None:
            LOG.warning(
                "refused post service %r for node id %s…: %s", request.service[:64], request.node_id.hex()[:12], reason
            )
            self.rejections.append(f"{request.node_id.hex()}: {reason}")
            if identity is not None:
                identity.last_rejection = reason
            return PostServiceRejected(request.node_id, reason, retry_after)
        assert identity is not None and self.broker is not None and self.broker.address is not None
        now = time.monotonic()
        metadata = self._to_metadata(request)
        identity.session = RemoteSession(uuid.uuid4().hex, request.service, metadata, now, now)
        identity.metadata = metadata
        identity.connected.set()
        LOG.info(
            "post service %r connected for identity %s (node id %s…, %d units)",
            request.service,
            identity.name,
            request.node_id.hex()[:12],
            request.num_units,
        )
        await self._publish_setup_state(identity, STATE_CONNECTED, None)
        address = self.broker.address
        post = self.node.config.post
        return PostServiceAccepted(
            node_id=request.node_id,
            session=identity.session.session,
            bus_ingress=address.ingress,
            bus_state=address.state,
            bus_telemetry=address.telemetry,
            k1=post.k1,
            k2=post.k2,
            pow_difficulty=bytes.fromhex(post.pow_difficulty),
            heartbeat_interval_s=self.heartbeat_interval_s,
        )

    def _get_session(self, node_id: bytes, session: str) -> tuple[RemoteIdentity | None, RemoteSession | None]:
        identity = self.identities.get(node_id)
        if identity is None or identity.session is None or identity.session.session != session:
            return identity, None
        return identity, identity.session

    async def _handle_heartbeat(self, request: PostServiceHeartbeatSent) -> PostServiceHeartbeatAnswered:
        identity, session = self._get_session(request.node_id, request.session)
        if identity is None or session is None:
            return PostServiceHeartbeatAnswered(
                False, "unknown session (the node restarted or dropped it): announce again"
            )
        session.last_seen = time.monotonic()
        session.proving = bytes(request.proving[:32])
        session.ready = True
        await self._publish_due(identity)
        return PostServiceHeartbeatAnswered(True, "")

    async def _handle_proof(self, request: PostProofGenerated) -> PostProofAnswered:
        identity, session = self._get_session(request.node_id, request.session)
        if identity is None or session is None:
            return PostProofAnswered(request.request_id, False, "unknown session: announce again")
        session.last_seen = time.monotonic()
        pending = identity.pending.get(request.request_id)
        if pending is None:
            return PostProofAnswered(request.request_id, False, "no pending request with this id")
        try:
            proof = Proof(nonce=request.nonce, indices=request.indices, pow=request.pow)
            await asyncio.to_thread(
                verify_proof,
                proof,
                ProofMetadata(
                    identity.node_id, session.metadata.commitment_atx_id, pending.challenge, session.metadata.num_units
                ),
                self.verify_config,
                VerifyMode.all(),
            )
        except (ProofFormatError, InvalidProofError, ProofParameterError, LabelParameterError) as exc:
            reason = f"invalid proof: {exc}"
            LOG.warning("identity %s: refused a proof of post service %r: %s", identity.name, session.service, reason)
            return PostProofAnswered(request.request_id, False, reason)
        if not pending.future.done():
            pending.future.set_result(PostV1(request.nonce, request.indices, request.pow))
            identity.proofs_accepted += 1
            LOG.info("identity %s: post service %r delivered a valid proof", identity.name, session.service)
        return PostProofAnswered(request.request_id, True, "")

    def _handle_failure(self, request: PostProofFailed) -> PostProofAnswered:
        identity, session = self._get_session(request.node_id, request.session)
        if identity is None or session is None:
            return PostProofAnswered(request.request_id, False, "unknown session: announce again")
        session.last_seen = time.monotonic()
        pending = identity.pending.get(request.request_id)
        if pending is None:
            return PostProofAnswered(request.request_id, False, "no pending request with this id")
        LOG.warning(
            "identity %s: post service %r could not prove: %s (asking again later)",
            identity.name,
            session.service,
            request.reason[:MAX_TEXT_LENGTH],
        )
        pending.not_before = time.monotonic() + max(5 * self.heartbeat_interval_s, 1.0)
        return PostProofAnswered(request.request_id, True, "")

    # -- publishing and liveness -----------------------------------------------------------------

    async def _publish(self, identity: RemoteIdentity, pending: PendingProof) -> None:
        assert self.bus is not None
        pending.published_at = time.monotonic()
        await self.bus.publish(PostProofRequested(identity.node_id, pending.request_id, pending.challenge))

    async def _publish_due(self, identity: RemoteIdentity) -> None:
        """Publish again the pending requests the connected service is not working on."""
        session = identity.session
        if session is None or not session.ready:
            return
        now = time.monotonic()
        for pending in list(identity.pending.values()):
            if pending.future.done() or now < pending.not_before:
                continue
            idle = session.proving != pending.challenge and now - pending.published_at >= self.heartbeat_interval_s
            overdue = self.proof_timeout_s > 0 and now - pending.published_at >= self.proof_timeout_s
            if overdue:
                LOG.warning("identity %s: no proof within %.0f s; asking again", identity.name, self.proof_timeout_s)
            if idle or overdue:
                await self._publish(identity, pending)

    async def _publish_setup_state(self, identity: RemoteIdentity, state: str, error: str | None) -> None:
        bus = getattr(self.node, "bus", None)
        if bus is not None:
            await bus.publish(PostSetupChanged(identity.node_id, state, error))

    async def _watch(self) -> None:
        """Drop services that stopped sending heartbeats; ask again for overdue proofs."""
        while True:
            await asyncio.sleep(self.heartbeat_interval_s)
            now = time.monotonic()
            for identity in list(self.identities.values()):
                session = identity.session
                if session is not None and now - session.last_seen > self.session_timeout_s:
                    LOG.warning(
                        "identity %s: post service %r disconnected (no heartbeat for %.1f s)",
                        identity.name,
                        session.service,
                        now - session.last_seen,
                    )
                    identity.session = None
                    identity.connected.clear()
                    await self._publish_setup_state(identity, STATE_WAITING, "post service disconnected")
                if identity.session is not None:
                    await self._publish_due(identity)


class RemoteProveFunction:
    """The builder's prove step for a remote identity: ask the post service and await its proof.

    :meth:`request` is the coroutine :class:`RemoteAtxBuilder` awaits; calling the object is the
    blocking :data:`~spacemesh_core.activation.builder.ProveFunction` form (from a worker thread).
    """

    def __init__(self, listener: PostListener, node_id: bytes, loop: asyncio.AbstractEventLoop) -> None:
        self.listener = listener
        self.node_id = bytes(node_id)
        self.loop = loop

    async def request(self, challenge: bytes) -> PostV1:
        """Return the verified proof of the remote data over ``challenge`` (waits for a service)."""
        return await self.listener.request_proof(self.node_id, challenge)

    def __call__(self, challenge: bytes, should_stop: Callable[[], bool]) -> PostV1:
        """Block (in a worker thread) until the proof arrives.

        :raises ProvingStoppedError: ``should_stop()`` became true first.
        """
        future = asyncio.run_coroutine_threadsafe(self.request(challenge), self.loop)
        while True:
            try:
                return future.result(timeout=0.1)
            except concurrent.futures.TimeoutError:
                if should_stop():
                    future.cancel()
                    raise ProvingStoppedError("proving was stopped") from None


class RemoteAtxBuilder(AtxBuilder):
    """The ATX builder of a remote identity: it awaits the remote proof on the event loop instead of
    holding a worker thread for the whole (possibly hours long) proving time."""

    async def _run_prover(self, challenge: bytes) -> PostV1:
        if isinstance(self.prove, RemoteProveFunction):
            return await self.prove.request(challenge)
        return await super()._run_prover(challenge)


class RemoteSmeshingService(SmeshingService):
    """The smesher of a remote identity: the key is here, the PoST data with a post service."""

    builder_class = RemoteAtxBuilder

    def __init__(self, node: Any, identity_name: str) -> None:
        super().__init__(node, identity_name)
        self._task: asyncio.Task[None] | None = None
        self.listener: PostListener | None = None
        self.remote: RemoteIdentity | None = None

    def get_status(self) -> dict[str, Any]:
        """Return this identity's status (its setup state is the post service's connection)."""
        status = super().get_status()
        session = self.remote.session if self.remote is not None else None
        connected = session is not None and session.ready
        status["post_setup"] = {"state": STATE_CONNECTED if connected else STATE_WAITING}
        if self.listener is not None and self.signer is not None:
            status["post_service"] = self.listener.get_identity_status(self.signer.node_id)
        return status

    async def start(self) -> None:
        """Load the key and wait for the identity's post service in the background.

        :raises BuilderError: the node runs no post listener (``[smeshing] post_listen`` is empty).
        """
        node = self.node
        listener = getattr(node, "post_listener", None)
        if listener is None:
            raise BuilderError(f"identity {self.identity_name} is remote but the node runs no post listener")
        if self.identity_name == LOCAL_IDENTITY and node.identity is not None:
            self.signer = node.identity
        else:
            self.signer = load_or_create_identity(node.data_dir, self.identity_name)
        self.listener = listener
        self.remote = listener.add_identity(self.signer.node_id, self.identity_name)
        service = getattr(node, "atx_handler_service", None)
        if service is not None:
            service.smeshers.append(self)
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def _prepare_post_data(self) -> Any:
        """Wait for an accepted post service; return the metadata it announced."""
        assert self.listener is not None and self.signer is not None
        node_id = self.signer.node_id
        LOG.info("identity %s (node id %s…): waiting for its post service", self.identity_name, node_id.hex()[:12])
        await self._publish_event(PostSetupChanged(node_id, STATE_WAITING, None))
        metadata = await self.listener.wait_for_service(node_id)
        self.num_units = metadata.num_units
        return metadata

    def _create_prove_function(self) -> RemoteProveFunction:
        assert self.listener is not None and self.signer is not None
        return RemoteProveFunction(self.listener, self.signer.node_id, asyncio.get_running_loop())

    async def stop(self) -> None:
        """Stop the builder and stop accepting post services for this identity."""
        await cancel_task(self._task)
        self._task = None
        service = getattr(self.node, "atx_handler_service", None)
        if service is not None and self in service.smeshers:
            service.smeshers.remove(self)
        if self.listener is not None and self.signer is not None:
            self.listener.remove_identity(self.signer.node_id)
