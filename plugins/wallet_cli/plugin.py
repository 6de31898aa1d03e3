"""Adds ``spacemesh wallet`` to the command line."""

from __future__ import annotations

import click

from spacemesh_hooks import hookimpl


@hookimpl
def spacemesh_cli_commands(cli: click.Group) -> None:
    """Add the ``wallet`` group (or its commands to an existing ``wallet`` group)."""
    from spacemesh_plugins.wallet_cli.cli import wallet_group

    existing = cli.commands.get("wallet")
    if isinstance(existing, click.Group):
        for name, command in wallet_group.commands.items():
            if name not in existing.commands:
                existing.add_command(command, name)
    else:
        cli.add_command(wallet_group)
