"""Events the kernel itself emits."""

from __future__ import annotations

import attrs

from spacemesh_core.events import Delivery, event


@event("kernel.service_started")
@attrs.frozen
class ServiceStarted:
    """A service finished starting."""

    name: str
    placement: str


@event("kernel.service_stopped")
@attrs.frozen
class ServiceStopped:
    """A service stopped; ``clean`` is False when it had to be cancelled or killed."""

    name: str
    clean: bool


@event("kernel.loop_lag_detected", Delivery.TELEMETRY)
@attrs.frozen
class LoopLagDetected:
    """The event loop was blocked for ``lag_s`` seconds (some service is stuck or hogging it)."""

    lag_s: float


@event("clock.layer_ticked")
@attrs.frozen
class LayerTicked:
    """A new layer started."""

    layer: int
    epoch: int


CORE_EVENTS: tuple[type, ...] = (ServiceStarted, ServiceStopped, LoopLagDetected, LayerTicked)
