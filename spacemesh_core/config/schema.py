"""Declared configuration sections: every key has a type, a default and a line of documentation."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs

#: The value types a configuration key may have (TOML scalars and lists of strings).
ALLOWED_TYPES = (bool, int, float, str, list)


class ConfigError(ValueError):
    """A configuration that cannot be used: unknown key, wrong type, bad file. The message names the key."""


@attrs.frozen
class ConfigField:
    """One configuration key: its type, default value and documentation."""

    type: type
    default: Any
    doc: str

    def __attrs_post_init__(self) -> None:
        if self.type not in ALLOWED_TYPES:
            raise TypeError(f"config field type must be one of {ALLOWED_TYPES}, not {self.type!r}")
        self.coerce(self.default, "<default>")

    def coerce(self, value: Any, where: str) -> Any:
        """Return ``value`` converted to this field's type.

        Strings (from flags and the environment) are parsed; other values must already have the
        right type (an int is accepted for a float field).

        :raises ConfigError: naming ``where`` (the dotted key) when the value does not fit.
        """
        expected = self.type
        if isinstance(value, str) and expected is not str:
            return self.coerce(_parse_text(value, expected, where), where)
        is_number = isinstance(value, int | float) and not isinstance(value, bool)
        if expected is bool and isinstance(value, bool):
            return value
        if expected is int and is_number and isinstance(value, int):
            return value
        if expected is float and is_number:
            return float(value)
        if expected is str and isinstance(value, str):
            return value
        if expected is list and isinstance(value, list) and all(isinstance(v, str) for v in value):
            return list(value)
        raise ConfigError(f"{where}: expected {expected.__name__}, got {type(value).__name__} {value!r}")


def _parse_text(text: str, expected: type, where: str) -> Any:
    try:
        if expected is bool:
            lowered = text.strip().lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError(text)
        if expected is int:
            return int(text.replace("_", ""), 0)
        if expected is float:
            return float(text)
        if expected is list:
            return [item.strip() for item in text.split(",") if item.strip()]
    except ValueError:
        pass
    raise ConfigError(f"{where}: cannot read {text!r} as {expected.__name__}")


@attrs.frozen
class ConfigSection:
    """A named group of configuration keys, contributed by the core or a plugin."""

    name: str
    fields: dict[str, ConfigField]
    doc: str = ""
    owner: str = "core"


class Schema:
    """All known sections; the authority on which keys exist."""

    def __init__(self, sections: Iterable[ConfigSection] = ()) -> None:
        self._sections: dict[str, ConfigSection] = {}
        for section in sections:
            self.add(section)

    def add(self, section: ConfigSection) -> None:
        """Add ``section``.

        :raises ConfigError: when another owner already declared a section of that name.
        """
        if section.name in self._sections:
            other = self._sections[section.name].owner
            raise ConfigError(
                f"config section [{section.name}] declared twice (by {other} and {section.owner})"
            )
        self._sections[section.name] = section

    @property
    def sections(self) -> dict[str, ConfigSection]:
        """The sections by name."""
        return dict(self._sections)

    def get_field(self, section: str, key: str) -> ConfigField:
        """Return the declared field ``section.key``.

        :raises ConfigError: naming the unknown section or key and the valid choices.
        """
        if section not in self._sections:
            raise ConfigError(
                f"unknown config section [{section}]; sections are: {', '.join(sorted(self._sections))}"
            )
        fields = self._sections[section].fields
        if key not in fields:
            raise ConfigError(
                f"unknown config key {section}.{key}; keys of [{section}] are: {', '.join(sorted(fields))}"
            )
        return fields[key]

    def get_defaults(self) -> dict[str, dict[str, Any]]:
        """Return every section's default values as a nested dict."""
        return {
            name: {key: field.default for key, field in section.fields.items()}
            for name, section in self._sections.items()
        }
