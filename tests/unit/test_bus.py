"""The ZeroMQ bus: delivery classes, the slow-joiner handshake, request/reply, hostile frames."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import attrs
import cbor2
import pytest
import zmq
import zmq.asyncio

from spacemesh_core.bus import Broker, BusClient, BusTimeoutError, EnvelopeError, RemoteError, Replier
from spacemesh_core.bus.envelope import decode_event, encode_event, encode_topic
from spacemesh_core.events import Delivery, EventError, EventRegistry, event


@event("test.block_applied")
@attrs.frozen
class BlockApplied:
    layer: int
    block_id: bytes


@event("test.progress_reported", Delivery.TELEMETRY)
@attrs.frozen
class ProgressReported:
    done: int
    note: str = ""


@event("test.ping_requested")
@attrs.frozen
class PingRequested:
    payload: str
    fail: bool = False


@event("test.pong_replied")
@attrs.frozen
class PongReplied:
    payload: str
    items: list[int] = attrs.field(factory=list)


def make_registry() -> EventRegistry:
    registry = EventRegistry.with_core_events()
    for cls in (BlockApplied, ProgressReported, PingRequested, PongReplied):
        registry.register(cls)
    return registry


@pytest.fixture
async def bus() -> AsyncIterator[tuple[Broker, BusClient]]:
    broker = Broker(make_registry(), telemetry_hwm=50, max_message_bytes=64 * 1024)
    address = broker.start()
    client = BusClient(address, broker.registry, "test", context=broker.context, max_message_bytes=64 * 1024)
    yield broker, client
    await client.close()
    broker.stop()


async def test_no_state_event_is_lost_in_a_200k_burst(bus: tuple[Broker, BusClient]) -> None:
    broker, client = bus
    sub = await client.subscribe([BlockApplied])
    count = 200_000

    async def publish() -> None:
        for i in range(count):
            await client.publish(BlockApplied(layer=i, block_id=b"x"))

    async def receive() -> list[int]:
        got = []
        for _ in range(count):
            evt = await sub.get(timeout=30)
            got.append(evt.layer)
            if len(got) % 5000 == 0:
                await asyncio.sleep(0.001)  # a slow consumer: the broker must hold, not drop
        return got

    _, received = await asyncio.gather(publish(), receive())
    assert received == list(range(count))
    stats = broker.get_stats()
    assert stats.forwarded == count and not stats.dropped and not stats.rejected


async def test_telemetry_drops_are_counted_not_silent(bus: tuple[Broker, BusClient]) -> None:
    broker, client = bus
    sub = await client.subscribe([ProgressReported])
    sent = 20_000
    for i in range(sent):
        await client.publish(ProgressReported(done=i))
    # the subscriber has not read anything: its queue (hwm 50) overflowed at the broker
    await client.publish(BlockApplied(layer=1, block_id=b""))  # a state event marks the end
    marker = await client.subscribe([BlockApplied])
    await client.publish(BlockApplied(layer=2, block_id=b""))
    assert (await marker.get(timeout=10)).layer == 2
    received = 0
    with pytest.raises(BusTimeoutError):
        while True:
            await sub.get(timeout=0.3)
            received += 1
    stats = broker.get_stats()
    assert stats.dropped["test.progress_reported"] > 0
    assert received + stats.dropped["test.progress_reported"] == sent


async def test_subscription_is_live_when_subscribe_returns(bus: tuple[Broker, BusClient]) -> None:
    """The slow-joiner problem: the very first event after subscribe() must arrive."""
    _, client = bus
    for attempt in range(20):
        sub = await client.subscribe([BlockApplied])
        await client.publish(BlockApplied(layer=attempt, block_id=b"first"))
        assert (await sub.get(timeout=5)).layer == attempt
        sub.close()


async def test_subscribing_to_a_topic_is_exact(bus: tuple[Broker, BusClient]) -> None:
    _, client = bus
    sub = await client.subscribe(["test.ping_requested"])
    await client.publish(PongReplied(payload="not for you"))
    await client.publish(PingRequested(payload="for you"))
    assert (await sub.get(timeout=5)).payload == "for you"


async def test_malformed_frames_are_rejected_and_the_broker_goes_on(bus: tuple[Broker, BusClient]) -> None:
    broker, client = bus
    sub = await client.subscribe([BlockApplied])
    good = encode_event(broker.registry, BlockApplied(layer=1, block_id=b"ok"), "t", 0)
    hostile = [
        [b"only-one-frame"],
        [encode_topic("test.block_applied"), b"\xff\xff", good[2]],  # broken CBOR header
        [encode_topic("test.block_applied"), good[1], b"\x9f"],  # truncated body
        [encode_topic("test.block_applied"), good[1], cbor2.dumps([1, 2])],  # body not a map
        [encode_topic("test.unknown_topic"), good[1], good[2]],
        [b"no-nul-terminator", good[1], good[2]],
        [encode_topic("test.block_applied"), cbor2.dumps({"v": 1}), good[2]],  # header keys missing
        [encode_topic("test.block_applied"), good[1], good[2] + b"\x00"],  # trailing bytes
        [encode_topic("test.block_applied"), good[1], b"\x00" * (70 * 1024)],  # over the size cap
    ]
    for frames in hostile:
        await client.publish_raw(frames)
    await client.publish_raw(good)
    evt = await sub.get(timeout=5)
    assert evt == BlockApplied(layer=1, block_id=b"ok")
    assert sum(broker.get_stats().rejected.values()) == len(hostile)


async def test_subscriber_rejects_bodies_of_the_wrong_shape(bus: tuple[Broker, BusClient]) -> None:
    broker, client = bus
    sub = await client.subscribe([BlockApplied])
    good = encode_event(broker.registry, BlockApplied(layer=1, block_id=b"ok"), "t", 0)
    await client.publish_raw([good[0], good[1], cbor2.dumps({"layer": "one", "block_id": b""})])
    await client.publish_raw([good[0], good[1], cbor2.dumps({"layer": 1, "block_id": b"", "extra": 1})])
    await client.publish_raw(good)
    assert (await sub.get(timeout=5)).block_id == b"ok"
    assert sum(sub.rejected.values()) == 2


async def test_request_reply_with_errors_and_timeouts(bus: tuple[Broker, BusClient]) -> None:
    broker, client = bus

    async def handle(request: PingRequested) -> PongReplied:
        if request.fail:
            raise ValueError("asked to fail")
        return PongReplied(payload=request.payload.upper(), items=[1, 2, 3])

    replier = Replier(broker.registry, handle, name="pinger", context=broker.context)
    endpoint = await replier.start("tcp://127.0.0.1:0")
    try:
        reply = await client.request(endpoint, PingRequested(payload="hi"), timeout=5)
        assert reply == PongReplied(payload="HI", items=[1, 2, 3])
        with pytest.raises(RemoteError, match="asked to fail"):
            await client.request(endpoint, PingRequested(payload="x", fail=True), timeout=5)
        # the replier survives a malformed request
        raw = zmq.asyncio.Context.shadow(broker.context.underlying).socket(zmq.DEALER)
        raw.connect(endpoint)
        await raw.send_multipart([b"", b"garbage", b"\xff", b"\xff"])
        assert await raw.poll(5000)
        assert (await raw.recv_multipart())[1].startswith(b"\x01error")
        raw.close(0)
        assert (await client.request(endpoint, PingRequested(payload="ok"), timeout=5)).payload == "OK"
    finally:
        await replier.stop()
    with pytest.raises(BusTimeoutError):
        await client.request(endpoint, PingRequested(payload="nobody"), timeout=0.3)


async def test_bus_over_tcp_between_contexts() -> None:
    registry = make_registry()
    broker = Broker(registry, transport="tcp")
    address = broker.start()
    assert address.ingress.startswith("tcp://127.0.0.1:")
    other = BusClient(address, registry, "remote", context=zmq.Context())  # as another process would
    try:
        sub = await other.subscribe([BlockApplied])
        await other.publish(BlockApplied(layer=5, block_id=b"tcp"))
        assert (await sub.get(timeout=5)).block_id == b"tcp"
    finally:
        await other.close()
        broker.stop()


def test_event_registry_checks_types_and_topics() -> None:
    registry = make_registry()
    frames = encode_event(registry, PongReplied(payload="p", items=[4]), "t", 3)
    header, evt = decode_event(registry, frames, 1024)
    assert evt == PongReplied(payload="p", items=[4]) and header.seq == 3 and header.src == "t"
    with pytest.raises(EnvelopeError, match="field 'items'"):
        decode_event(registry, [frames[0], frames[1], cbor2.dumps({"payload": "p", "items": ["x"]})], 1024)

    @event("test.block_applied")
    @attrs.frozen
    class Impostor:
        layer: int

    with pytest.raises(EventError, match="already belongs"):
        registry.register(Impostor)

    @event("test.unsupported")
    @attrs.frozen
    class Unsupported:
        when: object

    with pytest.raises(EventError, match="not supported"):
        registry.register(Unsupported)
