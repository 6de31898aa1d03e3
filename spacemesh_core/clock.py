"""Layers and epochs in time: ``layer = floor((t - genesis) / layer_duration)``, ``epoch = layer // layers_per_epoch``.

Time comes from a :class:`TimeSource`: :class:`SystemTime` for nodes, :class:`VirtualTime` for tests
and simulations, where time only moves when the test advances it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import heapq
import itertools
import math
import time
from typing import Protocol


class TimeSource(Protocol):
    """A source of the current time (seconds since the Unix epoch) that can be slept on."""

    def now(self) -> float:
        """Return the current time in seconds since the Unix epoch."""

    async def sleep_until(self, when: float) -> None:
        """Return once the time is at least ``when``."""


class SystemTime:
    """Wall-clock time."""

    def now(self) -> float:
        """Return ``time.time()``."""
        return time.time()

    async def sleep_until(self, when: float) -> None:
        """Sleep on the event loop until the wall clock reaches ``when``."""
        while (delay := when - time.time()) > 0:
            await asyncio.sleep(min(delay, 60.0))  # re-check: the wall clock may jump


class VirtualTime:
    """Time that moves only when :meth:`advance` or :meth:`advance_to` is called.

    Sleepers are woken in time order; each wake-up lets the event loop run so that code reacting to
    one deadline runs before time moves past the next.
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now = float(start)
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._counter = itertools.count()

    def now(self) -> float:
        """Return the virtual time."""
        return self._now

    async def sleep_until(self, when: float) -> None:
        """Wait until virtual time reaches ``when``."""
        if when <= self._now:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (when, next(self._counter), future))
        await future

    def get_pending_count(self) -> int:
        """Return how many sleepers are waiting."""
        return sum(1 for _, _, f in self._sleepers if not f.done())

    async def advance_to(self, when: float) -> None:
        """Move time forward to ``when``, waking sleepers in order."""
        if when < self._now:
            raise ValueError(f"virtual time cannot go back from {self._now} to {when}")
        while self._sleepers and self._sleepers[0][0] <= when:
            deadline, _, future = heapq.heappop(self._sleepers)
            self._now = max(self._now, deadline)
            if not future.done():
                future.set_result(None)
            for _ in range(3):  # let woken tasks run (and schedule follow-ups) before time moves on
                await asyncio.sleep(0)
        self._now = when

    async def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``."""
        await self.advance_to(self._now + seconds)


def parse_genesis_time(text: str) -> float:
    """Return the Unix time of an RFC 3339 timestamp such as ``2023-07-14T08:00:00Z``.

    :raises ValueError: when the text is not a timestamp with a time zone.
    """
    parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(f"genesis time {text!r} must carry a time zone (e.g. a trailing Z)")
    return parsed.timestamp()


class LayerClock:
    """Maps time to layers and epochs and waits for layers.

    :param genesis: Unix time at which layer 0 starts.
    :param layer_duration_s: seconds per layer (> 0).
    :param layers_per_epoch: layers per epoch (> 0).
    :param time_source: where "now" comes from (default wall clock).
    """

    def __init__(
        self,
        genesis: float,
        layer_duration_s: float,
        layers_per_epoch: int,
        time_source: TimeSource | None = None,
    ) -> None:
        if layer_duration_s <= 0 or layers_per_epoch <= 0:
            raise ValueError("layer duration and layers per epoch must be positive")
        self.genesis = float(genesis)
        self.layer_duration_s = float(layer_duration_s)
        self.layers_per_epoch = int(layers_per_epoch)
        self.time = time_source or SystemTime()

    def get_layer_at(self, when: float) -> int:
        """Return the layer running at time ``when`` (negative before genesis)."""
        return math.floor((when - self.genesis) / self.layer_duration_s)

    def get_current_layer(self) -> int:
        """Return the layer running now (negative before genesis)."""
        return self.get_layer_at(self.time.now())

    def get_epoch(self, layer: int) -> int:
        """Return the epoch of ``layer``."""
        return layer // self.layers_per_epoch

    def get_current_epoch(self) -> int:
        """Return the epoch running now."""
        return self.get_epoch(self.get_current_layer())

    def get_first_layer(self, epoch: int) -> int:
        """Return the first layer of ``epoch``."""
        return epoch * self.layers_per_epoch

    def get_layer_start(self, layer: int) -> float:
        """Return the Unix time at which ``layer`` starts."""
        return self.genesis + layer * self.layer_duration_s

    async def wait_for_layer(self, layer: int) -> int:
        """Return once ``layer`` has started; returns the layer running at that moment."""
        await self.time.sleep_until(self.get_layer_start(layer))
        return self.get_current_layer()
