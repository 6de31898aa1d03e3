"""A small JSON-Schema validator for request bodies and query strings.

The schemas here are the same dicts the OpenAPI document publishes, so what the document promises
is exactly what the server checks. Only the keywords the routes use are supported: ``type``,
``properties``, ``required``, ``additionalProperties`` (False), ``items``, ``minItems``,
``maxItems``, ``minimum``, ``maximum``, ``minLength``, ``maxLength``, ``pattern``, ``enum`` and
``anyOf``.
"""

from __future__ import annotations

import re
from typing import Any

JsonSchema = dict[str, Any]


class SchemaViolation(ValueError):
    """A value that does not fit its schema; the message names the offending field."""


_TYPE_CHECKS = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
}


def verify_schema(value: Any, schema: JsonSchema, where: str = "body") -> None:
    """Check ``value`` against ``schema``.

    :raises SchemaViolation: naming the first field (``where`` path) that does not fit.
    """
    if "anyOf" in schema:
        errors = []
        for option in schema["anyOf"]:
            try:
                verify_schema(value, option, where)
                return
            except SchemaViolation as exc:
                errors.append(str(exc))
        raise SchemaViolation(f"{where}: {schema.get('description') or ' or '.join(errors)}")
    expected = schema.get("type")
    if expected is not None and not _TYPE_CHECKS[expected](value):
        raise SchemaViolation(f"{where} must be {_describe(expected)}, got {_name_of(value)}")
    if "enum" in schema and value not in schema["enum"]:
        raise SchemaViolation(f"{where} must be one of {', '.join(map(str, schema['enum']))}")
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            raise SchemaViolation(f"{where} must have at least {schema['minLength']} characters")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            raise SchemaViolation(f"{where} must have at most {schema['maxLength']} characters")
        if "pattern" in schema and not re.fullmatch(schema["pattern"], value):
            raise SchemaViolation(f"{where} is malformed: {schema.get('description') or schema['pattern']}")
    if _TYPE_CHECKS["number"](value):
        if "minimum" in schema and value < schema["minimum"]:
            raise SchemaViolation(f"{where} must be >= {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            raise SchemaViolation(f"{where} must be <= {schema['maximum']}")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            raise SchemaViolation(f"{where} must have at least {schema['minItems']} items")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            raise SchemaViolation(f"{where} must have at most {schema['maxItems']} items")
        if "items" in schema:
            for index, item in enumerate(value):
                verify_schema(item, schema["items"], f"{where}[{index}]")
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        for name in schema.get("required", ()):
            if name not in value:
                raise SchemaViolation(f"{where}.{name} is required")
        if schema.get("additionalProperties") is False:
            extra = sorted(str(k) for k in value if k not in properties)
            if extra:
                known = ", ".join(properties) or "(none)"
                raise SchemaViolation(f"{where}: unknown field {extra[0]!r}; fields are: {known}")
        for name, sub in properties.items():
            if name in value:
                verify_schema(value[name], sub, f"{where}.{name}")


def _describe(expected: str) -> str:
    return {"object": "a JSON object", "array": "a JSON array", "integer": "an integer"}.get(expected, f"a {expected}")


def _name_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return {dict: "an object", list: "an array", str: "a string", int: "an integer", float: "a number"}.get(
        type(value), type(value).__name__
    )


# -- building blocks shared by the routes ---------------------------------------------------------

UINT32_MAX = 2**32 - 1
UINT64_MAX = 2**64 - 1


def obj(properties: dict[str, JsonSchema], required: tuple[str, ...] = (), description: str = "") -> JsonSchema:
    """Return a closed object schema (unknown fields are rejected)."""
    schema: JsonSchema = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = list(required)
    if description:
        schema["description"] = description
    return schema


def integer(minimum: int = 0, maximum: int = UINT32_MAX, description: str = "") -> JsonSchema:
    """Return an integer schema bounded by ``minimum`` and ``maximum``."""
    schema: JsonSchema = {"type": "integer", "minimum": minimum, "maximum": maximum}
    if description:
        schema["description"] = description
    return schema


def uint64_value(description: str) -> JsonSchema:
    """Return the proto3-JSON form of a uint64: a decimal string (an integer is accepted too)."""
    return {
        "anyOf": [
            {"type": "string", "pattern": "^[0-9]{1,20}$", "maxLength": 20},
            {"type": "integer", "minimum": 0, "maximum": UINT64_MAX},
        ],
        "description": description,
    }


def string(description: str, *, pattern: str | None = None, max_length: int = 1024) -> JsonSchema:
    """Return a string schema with an optional regular expression."""
    schema: JsonSchema = {"type": "string", "maxLength": max_length, "description": description}
    if pattern is not None:
        schema["pattern"] = pattern
    return schema


def array(items: JsonSchema, max_items: int = 100, min_items: int = 0) -> JsonSchema:
    """Return an array schema."""
    schema: JsonSchema = {"type": "array", "items": items, "maxItems": max_items}
    if min_items:
        schema["minItems"] = min_items
    return schema


BOOL: JsonSchema = {"type": "boolean"}
#: bech32 address (checked further by the address parser, which gives the precise reason)
ADDRESS = string("a bech32 account address, e.g. sm1qqqq...", pattern="^[a-z]{1,83}1[02-9ac-hj-np-z]{6,}$",
                 max_length=90)
#: 32-byte ids (node ids, ATX ids) as hex
HEX32 = string("32 bytes as 64 hex digits", pattern="^[0-9a-fA-F]{64}$", max_length=64)
BASE64 = string("base64 bytes", pattern="^[A-Za-z0-9+/]*={0,2}$", max_length=200_000)
LIMIT = integer(1, 1000, "the most items to return (1..1000)")
OFFSET = integer(0, UINT32_MAX, "items to skip")
LAYER = integer(0, UINT32_MAX, "a layer number")
EPOCH = integer(0, UINT32_MAX, "an epoch number")
ANY_OBJECT: JsonSchema = {"type": "object"}
ERROR: JsonSchema = {
    "type": "object",
    "properties": {"error": {"type": "string"}, "reason": {"type": "string"}},
    "required": ["error", "reason"],
}
