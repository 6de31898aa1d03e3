"""Hook implementations of the built-in PoET: the ``poet`` category and the ``spacemesh poet`` commands."""

from __future__ import annotations

from typing import Any

import click

from spacemesh_hooks import hookimpl


def create_poet_server(config: Any) -> Any:
    """Build a :class:`~spacemesh_plugins.poet_builtin.server.PoetServer` service.

    :param config: a ``PoetServerConfig`` or a mapping of ``[poet_server]`` keys.
    """
    from spacemesh_plugins.poet_builtin.config import PoetServerConfig, build_config
    from spacemesh_plugins.poet_builtin.server import PoetServer

    if not isinstance(config, PoetServerConfig):
        config = build_config(dict(config))
    return PoetServer(config)


@hookimpl
def spacemesh_register_implementations(registries: Any) -> None:
    """Register the built-in PoET server (native SHA-256 chain) as the default ``poet`` implementation."""
    registries.register(
        "poet",
        "builtin",
        create_poet_server,
        description="built-in PoET server (native SHA-NI sequential work, reference REST API) and client",
        default=True,
    )


@hookimpl
def spacemesh_cli_commands(cli: click.Group) -> None:
    """Add ``spacemesh poet prove | verify | serve``."""
    from spacemesh_plugins.poet_builtin.cli import get_poet_group

    existing = cli.commands.get("poet")
    group = get_poet_group(cli)
    if existing is None:
        cli.add_command(group)


POET_SERVER_SECTION_NAME = "poet_server"


@hookimpl
def spacemesh_config_sections() -> list[Any]:
    """Contribute ``[poet_server]``: a PoET server hosted inside the node (for devnets)."""
    from spacemesh_core.config import ConfigField, ConfigSection

    return [
        ConfigSection(
            POET_SERVER_SECTION_NAME,
            {
                "enabled": ConfigField(bool, False, "run a PoET server inside this node"),
                "listen": ConfigField(str, "127.0.0.1:0", "host:port of its REST API (port 0: a free port)"),
                "datadir": ConfigField(str, "", "its data folder (default <node data>/poet-server)"),
                "pow_difficulty": ConfigField(int, 20, "leading zero bits of the registration proof of work"),
            },
            doc="a PoET server hosted by the node; its rounds follow the node's epochs and [poet] timing",
        )
    ]


def create_hosted_poet_server(node: Any) -> Any:
    """Build the PoET server a node hosts: its genesis, epochs and round timing are the node's."""
    from spacemesh_core.clock import parse_genesis_time

    config = node.config
    section = config.poet_server
    datadir = section.datadir or str(node.data_dir / "poet-server")
    server = create_poet_server(
        {
            "datadir": datadir,
            "genesis": parse_genesis_time(config.network.genesis_time),
            "epoch_duration": config.network.layers_per_epoch * config.network.layer_duration_s,
            "phase_shift": config.poet.phase_shift_s,
            "cycle_gap": config.poet.cycle_gap_s,
            "listen": section.listen,
            "pow_difficulty": section.pow_difficulty,
        }
    )
    node.status_providers["poet_server"] = lambda: {"url": server.url}
    return server


@hookimpl
def spacemesh_node_services(node: Any) -> list[Any]:
    """Host a PoET server in the node when ``[poet_server] enabled`` is set."""
    from spacemesh_core.kernel.services import ServiceSpec

    if POET_SERVER_SECTION_NAME not in node.config or not node.config.poet_server.enabled:
        return []
    return [ServiceSpec("poet-server", create_hosted_poet_server)]
