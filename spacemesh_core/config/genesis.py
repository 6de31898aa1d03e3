"""``network.genesis_time = "auto"``: a lone node's genesis is the moment of its first start.

The first start writes that moment to ``<data dir>/genesis_time``; later starts read it back, so a
restarted node stays on its own chain. Nodes that must share a chain (``spacemesh devnet``, a
network) are given an explicit RFC 3339 time instead.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

from spacemesh_core.clock import parse_genesis_time
from spacemesh_core.config.loader import Config
from spacemesh_core.config.schema import ConfigError
from spacemesh_core.fsutil import write_file_atomic

AUTO_GENESIS = "auto"
#: the file in the data dir that keeps an automatic genesis time
GENESIS_TIME_FILE = "genesis_time"


def format_genesis_time(unix_seconds: float) -> str:
    """Return an RFC 3339 UTC timestamp with whole seconds (``2026-01-01T00:00:00Z``)."""
    return dt.datetime.fromtimestamp(int(unix_seconds), dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def is_auto_genesis(config: Config) -> bool:
    """Return whether the configuration asks for an automatic genesis time."""
    return str(config.network.genesis_time).strip().lower() == AUTO_GENESIS


def get_auto_genesis_time(data_dir: Path, now: float | None = None) -> str:
    """Return the genesis time saved in ``data_dir``, saving ``now`` (default: the wall clock) first
    when there is none yet.

    :raises ConfigError: when the saved file holds no valid timestamp.
    """
    path = Path(data_dir).expanduser() / GENESIS_TIME_FILE
    if path.exists():
        text = path.read_text().strip()
        try:
            parse_genesis_time(text)
        except ValueError as exc:
            raise ConfigError(f"{path} does not hold an RFC 3339 genesis time: {exc}") from None
        return text
    text = format_genesis_time(time.time() if now is None else now)
    write_file_atomic(path, (text + "\n").encode())
    return text


def resolve_genesis_time(config: Config, data_dir: Path, now: float | None = None) -> Config:
    """Return ``config`` with an ``"auto"`` genesis time replaced by the one of ``data_dir``
    (see :func:`get_auto_genesis_time`); any other configuration is returned unchanged."""
    if not is_auto_genesis(config):
        return config
    values = config.to_dict()
    values["network"]["genesis_time"] = get_auto_genesis_time(data_dir, now)
    sources = dict(config.sources)
    sources["network.genesis_time"] = f"auto ({Path(data_dir) / GENESIS_TIME_FILE})"
    return Config(config.preset, values, sources)
