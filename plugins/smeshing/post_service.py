"""Remote proving for 1:N smeshing, the post service's side (``spacemesh post serve``).

A post service holds one identity's PoST data and proves on the node's request. It opens every
connection itself (the node never dials it):

1. it reads ``postdata_metadata.json``, checks the data is complete and its VRF nonce verifies
   with the given scrypt N, and locks the directory (one service per data directory);
2. it announces the data at the node's post listener (``--node tcp://HOST:PORT``); the node
   accepts it (a session, the post bus endpoints, the proving parameters K1, K2 and the k2pow
   difficulty) or refuses it with a reason: a permanent refusal (data of another identity, other
   parameters) ends the service, a temporary one (another service still connected) is retried;
3. it subscribes to :class:`PostProofRequested` on the post bus, takes those of its own node id
   (others are ignored and counted) and proves in a worker thread with the bundle's prover;
   the proof goes back as a :class:`PostProofGenerated` request, answered with the node's verdict;
4. it sends a heartbeat every interval; when the node does not answer or no longer knows the
   session (it restarted), the service announces again until the node is back. A proof finished
   while the node was away is kept and sent when the node asks again for the same challenge.

:meth:`PostService.run` returns when its stop event is set, after the proving thread has ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from pathlib import Path
from typing import Any

from spacemesh_core.activation.post_setup import IdentityInUseError, PostDataLock
from spacemesh_core.bus import BusAddress, BusClient, BusTimeoutError, RemoteError, Subscription
from spacemesh_core.bus.envelope import EnvelopeError
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
from spacemesh_plugins.smeshing.remote import POST_LISTENER_MAX_MESSAGE_BYTES

LOG = logging.getLogger(__name__)

#: missed heartbeats after which the service considers the node gone and announces again
MISSED_HEARTBEATS_LIMIT = 3


class PostServiceError(RuntimeError):
    """The post service cannot run: unusable data, a locked directory, a bad node endpoint."""


class PostServiceRejectedError(PostServiceError):
    """The node refused the service permanently (data of another identity, other parameters)."""


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
        #: sessions accepted so far (1 + reconnections)
        self.sessions = 0
        self._client = BusClient(
            BusAddress(node_endpoint, "", ""),
            self.registry,
            self.name,
            max_message_bytes=POST_LISTENER_MAX_MESSAGE_BYTES,
        )
        self._wanted: tuple[bytes, str] | None = None  # (challenge, latest request id)
        self._proof: tuple[bytes, PostV1] | None = None  # the latest proof (challenge, proof)
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
            "serving PoST data of node id %s… (%d units) from %s to %s",
            self.node_id.hex()[:12],
            self.metadata.num_units,
            self.directory,
            self.node_endpoint,
        )
        try:
            while not stop.is_set():
                accepted = await self._announce(stop)
                if accepted is None:
                    break
                await self._run_session(accepted, stop)
        finally:
            await self._shutdown()
            self.lock.release()

    async def _request(self, request: Any, timeout: float | None = None) -> Any:
        return await self._client.request(self.node_endpoint, request, timeout=timeout or self.request_timeout_s)

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
        while not stop.is_set():
            try:
                reply = await self._request_unless_stopped(announcement, stop)
                if reply is None:
                    break
            except BusTimeoutError:
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
        bus = BusClient(
            BusAddress(accepted.bus_ingress, accepted.bus_state, accepted.bus_telemetry),
            self.registry,
            self.name,
            max_message_bytes=POST_LISTENER_MAX_MESSAGE_BYTES,
        )
        try:
            subscription = await bus.subscribe([PostProofRequested], timeout=self.request_timeout_s)
        except BusTimeoutError:
            LOG.warning("the post bus of the node did not answer; announcing again")
            await bus.close()
            return
        params = ProvingParams(accepted.k1, accepted.k2, accepted.pow_difficulty)
        if self.session is None or self._get_params(self.session) != params:
            self._proof = None  # a proof made with other parameters is of no use
        self.session = accepted
        tasks = [
            asyncio.create_task(self._send_heartbeats(accepted), name="post-service-heartbeat"),
            asyncio.create_task(self._take_requests(subscription), name="post-service-requests"),
            asyncio.create_task(stop.wait(), name="post-service-stop"),
        ]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.session = None
            await bus.close()

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

    async def _take_requests(self, subscription: Subscription) -> None:
        while True:
            event = await subscription.get()
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
        post = kept[1]
        request = PostProofGenerated(
            self.node_id, session.session, wanted[1], post.nonce, bytes(post.indices), post.pow
        )
        try:
            reply = await self._request(request, timeout=max(30.0, self.request_timeout_s))
        except (BusTimeoutError, RemoteError, EnvelopeError) as exc:
            LOG.warning("could not deliver the proof (%s); it is sent again when the node asks", exc)
            return
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
        await self._client.close()
