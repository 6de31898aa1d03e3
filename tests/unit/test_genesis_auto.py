"""``network.genesis_time = "auto"`` (a lone node's genesis is its first start, kept in the data
dir) and the removal of the unused ``[node] log_level`` key ([logging] level is the one)."""

from __future__ import annotations

from pathlib import Path

import pytest

from spacemesh_core.clock import parse_genesis_time
from spacemesh_core.config import ConfigError, build_config
from spacemesh_core.config.genesis import GENESIS_TIME_FILE, get_auto_genesis_time, resolve_genesis_time
from spacemesh_core.kernel.plugins import load_plugin_manager


def test_auto_genesis_is_saved_at_first_start_and_read_back(tmp_path: Path) -> None:
    first = get_auto_genesis_time(tmp_path, now=1_800_000_000.7)
    assert first == "2027-01-15T08:00:00Z"
    assert parse_genesis_time(first) == 1_800_000_000
    assert get_auto_genesis_time(tmp_path, now=1_900_000_000) == first  # later starts keep it


def test_a_corrupt_saved_genesis_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / GENESIS_TIME_FILE).write_text("yesterday\n")
    with pytest.raises(ConfigError, match="genesis"):
        get_auto_genesis_time(tmp_path)


def test_resolve_replaces_only_auto(tmp_path: Path) -> None:
    schema = load_plugin_manager(environ={}).get_config_schema()
    explicit = build_config(schema, preset="devnet", flags=["network.genesis_time=2026-02-03T04:05:06Z"], environ={})
    assert resolve_genesis_time(explicit, tmp_path) is explicit
    assert not (tmp_path / GENESIS_TIME_FILE).exists()
    auto = build_config(schema, preset="devnet", flags=["network.genesis_time=auto"], environ={})
    resolved = resolve_genesis_time(auto, tmp_path, now=1_800_000_000)
    assert resolved.network.genesis_time == "2027-01-15T08:00:00Z"
    assert resolved.network.layer_duration_s == auto.network.layer_duration_s
    assert "auto" in resolved.sources["network.genesis_time"]


def test_node_log_level_is_gone_and_logging_level_remains() -> None:
    schema = load_plugin_manager(environ={}).get_config_schema()
    config = build_config(schema, environ={})
    assert "log_level" not in config.node
    assert config.logging.level == "info"
    with pytest.raises(ConfigError, match="log_level"):
        build_config(schema, flags=["node.log_level=debug"], environ={})
