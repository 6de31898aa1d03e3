"""Layered configuration loading and atomic saving.

Layers, lowest precedence first: the preset (applied over the section defaults), the TOML file,
command-line flags (``section.key=value``), then environment variables
``SPACEMESH_<SECTION>__<KEY>``. Every key from every layer must be declared by some section.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import tomli_w

from spacemesh_core.config.presets import get_preset
from spacemesh_core.config.schema import ConfigError, Schema
from spacemesh_core.fsutil import write_file_atomic

ENV_PREFIX = "SPACEMESH_"
ENV_SEPARATOR = "__"

__all__ = [
    "Config",
    "ConfigError",
    "build_config",
    "get_env_overrides",
    "parse_assignment",
    "read_config_file",
    "save_config",
]


class _Section(Mapping[str, Any]):
    """Read-only view of one section; keys are also attributes."""

    def __init__(self, name: str, values: dict[str, Any]) -> None:
        self._name = name
        self._values = values

    def __getattr__(self, key: str) -> Any:
        try:
            return self._values[key]
        except KeyError:
            raise AttributeError(f"config section [{self._name}] has no key {key!r}") from None

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self) -> Any:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


class Config(Mapping[str, _Section]):
    """A complete, validated configuration: ``config.network.layer_duration_s``.

    ``sources`` records, for every ``section.key``, which layer set its value.
    """

    def __init__(self, preset: str, values: dict[str, dict[str, Any]], sources: dict[str, str]) -> None:
        self.preset = preset
        self._values = values
        self.sources = sources

    def __getattr__(self, section: str) -> _Section:
        if section.startswith("_"):
            raise AttributeError(section)
        try:
            return _Section(section, self._values[section])
        except KeyError:
            raise AttributeError(f"config has no section [{section}]") from None

    def __getitem__(self, section: str) -> _Section:
        return _Section(section, self._values[section])

    def __iter__(self) -> Any:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """Return a deep copy of all values as plain dicts (for JSON or TOML)."""
        return {name: dict(section) for name, section in self._values.items()}


def parse_assignment(text: str) -> tuple[str, str, str]:
    """Split a flag ``section.key=value`` into its parts.

    :raises ConfigError: when the text is not of that form.
    """
    dotted, sep, value = text.partition("=")
    section, dot, key = dotted.strip().partition(".")
    if not sep or not dot or not section or not key:
        raise ConfigError(f"config override {text!r} is not of the form section.key=value")
    return section, key, value


def get_env_overrides(environ: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """Collect ``SPACEMESH_<SECTION>__<KEY>`` variables as ``{section: {key: text}}``.

    Variables of the prefix without the double underscore (``SPACEMESH_LOAD_PLUGINS``) are the
    kernel's switches, not configuration, and are ignored here.
    """
    overrides: dict[str, dict[str, str]] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or ENV_SEPARATOR not in name:
            continue
        section, _, key = name[len(ENV_PREFIX) :].partition(ENV_SEPARATOR)
        overrides.setdefault(section.lower(), {})[key.lower()] = value
    return overrides


def read_config_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a TOML config file.

    :raises ConfigError: when the file is missing or not valid TOML.
    """
    file = Path(path)
    try:
        with file.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"config file {file} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {file} is not valid TOML: {exc}") from None


def _apply_layer(
    schema: Schema,
    values: dict[str, dict[str, Any]],
    sources: dict[str, str],
    layer: Mapping[str, Any],
    origin: str,
    *,
    skip_absent_sections: bool = False,
) -> None:
    for section, entries in layer.items():
        if skip_absent_sections and section not in values:
            continue  # a preset's values for a plugin that is not loaded
        if not isinstance(entries, Mapping):
            raise ConfigError(f"{origin}: [{section}] must be a table of keys, got {entries!r}")
        for key, raw in entries.items():
            field = schema.get_field(section, key)
            where = f"{section}.{key} ({origin})"
            values[section][key] = field.coerce(raw, where)
            sources[f"{section}.{key}"] = origin


def build_config(
    schema: Schema,
    *,
    preset: str | None = None,
    file: str | os.PathLike[str] | None = None,
    flags: Iterable[str] = (),
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Build a validated :class:`Config` from the layers.

    :param schema: every declared section (core and plugins).
    :param preset: preset name; when None, the file's top-level ``preset`` key or ``mainnet``.
    :param file: optional TOML file.
    :param flags: ``section.key=value`` overrides from the command line.
    :param environ: the environment to read ``SPACEMESH_<SECTION>__<KEY>`` from (default ``os.environ``).
    :raises ConfigError: naming the offending key for unknown keys or bad values.
    """
    file_values: dict[str, Any] = dict(read_config_file(file)) if file is not None else {}
    file_preset = file_values.pop("preset", None)
    if file_preset is not None and not isinstance(file_preset, str):
        raise ConfigError(f"{file}: top-level 'preset' must be a string")
    chosen = preset or file_preset or "mainnet"

    values = schema.get_defaults()
    sources = {f"{s}.{k}": "default" for s, keys in values.items() for k in keys}
    _apply_layer(schema, values, sources, get_preset(chosen), f"preset {chosen}", skip_absent_sections=True)
    if file is not None:
        _apply_layer(schema, values, sources, file_values, f"file {file}")
    flag_layer: dict[str, dict[str, str]] = {}
    for text in flags:
        section, key, value = parse_assignment(text)
        flag_layer.setdefault(section, {})[key] = value
    _apply_layer(schema, values, sources, flag_layer, "command line")
    env = os.environ if environ is None else environ
    _apply_layer(schema, values, sources, get_env_overrides(env), "environment")
    return Config(chosen, values, sources)


def save_config(path: str | os.PathLike[str], config: Config | Mapping[str, Any]) -> None:
    """Write ``config`` as TOML to ``path`` atomically (temp file, fsync, rename).

    A crash at any moment leaves either the old file or the new one, never a mix.
    """
    data = {"preset": config.preset, **config.to_dict()} if isinstance(config, Config) else dict(config)
    write_file_atomic(path, tomli_w.dumps(data).encode())
