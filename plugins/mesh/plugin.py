"""Registers the mesh service in nodes whose bundle has a consensus engine and a transport."""

from __future__ import annotations

from typing import Any

from spacemesh_core.kernel.services import ServiceSpec
from spacemesh_hooks import hookimpl
from spacemesh_plugins.mesh.beacon_service import BeaconService
from spacemesh_plugins.mesh.service import MeshService
from spacemesh_plugins.mesh.sync_service import SyncService


@hookimpl
def spacemesh_register_events(events: Any) -> None:
    """Register the mesh events (:data:`~spacemesh_plugins.mesh.events.MESH_EVENTS`)."""
    from spacemesh_plugins.mesh.events import MESH_EVENTS

    for cls in MESH_EVENTS:
        events.register(cls)


@hookimpl
def spacemesh_node_services(node: Any) -> list[ServiceSpec]:
    """Run the beacon and mesh services after the transport (they need storage, transport and a
    consensus suite); the mesh takes each epoch's beacon from the beacon service."""
    if node.storage is None or node.transport is None or "consensus" not in node.components:
        return []
    return [
        ServiceSpec("beacon", BeaconService, depends_on=("transport", "clock")),
        ServiceSpec("mesh", MeshService, depends_on=("transport", "clock", "beacon")),
        ServiceSpec("sync", SyncService, depends_on=("mesh",)),
    ]
