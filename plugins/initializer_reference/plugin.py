"""Registers the pure-Python reference initializer (readable, slow: for checks and tiny N)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from spacemesh_core.post.labels import ReferenceInitializer
from spacemesh_hooks import hookimpl

if TYPE_CHECKING:
    from spacemesh_core.kernel.registry import Registries


def create_reference_initializer() -> ReferenceInitializer:
    """Build the reference initializer."""
    return ReferenceInitializer()


@hookimpl
def spacemesh_register_implementations(registries: Registries) -> None:
    """Register ``initializer:reference``."""
    registries.register(
        "initializer",
        "reference",
        create_reference_initializer,
        description="pure-Python scrypt-jane labels (the oracle; about one label per second at N=8192)",
    )
