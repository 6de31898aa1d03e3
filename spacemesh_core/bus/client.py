"""Asyncio clients of the bus: publishing, subscribing (with the slow-joiner handshake) and
request/reply with timeouts."""

from __future__ import annotations

import asyncio
import collections
import itertools
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

import zmq
import zmq.asyncio

from spacemesh_core.bus.broker import DEFAULT_MAX_MESSAGE_BYTES, BusAddress
from spacemesh_core.bus.envelope import (
    ERROR_TOPIC,
    HELLO_PREFIX,
    EnvelopeError,
    check_frames,
    decode_cbor_strict,
    decode_event,
    encode_event,
    encode_frames,
    encode_topic,
)
from spacemesh_core.events import EventRegistry, get_topic
from spacemesh_core.kernel.services import cancel_task


def _sync_view(sock: zmq.asyncio.Socket) -> zmq.Socket[Any]:
    """Return a synchronous socket sharing ``sock``'s ZeroMQ socket (for non-blocking fast paths)."""
    return zmq.Socket.shadow(sock.underlying)


class BusTimeoutError(TimeoutError):
    """A request got no reply in time, or a subscription could not be confirmed."""


class RemoteError(RuntimeError):
    """The replying service reported an error for a request."""


def _async_context(context: zmq.Context[Any] | None) -> zmq.asyncio.Context:
    base = context or zmq.Context.instance()
    if isinstance(base, zmq.asyncio.Context):
        return base
    return zmq.asyncio.Context.shadow(base.underlying)


class BusClient:
    """One participant on the bus (a service, a tool, a process).

    :param address: the broker's address.
    :param registry: the event registry used to encode and decode events.
    :param name: sender name put in every envelope header.
    :param context: a ZeroMQ context; it must be the broker's for ``inproc`` addresses.
    """

    def __init__(
        self,
        address: BusAddress,
        registry: EventRegistry,
        name: str,
        *,
        context: zmq.Context[Any] | None = None,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    ) -> None:
        self.address = address
        self.registry = registry
        self.name = name
        self.max_message_bytes = max_message_bytes
        self._base_ctx = context  # keep the caller's context alive as long as its shadow is used
        self._ctx = _async_context(context)
        self._seq = itertools.count()
        self._push: zmq.asyncio.Socket | None = None
        self._push_sync: zmq.Socket[Any] | None = None
        self._subscriptions: list[Subscription] = []

    def _get_push(self) -> zmq.asyncio.Socket:
        if self._push is None:
            push = self._ctx.socket(zmq.PUSH)
            push.setsockopt(zmq.LINGER, 2000)  # let queued state events reach the broker on close
            push.connect(self.address.ingress)
            self._push = push
            self._push_sync = _sync_view(push)
        return self._push

    async def publish(self, evt: Any) -> None:
        """Publish event ``evt``; waits (back-pressure) rather than drop when queues are full."""
        await self.publish_raw(encode_event(self.registry, evt, self.name, next(self._seq)))

    async def publish_raw(self, frames: list[bytes]) -> None:
        """Send raw frames to the broker (for tools and tests of the broker's checks)."""
        push = self._get_push()
        try:
            # fast path: a synchronous non-blocking send avoids a future per message
            assert self._push_sync is not None
            self._push_sync.send_multipart(frames, zmq.NOBLOCK)
        except zmq.Again:
            await push.send_multipart(frames)

    async def subscribe(
        self, topics: Iterable[str | type] = (), *, timeout: float = 10.0, telemetry_hwm: int = 1000
    ) -> Subscription:
        """Subscribe to events of ``topics`` (topic names or event classes; empty: everything).

        Returns only after the broker has confirmed the subscription on both fan-out sockets
        (the slow-joiner handshake), so no event published after this returns is missed.

        :raises BusTimeoutError: when the broker cannot be reached within ``timeout``.
        """
        names = [t if isinstance(t, str) else get_topic(t) for t in topics]
        sub = Subscription(self, names, telemetry_hwm)
        await sub.confirm(timeout)
        self._subscriptions.append(sub)
        return sub

    async def request(self, endpoint: str, evt: Any, *, timeout: float = 10.0) -> Any:
        """Send request event ``evt`` to the replier at ``endpoint`` and return its reply event.

        :raises BusTimeoutError: no reply within ``timeout`` seconds.
        :raises RemoteError: the replier reported an error.
        :raises EnvelopeError: the reply is malformed.
        """
        sock = self._ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.MAXMSGSIZE, self.max_message_bytes)
        try:
            sock.connect(endpoint)
            await sock.send_multipart([b"", *encode_event(self.registry, evt, self.name, next(self._seq))])
            if not await sock.poll(int(timeout * 1000)):
                raise BusTimeoutError(f"no reply from {endpoint} within {timeout} s")
            frames = await sock.recv_multipart()
        finally:
            sock.close()
        if len(frames) < 1 or frames[0] != b"":
            raise EnvelopeError("reply is missing its delimiter frame")
        body = frames[1:]
        if check_frames(body, self.max_message_bytes) == ERROR_TOPIC:
            raise RemoteError(str(decode_cbor_strict(body[2], "error").get("message", "remote error")))
        return decode_event(self.registry, body, self.max_message_bytes)[1]

    async def close(self) -> None:
        """Close every socket of this client."""
        for sub in self._subscriptions:
            sub.close()
        self._subscriptions.clear()
        if self._push is not None:
            self._push.close()
            self._push = None
            self._push_sync = None


class Subscription:
    """A confirmed subscription; iterate it or call :meth:`get`.

    It holds one socket per delivery class: the state socket's queue is unbounded (the broker
    applies back-pressure instead of dropping), the telemetry socket's queue is bounded by
    ``telemetry_hwm`` so a slow reader makes the broker drop (and count) telemetry. Messages that
    fail decoding are counted in :attr:`rejected` and skipped.
    """

    def __init__(self, client: BusClient, topics: list[str], telemetry_hwm: int = 1000) -> None:
        self._client = client
        self._token = uuid.uuid4().hex
        self._hello_topic = f"{HELLO_PREFIX}{self._token}"
        self._sockets: list[zmq.asyncio.Socket] = []
        for endpoint, hwm in ((client.address.state, 0), (client.address.telemetry, telemetry_hwm)):
            sock = client._ctx.socket(zmq.SUB)
            sock.setsockopt(zmq.LINGER, 0)
            sock.setsockopt(zmq.RCVHWM, hwm)
            sock.setsockopt(zmq.MAXMSGSIZE, client.max_message_bytes)
            for topic in topics:
                sock.setsockopt(zmq.SUBSCRIBE, encode_topic(topic))
            if not topics:
                sock.setsockopt(zmq.SUBSCRIBE, b"")
            sock.setsockopt(zmq.SUBSCRIBE, encode_topic(self._hello_topic))
            sock.connect(endpoint)
            self._sockets.append(sock)
        self._syncs = [_sync_view(sock) for sock in self._sockets]
        self._poller = zmq.asyncio.Poller()
        for sock in self._sockets:
            self._poller.register(sock, zmq.POLLIN)
        self.rejected: collections.Counter[str] = collections.Counter()
        self.received = 0

    async def confirm(self, timeout: float) -> None:
        """Publish hello probes until one came back on each socket (the slow-joiner handshake)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        hello = encode_topic(self._hello_topic)
        confirmed = [False] * len(self._sockets)
        while not all(confirmed):
            await self._client.publish_raw(encode_frames(self._hello_topic, {}, self._client.name, 0))
            for _ in range(2):
                for index, sock in enumerate(self._sockets):
                    while await sock.poll(10):
                        frames = await sock.recv_multipart()
                        confirmed[index] = confirmed[index] or frames[0] == hello
            if loop.time() > deadline:
                self.close()
                raise BusTimeoutError(f"bus at {self._client.address.ingress} did not confirm a subscription")
        # late duplicates of the probe are filtered in get()

    def _recv_ready(self) -> list[bytes] | None:
        for sync in self._syncs:  # state first: it must never wait behind telemetry
            try:
                return sync.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                continue
        return None

    async def get(self, timeout: float | None = None) -> Any:
        """Return the next event.

        :raises BusTimeoutError: when ``timeout`` passes without one.
        """
        hello_prefix = HELLO_PREFIX.encode()
        while True:
            frames = self._recv_ready()
            if frames is None:
                ready = await self._poller.poll(None if timeout is None else int(timeout * 1000))
                if not ready:
                    raise BusTimeoutError(f"no event within {timeout} s")
                continue
            if frames[0].startswith(hello_prefix):
                continue
            try:
                _, evt = decode_event(self._client.registry, frames, self._client.max_message_bytes)
            except EnvelopeError as exc:
                self.rejected[str(exc).split(":")[0][:60]] += 1
                continue
            self.received += 1
            return evt

    async def __aiter__(self) -> AsyncIterator[Any]:
        while True:
            yield await self.get()

    def close(self) -> None:
        """Close the subscription's sockets."""
        for sock in self._sockets:
            sock.close()


RequestHandler = Callable[[Any], Awaitable[Any]]


class Replier:
    """Answers requests at an endpoint with an async handler (request event -> reply event).

    A malformed request or a handler exception is answered with an error reply; the replier
    keeps serving.
    """

    def __init__(
        self,
        registry: EventRegistry,
        handler: RequestHandler,
        *,
        name: str = "replier",
        context: zmq.Context[Any] | None = None,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    ) -> None:
        self.registry = registry
        self.handler = handler
        self.name = name
        self.max_message_bytes = max_message_bytes
        self._base_ctx = context
        self._ctx = _async_context(context)
        self._sock: zmq.asyncio.Socket | None = None
        self._task: asyncio.Task[None] | None = None
        self._seq = itertools.count()
        self.errors = 0

    async def start(self, endpoint: str) -> str:
        """Bind ``endpoint`` (``tcp://host:0`` picks a free port) and start serving; return the endpoint."""
        sock = self._ctx.socket(zmq.ROUTER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.MAXMSGSIZE, self.max_message_bytes)
        if endpoint.startswith("tcp://") and endpoint.endswith(":0"):
            port = sock.bind_to_random_port(endpoint[: -len(":0")])
            endpoint = f"{endpoint[: -len(':0')]}:{port}"
        else:
            sock.bind(endpoint)
        self._sock = sock
        self._task = asyncio.create_task(self._serve(), name=f"replier-{self.name}")
        return endpoint

    async def _serve(self) -> None:
        assert self._sock is not None
        while True:
            frames = await self._sock.recv_multipart()
            if len(frames) < 2 or frames[1] != b"":
                self.errors += 1
                continue
            identity, body = frames[0], frames[2:]
            try:
                _, request = decode_event(self.registry, body, self.max_message_bytes)
                reply = await self.handler(request)
                out = encode_event(self.registry, reply, self.name, next(self._seq))
            except Exception as exc:  # report to the caller, keep serving
                self.errors += 1
                out = encode_frames(ERROR_TOPIC, {"message": str(exc)}, self.name, next(self._seq))
            await self._sock.send_multipart([identity, b"", *out])

    async def stop(self) -> None:
        """Stop serving and close the socket."""
        await cancel_task(self._task)
        self._task = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None
