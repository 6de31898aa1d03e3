"""Registers the ZeroMQ transport (the default); it is configured by the core ``[p2p]`` section."""

from __future__ import annotations

from typing import Any

from spacemesh_core.kernel.registry import Registries
from spacemesh_core.p2p.gossip import get_gossip_policy
from spacemesh_hooks import hookimpl
from spacemesh_plugins.transport_zmq.transport import ZmqTransport


def create_zmq_transport(config: Any, *, secret_key: bytes | None = None, network_id: str = "") -> ZmqTransport:
    """Build a ZeroMQ transport from the ``[p2p]`` config section."""
    p2p = config.p2p
    return ZmqTransport(
        secret_key=secret_key,
        listen=p2p.listen,
        network_id=network_id,
        bootnodes=list(p2p.bootnodes),
        max_peers=p2p.max_peers,
        peer_exchange=p2p.peer_exchange,
        policy=get_gossip_policy(config),
    )


@hookimpl
def spacemesh_register_implementations(registries: Registries) -> None:
    """Register the ``zmq`` transport as the default."""
    registries.register(
        "transport", "zmq", create_zmq_transport, description="ZeroMQ TCP with CurveZMQ", default=True
    )
