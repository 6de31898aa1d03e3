"""CBOR envelopes: the three frames every bus message has.

``[topic + NUL, header (CBOR map), body (CBOR map)]``. The NUL after the topic makes ZeroMQ's
prefix subscriptions exact (subscribing to ``atx`` must not deliver ``atx_v2``). Decoding is
strict: the size cap is checked before anything is parsed, CBOR tags are refused, trailing bytes
are refused, the header must have exactly the expected keys and types.
"""

from __future__ import annotations

import io
import time
from typing import Any

import attrs
import cbor2

from spacemesh_core.events import EventError, EventRegistry, get_topic

ENVELOPE_VERSION = 1
#: topics starting with this byte are the bus's own control messages (hello, errors), never events
CONTROL_PREFIX = "\x01"
HELLO_PREFIX = CONTROL_PREFIX + "hello:"
ERROR_TOPIC = CONTROL_PREFIX + "error"
_HEADER_KEYS = {"v": int, "ts": float, "src": str, "seq": int}


class EnvelopeError(ValueError):
    """A message that is not a well-formed envelope; it is rejected and counted, never forwarded."""


@attrs.frozen
class Header:
    """Envelope metadata: format version, send time, sender name, sender sequence number."""

    v: int
    ts: float
    src: str
    seq: int


def encode_topic(topic: str) -> bytes:
    """Return the topic frame for ``topic`` (ASCII plus a terminating NUL)."""
    return topic.encode("ascii") + b"\x00"


def _refuse_tag(decoder: Any, tag: Any) -> Any:
    raise EnvelopeError(f"CBOR tag {tag.tag} is not allowed on the bus")


def decode_cbor_strict(data: bytes, what: str) -> Any:
    """Decode one CBOR item that must span all of ``data``.

    :raises EnvelopeError: malformed CBOR, a tag, or trailing bytes.
    """
    stream = io.BytesIO(data)
    try:
        value = cbor2.CBORDecoder(stream, tag_hook=_refuse_tag).decode()
    except EnvelopeError:
        raise
    except Exception as exc:  # cbor2 raises several types for hostile input
        raise EnvelopeError(f"{what}: malformed CBOR ({exc})") from None
    if stream.tell() != len(data):
        raise EnvelopeError(f"{what}: {len(data) - stream.tell()} trailing bytes after the CBOR item")
    return value


def encode_frames(topic: str, body: dict[str, Any], source: str, seq: int) -> list[bytes]:
    """Return the frames of a message with ``topic`` and ``body``."""
    header = {"v": ENVELOPE_VERSION, "ts": time.time(), "src": source, "seq": seq}
    return [encode_topic(topic), cbor2.dumps(header), cbor2.dumps(body)]


def encode_event(registry: EventRegistry, evt: Any, source: str, seq: int) -> list[bytes]:
    """Return the frames carrying event ``evt``.

    :raises EventError: when the event's class is not registered.
    """
    return encode_frames(get_topic(evt), registry.compute_body(evt), source, seq)


def decode_topic(frame: bytes) -> str:
    """Return the topic of a topic frame.

    :raises EnvelopeError: when the frame is not printable ASCII ending in NUL.
    """
    if not frame.endswith(b"\x00") or len(frame) < 2 or len(frame) > 256:
        raise EnvelopeError("topic frame must be 1-255 ASCII bytes followed by NUL")
    try:
        topic = frame[:-1].decode("ascii")
    except UnicodeDecodeError:
        raise EnvelopeError("topic frame is not ASCII") from None
    if not (topic.isprintable() or topic.startswith(CONTROL_PREFIX)):
        raise EnvelopeError("topic frame has control characters")
    return topic


def decode_header(frame: bytes) -> Header:
    """Decode and check a header frame.

    :raises EnvelopeError: malformed CBOR, missing/extra keys, wrong types or an unknown version.
    """
    header = decode_cbor_strict(frame, "header")
    if not isinstance(header, dict) or set(header) != set(_HEADER_KEYS):
        raise EnvelopeError(f"header must be a map with keys {sorted(_HEADER_KEYS)}")
    for key, expected in _HEADER_KEYS.items():
        value = header[key]
        if isinstance(value, bool) or not isinstance(value, expected):
            raise EnvelopeError(f"header field {key!r} must be {expected.__name__}")
    if header["v"] != ENVELOPE_VERSION:
        raise EnvelopeError(f"unsupported envelope version {header['v']}")
    return Header(**header)


def check_frames(frames: list[bytes], max_bytes: int) -> str:
    """Check the framing and size of a raw message and return its topic.

    :raises EnvelopeError: wrong frame count, over the size cap, or a bad topic frame.
    """
    if len(frames) != 3:
        raise EnvelopeError(f"expected 3 frames, got {len(frames)}")
    size = sum(len(f) for f in frames)
    if size > max_bytes:
        raise EnvelopeError(f"message of {size} bytes exceeds the cap of {max_bytes}")
    return decode_topic(frames[0])


def decode_event(registry: EventRegistry, frames: list[bytes], max_bytes: int) -> tuple[Header, Any]:
    """Decode a full event message.

    :raises EnvelopeError: for any framing, header, CBOR or event-shape problem.
    """
    topic = check_frames(frames, max_bytes)
    header = decode_header(frames[1])
    body = decode_cbor_strict(frames[2], "body")
    try:
        return header, registry.build_event(topic, body)
    except EventError as exc:
        raise EnvelopeError(str(exc)) from None
