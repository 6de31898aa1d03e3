"""Registers the native C initializer (SIMD lanes, threads, GIL released) as the ``initializer`` default."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from spacemesh_hooks import hookimpl
from spacemesh_plugins.initializer_native.cli import add_post_commands

if TYPE_CHECKING:
    from spacemesh_core.kernel.registry import Registries
    from spacemesh_core.post.native import NativeInitializer


def create_native_initializer(threads: int | None = None, isa: str | None = None) -> NativeInitializer:
    """Build the native initializer (``threads``: None = one per CPU; ``isa``: None = the best kernel)."""
    from spacemesh_core.post.native import NativeInitializer

    return NativeInitializer(threads=threads, isa=isa)


@hookimpl
def spacemesh_register_implementations(registries: Registries) -> None:
    """Register ``initializer:native`` (the default)."""
    registries.register(
        "initializer",
        "native",
        create_native_initializer,
        description="scrypt-jane labels in C: AVX-512/AVX2/SSE2 lanes, multi-threaded",
        default=True,
    )


@hookimpl
def spacemesh_cli_commands(cli: click.Group) -> None:
    """Add ``spacemesh post labels | init | verify-data``."""
    add_post_commands(cli)
