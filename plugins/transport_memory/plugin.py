"""Registers the in-memory transport (simulations)."""

from __future__ import annotations

from typing import Any

from spacemesh_core.crypto.hashes import compute_blake3
from spacemesh_core.kernel.registry import Registries
from spacemesh_core.p2p.gossip import get_gossip_policy
from spacemesh_hooks import hookimpl
from spacemesh_plugins.transport_memory.transport import MemoryNetwork, MemoryTransport


def create_memory_transport(
    config: Any,
    *,
    secret_key: bytes | None = None,
    network_id: str = "",
    network: MemoryNetwork | None = None,
) -> MemoryTransport:
    """Build a memory transport (``network`` groups the transports that can see each other).

    The peer id is derived from ``secret_key`` (random when None); ``network_id`` is not needed:
    transports on one :class:`MemoryNetwork` are one network by construction. ``[p2p] bootnodes``
    of the form ``<hex peer id>@memory://`` are dialled at start (others cannot be on this network
    and are skipped).
    """
    p2p = config.p2p
    return MemoryTransport(
        network=network,
        peer_id=compute_blake3(secret_key) if secret_key is not None else None,
        bootnodes=[address for address in p2p.bootnodes if address.endswith("@memory://")],
        max_peers=p2p.max_peers,
        peer_exchange=p2p.peer_exchange,
        policy=get_gossip_policy(config),
    )


@hookimpl
def spacemesh_register_implementations(registries: Registries) -> None:
    """Register the ``memory`` transport."""
    registries.register("transport", "memory", create_memory_transport, description="in-process, for simulations")
