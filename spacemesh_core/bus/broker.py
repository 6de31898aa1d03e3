"""The bus broker: one ingress, two fan-out sockets (state and telemetry), in its own thread.

Publishers PUSH envelopes to the ingress; the broker checks each one and forwards it on the
fan-out socket of its event's delivery class. Both fan-out sockets are XPUB with ``XPUB_NODROP``,
so ZeroMQ never drops silently:

* state events are sent blocking: a slow subscriber slows the broker, the ingress queue fills and
  publishers wait (back-pressure; nothing is lost);
* telemetry events are sent without blocking: when a subscriber's queue is full the message is
  dropped and counted per topic in :attr:`BrokerStats.dropped`.

A malformed message is counted in :attr:`BrokerStats.rejected` and skipped; the broker goes on.
"""

from __future__ import annotations

import collections
import os
import tempfile
import threading
import uuid
from typing import Any

import attrs
import zmq

from spacemesh_core.bus.envelope import CONTROL_PREFIX, EnvelopeError, check_frames, decode_cbor_strict, decode_header
from spacemesh_core.events import Delivery, EventRegistry, get_delivery

DEFAULT_MAX_MESSAGE_BYTES = 16 * 2**20


@attrs.frozen
class BusAddress:
    """Where a bus can be reached: the ingress (publish) and the two fan-out endpoints."""

    ingress: str
    state: str
    telemetry: str

    def to_dict(self) -> dict[str, str]:
        """Return the address as a dict (to hand to a subprocess)."""
        return attrs.asdict(self)


@attrs.define
class BrokerStats:
    """Counters the broker keeps; read them with :meth:`Broker.get_stats`."""

    forwarded: int = 0
    rejected: collections.Counter[str] = attrs.field(factory=collections.Counter)
    dropped: collections.Counter[str] = attrs.field(factory=collections.Counter)


class Broker:
    """Validating fan-out broker running in a background thread.

    :param registry: the event registry (topic -> delivery class).
    :param transport: ``inproc``, ``ipc`` or ``tcp``.
    :param context: the ZeroMQ context (in-process clients must share it for ``inproc``).
    """

    def __init__(
        self,
        registry: EventRegistry,
        *,
        transport: str = "inproc",
        context: zmq.Context[Any] | None = None,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        state_hwm: int = 0,
        telemetry_hwm: int = 10_000,
        host: str = "127.0.0.1",
        ipc_dir: str | None = None,
    ) -> None:
        if transport not in ("inproc", "ipc", "tcp"):
            raise ValueError(f"unknown bus transport {transport!r}; choices are: inproc, ipc, tcp")
        self.registry = registry
        self.context: zmq.Context[Any] = context or zmq.Context.instance()
        self.max_message_bytes = max_message_bytes
        self._transport = transport
        self._state_hwm = state_hwm
        self._telemetry_hwm = telemetry_hwm
        self._host = host
        self._ipc_dir = ipc_dir
        self._stats = BrokerStats()
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stop_endpoint = f"inproc://bus-stop-{uuid.uuid4().hex}"
        self._error: BaseException | None = None
        self.address: BusAddress | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> BusAddress:
        """Bind the sockets, start the thread, and return the bus address once it is ready."""
        if self._thread is not None:
            raise RuntimeError("broker already started")
        self._thread = threading.Thread(target=self._run, name="spacemesh-bus-broker", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None:
            raise RuntimeError(f"bus broker failed to start: {self._error}") from self._error
        if self.address is None:
            raise RuntimeError("bus broker did not become ready within 10 s")
        return self.address

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the broker thread and close its sockets."""
        if self._thread is None:
            return
        stopper = self.context.socket(zmq.PAIR)
        stopper.setsockopt(zmq.LINGER, 0)
        stopper.connect(self._stop_endpoint)
        stopper.send(b"stop")
        self._thread.join(timeout)
        stopper.close()
        if self._thread.is_alive():
            raise RuntimeError("bus broker thread did not stop")
        self._thread = None

    def get_stats(self) -> BrokerStats:
        """Return a snapshot of the broker's counters."""
        return BrokerStats(
            self._stats.forwarded,
            collections.Counter(self._stats.rejected),
            collections.Counter(self._stats.dropped),
        )

    # -- internals -----------------------------------------------------------------------------

    def _bind(self, sock: zmq.Socket[Any], role: str) -> str:
        if self._transport == "tcp":
            port = sock.bind_to_random_port(f"tcp://{self._host}")
            return f"tcp://{self._host}:{port}"
        if self._transport == "ipc":
            directory = self._ipc_dir or tempfile.gettempdir()
            endpoint = f"ipc://{os.path.join(directory, f'smbus-{os.getpid()}-{id(self):x}-{role}')}"
        else:
            endpoint = f"inproc://smbus-{id(self):x}-{role}"
        sock.bind(endpoint)
        return endpoint

    def _run(self) -> None:
        sockets: list[zmq.Socket[Any]] = []
        try:
            ingress = self.context.socket(zmq.PULL)
            state = self.context.socket(zmq.XPUB)
            telemetry = self.context.socket(zmq.XPUB)
            stop = self.context.socket(zmq.PAIR)
            sockets = [ingress, state, telemetry, stop]
            for sock in sockets:
                sock.setsockopt(zmq.LINGER, 0)
            ingress.setsockopt(zmq.MAXMSGSIZE, self.max_message_bytes)
            state.setsockopt(zmq.XPUB_NODROP, 1)
            state.setsockopt(zmq.SNDHWM, self._state_hwm)
            telemetry.setsockopt(zmq.XPUB_NODROP, 1)
            telemetry.setsockopt(zmq.SNDHWM, self._telemetry_hwm)
            stop.bind(self._stop_endpoint)
            self.address = BusAddress(
                ingress=self._bind(ingress, "in"),
                state=self._bind(state, "state"),
                telemetry=self._bind(telemetry, "tel"),
            )
        except BaseException as exc:
            self._error = exc
            for sock in sockets:
                sock.close()
            self._ready.set()
            return
        self._ready.set()
        poller = zmq.Poller()
        for sock in (ingress, state, telemetry, stop):
            poller.register(sock, zmq.POLLIN)
        try:
            while True:
                events = dict(poller.poll())
                if stop in events:
                    break
                for xpub in (state, telemetry):
                    while xpub in events and xpub.poll(0):
                        xpub.recv_multipart()  # subscription notices; ZeroMQ applies them itself
                        events.pop(xpub, None)
                if ingress in events:
                    # drain a batch, then look at stop again
                    for _ in range(1024):
                        try:
                            frames = ingress.recv_multipart(zmq.NOBLOCK)
                        except zmq.Again:
                            break
                        if not self._route(frames, state, telemetry, stop):
                            return
        finally:
            for sock in sockets:
                sock.close()

    def _route(
        self,
        frames: list[bytes],
        state: zmq.Socket[Any],
        telemetry: zmq.Socket[Any],
        stop: zmq.Socket[Any],
    ) -> bool:
        """Forward one message; return False when a stop request arrived while blocked."""
        try:
            topic = check_frames(frames, self.max_message_bytes)
            if topic.startswith(CONTROL_PREFIX):
                # hello probes go to both fan-outs so a subscriber can confirm each connection
                state.send_multipart(frames)
                self._send_telemetry(telemetry, topic, frames)
                return True
            decode_header(frames[1])
            if not isinstance(decode_cbor_strict(frames[2], "body"), dict):
                raise EnvelopeError("body must be a CBOR map")
            if not self.registry.is_registered(topic):
                raise EnvelopeError(f"unknown topic {topic!r}")
            delivery = get_delivery(self.registry.get_class(topic))
        except EnvelopeError as exc:
            self._stats.rejected[str(exc).split(":")[0][:60]] += 1
            return True
        if delivery is Delivery.STATE:
            while True:
                try:
                    state.send_multipart(frames, zmq.NOBLOCK)
                    break
                except zmq.Again:
                    # back-pressure: wait for room, but stay stoppable
                    if stop.poll(10):
                        return False
        else:
            self._send_telemetry(telemetry, topic, frames)
            return True
        self._stats.forwarded += 1
        return True

    def _send_telemetry(self, telemetry: zmq.Socket[Any], topic: str, frames: list[bytes]) -> None:
        try:
            telemetry.send_multipart(frames, zmq.NOBLOCK)
            if not topic.startswith(CONTROL_PREFIX):
                self._stats.forwarded += 1
        except zmq.Again:
            self._stats.dropped[topic] += 1
