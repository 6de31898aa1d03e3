"""Registers the native prover (the ``prover`` category's default) and the ``post prove``/``post verify`` CLI."""

from __future__ import annotations

import click

from spacemesh_core.kernel.registry import Registries
from spacemesh_core.post.prover import create_native_prover
from spacemesh_hooks import hookimpl


@hookimpl
def spacemesh_register_implementations(registries: Registries) -> None:
    """Register ``prover``/``native`` (default): factory ``(threads=None, impl="auto", randomx_mode="auto")``."""
    registries.register(
        "prover",
        "native",
        create_native_prover,
        description="C proving scan (AES-NI/VAES, GIL released, threads) + RandomX k2pow",
        default=True,
    )


@hookimpl
def spacemesh_cli_commands(cli: click.Group) -> None:
    """Add ``prove`` and ``verify`` to the ``post`` group (created here unless another plugin did)."""
    from spacemesh_plugins.prover_native.cli import add_post_commands

    add_post_commands(cli)
