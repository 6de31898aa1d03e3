"""The ZeroMQ transport.

Every node binds one ROUTER socket (CurveZMQ server) and dials each peer with a DEALER (CurveZMQ
client whose key pair is the node's). The ZAP handler accepts any client key and stamps it on every
inbound frame as ``User-Id``, so the sender of each message is authenticated: a peer id *is* a Curve
public key. Links are symmetric: a peer that dials us is dialled back.

Frames sent on a DEALER (the ROUTER sees the routing id in front):

====  ==============================================  =============================
kind  parts                                           meaning
====  ==============================================  =============================
H     listen address, network id                      hello, first frame on a link
G     topic, data                                     gossip
Q     request id (8 bytes), protocol, data            request
P     -                                               peer-exchange request
====  ==============================================  =============================

The ROUTER answers ``Q`` with ``R, request id, b"ok"|b"err", data`` and ``P`` with ``L, CBOR list``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from typing import Any

import attrs
import cbor2
import zmq
import zmq.asyncio
from zmq.auth.thread import ThreadAuthenticator
from zmq.utils import z85

from spacemesh_core.p2p.gossip import GossipPolicy, GossipRouter
from spacemesh_hooks.interfaces import GossipValidator, PeerInfo, RequestHandler, TransportError
from spacemesh_plugins.transport_zmq.curve import (
    get_client_key,
    set_curve_client,
    set_curve_server,
    start_curve_authenticator,
)

log = logging.getLogger(__name__)

MAX_PEERS_IN_EXCHANGE = 64
#: a peer that leaves this many requests in a row unanswered is dropped (it may dial back later)
MAX_CONSECUTIVE_TIMEOUTS = 2
_FRAME_OVERHEAD = 4096


def format_address(peer_id: bytes, endpoint: str) -> str:
    """Return the dialable address ``<hex peer id>@<endpoint>``."""
    return f"{peer_id.hex()}@{endpoint}"


def parse_address(address: str) -> tuple[bytes, str]:
    """Split ``<hex peer id>@tcp://host:port``.

    :raises TransportError: for anything else.
    """
    key_hex, sep, endpoint = address.partition("@")
    try:
        peer_id = bytes.fromhex(key_hex)
    except ValueError:
        peer_id = b""
    if not sep or len(peer_id) != 32 or not endpoint.startswith("tcp://"):
        raise TransportError(f"peer address {address!r} is not <64 hex digits>@tcp://host:port")
    return peer_id, endpoint


@attrs.define
class _Peer:
    peer_id: bytes
    address: str
    dealer: zmq.asyncio.Socket
    reader: asyncio.Task[None] | None = None
    outbound: bool = True


class ZmqTransport:
    """A transport over ZeroMQ TCP with CurveZMQ.

    :param secret_key: 32-byte Curve secret key (the peer id is its public key); generated if None.
    :param listen: endpoint to bind, e.g. ``tcp://127.0.0.1:0`` (port 0 picks a free port).
    :param network_id: peers of another network are refused at hello.
    :param bootnodes: addresses dialled at start.
    """

    def __init__(
        self,
        *,
        secret_key: bytes | None = None,
        listen: str = "tcp://127.0.0.1:0",
        network_id: str = "",
        bootnodes: list[str] | None = None,
        max_peers: int = 32,
        peer_exchange: bool = True,
        policy: GossipPolicy | None = None,
    ) -> None:
        self.peer_exchange = peer_exchange
        if secret_key is None:
            public_z85, secret_z85 = zmq.curve_keypair()
        else:
            secret_z85 = z85.encode(secret_key)
            public_z85 = zmq.curve_public(secret_z85)
        self._public_z85 = public_z85
        self._secret_z85 = secret_z85
        self.peer_id: bytes = z85.decode(public_z85)
        self.listen = listen
        self.network_id = network_id
        self.bootnodes = list(bootnodes or [])
        self.max_peers = max_peers
        self.router = GossipRouter(policy)
        self._handlers: dict[str, RequestHandler] = {}
        self._peers: dict[bytes, _Peer] = {}
        self._pending: dict[bytes, asyncio.Future[tuple[bytes, bytes]]] = {}
        self._request_ids = itertools.count(1)
        self._ctx: zmq.asyncio.Context | None = None
        self._auth: ThreadAuthenticator | None = None
        self._server: zmq.asyncio.Socket | None = None
        self._endpoint = ""
        self._tasks: set[asyncio.Task[Any]] = set()
        self._timeouts: dict[bytes, int] = {}

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Bind the ROUTER, start the ZAP handler, dial the bootnodes."""
        self._ctx = zmq.asyncio.Context()
        self._auth = start_curve_authenticator(self._ctx)  # any client key: a peer id is its key
        server = self._ctx.socket(zmq.ROUTER)
        server.setsockopt(zmq.LINGER, 0)
        server.setsockopt(zmq.MAXMSGSIZE, self.router.policy.max_message_bytes + _FRAME_OVERHEAD)
        server.setsockopt(zmq.ROUTER_HANDOVER, 1)
        set_curve_server(server, z85.decode(self._secret_z85))
        if self.listen.endswith(":0"):
            port = server.bind_to_random_port(self.listen[: -len(":0")])
            self._endpoint = f"{self.listen[: -len(':0')]}:{port}"
        else:
            server.bind(self.listen)
            self._endpoint = self.listen
        self._server = server
        self._spawn(self._serve())
        for address in self.bootnodes:
            with contextlib.suppress(TransportError):
                await self.connect(address)

    async def stop(self) -> None:
        """Close every link, cancel background tasks, stop the ZAP handler, terminate the context."""
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for peer in list(self._peers.values()):
            peer.dealer.close(0)
        self._peers.clear()
        for future in self._pending.values():
            if not future.done():
                future.set_exception(TransportError("transport stopped"))
        self._pending.clear()
        if self._server is not None:
            self._server.close(0)
            self._server = None
        if self._auth is not None:
            self._auth.stop()
            self._auth = None
        if self._ctx is not None:
            self._ctx.term()
            self._ctx = None

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- public API ----------------------------------------------------------------------------

    def get_address(self) -> str:
        """Return ``<hex peer id>@<bound endpoint>``."""
        return format_address(self.peer_id, self._endpoint)

    def register_gossip(self, topic: str, validator: GossipValidator) -> None:
        """Accept gossip on ``topic`` through ``validator``."""
        self.router.register(topic, validator)

    def register_handler(self, protocol: str, handler: RequestHandler) -> None:
        """Answer requests of ``protocol``."""
        if protocol in self._handlers:
            raise ValueError(f"request protocol {protocol!r} registered twice")
        self._handlers[protocol] = handler

    def get_peers(self) -> list[PeerInfo]:
        """Return the connected peers with their scores."""
        return [
            PeerInfo(p.peer_id, p.address, self.router.get_score(p.peer_id), p.outbound)
            for p in self._peers.values()
        ]

    async def publish(self, topic: str, data: bytes) -> None:
        """Gossip our own ``data`` on ``topic`` to every peer."""
        if len(data) > self.router.policy.max_message_bytes:
            raise TransportError(f"gossip of {len(data)} bytes exceeds the limit")
        self.router.mark_seen(topic, data)
        await self._broadcast(topic, data, exclude=None)

    async def request(self, peer_id: bytes, protocol: str, data: bytes, timeout: float = 10.0) -> bytes:
        """Send a request and wait for the response.

        :raises TransportError: unknown peer, timeout or remote error.
        """
        peer = self._peers.get(peer_id)
        if peer is None:
            raise TransportError(f"not connected to peer {peer_id.hex()[:12]}")
        request_id = next(self._request_ids).to_bytes(8, "big")
        future: asyncio.Future[tuple[bytes, bytes]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            await peer.dealer.send_multipart([b"Q", request_id, protocol.encode(), data])
            status, payload = await asyncio.wait_for(future, timeout)
        except TimeoutError:
            # ZeroMQ hides a dead peer behind a connected socket: unanswered requests tell us
            self._timeouts[peer_id] = self._timeouts.get(peer_id, 0) + 1
            if self._timeouts[peer_id] >= MAX_CONSECUTIVE_TIMEOUTS:
                log.info("peer %s stopped answering; dropping it", peer_id.hex()[:12])
                await self.disconnect(peer_id)
            raise TransportError(f"request {protocol!r} to {peer_id.hex()[:12]} timed out") from None
        finally:
            self._pending.pop(request_id, None)
        self._timeouts.pop(peer_id, None)
        if status != b"ok":
            raise TransportError(f"peer {peer_id.hex()[:12]} answered {protocol!r} with error: {payload.decode()}")
        return payload

    async def connect(self, address: str) -> bytes:
        """Dial ``address`` (idempotent) and return the peer id."""
        peer_id, endpoint = parse_address(address)
        if peer_id == self.peer_id:
            raise TransportError("refusing to dial ourselves")
        if self.router.is_banned(peer_id):
            raise TransportError(f"peer {peer_id.hex()[:12]} is banned")
        if peer_id in self._peers:
            return peer_id
        if len(self._peers) >= self.max_peers:
            raise TransportError("peer limit reached")
        assert self._ctx is not None, "transport not started"
        dealer = self._ctx.socket(zmq.DEALER)
        dealer.setsockopt(zmq.LINGER, 0)
        dealer.setsockopt(zmq.MAXMSGSIZE, self.router.policy.max_message_bytes + _FRAME_OVERHEAD)
        set_curve_client(dealer, z85.decode(self._secret_z85), peer_id)
        dealer.connect(endpoint)
        peer = _Peer(peer_id, address, dealer)
        self._peers[peer_id] = peer
        await dealer.send_multipart([b"H", self._endpoint.encode(), self.network_id.encode()])
        if self.peer_exchange:
            await dealer.send_multipart([b"P"])
        peer.reader = self._spawn(self._read_dealer(peer))
        return peer_id

    async def disconnect(self, peer_id: bytes) -> None:
        """Close the link to ``peer_id``."""
        peer = self._peers.pop(peer_id, None)
        self._timeouts.pop(peer_id, None)
        if peer is not None:
            if peer.reader is not None:
                peer.reader.cancel()
            peer.dealer.close(0)

    # -- internals -----------------------------------------------------------------------------

    async def _broadcast(self, topic: str, data: bytes, exclude: bytes | None) -> None:
        frames = [b"G", topic.encode(), data]
        for peer in list(self._peers.values()):
            if peer.peer_id != exclude:
                await peer.dealer.send_multipart(frames)

    async def _serve(self) -> None:
        assert self._server is not None
        server = self._server
        while True:
            frames = await server.recv_multipart(copy=False)
            if len(frames) < 2:
                continue
            sender = get_client_key(frames[1])
            if sender is None:  # no authenticated key: cannot happen with CURVE, but never trust it
                continue
            if self.router.is_banned(sender):
                continue
            routing_id = frames[0].bytes
            parts = [f.bytes for f in frames[1:]]
            try:
                await self._handle_inbound(sender, routing_id, parts)
            except Exception as exc:  # a peer's bad frame must not stop the server
                log.debug("bad frame from %s: %r", sender.hex()[:12], exc)
                self.router.penalize(sender, self.router.policy.penalty_reject)
            if self.router.is_banned(sender):
                await self.disconnect(sender)

    async def _handle_inbound(self, sender: bytes, routing_id: bytes, parts: list[bytes]) -> None:
        kind = parts[0]
        if kind == b"G" and len(parts) == 3:
            topic = parts[1].decode("ascii")
            if await self.router.handle_incoming(sender, topic, parts[2]):
                await self._broadcast(topic, parts[2], exclude=sender)
        elif kind == b"Q" and len(parts) == 4:
            self._spawn(self._answer(routing_id, parts[1], parts[2].decode("ascii"), parts[3], sender))
        elif kind == b"H" and len(parts) == 3:
            if parts[2].decode() != self.network_id:
                log.info("peer %s is on another network; refusing it", sender.hex()[:12])
                self.router.penalize(sender, -self.router.policy.disconnect_score)  # wrong network: ban
                return
            endpoint = parts[1].decode("ascii")
            address = format_address(sender, endpoint)
            known = self._peers.get(sender)
            if known is not None and known.address != address:
                # the peer restarted on another endpoint: our old link leads nowhere any more
                log.info("peer %s moved to %s; relinking", sender.hex()[:12], endpoint)
                await self.disconnect(sender)
                known = None
            if known is None and len(self._peers) < self.max_peers:
                self._spawn(self._dial_back(address))
        elif kind == b"P" and len(parts) == 1:
            addresses = [p.address for p in list(self._peers.values())[:MAX_PEERS_IN_EXCHANGE]]
            assert self._server is not None
            await self._server.send_multipart([routing_id, b"L", cbor2.dumps(addresses)])
        else:
            raise ValueError(f"unknown frame kind {kind[:1]!r} with {len(parts)} parts")

    async def _dial_back(self, address: str) -> None:
        with contextlib.suppress(TransportError):
            await self.connect(address)

    async def _answer(self, routing_id: bytes, request_id: bytes, protocol: str, data: bytes, sender: bytes) -> None:
        handler = self._handlers.get(protocol)
        if handler is None:
            status, payload = b"err", f"unknown protocol {protocol!r}".encode()
        else:
            try:
                status, payload = b"ok", await handler(sender, data)
            except Exception as exc:
                status, payload = b"err", str(exc).encode()[:1000]
        if self._server is not None:
            await self._server.send_multipart([routing_id, b"R", request_id, status, payload])

    async def _read_dealer(self, peer: _Peer) -> None:
        while True:
            parts = await peer.dealer.recv_multipart()
            try:
                if parts[0] == b"R" and len(parts) == 4:
                    future = self._pending.get(parts[1])
                    if future is not None and not future.done():
                        future.set_result((parts[2], parts[3]))
                elif parts[0] == b"L" and len(parts) == 2:
                    addresses = cbor2.loads(parts[1])
                    if not isinstance(addresses, list):
                        raise ValueError("peer list is not a list")
                    for address in addresses[:MAX_PEERS_IN_EXCHANGE]:
                        if isinstance(address, str):
                            self._spawn(self._dial_back(address))
                else:
                    raise ValueError("unexpected frame on an outbound link")
            except Exception:
                self.router.penalize(peer.peer_id, self.router.policy.penalty_reject)
                if self.router.is_banned(peer.peer_id):
                    await self.disconnect(peer.peer_id)
                    return
