"""Registers the in-memory transport (simulations)."""

from __future__ import annotations

from typing import Any

from spacemesh_core.kernel.registry import Registries
from spacemesh_core.p2p.gossip import get_gossip_policy
from spacemesh_hooks import hookimpl
from spacemesh_plugins.transport_memory.transport import MemoryNetwork, MemoryTransport


def create_memory_transport(
    config: Any, *, network: MemoryNetwork | None = None, peer_id: bytes | None = None, network_id: str = ""
) -> MemoryTransport:
    """Build a memory transport (``network`` groups the transports that can see each other)."""
    p2p = config.p2p
    return MemoryTransport(
        network=network,
        peer_id=peer_id,
        max_peers=p2p.max_peers,
        peer_exchange=p2p.peer_exchange,
        policy=get_gossip_policy(config),
    )


@hookimpl
def spacemesh_register_implementations(registries: Registries) -> None:
    """Register the ``memory`` transport."""
    registries.register("transport", "memory", create_memory_transport, description="in-process, for simulations")
