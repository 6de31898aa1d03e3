"""JSON forms of the reference PoET REST API (grpc-gateway over ``rpc.api.v1.PoetService``).

protojson conventions: ``bytes`` as base64, 64-bit integers as decimal strings, ``Duration`` as
``"<seconds>s"``, ``Timestamp`` as RFC 3339; field names in lowerCamelCase (the proto names are
accepted on input too). Errors are ``{"code", "message", "details"}`` with the gRPC code and the
HTTP status grpc-gateway maps it to.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

# gRPC status codes used by the PoET service and their HTTP statuses (grpc-gateway mapping).
INVALID_ARGUMENT = 3
NOT_FOUND = 5
ALREADY_EXISTS = 6
RESOURCE_EXHAUSTED = 8
FAILED_PRECONDITION = 9
INTERNAL = 13
UNAUTHENTICATED = 16
HTTP_STATUS = {
    INVALID_ARGUMENT: 400,
    NOT_FOUND: 404,
    ALREADY_EXISTS: 409,
    RESOURCE_EXHAUSTED: 429,
    FAILED_PRECONDITION: 400,
    INTERNAL: 500,
    UNAUTHENTICATED: 401,
}


class ApiError(Exception):
    """An error answer: gRPC code and message."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def http_status(self) -> int:
        """The HTTP status grpc-gateway uses for this code."""
        return HTTP_STATUS.get(self.code, 500)

    def to_json(self) -> dict[str, Any]:
        """Return the grpc-gateway error body."""
        return {"code": self.code, "message": self.message, "details": []}


def format_duration(seconds: float) -> str:
    """Return a protojson ``Duration``: seconds with 0, 3, 6 or 9 fraction digits and an ``s``."""
    nanos_total = round(seconds * 1e9)
    sign = "-" if nanos_total < 0 else ""
    whole, nanos = divmod(abs(nanos_total), 1_000_000_000)
    if nanos == 0:
        return f"{sign}{whole}s"
    if nanos % 1_000_000 == 0:
        return f"{sign}{whole}.{nanos // 1_000_000:03d}s"
    if nanos % 1000 == 0:
        return f"{sign}{whole}.{nanos // 1000:06d}s"
    return f"{sign}{whole}.{nanos:09d}s"


def parse_duration(text: Any) -> float:
    """Return seconds from a protojson ``Duration`` string.

    :raises ValueError: not of the form ``"<number>s"``.
    """
    if not isinstance(text, str) or not text.endswith("s"):
        raise ValueError(f"invalid duration {text!r}")
    return float(text[:-1])


def format_timestamp(unix_seconds: float) -> str:
    """Return a protojson ``Timestamp`` (RFC 3339, UTC, ``Z``)."""
    return datetime.fromtimestamp(unix_seconds, UTC).isoformat().replace("+00:00", "Z")


def parse_timestamp(text: Any) -> float:
    """Return unix seconds from a protojson ``Timestamp``.

    :raises ValueError: not RFC 3339 with a zone.
    """
    if not isinstance(text, str):
        raise ValueError(f"invalid timestamp {text!r}")
    value = text.replace("Z", "+00:00")
    # Python before 3.11 accepted only 6 fraction digits; trim nanoseconds to be safe.
    if "." in value:
        head, _, tail = value.partition(".")
        digits = len(tail) - len(tail.lstrip("0123456789"))
        value = head + "." + tail[: min(digits, 6)] + tail[digits:]
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError(f"timestamp {text!r} lacks a time zone")
    return parsed.timestamp()


def get_field(document: dict[str, Any], camel: str, snake: str, default: Any = None) -> Any:
    """Return ``document[camel]`` or ``document[snake]`` (protojson accepts both), else ``default``."""
    if camel in document and document[camel] is not None:
        return document[camel]
    if snake in document and document[snake] is not None:
        return document[snake]
    return default
