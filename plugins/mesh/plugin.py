"""Registers the mesh service in nodes whose bundle has a consensus engine and a transport."""

from __future__ import annotations

from typing import Any

from spacemesh_core.kernel.services import ServiceSpec
from spacemesh_hooks import hookimpl
from spacemesh_plugins.mesh.service import MeshService
from spacemesh_plugins.mesh.sync_service import SyncService


@hookimpl
def spacemesh_node_services(node: Any) -> list[ServiceSpec]:
    """Run the mesh service after the transport (it needs storage, transport and a consensus suite)."""
    if node.storage is None or node.transport is None or "consensus" not in node.components:
        return []
    return [
        ServiceSpec("mesh", MeshService, depends_on=("transport", "clock")),
        ServiceSpec("sync", SyncService, depends_on=("mesh",)),
    ]
