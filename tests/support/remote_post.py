"""Helpers of the remote-proving tests: a node as the smeshing services see it, and tiny PoST data."""

from __future__ import annotations

import types
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from spacemesh_core.clock import LayerClock
from spacemesh_core.config import build_config
from spacemesh_core.genesis import compute_genesis_id, compute_golden_atx
from spacemesh_core.kernel.plugins import load_plugin_manager
from spacemesh_core.post.initialize import initialize
from spacemesh_core.post.store import PostMetadata
from spacemesh_core.storage.local import LocalStore
from spacemesh_core.storage.state import StateStore

#: k2pow difficulty that any pow meets (tests prove in milliseconds)
EASY_POW = "ff" * 32
#: the devnet preset's label parameters
LABELS_PER_UNIT = 4096
SCRYPT_N = 16


def format_genesis(when: float) -> str:
    """Return ``when`` (whole seconds) as the RFC 3339 text the node config takes."""
    return datetime.fromtimestamp(when, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def make_node(data_dir: Path, genesis: float, flags: list[str]) -> Any:
    """Return a node (devnet preset, 1 s layers, 4-layer epochs, easy PoST) with ``flags`` applied.

    It has what the smeshing services use: config, registries, components, events, clock, storage.
    """
    plugins = load_plugin_manager(environ={})
    all_flags = [
        f"node.data_dir={data_dir}",
        f"network.genesis_time={format_genesis(genesis)}",
        "network.layer_duration_s=1.0",
        "network.layers_per_epoch=4",
        "post.k1=48",
        f"post.pow_difficulty={EASY_POW}",
        "smeshing.proving_nonces=64",
        "smeshing.proving_threads=1",
        "smeshing.poet_poll_interval_s=0.1",
        *flags,
    ]
    config = build_config(plugins.get_config_schema(), preset="devnet", flags=all_flags, environ={})
    registries = plugins.get_registries()
    return types.SimpleNamespace(
        config=config,
        registries=registries,
        components=plugins.get_bundles().resolve(config.node.bundle, registries),
        events=plugins.get_event_registry(),
        data_dir=data_dir,
        clock=LayerClock(genesis, 1.0, 4),
        genesis_id=compute_genesis_id(config.network.genesis_time, config.network.genesis_extra_data),
        golden_atx=compute_golden_atx(config.network.genesis_time, config.network.genesis_extra_data),
        storage=types.SimpleNamespace(
            state=StateStore(data_dir / "state.sql"), local=LocalStore(data_dir / "local.sql")
        ),
        identity=None,
        bus=None,
        transport=None,
        status_providers={},
    )


def close_node(node: Any) -> None:
    """Close the node's databases."""
    node.storage.state.close()
    node.storage.local.close()


def init_post_data(directory: Path, node_id: bytes, commitment: bytes, units: int = 1) -> PostMetadata:
    """Initialize tiny PoST data (devnet labels per unit and scrypt N) in-process; return its metadata."""
    return initialize(directory, node_id, commitment, units, LABELS_PER_UNIT, SCRYPT_N, 16 * LABELS_PER_UNIT).metadata
