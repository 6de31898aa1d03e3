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
