"""Registers the built-in bundles. Each names one implementation per category it cares about;
categories left out use the category default."""

from __future__ import annotations

from spacemesh_core.kernel.registry import BundleRegistry
from spacemesh_hooks import hookimpl

#: the full node: every category's default implementation
DEFAULT: dict[str, str] = {}

#: a node on a local devnet: the native backends (fast, small data)
DEVNET: dict[str, str] = {"initializer": "native", "prover": "native"}

#: simulations: everything in memory (no sockets, no files) and the pure-Python oracles
SIM: dict[str, str] = {
    "state_storage": "memory",
    "transport": "memory",
    "initializer": "reference",
    "prover": "reference",
}


@hookimpl
def spacemesh_register_bundles(bundles: BundleRegistry) -> None:
    """Register ``default``, ``devnet`` and ``sim``."""
    bundles.register("default", DEFAULT, description="the full node with every category's default")
    bundles.register("devnet", DEVNET, description="a node of a local devnet")
    bundles.register("sim", SIM, description="in-process simulations with the reference backends")
