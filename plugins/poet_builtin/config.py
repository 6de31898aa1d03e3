"""Configuration of the built-in PoET server, read from a TOML file (``spacemesh poet serve --config F``).

The file holds a ``[poet_server]`` table (or the same keys at the top level)::

    [poet_server]
    datadir = "./poet-data"
    genesis = "2026-01-01T00:00:00Z"   # RFC 3339, or unix seconds
    epoch_duration = "30s"              # seconds as a number, or a Go-style duration ("336h")
    phase_shift = "15s"
    cycle_gap = "10s"
    listen = "127.0.0.1:8080"
    pow_difficulty = 20
    certifier_url = ""                  # with certifier_pubkey (base64 or hex): certificates accepted
    certifier_pubkey = ""
    trusted_keys_dir = ""               # *.key files, base64 certifier keys
    max_round_members = 4294967296
    checkpoint_leaves = 16777216
    min_leaves = 150
    implementation = "auto"             # SHA-256 backend: auto, sha-ni, portable
"""

from __future__ import annotations

import base64
import binascii
import re
import tomllib
from datetime import datetime
from pathlib import Path
from typing import Any

import attrs

#: Defaults of the reference PoET (``server/config.go``): a quick local setup.
DEFAULT_EPOCH_DURATION = 30.0
DEFAULT_PHASE_SHIFT = 15.0
DEFAULT_CYCLE_GAP = 10.0
DEFAULT_POW_DIFFICULTY = 20

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(h|ms|us|ns|m|s)")
_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}


class PoetConfigError(ValueError):
    """A PoET server configuration that cannot be used; the message names the key."""


def parse_duration(value: Any, key: str) -> float:
    """Return seconds from a number or a Go duration string such as ``"1h30m"`` or ``"2.5s"``.

    :raises PoetConfigError: anything else, or a negative value.
    """
    if isinstance(value, bool):
        raise PoetConfigError(f"{key}: expected a duration, got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip()
        pos, seconds = 0, 0.0
        for match in _DURATION_PART.finditer(text):
            if match.start() != pos:
                break
            seconds += float(match.group(1)) * _UNITS[match.group(2)]
            pos = match.end()
        if pos != len(text) or not text:
            raise PoetConfigError(f'{key}: cannot read duration {value!r} (use e.g. 30, "30s", "336h")')
    else:
        raise PoetConfigError(f"{key}: expected a duration, got {type(value).__name__}")
    if seconds < 0:
        raise PoetConfigError(f"{key}: duration must not be negative")
    return seconds


def parse_time(value: Any, key: str) -> float:
    """Return unix seconds from a number or an RFC 3339 string.

    :raises PoetConfigError: anything else.
    """
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise PoetConfigError(f"{key}: the time needs a time zone")
        return value.timestamp()
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise PoetConfigError(f"{key}: cannot read time {value!r} (use RFC 3339)") from None
        if parsed.tzinfo is None:
            raise PoetConfigError(f"{key}: the time needs a time zone")
        return parsed.timestamp()
    raise PoetConfigError(f"{key}: expected a time, got {type(value).__name__}")


def parse_key(value: str, key: str) -> bytes:
    """Return a 32-byte ed25519 public key given in hex or base64.

    :raises PoetConfigError: neither form gives 32 bytes.
    """
    text = value.strip()
    try:
        if len(text) == 64:
            return bytes.fromhex(text)
    except ValueError:
        pass
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise PoetConfigError(f"{key}: expected a 32-byte key in hex or base64")
    return raw


@attrs.define
class PoetServerConfig:
    """Settings of one PoET server. Times are unix seconds, durations seconds."""

    datadir: Path = attrs.field(converter=Path)
    genesis: float
    epoch_duration: float = DEFAULT_EPOCH_DURATION
    phase_shift: float = DEFAULT_PHASE_SHIFT
    cycle_gap: float = DEFAULT_CYCLE_GAP
    host: str = "127.0.0.1"
    port: int = 8080
    pow_difficulty: int = DEFAULT_POW_DIFFICULTY
    certifier_url: str = ""
    certifier_pubkey: bytes | None = None
    trusted_keys_dir: str = ""
    max_round_members: int = 1 << 32
    checkpoint_leaves: int = 1 << 24
    min_leaves: int = 150
    implementation: str = "auto"

    def __attrs_post_init__(self) -> None:
        if self.epoch_duration <= 0:
            raise PoetConfigError("epoch_duration must be positive")
        if not 0 <= self.cycle_gap < self.epoch_duration:
            raise PoetConfigError("cycle_gap must be at least 0 and shorter than epoch_duration")
        if self.phase_shift < 0:
            raise PoetConfigError("phase_shift must not be negative")
        if not 0 <= self.pow_difficulty <= 256:
            raise PoetConfigError("pow_difficulty must be within 0..256")
        if not 0 <= self.port < 65536:
            raise PoetConfigError("port must be within 0..65535")
        if self.max_round_members <= 0 or self.checkpoint_leaves <= 0 or self.min_leaves <= 0:
            raise PoetConfigError("max_round_members, checkpoint_leaves and min_leaves must be positive")
        if self.implementation not in ("auto", "sha-ni", "portable"):
            raise PoetConfigError("implementation must be auto, sha-ni or portable")

    # Round arithmetic (poet server/config.go RoundConfig).

    def get_open_round_id(self, now: float) -> int:
        """Return the round open for registration at ``now``."""
        since = now - self.genesis
        if since < self.phase_shift:
            return 0
        return int((since - self.phase_shift) // self.epoch_duration) + 1

    def get_round_start(self, round_id: int) -> float:
        """Return when round ``round_id`` closes registration and its sequential work begins."""
        return self.genesis + self.phase_shift + round_id * self.epoch_duration

    def get_round_end(self, round_id: int) -> float:
        """Return the deadline of round ``round_id``'s sequential work."""
        return self.get_round_start(round_id) + self.epoch_duration - self.cycle_gap

    def get_round_dir(self, round_id: int) -> Path:
        """Return the folder holding round ``round_id``'s work."""
        return self.datadir / "rounds" / str(round_id)


_KEYS = {field.name for field in attrs.fields(PoetServerConfig)} | {"listen"}


def build_config(values: dict[str, Any], base_dir: Path | None = None) -> PoetServerConfig:
    """Return a :class:`PoetServerConfig` from a mapping of file keys.

    :raises PoetConfigError: unknown keys, missing ``datadir``/``genesis``, or bad values.
    """
    unknown = sorted(set(values) - _KEYS)
    if unknown:
        raise PoetConfigError(f"unknown poet_server keys: {', '.join(unknown)}; known: {', '.join(sorted(_KEYS))}")
    if "datadir" not in values or "genesis" not in values:
        raise PoetConfigError("poet_server needs 'datadir' and 'genesis'")
    kwargs: dict[str, Any] = {}
    datadir = Path(str(values["datadir"])).expanduser()
    if base_dir is not None and not datadir.is_absolute():
        datadir = base_dir / datadir
    kwargs["datadir"] = datadir
    kwargs["genesis"] = parse_time(values["genesis"], "genesis")
    for key in ("epoch_duration", "phase_shift", "cycle_gap"):
        if key in values:
            kwargs[key] = parse_duration(values[key], key)
    if "listen" in values:
        host, sep, port = str(values["listen"]).rpartition(":")
        if not sep or not port.isdigit():
            raise PoetConfigError(f"listen: expected host:port, got {values['listen']!r}")
        kwargs["host"], kwargs["port"] = host or "127.0.0.1", int(port)
    for key in ("host",):
        if key in values:
            kwargs[key] = str(values[key])
    for key in ("port", "pow_difficulty", "max_round_members", "checkpoint_leaves", "min_leaves"):
        if key in values:
            if not isinstance(values[key], int) or isinstance(values[key], bool):
                raise PoetConfigError(f"{key}: expected an integer")
            kwargs[key] = values[key]
    for key in ("certifier_url", "trusted_keys_dir", "implementation"):
        if key in values:
            kwargs[key] = str(values[key])
    if values.get("certifier_pubkey"):
        kwargs["certifier_pubkey"] = parse_key(str(values["certifier_pubkey"]), "certifier_pubkey")
    return PoetServerConfig(**kwargs)


def load_config(path: str | Path) -> PoetServerConfig:
    """Read a PoET server configuration file (TOML).

    :raises PoetConfigError: unreadable file or bad values.
    """
    file = Path(path)
    try:
        document = tomllib.loads(file.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise PoetConfigError(f"cannot read {file}: {exc}") from None
    values = document.get("poet_server", document)
    if not isinstance(values, dict):
        raise PoetConfigError("[poet_server] must be a table")
    return build_config(values, base_dir=file.parent.resolve())
