"""Configuration: presets, layering, unknown keys, types, atomic saves."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest

from spacemesh_core.config import ConfigError, ConfigField, ConfigSection, Schema, build_config, save_config
from spacemesh_core.config.presets import PRESETS
from spacemesh_core.config.sections import CORE_SECTIONS


@pytest.fixture
def schema() -> Schema:
    return Schema(CORE_SECTIONS)


def test_mainnet_preset_has_the_real_parameters(schema: Schema) -> None:
    config = build_config(schema, preset="mainnet", environ={})
    assert config.network.genesis_time == "2023-07-14T08:00:00Z"
    assert config.network.layer_duration_s == 300.0
    assert config.network.layers_per_epoch == 4032
    assert config.network.layer_avg_size == 50
    assert config.network.tick_size == 9_331_200
    assert config.network.hrp == "sm"
    assert (config.post.min_num_units, config.post.labels_per_unit) == (4, 2**32)
    assert (config.post.k1, config.post.k2, config.post.k3) == (26, 37, 1)
    assert config.post.pow_difficulty.startswith("000dfb23b0979b4b")
    assert (config.tortoise.hdist, config.tortoise.zdist) == (10, 2)
    assert config.beacon.kappa == 40


def test_devnet_preset_is_small_and_fast(schema: Schema) -> None:
    config = build_config(schema, preset="devnet", environ={})
    assert config.network.layer_duration_s <= 10
    assert config.post.labels_per_unit <= 1 << 16
    assert config.network.hrp != "sm"
    assert set(PRESETS) == {"mainnet", "testnet", "devnet"}


def test_precedence_preset_file_flags_env(schema: Schema, tmp_path: Path) -> None:
    file = tmp_path / "node.toml"
    file.write_text('preset = "devnet"\n[network]\nlayers_per_epoch = 7\nlayer_avg_size = 9\n[hare]\ncommittee = 3\n')
    env = {"SPACEMESH_NETWORK__LAYER_AVG_SIZE": "11", "SPACEMESH_LOAD_PLUGINS": "ignored-here"}
    config = build_config(
        schema, file=file, flags=["network.layers_per_epoch=8", "hare.committee=4"], environ=env
    )
    assert config.preset == "devnet"  # taken from the file
    assert config.network.layer_duration_s == 4.0  # preset
    assert config.network.layers_per_epoch == 8  # flag beats file
    assert config.network.layer_avg_size == 11  # environment beats file
    assert config.hare.committee == 4
    assert config.sources["network.layer_duration_s"] == "preset devnet"
    assert config.sources["network.layer_avg_size"] == "environment"
    explicit = build_config(schema, preset="testnet", file=file, environ={})
    assert explicit.preset == "testnet"  # --preset beats the file's preset


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"flags": ["network.layers_per_epok=3"]}, "unknown config key network.layers_per_epok"),
        ({"flags": ["netwrk.layers_per_epoch=3"]}, r"unknown config section \[netwrk\]"),
        ({"environ": {"SPACEMESH_POST__SCRYPT=1": "2"}}, "unknown config key post.scrypt"),
        ({"flags": ["network.layers_per_epoch=many"]}, "network.layers_per_epoch.*cannot read 'many' as int"),
        ({"flags": ["no-equals-sign"]}, "not of the form section.key=value"),
        ({"preset": "moonnet"}, "unknown preset 'moonnet'; choices are: devnet, mainnet, testnet"),
    ],
)
def test_bad_config_names_the_key(schema: Schema, kwargs: dict, message: str) -> None:
    kwargs.setdefault("environ", {})
    with pytest.raises(ConfigError, match=message):
        build_config(schema, **kwargs)


def test_file_errors_are_clear(schema: Schema, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        build_config(schema, file=tmp_path / "missing.toml", environ={})
    bad = tmp_path / "bad.toml"
    bad.write_text("[network\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        build_config(schema, file=bad, environ={})
    wrong_type = tmp_path / "wrong.toml"
    wrong_type.write_text('[network]\nlayers_per_epoch = "six"\n')
    with pytest.raises(ConfigError, match="network.layers_per_epoch"):
        build_config(schema, file=wrong_type, environ={})


def test_plugin_sections_join_the_schema() -> None:
    section = ConfigSection("lowpower", {"max_threads": ConfigField(int, 1, "thread cap")}, owner="x")
    schema = Schema([*CORE_SECTIONS, section])
    config = build_config(schema, flags=["lowpower.max_threads=3"], environ={})
    assert config.lowpower.max_threads == 3
    with pytest.raises(ConfigError, match="declared twice"):
        schema.add(ConfigSection("lowpower", {}, owner="y"))


def test_save_is_atomic_and_round_trips(schema: Schema, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = build_config(schema, preset="devnet", flags=["hare.committee=7"], environ={})
    path = tmp_path / "saved.toml"
    save_config(path, config)
    again = build_config(schema, file=path, environ={})
    assert again.to_dict() == config.to_dict() and again.preset == "devnet"

    before = path.read_bytes()

    def failing_replace(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        save_config(path, build_config(schema, preset="mainnet", environ={}))
    assert path.read_bytes() == before  # the old file is untouched
    assert [p.name for p in tmp_path.iterdir()] == ["saved.toml"]  # no temp file left
    assert tomllib.loads(before.decode())["preset"] == "devnet"
