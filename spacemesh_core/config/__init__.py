"""Configuration: sections contributed by the core and by plugins, presets, and layered loading.

Precedence, lowest first: preset < TOML file < command-line flags < environment.
"""

from spacemesh_core.config.loader import (
    Config,
    ConfigError,
    build_config,
    get_env_overrides,
    parse_assignment,
    read_config_file,
    save_config,
)
from spacemesh_core.config.presets import PRESETS, get_preset
from spacemesh_core.config.schema import ConfigField, ConfigSection, Schema

__all__ = [
    "PRESETS",
    "Config",
    "ConfigError",
    "ConfigField",
    "ConfigSection",
    "Schema",
    "build_config",
    "get_env_overrides",
    "get_preset",
    "parse_assignment",
    "read_config_file",
    "save_config",
]
