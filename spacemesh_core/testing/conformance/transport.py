"""The conformance suite every transport backend passes (a third party's included).

Subclass :class:`TransportConformance` in a test module and implement :meth:`make_transport`::

    class TestMyTransport(TransportConformance):
        async def make_transport(self, **options):
            return MyTransport(**options)

``options`` are ``peer_exchange`` (bool) and ``policy`` (a GossipPolicy). The suite starts,
connects and stops the transports itself.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from spacemesh_core.p2p.gossip import GossipPolicy
from spacemesh_core.testing.waiting import wait_until
from spacemesh_hooks.interfaces import Transport, TransportError, ValidationResult

TOPIC = "conformance/1"


class Inbox:
    """A gossip validator that records what it saw and answers with a fixed verdict."""

    def __init__(self, verdict: ValidationResult = ValidationResult.ACCEPT) -> None:
        self.verdict = verdict
        self.seen: list[tuple[bytes, bytes]] = []

    async def __call__(self, peer_id: bytes, data: bytes) -> ValidationResult:
        self.seen.append((peer_id, data))
        return self.verdict

    def get_payloads(self) -> list[bytes]:
        return [data for _, data in self.seen]


class TransportConformance:
    """Shared behaviour of transports: gossip, validation before forwarding, dedup, fetch, scores."""

    async def make_transport(self, **options: Any) -> Transport:
        """Return a new, not yet started transport."""
        raise NotImplementedError("subclasses return their backend here")

    @contextlib.asynccontextmanager
    async def network(self, count: int, **options: Any) -> AsyncIterator[list[Transport]]:
        nodes = [await self.make_transport(**options) for _ in range(count)]
        for node in nodes:
            await node.start()
        try:
            yield nodes
        finally:
            for node in nodes:
                await node.stop()

    @staticmethod
    async def link(a: Transport, b: Transport) -> None:
        await a.connect(b.get_address())
        await wait_until(
            lambda: any(p.peer_id == b.peer_id for p in a.get_peers())
            and any(p.peer_id == a.peer_id for p in b.get_peers()),
            what="a symmetric link",
        )

    async def test_gossip_is_forwarded_along_a_line(self) -> None:
        async with self.network(3, peer_exchange=False) as (a, b, c):
            inboxes = [Inbox() for _ in range(3)]
            for node, inbox in zip((a, b, c), inboxes, strict=True):
                node.register_gossip(TOPIC, inbox)
            await self.link(a, b)
            await self.link(b, c)
            assert not any(p.peer_id == c.peer_id for p in a.get_peers())
            await a.publish(TOPIC, b"hello line")
            await wait_until(lambda: inboxes[2].get_payloads() == [b"hello line"], what="c receiving via b")
            assert inboxes[1].seen == [(a.peer_id, b"hello line")]
            assert inboxes[2].seen[0][0] == b.peer_id  # forwarded by b, not sent by a
            assert inboxes[0].seen == []  # our own message is not validated on echo

    async def test_rejected_gossip_is_not_forwarded_and_lowers_the_score(self) -> None:
        async with self.network(3, peer_exchange=False) as (a, b, c):
            c_inbox = Inbox()
            a.register_gossip(TOPIC, Inbox())
            b.register_gossip(TOPIC, Inbox(ValidationResult.REJECT))
            c.register_gossip(TOPIC, c_inbox)
            await self.link(a, b)
            await self.link(b, c)
            await a.publish(TOPIC, b"invalid")
            await a.publish(TOPIC, b"invalid too")
            await wait_until(
                lambda: next(p.score for p in b.get_peers() if p.peer_id == a.peer_id) < 0, what="a penalty"
            )
            await b.publish(TOPIC, b"marker")  # b's own gossip reaches c; a's invalid ones never do
            await wait_until(lambda: c_inbox.get_payloads() == [b"marker"], what="the marker at c")

    async def test_each_message_is_validated_once_per_node(self) -> None:
        async with self.network(4) as nodes:
            inboxes = [Inbox() for _ in nodes]
            for node, inbox in zip(nodes, inboxes, strict=True):
                node.register_gossip(TOPIC, inbox)
            for other in nodes[1:]:
                await self.link(nodes[0], other)
            await wait_until(lambda: all(len(n.get_peers()) == 3 for n in nodes), what="a full mesh by peer exchange")
            for i in range(5):
                await nodes[i % 4].publish(TOPIC, f"msg {i}".encode())
            expected = {f"msg {i}".encode() for i in range(5)}
            await wait_until(
                lambda: all(
                    set(inbox.get_payloads()) == {m for j, m in enumerate(sorted(expected)) if j % 4 != k}
                    for k, inbox in enumerate(inboxes)
                ),
                what="every message everywhere",
            )
            await asyncio.sleep(0.2)  # give duplicates time to arrive; they must not be validated
            for inbox in inboxes:
                assert len(inbox.seen) == len(set(inbox.get_payloads()))

    async def test_request_response(self) -> None:
        async with self.network(2, peer_exchange=False) as (a, b):
            async def echo(peer_id: bytes, data: bytes) -> bytes:
                return peer_id + data[::-1]

            async def broken(peer_id: bytes, data: bytes) -> bytes:
                raise ValueError("no such blob")

            async def slow(peer_id: bytes, data: bytes) -> bytes:
                await asyncio.sleep(5)
                return b""

            b.register_handler("echo/1", echo)
            b.register_handler("broken/1", broken)
            b.register_handler("slow/1", slow)
            await self.link(a, b)
            assert await a.request(b.peer_id, "echo/1", b"abc") == a.peer_id + b"cba"
            with pytest.raises(TransportError, match="no such blob"):
                await a.request(b.peer_id, "broken/1", b"")
            with pytest.raises(TransportError, match="unknown protocol"):
                await a.request(b.peer_id, "missing/1", b"")
            with pytest.raises(TransportError, match="timed out"):
                await a.request(b.peer_id, "slow/1", b"", timeout=0.2)
            with pytest.raises(TransportError, match="not connected"):
                await a.request(b"\x01" * 32, "echo/1", b"")
            results = await asyncio.gather(*(a.request(b.peer_id, "echo/1", bytes([i])) for i in range(20)))
            assert results == [a.peer_id + bytes([i]) for i in range(20)]

    async def test_a_misbehaving_peer_is_disconnected(self) -> None:
        policy = GossipPolicy(penalty_reject=10.0, disconnect_score=-30.0)
        async with self.network(2, peer_exchange=False, policy=policy) as (honest, evil):
            honest.register_gossip(TOPIC, Inbox(ValidationResult.REJECT))
            evil.register_gossip(TOPIC, Inbox())
            await self.link(evil, honest)
            for i in range(5):
                await evil.publish(TOPIC, f"garbage {i}".encode())
            await wait_until(
                lambda: all(p.peer_id != evil.peer_id for p in honest.get_peers()), what="the evil peer dropped"
            )
            with pytest.raises(TransportError):
                await honest.connect(evil.get_address())

    async def test_unknown_topics_are_dropped(self) -> None:
        async with self.network(2, peer_exchange=False) as (a, b):
            inbox = Inbox()
            b.register_gossip(TOPIC, inbox)
            a.register_gossip("other/1", Inbox())
            await self.link(a, b)
            await a.publish("other/1", b"not for b")
            await a.publish(TOPIC, b"for b")
            await wait_until(lambda: inbox.get_payloads() == [b"for b"], what="delivery")

    async def test_oversized_gossip_is_refused(self) -> None:
        async with self.network(1, policy=GossipPolicy(max_message_bytes=1024)) as (a,):
            a.register_gossip(TOPIC, Inbox())
            with pytest.raises(TransportError, match="exceeds"):
                await a.publish(TOPIC, b"x" * 2048)


AwaitableFactory = Callable[..., Awaitable[Transport]]
