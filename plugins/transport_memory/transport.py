"""An in-process transport: peers are objects on a shared :class:`MemoryNetwork`.

Gossip goes through the same :class:`~spacemesh_core.p2p.gossip.GossipRouter` as the ZeroMQ
transport (dedup, validation before forwarding, scores, bans); delivery is asynchronous (each
message is handed over on the event loop, never by a nested call).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from typing import Any

from spacemesh_core.p2p.gossip import GossipPolicy, GossipRouter
from spacemesh_hooks.interfaces import GossipValidator, PeerInfo, RequestHandler, TransportError

SCHEME = "memory://"


class MemoryNetwork:
    """The medium memory transports share: peer id -> transport."""

    def __init__(self) -> None:
        self.nodes: dict[bytes, MemoryTransport] = {}


_DEFAULT_NETWORK = MemoryNetwork()


class MemoryTransport:
    """A transport whose links are direct calls scheduled on the event loop."""

    def __init__(
        self,
        *,
        network: MemoryNetwork | None = None,
        peer_id: bytes | None = None,
        bootnodes: list[str] | None = None,
        max_peers: int = 32,
        peer_exchange: bool = True,
        policy: GossipPolicy | None = None,
    ) -> None:
        self.peer_exchange = peer_exchange
        self.network = network or _DEFAULT_NETWORK
        self.peer_id: bytes = peer_id or os.urandom(32)
        self.bootnodes = list(bootnodes or [])
        self.max_peers = max_peers
        self.router = GossipRouter(policy)
        self._handlers: dict[str, RequestHandler] = {}
        self._peers: set[bytes] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._running = False

    async def start(self) -> None:
        """Join the network and dial the bootnodes."""
        if self.peer_id in self.network.nodes:
            raise TransportError(f"peer id {self.peer_id.hex()[:12]} already on this memory network")
        self.network.nodes[self.peer_id] = self
        self._running = True
        for address in self.bootnodes:
            with contextlib.suppress(TransportError):
                await self.connect(address)

    async def stop(self) -> None:
        """Leave the network and drop every link."""
        self._running = False
        self.network.nodes.pop(self.peer_id, None)
        for peer_id in list(self._peers):
            other = self.network.nodes.get(peer_id)
            if other is not None:
                other._peers.discard(self.peer_id)
        self._peers.clear()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def get_address(self) -> str:
        """Return ``<hex peer id>@memory://``."""
        return f"{self.peer_id.hex()}@{SCHEME}"

    def register_gossip(self, topic: str, validator: GossipValidator) -> None:
        """Accept gossip on ``topic`` through ``validator``."""
        self.router.register(topic, validator)

    def register_handler(self, protocol: str, handler: RequestHandler) -> None:
        """Answer requests of ``protocol``."""
        if protocol in self._handlers:
            raise ValueError(f"request protocol {protocol!r} registered twice")
        self._handlers[protocol] = handler

    def get_peers(self) -> list[PeerInfo]:
        """Return the linked peers with their scores."""
        return [PeerInfo(p, f"{p.hex()}@{SCHEME}", self.router.get_score(p), True) for p in sorted(self._peers)]

    async def connect(self, address: str) -> bytes:
        """Link to the peer at ``address`` (both directions, like a real connection)."""
        key_hex, _, scheme = address.partition("@")
        try:
            peer_id = bytes.fromhex(key_hex)
        except ValueError:
            raise TransportError(f"peer address {address!r} is not <hex>@memory://") from None
        if scheme != SCHEME:
            raise TransportError(f"peer address {address!r} is not <hex>@memory://")
        other = self.network.nodes.get(peer_id)
        if other is None or peer_id == self.peer_id:
            raise TransportError(f"no peer {key_hex[:12]} on this memory network")
        if self.router.is_banned(peer_id) or other.router.is_banned(self.peer_id):
            raise TransportError(f"peer {key_hex[:12]} is banned")
        if peer_id not in self._peers:
            if len(self._peers) >= self.max_peers or len(other._peers) >= other.max_peers:
                raise TransportError("peer limit reached")
            self._peers.add(peer_id)
            other._peers.add(self.peer_id)
            # peer exchange, both ways as on a real link: each side learns the other's peers
            await self._learn_peers_of(other)
            await other._learn_peers_of(self)
        return peer_id

    async def _learn_peers_of(self, other: MemoryTransport) -> None:
        if not self.peer_exchange:
            return
        for candidate in list(other._peers):
            if candidate != self.peer_id and candidate not in self._peers:
                with contextlib.suppress(TransportError):
                    await self.connect(f"{candidate.hex()}@{SCHEME}")

    async def disconnect(self, peer_id: bytes) -> None:
        """Drop the link to ``peer_id``."""
        self._peers.discard(peer_id)
        other = self.network.nodes.get(peer_id)
        if other is not None:
            other._peers.discard(self.peer_id)

    async def publish(self, topic: str, data: bytes) -> None:
        """Gossip our own ``data`` on ``topic``."""
        if len(data) > self.router.policy.max_message_bytes:
            raise TransportError(f"gossip of {len(data)} bytes exceeds the limit")
        self.router.mark_seen(topic, data)
        self._broadcast(topic, data, exclude=None)

    def _broadcast(self, topic: str, data: bytes, exclude: bytes | None) -> None:
        for peer_id in list(self._peers):
            other = self.network.nodes.get(peer_id)
            if peer_id != exclude and other is not None:
                other._spawn(other._receive_gossip(self.peer_id, topic, data))

    def _spawn(self, coro: Any) -> None:
        if not self._running:
            coro.close()
            return
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _receive_gossip(self, sender: bytes, topic: str, data: bytes) -> None:
        if sender not in self._peers or self.router.is_banned(sender):
            return
        if await self.router.handle_incoming(sender, topic, data):
            self._broadcast(topic, data, exclude=sender)
        if self.router.is_banned(sender):
            await self.disconnect(sender)

    async def request(self, peer_id: bytes, protocol: str, data: bytes, timeout: float = 10.0) -> bytes:
        """Call ``peer_id``'s handler for ``protocol``.

        :raises TransportError: not linked, timeout, or the handler failed.
        """
        other = self.network.nodes.get(peer_id)
        if peer_id not in self._peers or other is None:
            raise TransportError(f"not connected to peer {peer_id.hex()[:12]}")
        handler = other._handlers.get(protocol)
        if handler is None:
            raise TransportError(f"peer {peer_id.hex()[:12]} answered {protocol!r} with error: unknown protocol")
        try:
            return await asyncio.wait_for(handler(self.peer_id, bytes(data)), timeout)
        except TimeoutError:
            raise TransportError(f"request {protocol!r} to {peer_id.hex()[:12]} timed out") from None
        except Exception as exc:
            raise TransportError(f"peer {peer_id.hex()[:12]} answered {protocol!r} with error: {exc}") from exc
