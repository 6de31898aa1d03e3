"""Hook implementations of the smeshing plugin: the ``[smeshing]`` section, its events and services."""

from __future__ import annotations

from typing import Any

from spacemesh_core.config.schema import ConfigField, ConfigSection
from spacemesh_core.kernel.services import ServiceSpec
from spacemesh_hooks import hookimpl

SMESHING_SECTION = ConfigSection(
    "smeshing",
    {
        "start": ConfigField(bool, True, "smesh at start (needs [poet] servers; without any, nothing smeshes)"),
        "coinbase": ConfigField(str, "", "bech32 reward address (default: the wallet of the identity key)"),
        "data_dir": ConfigField(str, "", "folder of the PoST data, one sub-folder per identity (default <data>/post)"),
        "identities": ConfigField(list, ["local"], "identity names (identities/<name>.key) this node smeshes with"),
        "num_units": ConfigField(int, 0, "space units per identity (0: the network minimum)"),
        "max_file_size": ConfigField(int, 0, "largest postdata file in bytes (0: the [post] default)"),
        "provider": ConfigField(str, "", "initializer implementation (empty: the bundle's)"),
        "proving_threads": ConfigField(int, 0, "threads of the proving scan (0: all cores)"),
        "proving_nonces": ConfigField(int, 288, "nonces per proving pass (a multiple of 16)"),
        "poet_poll_interval_s": ConfigField(float, 1.0, "pause between polls for a PoET round's proof"),
    },
    "PoST setup and the ATX builder (smeshing)",
    owner="smeshing",
)


@hookimpl
def spacemesh_config_sections() -> list[ConfigSection]:
    """Contribute the ``[smeshing]`` section."""
    return [SMESHING_SECTION]


@hookimpl
def spacemesh_register_events(events: Any) -> None:
    """Register the smeshing events."""
    from spacemesh_plugins.smeshing.events import SMESHING_EVENTS

    for cls in SMESHING_EVENTS:
        events.register(cls)


def get_service_specs(node: Any) -> list[ServiceSpec]:
    """Return the ATX handler (when the node has state storage) and one smesher per configured identity
    (when ``smeshing.start`` is set and PoET servers are configured)."""
    from spacemesh_plugins.smeshing.service import AtxHandlerService, SmeshingService

    if "state_storage" not in node.components:
        return []
    specs = [ServiceSpec("atx-handler", AtxHandlerService)]
    config = node.config
    if config.smeshing.start and config.poet.servers:
        for name in dict.fromkeys(config.smeshing.identities):

            def create(node: Any, name: str = str(name)) -> SmeshingService:
                return SmeshingService(node, name)

            specs.append(ServiceSpec(f"smeshing-{name}", create, depends_on=("atx-handler",)))
    return specs


@hookimpl
def spacemesh_node_services(node: Any) -> list[ServiceSpec]:
    """Run the ATX handler and the smeshers of the configured identities."""
    return get_service_specs(node)
