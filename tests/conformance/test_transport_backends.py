"""Every built-in transport passes the shared transport conformance suite."""

from __future__ import annotations

from typing import Any

from spacemesh_core.testing.conformance.transport import TransportConformance
from spacemesh_hooks.interfaces import Transport
from spacemesh_plugins.transport_memory.transport import MemoryNetwork, MemoryTransport
from spacemesh_plugins.transport_zmq.transport import ZmqTransport


class TestZmqTransport(TransportConformance):
    async def make_transport(self, **options: Any) -> Transport:
        return ZmqTransport(listen="tcp://127.0.0.1:0", network_id="conformance", **options)


class TestMemoryTransport(TransportConformance):
    def setup_method(self) -> None:
        self.medium = MemoryNetwork()

    async def make_transport(self, **options: Any) -> Transport:
        return MemoryTransport(network=self.medium, **options)
