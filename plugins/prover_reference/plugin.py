"""Registers the pure-Python reference prover in the ``prover`` category."""

from __future__ import annotations

from spacemesh_core.kernel.registry import Registries
from spacemesh_core.post.prover import create_reference_prover
from spacemesh_hooks import hookimpl


@hookimpl
def spacemesh_register_implementations(registries: Registries) -> None:
    """Register ``prover``/``reference``: factory ``(randomx_mode="auto", threads=None)``."""
    registries.register(
        "prover",
        "reference",
        create_reference_prover,
        description="pure-Python proving scan (slow; the oracle the native scan must match)",
    )
