"""Adds ``spacemesh devnet``."""

from __future__ import annotations

import click

from spacemesh_hooks import hookimpl
from spacemesh_plugins.devnet.cli import devnet_command


@hookimpl
def spacemesh_cli_commands(cli: click.Group) -> None:
    """Add the ``devnet`` command."""
    cli.add_command(devnet_command)
