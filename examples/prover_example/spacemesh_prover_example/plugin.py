"""The plugin module named by the ``spacemesh.plugins`` entry point: registers prover ``numpy``."""

from __future__ import annotations

from typing import Any

from spacemesh_hooks import hookimpl
from spacemesh_prover_example.scan import create_numpy_prover


@hookimpl
def spacemesh_register_implementations(registries: Any) -> None:
    """Register ``prover``/``numpy`` (not the default: a node picks it by name in its config)."""
    registries.register(
        "prover",
        "numpy",
        create_numpy_prover,
        description="example: proving scan vectorized with NumPy over OpenSSL AES (third-party package)",
    )
