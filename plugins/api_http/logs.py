"""Structured logs: the ``[logging]`` section (format json|text, a level per module) on stdlib logging."""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any, TextIO

from spacemesh_core.config import ConfigSection
from spacemesh_core.config.schema import ConfigError, ConfigField

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR,
          "critical": logging.CRITICAL}

LOGGING_SECTION = ConfigSection(
    "logging",
    {
        "format": ConfigField(str, "text", "log line format: text or json (one JSON object per line)"),
        "level": ConfigField(str, "info", "level of every module without its own: debug, info, warning, error"),
        "modules": ConfigField(list, [], "per-module levels as module=level, e.g. spacemesh_core.bus=debug"),
        "file": ConfigField(str, "", "write logs to this file instead of stderr"),
    },
    "structured logs with per-module levels",
    owner="api_http",
)


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object: time, level, module (logger name), message, extras."""

    _STANDARD = set(vars(logging.makeLogRecord({})))

    def format(self, record: logging.LogRecord) -> str:
        """Return the JSON line of ``record``."""
        line: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "module": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in self._STANDARD and not key.startswith("_"):
                line[key] = value if isinstance(value, str | int | float | bool | type(None)) else repr(value)
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def parse_level(text: str, where: str) -> int:
    """Return the logging level named ``text``. :raises ConfigError: for an unknown name."""
    level = LEVELS.get(text.strip().lower())
    if level is None:
        raise ConfigError(f"{where}: unknown log level {text!r}; levels are: {', '.join(LEVELS)}")
    return level


def parse_module_levels(entries: list[str]) -> dict[str, int]:
    """Return ``{module: level}`` from ``module=level`` entries. :raises ConfigError: on a malformed entry."""
    levels = {}
    for entry in entries:
        module, sep, level = entry.partition("=")
        if not sep or not module.strip():
            raise ConfigError(f"logging.modules: {entry!r} is not module=level")
        levels[module.strip()] = parse_level(level, f"logging.modules[{module.strip()}]")
    return levels


class LoggingSetup:
    """Applies a ``[logging]`` section to stdlib logging and undoes it (a node service).

    :raises ConfigError: for an unknown format or level (raised by the constructor, before anything changes).
    """

    name = "logging"

    def __init__(self, section: Any, stream: TextIO | None = None) -> None:
        fmt = str(section["format"]).lower()
        if fmt not in ("text", "json"):
            raise ConfigError(f"logging.format: expected text or json, got {section['format']!r}")
        self.format = fmt
        self.level = parse_level(str(section["level"]), "logging.level")
        self.modules = parse_module_levels(list(section["modules"]))
        self.file = str(section["file"])
        self.stream = stream
        self.handler: logging.Handler | None = None
        self._saved: dict[str, int] = {}

    def apply(self) -> logging.Handler:
        """Install the handler on the root logger and set every level; return the handler."""
        if self.file:
            handler: logging.Handler = logging.FileHandler(self.file, encoding="utf-8")
        else:
            handler = logging.StreamHandler(self.stream or sys.stderr)
        if self.format == "json":
            handler.setFormatter(JsonFormatter())
        else:
            handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
        root = logging.getLogger()
        self._saved[""] = root.level
        root.setLevel(self.level)
        for module, level in self.modules.items():
            logger = logging.getLogger(module)
            self._saved[module] = logger.level
            logger.setLevel(level)
        root.addHandler(handler)
        self.handler = handler
        return handler

    def remove(self) -> None:
        """Remove the handler and restore the previous levels."""
        if self.handler is not None:
            logging.getLogger().removeHandler(self.handler)
            self.handler.close()
            self.handler = None
        for module, level in self._saved.items():
            logging.getLogger(module or None).setLevel(level)
        self._saved.clear()

    async def start(self) -> None:
        """Apply the configuration (service start)."""
        self.apply()

    async def stop(self) -> None:
        """Undo it (service stop)."""
        self.remove()
