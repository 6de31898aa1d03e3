"""Registers the ``sqlite`` state storage (default: files in the data folder) and ``memory``
(the same schema in SQLite's in-memory mode, for simulations)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs

from spacemesh_core.kernel.registry import Registries
from spacemesh_core.storage import LocalStore, StateStore
from spacemesh_hooks import hookimpl


@attrs.define
class NodeStorage:
    """A node's two databases."""

    state: StateStore
    local: LocalStore

    def close(self) -> None:
        """Close both databases."""
        self.state.close()
        self.local.close()


def create_sqlite_storage(config: Any, *, data_dir: str | Path | None = None) -> NodeStorage:
    """Open (creating or migrating) ``state.sql`` and ``local.sql`` under the data folder."""
    folder = Path(data_dir if data_dir is not None else config.node.data_dir).expanduser()
    return NodeStorage(StateStore(folder / "state.sql"), LocalStore(folder / "local.sql"))


def create_memory_storage(config: Any = None, **_: Any) -> NodeStorage:
    """Open both databases in memory (nothing survives the process)."""
    return NodeStorage(StateStore(":memory:"), LocalStore(":memory:"))


@hookimpl
def spacemesh_register_implementations(registries: Registries) -> None:
    """Register ``sqlite`` (default) and ``memory``."""
    registries.register("state_storage", "sqlite", create_sqlite_storage, description="SQLite files, WAL",
                        default=True)
    registries.register("state_storage", "memory", create_memory_storage, description="SQLite in memory")
