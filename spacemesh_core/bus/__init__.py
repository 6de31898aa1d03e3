"""The ZeroMQ event bus: a validating broker, publishers, confirmed subscriptions and request/reply.

Events are attrs classes registered in an :class:`~spacemesh_core.events.EventRegistry`; each
travels as a CBOR envelope. State events are never dropped (back-pressure); telemetry events may
be dropped under load, and every drop is counted.
"""

from spacemesh_core.bus.broker import Broker, BrokerStats, BusAddress
from spacemesh_core.bus.client import BusClient, BusTimeoutError, RemoteError, Replier, Subscription
from spacemesh_core.bus.envelope import EnvelopeError

__all__ = [
    "Broker",
    "BrokerStats",
    "BusAddress",
    "BusClient",
    "BusTimeoutError",
    "EnvelopeError",
    "RemoteError",
    "Replier",
    "Subscription",
]
