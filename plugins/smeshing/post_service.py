"""Remote proving for 1:N smeshing, the post service's side (``spacemesh post serve``).

A post service holds one identity's PoST data and proves on the node's request. It opens the one
connection it needs itself (the node never dials it): a ZeroMQ DEALER to the node's post listener
(``--node tcp://HOST:PORT``, the node's ``[smeshing] post_listen``), CurveZMQ-encrypted when the
node's public key is given (``--node-key``). Requests, replies and the node's proof requests all
travel on it (the link frames of :mod:`spacemesh_plugins.smeshing.remote`).

1. it reads ``postdata_metadata.json``, checks the data is complete and its VRF nonce verifies
   with the given scrypt N, and locks the directory (one service per data directory);
2. it announces the data; the node accepts it (a session and the proving parameters K1, K2 and
   the k2pow difficulty) or refuses it with a reason: a permanent refusal (data of another
   identity, other parameters) ends the service, a temporary one (another service still
   connected) is retried. A failed Curve handshake (wrong node key, or this service's key not in
   the node's allow-list) ends it with a clear error once the announcement times out;
3. it takes the :class:`PostProofRequested` the node pushes, those of its own node id (others are
   ignored and counted), and proves in a worker thread with the bundle's prover; the proof goes
   back as a :class:`PostProofGenerated` request, answered with the node's verdict;
4. it sends a heartbeat every interval; when the node does not answer or no longer knows the
   session (it restarted), the service announces again until the node is back (ZeroMQ
   reconnects the link by itself). A proof finished while the node was away is kept and sent
   when the node asks again for the same challenge.

:meth:`PostService.run` returns when its stop event is set, after the proving thread has ended
(the stop flag reaches the scan and the k2pow search, so that is prompt).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import socket
from pathlib import Path
from typing import Any

import zmq
import zmq.asyncio
from zmq.utils import z85
from zmq.utils.monitor import parse_monitor_message

from spacemesh_core.activation.post_setup import IdentityInUseError, PostDataLock
from spacemesh_core.bus import BusTimeoutError, RemoteError
from spacemesh_core.bus.envelope import (
    ERROR_TOPIC,
    EnvelopeError,
    check_frames,
    decode_cbor_strict,
    decode_event,
    encode_event,
)
from spacemesh_core.events import EventRegistry
from spacemesh_core.post.labels import LabelParameterError
from spacemesh_core.post.proof import ProofParameterError
from spacemesh_core.post.prover import PostProver, ProofNotFoundError, ProvingParams, ProvingStoppedError, StopFlag
from spacemesh_core.post.store import PostDataError, PostMetadata, get_missing_files, read_metadata
from spacemesh_core.post.verify import InvalidProofError, verify_vrf_nonce
from spacemesh_core.types.atx import PostV1
from spacemesh_plugins.smeshing.events import (
    REMOTE_PROVING_EVENTS,
    PostProofAnswered,
    PostProofFailed,
    PostProofGenerated,
    PostProofRequested,
    PostServiceAccepted,
    PostServiceAnnounced,
    PostServiceHeartbeatAnswered,
    PostServiceHeartbeatSent,
    PostServiceRejected,
)
from spacemesh_plugins.smeshing.remote import (
    LINK_EVENT,
    LINK_REPLY,
    LINK_REQUEST,
    POST_LISTENER_MAX_MESSAGE_BYTES,
    POST_LISTENER_PUBLIC_KEY_FILE,
)
from spacemesh_plugins.transport_zmq.curve import format_curve_key, get_curve_public_key, set_curve_client

LOG = logging.getLogger(__name__)

#: missed heartbeats after which the service considers the node gone and announces again
MISSED_HEARTBEATS_LIMIT = 3
#: pushed events kept while the service is busy; older ones are dropped (the node pushes again)
MAX_QUEUED_EVENTS = 64
_MONITORED_EVENTS = (
    zmq.EVENT_HANDSHAKE_SUCCEEDED
    | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
    | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
    | zmq.EVENT_HANDSHAKE_FAILED_AUTH
)


class PostServiceError(RuntimeError):
    """The post service cannot run: unusable data, a locked directory, a bad node endpoint."""


class PostServiceRejectedError(PostServiceError):
    """The node refused the service permanently (data of another identity, other parameters, or this
    service's Curve key is not in its allow-list)."""


class NodeHandshakeError(PostServiceError):
    """The CurveZMQ handshake with the node keeps failing: a wrong ``--node-key``, or Curve on one side only."""


class NodeKeyRefusedError(PostServiceRejectedError):
    """The node refused this service's Curve public key (not in its ``[smeshing] post_service_keys``)."""


class NodeLink:
    """The service's one connection to the node's post listener: a DEALER (a CurveZMQ client when
    ``node_key`` is given) carrying requests, their replies and the node's pushed events.

    ZeroMQ reconnects it by itself after the node restarts. Handshake failures are watched on the
    socket's monitor: :attr:`handshake_failure` describes the latest one unless a handshake
    succeeded since.

    :param node_key: the node's post listener Curve public key (None: no Curve).
    :param secret_key: this service's Curve secret key (None with ``node_key``: a new one each run).
    """

    def __init__(
        self,
        endpoint: str,
        registry: EventRegistry,
        name: str,
        *,
        node_key: bytes | None = None,
        secret_key: bytes | None = None,
        max_message_bytes: int = POST_LISTENER_MAX_MESSAGE_BYTES,
    ) -> None:
        self.endpoint = endpoint
        self.registry = registry
        self.name = name
        self.node_key = node_key
        if node_key is not None and secret_key is None:
            secret_key = z85.decode(zmq.curve_keypair()[1])
        self.secret_key = secret_key
        #: this service's Curve public key (None without Curve)
        self.public_key = get_curve_public_key(secret_key) if secret_key is not None and node_key else None
        self.max_message_bytes = max_message_bytes
        #: the latest handshake failure, ``(kind, text)`` with kind ``auth`` or ``protocol``; None once one succeeds
        self.handshake_failure: tuple[str, str] | None = None
        #: successful handshakes so far (1 + reconnections)
        self.handshakes = 0
        #: pushed events dropped (queue full) and malformed frames received
        self.dropped = 0
        self.malformed = 0
        self._context: zmq.asyncio.Context | None = None
        self._socket: zmq.asyncio.Socket | None = None
        self._sender: zmq.Socket[Any] | None = None
        self._monitor_socket: zmq.asyncio.Socket | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._pending: dict[bytes, asyncio.Future[list[bytes]]] = {}
        self._ids = itertools.count(1)
        self._seq = itertools.count()
        self._events: asyncio.Queue[Any] = asyncio.Queue(MAX_QUEUED_EVENTS)

    def open(self) -> None:
        """Connect (in the background; requests wait for the connection). Call from the event loop."""
        self._context = zmq.asyncio.Context()
        sock = self._context.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.MAXMSGSIZE, self.max_message_bytes)
        sock.setsockopt(zmq.IMMEDIATE, 1)  # no queueing for a node that is not (yet) connected
        if self.node_key is not None:
            assert self.secret_key is not None
            set_curve_client(sock, self.secret_key, self.node_key)
        self._monitor_socket = sock.get_monitor_socket(_MONITORED_EVENTS)
        sock.connect(self.endpoint)
        self._socket = sock
        self._sender = zmq.Socket.shadow(sock.underlying)
        self._tasks = [
            asyncio.create_task(self._read(), name="post-link-read"),
            asyncio.create_task(self._watch_handshakes(), name="post-link-monitor"),
        ]

    async def close(self) -> None:
        """Close the connection (pending requests fail with :class:`BusTimeoutError`)."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        for future in self._pending.values():
            if not future.done():
                future.set_exception(BusTimeoutError("the link to the node was closed"))
        self._pending.clear()
        self._sender = None
        if self._socket is not None:
            with contextlib.suppress(zmq.ZMQError):
                self._socket.disable_monitor()
            self._socket.close(0)
            self._socket = None
        if self._monitor_socket is not None:
            self._monitor_socket.close(0)
            self._monitor_socket = None
        if self._context is not None:
            self._context.term()
            self._context = None

    async def request(self, event: Any, timeout: float) -> Any:
        """Send request ``event`` and return the node's reply event.

        :raises BusTimeoutError: not connected, or no reply, within ``timeout`` seconds.
        :raises RemoteError: the node answered with an error.
        :raises EnvelopeError: the reply is malformed.
        """
        assert self._socket is not None and self._sender is not None, "the link is not open"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        request_id = next(self._ids).to_bytes(8, "big")
        future: asyncio.Future[list[bytes]] = loop.create_future()
        self._pending[request_id] = future
        try:
            writable = self._socket.poll(int(timeout * 1000), zmq.POLLOUT)  # type: ignore[call-arg]  # stub lacks flags
            if not await writable:
                raise BusTimeoutError(f"no connection to the node at {self.endpoint} within {timeout} s")
            frames = [LINK_REQUEST, request_id, *encode_event(self.registry, event, self.name, next(self._seq))]
            try:
                self._sender.send_multipart(frames, zmq.NOBLOCK)
            except zmq.Again:
                raise BusTimeoutError(f"the connection to the node at {self.endpoint} is busy") from None
            try:
                body = await asyncio.wait_for(future, max(0.0, deadline - loop.time()))
            except TimeoutError:
                raise BusTimeoutError(f"no reply from the node at {self.endpoint} within {timeout} s") from None
        finally:
            self._pending.pop(request_id, None)
        if check_frames(body, self.max_message_bytes) == ERROR_TOPIC:
            raise RemoteError(str(decode_cbor_strict(body[2], "error").get("message", "remote error")))
        return decode_event(self.registry, body, self.max_message_bytes)[1]

    async def get_event(self) -> Any:
        """Return the next event the node pushed."""
        return await self._events.get()

    def clear_events(self) -> None:
        """Forget the pushed events not taken yet (those of an earlier session)."""
        while not self._events.empty():
            self._events.get_nowait()

    async def _read(self) -> None:
        assert self._socket is not None
        while True:
            frames = await self._socket.recv_multipart()
            kind = frames[0] if frames else b""
            if kind == LINK_REPLY and len(frames) == 5:
                future = self._pending.get(frames[1])
                if future is not None and not future.done():
                    future.set_result(frames[2:])
            elif kind == LINK_EVENT and len(frames) == 4:
                try:
                    _, event = decode_event(self.registry, frames[1:], self.max_message_bytes)
                except EnvelopeError as exc:
                    self.malformed += 1
                    LOG.warning("ignored a malformed event from the node: %s", exc)
                    continue
                if self._events.full():
                    self.dropped += 1
                    self._events.get_nowait()
                self._events.put_nowait(event)
            else:
                self.malformed += 1
                LOG.warning("ignored a malformed message from the node (%d frames)", len(frames))

    async def _watch_handshakes(self) -> None:
        assert self._monitor_socket is not None
        while True:
            message = parse_monitor_message(await self._monitor_socket.recv_multipart())
            event, value = message["event"], message["value"]
            if event == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                self.handshakes += 1
                self.handshake_failure = None
            elif event == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
                self.handshake_failure = ("auth", f"the node refused this service's key (ZAP status {value})")
                LOG.warning("the node at %s refused this service's Curve key", self.endpoint)
            elif event in (zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL, zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL):
                self.handshake_failure = ("protocol", f"handshake failed ({value})")
                LOG.debug("handshake with the node at %s failed (%s)", self.endpoint, value)

    def get_handshake_error(self) -> PostServiceError | None:
        """Return the error describing the latest handshake failure (None: none since the last success)."""
        if self.handshake_failure is None:
            return None
        kind, _ = self.handshake_failure
        if kind == "auth":
            key = format_curve_key(self.public_key) if self.public_key is not None else "?"
            return NodeKeyRefusedError(
                f"the node at {self.endpoint} refused this service's Curve key {key}: add it to the node's "
                "[smeshing] post_service_keys"
            )
        if self.node_key is None:
            return NodeHandshakeError(
                f"the handshake with the node at {self.endpoint} failed: the node uses CurveZMQ; pass its public "
                f"key with --node-key (the node's {POST_LISTENER_PUBLIC_KEY_FILE} or post_listener.public_key in its "
                "status)"
            )
        return NodeHandshakeError(
            f"the CurveZMQ handshake with the node at {self.endpoint} failed: wrong --node-key "
            f"{format_curve_key(self.node_key)} (see the node's {POST_LISTENER_PUBLIC_KEY_FILE} or "
            "post_listener.public_key in its status), or the node does not use CurveZMQ (post_listen_curve)"
        )


def create_remote_proving_registry() -> EventRegistry:
    """Return an event registry holding the remote-proving events (all a post service speaks)."""
    registry = EventRegistry()
    for cls in REMOTE_PROVING_EVENTS:
        registry.register(cls)
    return registry


def load_post_data(directory: str | os.PathLike[str], scrypt_n: int) -> PostMetadata:
    """Return the metadata of the complete PoST data in ``directory``.

    :raises PostServiceError: no or bad metadata, missing or short files, no VRF nonce, or a VRF
        nonce that does not verify with ``scrypt_n`` (a wrong ``--scrypt-n`` or damaged data).
    """
    try:
        metadata = read_metadata(directory)
        missing = get_missing_files(directory, metadata)
    except PostDataError as exc:
        raise PostServiceError(str(exc)) from None
    if missing:
        raise PostServiceError(
            f"the PoST data in {directory} is incomplete: {len(missing)} of {metadata.num_files} files missing or "
            "short; finish it with `spacemesh post init`"
        )
    if metadata.nonce is None:
        raise PostServiceError(
            f"the PoST data in {directory} has no VRF nonce yet; finish it with `spacemesh post init`"
        )
    try:
        verify_vrf_nonce(
            metadata.nonce,
            metadata.node_id,
            metadata.commitment_atx_id,
            metadata.num_units,
            metadata.labels_per_unit,
            scrypt_n,
        )
    except (InvalidProofError, ProofParameterError, LabelParameterError) as exc:
        raise PostServiceError(
            f"the VRF nonce of {directory} does not verify with scrypt N {scrypt_n} (wrong --scrypt-n or damaged "
            f"data): {exc}"
        ) from None
    return metadata


class PostService:
    """Serves proofs of one PoST data directory to a node (see the module doc).

    :param directory: the PoST data (complete; see :func:`load_post_data`).
    :param node_endpoint: the node's post listener, ``tcp://HOST:PORT``.
    :param prover: the prover (the bundle's ``prover`` implementation).
    :param node_key: the node's post listener Curve public key (None: the link is not encrypted).
    :param secret_key: this service's Curve secret key (None: a new one each run; the node's
        ``post_service_keys`` can only allow a stable one).
    :param scrypt_n: the network's scrypt N (announced; the node compares it with its own).
    :param nonces: nonces per proving pass (a multiple of 16).
    :param name: how the node's logs name this service (default ``host:pid``).
    :param request_timeout_s: how long a request to the node may take.
    :param retry_interval_s: pause between announcements while the node is unreachable.
    :raises PostServiceError: see :func:`load_post_data`.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        node_endpoint: str,
        prover: PostProver,
        *,
        scrypt_n: int,
        nonces: int = 288,
        name: str | None = None,
        request_timeout_s: float = 10.0,
        retry_interval_s: float = 1.0,
        node_key: bytes | None = None,
        secret_key: bytes | None = None,
    ) -> None:
        if nonces <= 0 or nonces % 16:
            raise PostServiceError(f"nonces per pass must be a positive multiple of 16, got {nonces}")
        self.directory = Path(directory)
        self.node_endpoint = node_endpoint
        self.prover = prover
        self.scrypt_n = scrypt_n
        self.nonces = nonces
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self.request_timeout_s = request_timeout_s
        self.retry_interval_s = retry_interval_s
        self.metadata = load_post_data(directory, scrypt_n)
        self.node_id = self.metadata.node_id
        self.registry = create_remote_proving_registry()
        self.lock = PostDataLock(directory, self.node_id)
        #: the current session (None while not connected)
        self.session: PostServiceAccepted | None = None
        #: how many requests for other node ids were ignored
        self.requests_ignored = 0
        #: proofs the node accepted
        self.proofs_accepted = 0
        #: proofs this service computed (a kept one sent again is not computed again)
        self.proofs_found = 0
        #: sessions accepted so far (1 + reconnections)
        self.sessions = 0
        self.link = NodeLink(node_endpoint, self.registry, self.name, node_key=node_key, secret_key=secret_key)
        self._wanted: tuple[bytes, str] | None = None  # (challenge, latest request id)
        self._proof: tuple[bytes, PostV1] | None = None  # the latest proof (challenge, proof)
        self._params: ProvingParams | None = None  # the proving parameters of the latest session
        self._sending: set[tuple[str, str]] = set()  # (session, request id) of the proofs being delivered
        self._proving: tuple[bytes, StopFlag] | None = None
        self._prove_tasks: set[asyncio.Task[None]] = set()
        self._send_tasks: set[asyncio.Task[None]] = set()

    # -- the main loop -----------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until ``stop`` is set: announce, keep the session, prove; reconnect when needed.

        :raises PostServiceRejectedError: the node refused the data permanently.
        :raises PostServiceError: the data directory is locked by another service.
        """
        try:
            self.lock.acquire()
        except IdentityInUseError as exc:
            raise PostServiceError(str(exc)) from None
        LOG.info(
            "serving PoST data of node id %s… (%d units) from %s to %s (%s)",
            self.node_id.hex()[:12],
            self.metadata.num_units,
            self.directory,
            self.node_endpoint,
            f"CurveZMQ, this service's key {format_curve_key(self.link.public_key)}"
            if self.link.public_key is not None
            else "no CurveZMQ",
        )
        try:
            self.link.open()
            while not stop.is_set():
                accepted = await self._announce(stop)
                if accepted is None:
                    break
                await self._run_session(accepted, stop)
        finally:
            await self._shutdown()
            self.lock.release()

    async def _request(self, request: Any, timeout: float | None = None) -> Any:
        return await self.link.request(request, timeout or self.request_timeout_s)

    async def _request_unless_stopped(self, request: Any, stop: asyncio.Event) -> Any:
        """Send ``request``; return its reply, or None as soon as ``stop`` is set (a SIGTERM while the
        node is down must not wait for the request's timeout)."""
        work = asyncio.ensure_future(self._request(request))
        stopped = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({work, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
            if not work.done():
                work.cancel()
            await asyncio.gather(work, stopped, return_exceptions=True)
        if work.cancelled():
            return None
        return work.result()

    async def _wait(self, stop: asyncio.Event, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), seconds)

    async def _announce(self, stop: asyncio.Event) -> PostServiceAccepted | None:
        """Announce until accepted (or ``stop``); return the acceptance (None when stopped)."""
        meta = self.metadata
        assert meta.nonce is not None
        announcement = PostServiceAnnounced(
            node_id=self.node_id,
            commitment_atx_id=meta.commitment_atx_id,
            num_units=meta.num_units,
            labels_per_unit=meta.labels_per_unit,
            max_file_size=meta.max_file_size,
            vrf_nonce=meta.nonce,
            scrypt_n=self.scrypt_n,
            service=self.name,
        )
        unreachable_logged = False
        self.link.clear_events()  # pushes of an earlier session are stale
        while not stop.is_set():
            try:
                reply = await self._request_unless_stopped(announcement, stop)
                if reply is None:
                    break
            except BusTimeoutError:
                error = self.link.get_handshake_error()
                if error is not None:
                    raise error from None
                if not unreachable_logged:
                    LOG.warning("the node is not answering at %s; retrying", self.node_endpoint)
                    unreachable_logged = True
                await self._wait(stop, self.retry_interval_s)
                continue
            except (RemoteError, EnvelopeError) as exc:
                raise PostServiceError(f"the node answered the announcement with an error: {exc}") from None
            if isinstance(reply, PostServiceAccepted) and reply.node_id == self.node_id:
                self.sessions += 1
                LOG.info("connected: the node accepted this service (session %s…)", reply.session[:8])
                return reply
            if isinstance(reply, PostServiceRejected):
                if reply.retry_after_s <= 0:
                    raise PostServiceRejectedError(f"the node refused this PoST data: {reply.reason}")
                LOG.warning("the node refused this service for now: %s; retrying", reply.reason)
                await self._wait(stop, reply.retry_after_s)
                continue
            raise PostServiceError(f"unexpected answer to the announcement: {type(reply).__name__}")
        return None

    async def _run_session(self, accepted: PostServiceAccepted, stop: asyncio.Event) -> None:
        """Keep one session: heartbeats and proof requests until it is lost or ``stop`` is set."""
        params = self._get_params(accepted)
        if self._params != params:
            self._proof = None  # a proof made with other parameters is of no use
        self._params = params
        self.session = accepted
        tasks = [
            asyncio.create_task(self._send_heartbeats(accepted), name="post-service-heartbeat"),
            asyncio.create_task(self._take_requests(), name="post-service-requests"),
            asyncio.create_task(stop.wait(), name="post-service-stop"),
        ]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.session = None

    @staticmethod
    def _get_params(accepted: PostServiceAccepted) -> ProvingParams:
        return ProvingParams(accepted.k1, accepted.k2, accepted.pow_difficulty)

    async def _send_heartbeats(self, accepted: PostServiceAccepted) -> None:
        """Return when the node is gone or has dropped the session."""
        interval = max(accepted.heartbeat_interval_s, 0.05)
        missed = 0
        while True:
            proving = self._proving[0] if self._proving is not None else b""
            try:
                reply = await self._request(
                    PostServiceHeartbeatSent(self.node_id, accepted.session, proving), timeout=2 * interval
                )
            except (BusTimeoutError, RemoteError, EnvelopeError) as exc:
                missed += 1
                if missed >= MISSED_HEARTBEATS_LIMIT:
                    LOG.warning("lost the node (%s); announcing again", exc)
                    return
                continue
            missed = 0
            if not isinstance(reply, PostServiceHeartbeatAnswered) or not reply.session_valid:
                reason = reply.reason if isinstance(reply, PostServiceHeartbeatAnswered) else type(reply).__name__
                LOG.warning("the node dropped the session (%s); announcing again", reason)
                return
            await asyncio.sleep(interval)

    async def _take_requests(self) -> None:
        while True:
            event = await self.link.get_event()
            if not isinstance(event, PostProofRequested):
                continue
            if event.node_id != self.node_id:
                self.requests_ignored += 1
                LOG.debug("ignored a proof request for node id %s…", event.node_id.hex()[:12])
                continue
            if len(event.challenge) != 32:
                LOG.warning("ignored a proof request with a %d-byte challenge", len(event.challenge))
                continue
            self._on_request(event)

    # -- proving -----------------------------------------------------------------------------------

    def _on_request(self, request: PostProofRequested) -> None:
        challenge = request.challenge
        self._wanted = (challenge, request.request_id)
        if self._proof is not None and self._proof[0] == challenge:
            self._start_send(challenge)  # proven already (the node asks again, e.g. after a restart)
            return
        if self._proving is not None:
            if self._proving[0] == challenge:
                return  # already at it
            LOG.info("the node wants another challenge; stopping the current proof")
            self._proving[1].set()
        LOG.info("proving challenge %s… for the node", challenge.hex()[:12])
        assert self.session is not None
        flag = StopFlag()
        self._proving = (challenge, flag)
        task = asyncio.create_task(
            self._prove(challenge, self._get_params(self.session), flag), name="post-service-prove"
        )
        self._prove_tasks.add(task)
        task.add_done_callback(self._prove_tasks.discard)

    async def _prove(self, challenge: bytes, params: ProvingParams, flag: StopFlag) -> None:
        work = asyncio.ensure_future(
            asyncio.to_thread(
                self.prover.generate_proof_from_dir,
                self.directory,
                challenge,
                params,
                nonces=self.nonces,
                should_stop=flag,
            )
        )
        try:
            proof = await asyncio.shield(work)
        except asyncio.CancelledError:
            flag.set()  # the thread ends at its next check; wait for it so no thread outlives us
            await asyncio.gather(work, return_exceptions=True)
            raise
        except ProvingStoppedError:
            return
        except (ProofNotFoundError, PostDataError, ProofParameterError) as exc:
            LOG.error("proving failed: %s", exc)
            await self._report_failure(challenge, f"{type(exc).__name__}: {exc}")
            return
        finally:
            if self._proving is not None and self._proving[1] is flag:
                self._proving = None
        LOG.info("proof found for challenge %s… (nonce %d)", challenge.hex()[:12], proof.nonce)
        self.proofs_found += 1
        self._proof = (challenge, PostV1(proof.nonce, proof.indices, proof.pow))
        await self._send_proof(challenge)

    def _start_send(self, challenge: bytes) -> None:
        task = asyncio.create_task(self._send_proof(challenge), name="post-service-send")
        self._send_tasks.add(task)
        task.add_done_callback(self._send_tasks.discard)

    async def _send_proof(self, challenge: bytes) -> None:
        """Send the kept proof of ``challenge`` for the latest request (when connected)."""
        session, wanted, kept = self.session, self._wanted, self._proof
        if session is None or wanted is None or wanted[0] != challenge or kept is None or kept[0] != challenge:
            return  # sent when the node asks again
        key = (session.session, wanted[1])
        if key in self._sending:
            return  # on its way (the node asked again while checking it)
        post = kept[1]
        request = PostProofGenerated(
            self.node_id, session.session, wanted[1], post.nonce, bytes(post.indices), post.pow
        )
        self._sending.add(key)
        try:
            reply = await self._request(request, timeout=max(30.0, self.request_timeout_s))
        except (BusTimeoutError, RemoteError, EnvelopeError) as exc:
            LOG.warning("could not deliver the proof (%s); it is sent again when the node asks", exc)
            return
        finally:
            self._sending.discard(key)
        if isinstance(reply, PostProofAnswered) and reply.accepted:
            self.proofs_accepted += 1
            LOG.info("the node accepted the proof for challenge %s…", challenge.hex()[:12])
        else:
            reason = reply.reason if isinstance(reply, PostProofAnswered) else type(reply).__name__
            LOG.warning("the node refused the proof: %s", reason)

    async def _report_failure(self, challenge: bytes, reason: str) -> None:
        session, wanted = self.session, self._wanted
        if session is None or wanted is None or wanted[0] != challenge:
            return
        with contextlib.suppress(BusTimeoutError, RemoteError, EnvelopeError):
            await self._request(PostProofFailed(self.node_id, session.session, wanted[1], reason[:256]))

    async def _shutdown(self) -> None:
        """Stop proving (waiting for the thread) and close the sockets."""
        if self._proving is not None:
            self._proving[1].set()
        for task in list(self._prove_tasks | self._send_tasks):
            task.cancel()
        await asyncio.gather(*self._prove_tasks, *self._send_tasks, return_exceptions=True)
        await self.link.close()
