"""Remote proving for 1:N smeshing, the node's side: the post listener and the remote smeshers.

One node holds the keys of N identities and builds and signs their ATXs; each identity's PoST data
lives with a *post service* (``spacemesh post serve``, :mod:`spacemesh_plugins.smeshing.post_service`),
often on another machine, that proves on request. Every connection is opened by the post service;
the node never dials one (as in the reference's remote mode, protocol.md §10.3 point 2).

The node side (``[smeshing] post_listen = "tcp://HOST:PORT"``):

* :class:`PostListener` (service ``post-listener``) binds one ZeroMQ ROUTER socket at ``post_listen``:
  the only port a post service needs (one TCP connection each, easy to forward or open in a
  firewall). A service's DEALER sends requests and gets their replies and the node's pushes on that
  connection. The messages are the node's bus envelopes (topic, CBOR header, CBOR body) of the
  events registered by the smeshing plugin, in *link frames*:

  ====  ============================================  =========================================
  kind  parts after the kind                          meaning
  ====  ============================================  =========================================
  Q     request id (1-16 bytes), topic, header, body  a request of the service
  R     request id, topic, header, body               the node's reply (topic ``\x01error``:
                                                      the request failed; body ``{message}``)
  E     topic, header, body                           an event the node pushes (proof requests)
  ====  ============================================  =========================================

  Requests (each answered):

  - :class:`PostServiceAnnounced` -> :class:`PostServiceAccepted` (a session and the proving
    parameters) or :class:`PostServiceRejected` with the reason. The announced metadata must match the
    node: a remote identity of this node, ``[post]`` scrypt N and labels per unit, units within the
    network's bounds, a commitment ATX the node knows (the one of the identity's ATXs, if any), a VRF
    nonce that verifies, and the same data as any service accepted before for that identity;
  - :class:`PostServiceHeartbeatSent` -> :class:`PostServiceHeartbeatAnswered` (is the session still
    known: after a node restart it is not, and the service announces again);
  - :class:`PostProofGenerated` / :class:`PostProofFailed` -> :class:`PostProofAnswered`. A proof is
    checked with the PoST verifier (all K2 labels) before the builder gets it; a bad one is refused
    and changes nothing.

  Proof requests travel the other way as :class:`PostProofRequested`, pushed to the connection of
  the identity's session (and published on the node's own bus, where the rest of the node sees
  them, like :class:`PostSetupChanged`). A request not being proven is pushed again at the next
  heartbeat (a reconnected service still gets it) and after ``remote_proof_timeout_s`` without a
  proof.
* :class:`RemoteSmeshingService` (``smeshing-<name>`` for each ``[smeshing] remote_identities``
  name) holds the identity's key and does not touch PoST data: it waits (status
  ``waiting_for_post_service``) for an accepted service, then runs the normal ATX builder whose
  prove step awaits the remote proof. A service that disconnects or is absent while a proof is due
  leaves the builder waiting; the builder's phases are persisted, so a node restart resumes.

Security: without CurveZMQ the link is plain TCP, so ``post_listen`` must be a loopback address
(reach it through an SSH tunnel). With ``post_listen_curve = true`` the link is encrypted and
authenticated with CurveZMQ (the node's key pair is ``<data>/post_listener/listener.key``, its
public key also in ``listener.pub`` and the status; a service passes it as ``--node-key``) and any
IPv4 address may be bound; ``post_service_keys`` then limits the services to those public keys
(a key not listed fails the handshake). Messages are capped at
:data:`POST_LISTENER_MAX_MESSAGE_BYTES`.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import ipaddress
import itertools
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import attrs
import zmq
import zmq.asyncio
from zmq.auth.thread import ThreadAuthenticator

from spacemesh_core.activation.builder import AtxBuilder, BuilderError
from spacemesh_core.activation.handler import AtxValidationConfig
from spacemesh_core.bus.envelope import ERROR_TOPIC, decode_event, encode_event, encode_frames
from spacemesh_core.events import get_topic
from spacemesh_core.fsutil import write_file_atomic
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
from spacemesh_plugins.transport_zmq.curve import (
    CurveKeyError,
    format_curve_key,
    get_client_key,
    get_curve_public_key,
    load_or_create_curve_key,
    parse_curve_key,
    set_curve_server,
    start_curve_authenticator,
)

LOG = logging.getLogger(__name__)

#: the largest message the post listener accepts (a proof is a few hundred bytes)
POST_LISTENER_MAX_MESSAGE_BYTES = 64 * 1024
#: longest free-text field (service name, reason) accepted in a request
MAX_TEXT_LENGTH = 256
#: setup states of a remote identity, as the status and :class:`PostSetupChanged` report them
STATE_WAITING = "waiting_for_post_service"
STATE_CONNECTED = "post_service_connected"
#: link frame kinds (see the module doc)
LINK_REQUEST = b"Q"
LINK_REPLY = b"R"
LINK_EVENT = b"E"
#: longest request id a service may use
MAX_REQUEST_ID_BYTES = 16
#: requests answered at the same time; more are dropped (the sender's request times out)
MAX_CONCURRENT_REQUESTS = 64
#: the node's Curve key pair for the post listener: ``<data>/post_listener/listener.key`` (hex secret,
#: mode 0600) and ``listener.pub`` (the Z85 public key, for ``post serve --node-key``)
POST_LISTENER_KEY_DIR = "post_listener"
POST_LISTENER_SECRET_KEY_FILE = "listener.key"
POST_LISTENER_PUBLIC_KEY_FILE = "listener.pub"

_ENDPOINT_RE = re.compile(r"^tcp://(?P<host>[^:/\[\]]+):(?P<port>\d{1,5})$")


class PostListenerError(ValueError):
    """A ``post_listen`` endpoint that is malformed, not allowed without Curve, or cannot be bound, or a
    bad Curve key setting."""


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


def parse_post_listen(endpoint: str, *, curve: bool = False) -> tuple[str, int]:
    """Return ``(host, port)`` of a ``tcp://HOST:PORT`` post listener endpoint (port 0: any free port).

    :param curve: the listener uses CurveZMQ, so any IPv4 address may be bound (``0.0.0.0``: every
        interface); without it only loopback is allowed.
    :raises PostListenerError: malformed, a port above 65535, a host that is not an IPv4 address
        (or ``localhost``), or a non-loopback host without Curve (the link would be unencrypted;
        enable ``post_listen_curve`` or reach a loopback listener through an SSH tunnel).
    """
    match = _ENDPOINT_RE.match(endpoint.strip())
    if match is None:
        raise PostListenerError(f"post_listen must look like tcp://127.0.0.1:PORT, got {endpoint!r}")
    host, port = match["host"], int(match["port"])
    if port > 65535:
        raise PostListenerError(f"post_listen port {port} is above 65535")
    if not is_loopback_host(host):
        if not curve:
            raise PostListenerError(
                f"post_listen {endpoint!r} is not a loopback address: without CurveZMQ the post listener is "
                "unencrypted and binds 127.0.0.1 only; set [smeshing] post_listen_curve = true, or reach a "
                "loopback listener through an SSH tunnel (docs/backends.md)"
            )
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            address = None
        if address is None or address.version != 4:
            raise PostListenerError(f"post_listen host {host!r} must be an IPv4 address (0.0.0.0: every interface)")
    return ("127.0.0.1" if host == "localhost" else host), port


def parse_post_service_keys(values: Iterable[str]) -> frozenset[bytes]:
    """Return the 32-byte Curve public keys of ``[smeshing] post_service_keys`` (Z85 or hex each).

    :raises PostListenerError: a value that is not a Curve key.
    """
    keys = set()
    for value in values:
        try:
            keys.add(parse_curve_key(str(value)))
        except CurveKeyError as exc:
            raise PostListenerError(f"post_service_keys: {exc}") from None
    return frozenset(keys)


def get_post_listener_key_path(data_dir: str | Path) -> Path:
    """Return the path of the node's post listener Curve secret key file."""
    return Path(data_dir).expanduser() / POST_LISTENER_KEY_DIR / POST_LISTENER_SECRET_KEY_FILE


def load_or_create_post_listener_key(data_dir: str | Path) -> bytes:
    """Return the post listener's Curve secret key (created once), keeping ``listener.pub`` beside it
    up to date with the public key in Z85.

    :raises PostListenerError: the key file exists but does not hold a key.
    """
    path = get_post_listener_key_path(data_dir)
    try:
        secret = load_or_create_curve_key(path)
    except CurveKeyError as exc:
        raise PostListenerError(str(exc)) from None
    public_text = (format_curve_key(get_curve_public_key(secret)) + "\n").encode("ascii")
    public_path = path.with_name(POST_LISTENER_PUBLIC_KEY_FILE)
    if not public_path.exists() or public_path.read_bytes() != public_text:
        write_file_atomic(public_path, public_text)
    return secret


@attrs.frozen
class LinkPeer:
    """Who sent a request: the connection's routing id and, with Curve, the sender's public key."""

    routing_id: bytes
    key: bytes | None = None


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
    #: the connection proof requests are pushed to (that of the service's latest request)
    routing_id: bytes = b""
    #: the service's Curve public key (None without Curve): later requests must come from it
    service_key: bytes | None = None


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
    #: a proof for it is being checked (no need to ask again meanwhile)
    verifying: bool = False


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
    """The node's post listener (see the module doc); reachable as ``node.post_listener``."""

    name = "post-listener"

    def __init__(self, node: Any) -> None:
        self.node = node
        section = node.config.smeshing
        #: CurveZMQ on the link (``[smeshing] post_listen_curve``)
        self.curve = bool(section.post_listen_curve)
        #: the post service keys allowed to connect (empty: any key)
        self.allowed_keys = parse_post_service_keys(section.post_service_keys)
        if self.allowed_keys and not self.curve:
            raise PostListenerError("post_service_keys needs post_listen_curve = true (keys are checked by Curve)")
        self.host, self.port = parse_post_listen(section.post_listen, curve=self.curve)
        self.session_timeout_s = float(section.post_service_timeout_s)
        self.heartbeat_interval_s = max(0.05, self.session_timeout_s / 5)
        self.proof_timeout_s = float(section.remote_proof_timeout_s)
        self.verify_config = AtxValidationConfig.from_config(node.config).get_verify_config()
        self.identities: dict[bytes, RemoteIdentity] = {}
        #: the bound endpoint (``tcp://HOST:PORT``), set by :meth:`start`
        self.endpoint: str | None = None
        #: the listener's Curve public key (with Curve), set by :meth:`start`
        self.public_key: bytes | None = None
        #: the latest refusals (``node id hex: reason`` or ``key <z85>: reason``), newest last
        self.rejections: collections.deque[str] = collections.deque(maxlen=32)
        #: malformed or dropped link frames and failed requests
        self.errors = 0
        self._context: zmq.asyncio.Context | None = None
        self._authenticator: ThreadAuthenticator | None = None
        self._socket: zmq.asyncio.Socket | None = None
        self._sender: zmq.Socket[Any] | None = None
        self._serve_task: asyncio.Task[None] | None = None
        self._answers: set[asyncio.Task[None]] = set()
        self._monitor: asyncio.Task[None] | None = None
        self._seq = itertools.count()

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Bind ``post_listen`` (with Curve: load or create the key pair, start the key check).

        :raises PostListenerError: the endpoint cannot be bound (port in use), or a bad key file.
        """
        self._context = zmq.asyncio.Context()
        try:
            sock = self._context.socket(zmq.ROUTER)
            sock.setsockopt(zmq.LINGER, 0)
            sock.setsockopt(zmq.MAXMSGSIZE, POST_LISTENER_MAX_MESSAGE_BYTES)
            sock.setsockopt(zmq.ROUTER_MANDATORY, 1)  # a push to a gone service fails at once
            self._socket = sock
            if self.curve:
                secret = load_or_create_post_listener_key(self.node.data_dir)
                self.public_key = get_curve_public_key(secret)
                self._authenticator = start_curve_authenticator(
                    self._context, self._is_key_allowed if self.allowed_keys else None
                )
                set_curve_server(sock, secret)
            address = f"tcp://{self.host}"
            try:
                port = sock.bind_to_random_port(address) if self.port == 0 else self.port
                if self.port != 0:
                    sock.bind(f"{address}:{port}")
            except zmq.ZMQError as exc:
                raise PostListenerError(f"cannot listen for post services on {address}:{self.port}: {exc}") from None
        except BaseException:
            self._close()
            raise
        self._sender = zmq.Socket.shadow(sock.underlying)
        self.endpoint = f"{address}:{port}"
        self.node.post_listener = self
        self.node.status_providers["post_listener"] = self.get_status
        self._serve_task = asyncio.create_task(self._serve(), name="post-listener")
        self._monitor = asyncio.create_task(self._watch(), name="post-listener-monitor")
        if self.public_key is not None:
            LOG.info(
                "post listener on %s with CurveZMQ, public key %s (%s); %s",
                self.endpoint,
                format_curve_key(self.public_key),
                get_post_listener_key_path(self.node.data_dir).with_name(POST_LISTENER_PUBLIC_KEY_FILE),
                f"{len(self.allowed_keys)} post service key(s) allowed" if self.allowed_keys else "any service key",
            )
        else:
            LOG.info("post listener on %s (no CurveZMQ: loopback only)", self.endpoint)

    async def stop(self) -> None:
        """Stop serving; pending proofs stay unanswered (their builders are stopped first)."""
        await cancel_task(self._monitor)
        self._monitor = None
        await cancel_task(self._serve_task)
        self._serve_task = None
        for task in list(self._answers):
            task.cancel()
        await asyncio.gather(*self._answers, return_exceptions=True)
        self.node.status_providers.pop("post_listener", None)
        if getattr(self.node, "post_listener", None) is self:
            self.node.post_listener = None
        self._close()

    def _close(self) -> None:
        self._sender = None
        if self._socket is not None:
            self._socket.close(0)
            self._socket = None
        if self._authenticator is not None:
            self._authenticator.stop()
            self._authenticator = None
        if self._context is not None:
            self._context.term()
            self._context = None

    def _is_key_allowed(self, key: bytes) -> bool:
        """The Curve key check (runs in the authenticator's thread): is ``key`` in ``post_service_keys``?"""
        if key in self.allowed_keys:
            return True
        text = format_curve_key(key)
        LOG.warning("refused a post service with Curve key %s: not in [smeshing] post_service_keys", text)
        self.rejections.append(f"key {text}: not in [smeshing] post_service_keys")
        return False

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
            if identity.session is not None:
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
            "connected": session is not None,
            "service": session.service if session else None,
            "service_key": format_curve_key(session.service_key) if session and session.service_key else None,
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
            "curve": self.curve,
            "public_key": format_curve_key(self.public_key) if self.public_key is not None else None,
            "allowed_keys": [format_curve_key(key) for key in sorted(self.allowed_keys)],
            "identities": {
                identity.name: {"node_id": node_id.hex(), **self.get_identity_status(node_id)}
                for node_id, identity in self.identities.items()
            },
            "rejections": list(self.rejections),
        }

    # -- requests ----------------------------------------------------------------------------------

    async def _serve(self) -> None:
        """Read link frames; answer each request in its own task (a proof check must not hold up
        the heartbeats of other services)."""
        assert self._socket is not None
        sock = self._socket
        while True:
            frames = await sock.recv_multipart(copy=False)
            if len(frames) < 2:
                self.errors += 1
                continue
            peer = LinkPeer(frames[0].bytes, get_client_key(frames[1]) if self.curve else None)
            parts = [frame.bytes for frame in frames[1:]]
            if parts[0] != LINK_REQUEST or len(parts) != 5 or not 0 < len(parts[1]) <= MAX_REQUEST_ID_BYTES:
                self.errors += 1
                LOG.debug("dropped a malformed link message (%d frames)", len(parts))
                continue
            if len(self._answers) >= MAX_CONCURRENT_REQUESTS:
                self.errors += 1
                LOG.warning("too many requests at once; dropped one (the service asks again)")
                continue
            task = asyncio.create_task(self._answer(peer, parts[1], parts[2:]), name="post-listener-answer")
            self._answers.add(task)
            task.add_done_callback(self._answers.discard)

    async def _answer(self, peer: LinkPeer, request_id: bytes, body: list[bytes]) -> None:
        events = self.node.events
        try:
            _, request = decode_event(events, body, POST_LISTENER_MAX_MESSAGE_BYTES)
            reply = await self.handle_request(request, peer)
            out = encode_event(events, reply, self.name, next(self._seq))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # report to the service, keep serving
            self.errors += 1
            out = encode_frames(ERROR_TOPIC, {"message": str(exc)[:MAX_TEXT_LENGTH]}, self.name, next(self._seq))
        self._send(peer.routing_id, [LINK_REPLY, request_id, *out])

    def _send(self, routing_id: bytes, frames: list[bytes]) -> bool:
        """Send ``frames`` to the connection ``routing_id`` without waiting; return whether it went out."""
        if self._sender is None:
            return False
        try:
            self._sender.send_multipart([routing_id, *frames], zmq.NOBLOCK)
        except zmq.ZMQError as exc:  # gone (EHOSTUNREACH) or its queue is full (EAGAIN)
            LOG.debug("could not send to a post service connection: %s", exc)
            return False
        return True

    def send_event(self, session: RemoteSession, event: Any) -> bool:
        """Push ``event`` (a registered event) to ``session``'s connection; return whether it went out."""
        out = encode_event(self.node.events, event, self.name, next(self._seq))
        return self._send(session.routing_id, [LINK_EVENT, *out])

    async def handle_request(self, request: Any, peer: LinkPeer | None = None) -> Any:
        """Answer one request of a post service that came from ``peer``.

        :raises RemoteRequestError: a request of another kind (answered with an error reply).
        """
        peer = peer or LinkPeer(b"")
        if isinstance(request, PostServiceAnnounced):
            return await self._handle_announcement(request, peer)
        if isinstance(request, PostServiceHeartbeatSent):
            return await self._handle_heartbeat(request, peer)
        if isinstance(request, PostProofGenerated):
            return await self._handle_proof(request, peer)
        if isinstance(request, PostProofFailed):
            return self._handle_failure(request, peer)
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

    async def _handle_announcement(
        self, request: PostServiceAnnounced, peer: LinkPeer
    ) -> PostServiceAccepted | PostServiceRejected:
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
        assert identity is not None
        now = time.monotonic()
        metadata = self._to_metadata(request)
        identity.session = RemoteSession(
            uuid.uuid4().hex, request.service, metadata, now, now, routing_id=peer.routing_id, service_key=peer.key
        )
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
        post = self.node.config.post
        return PostServiceAccepted(
            node_id=request.node_id,
            session=identity.session.session,
            k1=post.k1,
            k2=post.k2,
            pow_difficulty=bytes.fromhex(post.pow_difficulty),
            heartbeat_interval_s=self.heartbeat_interval_s,
        )

    def _get_session(
        self, node_id: bytes, session: str, peer: LinkPeer
    ) -> tuple[RemoteIdentity | None, RemoteSession | None]:
        """Return the identity and its live session named ``session`` (None: unknown, or sent with another
        Curve key); the session's pushes follow the connection of its latest request."""
        identity = self.identities.get(node_id)
        live = identity.session if identity is not None else None
        if live is None or live.session != session or (live.service_key is not None and live.service_key != peer.key):
            return identity, None
        if peer.routing_id:
            live.routing_id = peer.routing_id
        return identity, live

    async def _handle_heartbeat(
        self, request: PostServiceHeartbeatSent, peer: LinkPeer
    ) -> PostServiceHeartbeatAnswered:
        identity, session = self._get_session(request.node_id, request.session, peer)
        if identity is None or session is None:
            return PostServiceHeartbeatAnswered(
                False, "unknown session (the node restarted or dropped it): announce again"
            )
        session.last_seen = time.monotonic()
        session.proving = bytes(request.proving[:32])
        await self._publish_due(identity)
        return PostServiceHeartbeatAnswered(True, "")

    async def _handle_proof(self, request: PostProofGenerated, peer: LinkPeer) -> PostProofAnswered:
        identity, session = self._get_session(request.node_id, request.session, peer)
        if identity is None or session is None:
            return PostProofAnswered(request.request_id, False, "unknown session: announce again")
        session.last_seen = time.monotonic()
        pending = identity.pending.get(request.request_id)
        if pending is None:
            return PostProofAnswered(request.request_id, False, "no pending request with this id")
        if pending.future.done():
            return PostProofAnswered(request.request_id, True, "")  # a copy of the proof it took already
        pending.verifying = True
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
        finally:
            pending.verifying = False
        if not pending.future.done():
            pending.future.set_result(PostV1(request.nonce, request.indices, request.pow))
            identity.proofs_accepted += 1
            LOG.info("identity %s: post service %r delivered a valid proof", identity.name, session.service)
        return PostProofAnswered(request.request_id, True, "")

    def _handle_failure(self, request: PostProofFailed, peer: LinkPeer) -> PostProofAnswered:
        identity, session = self._get_session(request.node_id, request.session, peer)
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
        """Push the proof request to the identity's service and publish it on the node's bus."""
        pending.published_at = time.monotonic()
        event = PostProofRequested(identity.node_id, pending.request_id, pending.challenge)
        if identity.session is not None:
            self.send_event(identity.session, event)
        bus = getattr(self.node, "bus", None)
        if bus is not None:
            await bus.publish(event)

    async def _publish_due(self, identity: RemoteIdentity) -> None:
        """Push again the pending requests the connected service is not working on."""
        session = identity.session
        if session is None:
            return
        now = time.monotonic()
        for pending in list(identity.pending.values()):
            if pending.future.done() or pending.verifying or now < pending.not_before:
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
        connected = self.remote is not None and self.remote.session is not None
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
