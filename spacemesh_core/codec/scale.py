"""SCALE, the byte encoding go-spacemesh uses for everything it signs, hashes or sends.

This is a readable reference implementation of the subset of ``spacemeshos/go-scale`` (v1.2) that
the protocol uses (protocol.md §8.1):

* every unsigned integer field (``uint8`` included) is a **compact** integer: ``v < 2^6`` → one byte
  ``v << 2``; ``v < 2^14`` → two bytes LE ``v << 2 | 1``; ``v < 2^30`` → four bytes LE ``v << 2 | 2``;
  otherwise a header byte ``(n - 4) << 2 | 3`` followed by the ``n`` minimal little-endian bytes;
* fixed byte arrays are raw bytes; byte slices, strings and lists carry a compact-u32 length prefix
  and a per-field maximum that the decoder checks **before** reading or allocating anything;
* a Go pointer ``*T`` is an option: ``0x00`` (nil) or ``0x01`` followed by ``T``;
* a bool is one byte; ``EncodeByte`` (used for the malfeasance proof type tag) is one raw byte;
  explicit fixed-width little-endian integers appear only in hashing helpers.

Wire types declare their layout once, as attrs classes whose fields carry a SCALE type in their
metadata; :func:`encode` and :func:`decode` walk that declaration generically::

    @attrs.frozen
    class PostV1:
        nonce: int = field(U32)
        indices: bytes = field(ByteSlice(800))
        pow: int = field(U64)

(``field(T)`` is shorthand for ``attrs.field(metadata=scale_metadata(T))``; fields are encoded in
declaration order and decoding builds the class, so attrs validators run on decoded values too.)

Python values: unsigned integers are ``int``; fixed arrays and byte slices are ``bytes``; lists
and arrays are ``tuple``; an option is ``None`` or the value; strings are ``str``; a nested struct
is an instance of its attrs class; a union is an instance of one of its variant classes; an enum
is a member of its :class:`enum.IntEnum`.

Decoding hostile bytes raises :class:`ScaleError` and nothing else. Differences from go-scale
that are deliberate (all on the decode side, for bytes no honest encoder produces):

* a bool / option prefix byte other than ``0x00`` or ``0x01`` is rejected (go-scale reads any
  byte other than 1 as false, so two byte strings would decode to one value);
* :func:`decode` always rejects trailing bytes (go-spacemesh's ``codec.Decode`` does too);
* strings must be valid UTF-8 (the only string on the wire is the PoET round id, a decimal).

Integer acceptance follows go-scale exactly, including its quirks: the one-, two- and four-byte
modes must be canonical (a value that fits a shorter mode is rejected), but the big-integer mode of
a 64-bit compact accepts a non-minimal byte count as long as the value exceeds ``2^30 - 1``.
go-scale's nesting-depth limit is not reproduced: every declared type here has a fixed, finite
depth, so hostile bytes cannot make decoding recurse.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from typing import Any, Final, TypeVar

import attrs

__all__ = [
    "BOOL",
    "BYTE",
    "SCALE_METADATA_KEY",
    "U8",
    "U16",
    "U32",
    "U64",
    "Array",
    "Bool",
    "ByteSlice",
    "Bytes",
    "Compact",
    "Enum",
    "FixedUInt",
    "List",
    "Option",
    "ScaleError",
    "ScaleReader",
    "ScaleType",
    "String",
    "Struct",
    "Union",
    "as_scale_type",
    "decode",
    "decode_compact",
    "decode_prefix",
    "decode_value",
    "encode",
    "encode_compact",
    "encode_value",
    "field",
    "get_scale_fields",
    "is_scale_class",
    "iter_decode",
    "scale_metadata",
]

#: Key under which a field's SCALE type is stored in its attrs metadata.
SCALE_METADATA_KEY: Final = "spacemesh.scale"

#: go-scale's bound on collection lengths: lengths are encoded as compact u32.
MAX_LENGTH: Final = (1 << 32) - 1

_MAX_UINT6: Final = (1 << 6) - 1
_MAX_UINT14: Final = (1 << 14) - 1
_MAX_UINT30: Final = (1 << 30) - 1
_COMPACT_WIDTHS: Final = (8, 16, 32, 64)

T = TypeVar("T")


class ScaleError(ValueError):
    """Raised for any value that cannot be encoded and any bytes that cannot be decoded."""


# ---------------------------------------------------------------------------------------------
# Compact integers
# ---------------------------------------------------------------------------------------------


def _check_uint(value: Any, bits: int) -> int:
    """Return ``value`` if it is an ``int`` in ``[0, 2^bits)``, else raise :class:`ScaleError`."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise ScaleError(f"expected an unsigned integer, got {type(value).__name__}")
    if value < 0 or value >> bits:
        raise ScaleError(f"value {value} does not fit uint{bits}")
    return value


def _append_compact(value: int, out: bytearray) -> None:
    """Append the compact encoding of a range-checked ``value`` (the same for every width)."""
    if value <= _MAX_UINT6:
        out.append(value << 2)
    elif value <= _MAX_UINT14:
        out += ((value << 2) | 0b01).to_bytes(2, "little")
    elif value <= _MAX_UINT30:
        out += ((value << 2) | 0b10).to_bytes(4, "little")
    else:
        size = (value.bit_length() + 7) // 8  # at least 4 here, since value >= 2^30
        out.append(((size - 4) << 2) | 0b11)
        out += value.to_bytes(size, "little")


def encode_compact(value: int, bits: int = 64) -> bytes:
    """Return the go-scale compact encoding of ``value`` declared as ``uint<bits>``.

    :param value: an unsigned integer below ``2^bits``.
    :param bits: the declared width, one of 8, 16, 32, 64.
    :raises ScaleError: if ``value`` is not an integer in range.
    """
    if bits not in _COMPACT_WIDTHS:
        raise ValueError(f"compact width must be one of {_COMPACT_WIDTHS}, got {bits}")
    out = bytearray()
    _append_compact(_check_uint(value, bits), out)
    return bytes(out)


def decode_compact(data: bytes, bits: int = 64) -> int:
    """Decode one compact ``uint<bits>`` that must span all of ``data``.

    :raises ScaleError: on truncated, out-of-range, non-canonical or trailing bytes.
    """
    return decode_value(Compact(bits), data)


# ---------------------------------------------------------------------------------------------
# The reader (streaming decoder)
# ---------------------------------------------------------------------------------------------


class ScaleReader:
    """A cursor over SCALE bytes: decodes values one after another.

    Use it to decode a prefix and pick the next decoder from it (e.g. an ATX's publish epoch, or a
    transaction's method selector), or to walk a concatenation of encodings. Every read checks the
    remaining length first, so no read allocates more than the input holds.
    """

    __slots__ = ("_data", "_pos")

    def __init__(self, data: bytes | bytearray | memoryview) -> None:
        """Start reading at the first byte of ``data`` (copied once if it is not ``bytes``)."""
        self._data = data if isinstance(data, bytes) else bytes(data)
        self._pos = 0

    @property
    def offset(self) -> int:
        """Return how many bytes have been consumed so far."""
        return self._pos

    @property
    def remaining(self) -> int:
        """Return how many bytes are left to read."""
        return len(self._data) - self._pos

    def read_bytes(self, size: int) -> bytes:
        """Read exactly ``size`` raw bytes.

        :raises ScaleError: if fewer than ``size`` bytes remain.
        """
        start = self._pos
        end = start + size
        if end > len(self._data):
            raise ScaleError(f"unexpected end of data at offset {start}: need {size} bytes, have {self.remaining}")
        self._pos = end
        return self._data[start:end]

    def read_byte(self) -> int:
        """Read one raw byte and return it as an int.

        :raises ScaleError: at the end of the data.
        """
        pos = self._pos
        if pos >= len(self._data):
            raise ScaleError(f"unexpected end of data at offset {pos}")
        self._pos = pos + 1
        return self._data[pos]

    def read_compact(self, bits: int = 64) -> int:
        """Read a compact integer declared as ``uint<bits>`` with go-scale's range checks.

        :raises ScaleError: on truncation, a value out of range for the width, or a value encoded
            in a longer mode than go-scale accepts.
        """
        first = self.read_byte()
        mode = first & 0b11
        if mode == 0:
            return first >> 2
        if mode == 1:
            value = (first | (self.read_byte() << 8)) >> 2
            if value <= _MAX_UINT6 or (bits == 8 and value > 0xFF):
                raise ScaleError(f"compact value {value} is out of range for its two-byte form")
            return value
        if bits == 8:
            raise ScaleError("compact value overflows uint8")
        if mode == 2:
            value = int.from_bytes(bytes((first,)) + self.read_bytes(3), "little") >> 2
            limit = 0xFFFF if bits == 16 else _MAX_UINT30
            if value <= _MAX_UINT14 or value > limit:
                raise ScaleError(f"compact value {value} is out of range for its four-byte form")
            return value
        if bits == 16:
            raise ScaleError("compact value overflows uint16")
        size = (first >> 2) + 4
        if size > bits // 8:
            raise ScaleError(f"invalid compact{bits}: big-integer form of {size} bytes")
        value = int.from_bytes(self.read_bytes(size), "little")
        if value <= _MAX_UINT30:
            raise ScaleError(f"compact value {value} is out of range for the big-integer form")
        return value

    def read(self, scale_type: ScaleType | type[T]) -> Any:
        """Decode the next value of ``scale_type`` (a :class:`ScaleType` or a SCALE attrs class)."""
        return as_scale_type(scale_type).decode_from(self)

    def read_struct(self, cls: type[T]) -> T:
        """Decode the next value of the SCALE attrs class ``cls``."""
        result: T = Struct.of(cls).decode_from(self)
        return result

    def expect_end(self) -> None:
        """Check that every byte was consumed.

        :raises ScaleError: if bytes remain.
        """
        if self._pos != len(self._data):
            raise ScaleError(f"{self.remaining} trailing bytes after offset {self._pos}")


# ---------------------------------------------------------------------------------------------
# SCALE types
# ---------------------------------------------------------------------------------------------


class ScaleType(ABC):
    """A SCALE layout: how one Python value is written and read."""

    @property
    @abstractmethod
    def min_size(self) -> int:
        """Return the smallest number of bytes an encoding of this type takes."""

    @abstractmethod
    def encode_into(self, value: Any, out: bytearray) -> None:
        """Append the encoding of ``value`` to ``out``.

        :raises ScaleError: if ``value`` does not fit the declared layout.
        """

    @abstractmethod
    def decode_from(self, reader: ScaleReader) -> Any:
        """Read one value from ``reader``.

        :raises ScaleError: if the bytes do not hold a valid value of this layout.
        """


class Compact(ScaleType):
    """A go-scale compact unsigned integer declared with ``bits`` (8, 16, 32 or 64)."""

    __slots__ = ("bits",)

    def __init__(self, bits: int) -> None:
        """Declare a compact ``uint<bits>``."""
        if bits not in _COMPACT_WIDTHS:
            raise ValueError(f"compact width must be one of {_COMPACT_WIDTHS}, got {bits}")
        self.bits = bits

    @property
    def min_size(self) -> int:
        """Return 1: the smallest compact integer is one byte."""
        return 1

    def encode_into(self, value: Any, out: bytearray) -> None:
        """Append the compact encoding of ``value`` after checking it fits the declared width."""
        _append_compact(_check_uint(value, self.bits), out)

    def decode_from(self, reader: ScaleReader) -> int:
        """Read a compact integer with the declared width's range checks."""
        return reader.read_compact(self.bits)

    def __repr__(self) -> str:
        return f"U{self.bits}"


class FixedUInt(ScaleType):
    """A fixed-width little-endian unsigned integer (go-scale ``EncodeByte`` / ``EncodeUint64``)."""

    __slots__ = ("size",)

    def __init__(self, size: int) -> None:
        """Declare an unsigned integer stored in exactly ``size`` little-endian bytes."""
        if size not in (1, 2, 4, 8):
            raise ValueError(f"fixed integer size must be 1, 2, 4 or 8 bytes, got {size}")
        self.size = size

    @property
    def min_size(self) -> int:
        """Return the fixed size in bytes."""
        return self.size

    def encode_into(self, value: Any, out: bytearray) -> None:
        """Append ``value`` as ``size`` little-endian bytes."""
        out += _check_uint(value, self.size * 8).to_bytes(self.size, "little")

    def decode_from(self, reader: ScaleReader) -> int:
        """Read ``size`` little-endian bytes as an unsigned integer."""
        if self.size == 1:
            return reader.read_byte()
        return int.from_bytes(reader.read_bytes(self.size), "little")

    def __repr__(self) -> str:
        return f"FixedUInt({self.size})"


class Bool(ScaleType):
    """A bool: one byte, ``0x00`` or ``0x01``."""

    __slots__ = ()

    @property
    def min_size(self) -> int:
        """Return 1."""
        return 1

    def encode_into(self, value: Any, out: bytearray) -> None:
        """Append ``0x01`` for True and ``0x00`` for False."""
        if not isinstance(value, bool):
            raise ScaleError(f"expected a bool, got {type(value).__name__}")
        out.append(1 if value else 0)

    def decode_from(self, reader: ScaleReader) -> bool:
        """Read a bool; any byte other than 0 and 1 is rejected."""
        byte = reader.read_byte()
        if byte > 1:
            raise ScaleError(f"invalid bool byte 0x{byte:02x}")
        return byte == 1

    def __repr__(self) -> str:
        return "BOOL"


def _as_bytes(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    raise ScaleError(f"expected bytes, got {type(value).__name__}")


def _check_max_len(max_len: int) -> int:
    if not isinstance(max_len, int) or not 0 <= max_len <= MAX_LENGTH:
        raise ValueError(f"maximum length must be an integer in [0, 2^32), got {max_len!r}")
    return max_len


class Bytes(ScaleType):
    """A fixed-size byte array (``[N]byte``): exactly ``size`` raw bytes, no prefix."""

    __slots__ = ("size",)

    def __init__(self, size: int) -> None:
        """Declare a byte array of exactly ``size`` bytes."""
        if size < 0:
            raise ValueError("array size must not be negative")
        self.size = size

    @property
    def min_size(self) -> int:
        """Return the array size."""
        return self.size

    def encode_into(self, value: Any, out: bytearray) -> None:
        """Append the array's bytes after checking the length."""
        data = _as_bytes(value)
        if len(data) != self.size:
            raise ScaleError(f"expected {self.size} bytes, got {len(data)}")
        out += data

    def decode_from(self, reader: ScaleReader) -> bytes:
        """Read exactly ``size`` bytes."""
        return reader.read_bytes(self.size)

    def __repr__(self) -> str:
        return f"Bytes({self.size})"


class ByteSlice(ScaleType):
    """A byte string (``[]byte``) of at most ``max_len`` bytes, compact-u32 length prefixed."""

    __slots__ = ("max_len",)

    def __init__(self, max_len: int) -> None:
        """Declare a byte string of at most ``max_len`` bytes (the reference's ``scale:"max=N"``)."""
        self.max_len = _check_max_len(max_len)

    @property
    def min_size(self) -> int:
        """Return 1: an empty byte string is its one-byte length."""
        return 1

    def encode_into(self, value: Any, out: bytearray) -> None:
        """Append the length prefix and the bytes, refusing more than ``max_len`` bytes."""
        data = _as_bytes(value)
        if len(data) > self.max_len:
            raise ScaleError(f"byte string of {len(data)} bytes exceeds the limit of {self.max_len}")
        _append_compact(len(data), out)
        out += data

    def decode_from(self, reader: ScaleReader) -> bytes:
        """Read the length, check it against ``max_len`` and the input, then read the bytes."""
        length = reader.read_compact(32)
        if length > self.max_len:
            raise ScaleError(f"byte string length {length} exceeds the limit of {self.max_len}")
        return reader.read_bytes(length)

    def __repr__(self) -> str:
        return f"ByteSlice({self.max_len})"


class String(ScaleType):
    """A UTF-8 string of at most ``max_len`` bytes, encoded like a byte string."""

    __slots__ = ("max_len",)

    def __init__(self, max_len: int) -> None:
        """Declare a string of at most ``max_len`` UTF-8 bytes."""
        self.max_len = _check_max_len(max_len)

    @property
    def min_size(self) -> int:
        """Return 1."""
        return 1

    def encode_into(self, value: Any, out: bytearray) -> None:
        """Append the length prefix and the UTF-8 bytes."""
        if not isinstance(value, str):
            raise ScaleError(f"expected a str, got {type(value).__name__}")
        try:
            data = value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ScaleError(f"string is not encodable as UTF-8: {exc}") from None
        if len(data) > self.max_len:
            raise ScaleError(f"string of {len(data)} bytes exceeds the limit of {self.max_len}")
        _append_compact(len(data), out)
        out += data

    def decode_from(self, reader: ScaleReader) -> str:
        """Read a length-prefixed UTF-8 string."""
        length = reader.read_compact(32)
        if length > self.max_len:
            raise ScaleError(f"string length {length} exceeds the limit of {self.max_len}")
        try:
            return reader.read_bytes(length).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ScaleError(f"string is not valid UTF-8: {exc}") from None

    def __repr__(self) -> str:
        return f"String({self.max_len})"


class List(ScaleType):
    """A slice (``[]T``) of at most ``max_len`` elements, compact-u32 length prefixed."""

    __slots__ = ("_elem", "max_len")

    def __init__(self, elem: ScaleType | type, max_len: int) -> None:
        """Declare a list of ``elem`` (a SCALE type or SCALE attrs class) of at most ``max_len``."""
        self._elem = as_scale_type(elem)
        self.max_len = _check_max_len(max_len)

    @property
    def elem(self) -> ScaleType:
        """Return the element type."""
        return self._elem

    @property
    def min_size(self) -> int:
        """Return 1: an empty list is its one-byte length."""
        return 1

    def encode_into(self, value: Any, out: bytearray) -> None:
        """Append the length and every element, refusing more than ``max_len`` elements."""
        if not isinstance(value, (tuple, list)):
            raise ScaleError(f"expected a tuple or list, got {type(value).__name__}")
        if len(value) > self.max_len:
            raise ScaleError(f"list of {len(value)} elements exceeds the limit of {self.max_len}")
        _append_compact(len(value), out)
        encode_elem = self._elem.encode_into
        for item in value:
            encode_elem(item, out)

    def decode_from(self, reader: ScaleReader) -> tuple[Any, ...]:
        """Read the length, check it against ``max_len`` and the input size, then the elements."""
        length = reader.read_compact(32)
        if length > self.max_len:
            raise ScaleError(f"list length {length} exceeds the limit of {self.max_len}")
        # Each element takes at least min_size bytes: refuse early a length the input cannot hold.
        if length * self._elem.min_size > reader.remaining:
            raise ScaleError(f"list length {length} cannot fit in the {reader.remaining} remaining bytes")
        decode_elem = self._elem.decode_from
        return tuple(decode_elem(reader) for _ in range(length))

    def __repr__(self) -> str:
        return f"List({self._elem!r}, {self.max_len})"


class Array(ScaleType):
    """A fixed-length array of ``length`` elements (``[N]T``), no length prefix."""

    __slots__ = ("_elem", "length")

    def __init__(self, elem: ScaleType | type, length: int) -> None:
        """Declare an array of exactly ``length`` elements of ``elem``."""
        if length < 0:
            raise ValueError("array length must not be negative")
        self._elem = as_scale_type(elem)
        self.length = length

    @property
    def elem(self) -> ScaleType:
        """Return the element type."""
        return self._elem

    @property
    def min_size(self) -> int:
        """Return ``length`` times the element's minimum size."""
        return self.length * self._elem.min_size

    def encode_into(self, value: Any, out: bytearray) -> None:
        """Append every element, checking the count."""
        if not isinstance(value, (tuple, list)):
            raise ScaleError(f"expected a tuple or list, got {type(value).__name__}")
        if len(value) != self.length:
            raise ScaleError(f"expected {self.length} elements, got {len(value)}")
        for item in value:
            self._elem.encode_into(item, out)

    def decode_from(self, reader: ScaleReader) -> tuple[Any, ...]:
        """Read exactly ``length`` elements."""
        return tuple(self._elem.decode_from(reader) for _ in range(self.length))

    def __repr__(self) -> str:
        return f"Array({self._elem!r}, {self.length})"


class Option(ScaleType):
    """An optional value (a Go pointer): ``0x00`` for None, ``0x01`` then the value."""

    __slots__ = ("_elem",)

    def __init__(self, elem: ScaleType | type) -> None:
        """Declare an optional ``elem``."""
        self._elem = as_scale_type(elem)

    @property
    def elem(self) -> ScaleType:
        """Return the type of the value when present."""
        return self._elem

    @property
    def min_size(self) -> int:
        """Return 1: an absent value is one byte."""
        return 1

    def encode_into(self, value: Any, out: bytearray) -> None:
        """Append ``0x00`` for None, else ``0x01`` and the value."""
        if value is None:
            out.append(0)
        else:
            out.append(1)
            self._elem.encode_into(value, out)

    def decode_from(self, reader: ScaleReader) -> Any:
        """Read the presence byte (0 or 1 only) and the value if present."""
        flag = reader.read_byte()
        if flag == 0:
            return None
        if flag != 1:
            raise ScaleError(f"invalid option byte 0x{flag:02x}")
        return self._elem.decode_from(reader)

    def __repr__(self) -> str:
        return f"Option({self._elem!r})"


class Enum(ScaleType):
    """An :class:`enum.IntEnum` stored as its integer in ``base`` (compact u16 by default)."""

    __slots__ = ("base", "enum_cls")

    def __init__(self, enum_cls: type[enum.IntEnum], base: ScaleType | None = None) -> None:
        """Declare an enum field; decoding rejects integers that name no member."""
        self.enum_cls = enum_cls
        self.base = base if base is not None else Compact(16)

    @property
    def min_size(self) -> int:
        """Return the base type's minimum size."""
        return self.base.min_size

    def encode_into(self, value: Any, out: bytearray) -> None:
        """Append the member's integer value."""
        if not isinstance(value, self.enum_cls):
            raise ScaleError(f"expected a {self.enum_cls.__name__}, got {value!r}")
        self.base.encode_into(int(value), out)

    def decode_from(self, reader: ScaleReader) -> enum.IntEnum:
        """Read the integer and map it to a member."""
        raw = self.base.decode_from(reader)
        try:
            return self.enum_cls(raw)
        except ValueError:
            raise ScaleError(f"{raw} is not a valid {self.enum_cls.__name__}") from None

    def __repr__(self) -> str:
        return f"Enum({self.enum_cls.__name__})"


class Struct(ScaleType):
    """A SCALE attrs class: its declared fields, in declaration order, concatenated.

    Use :meth:`Struct.of` (or simply name the class where a SCALE type is expected) so that one
    compiled layout is shared per class.
    """

    __slots__ = ("_aliases", "_fields", "_min_size", "cls")

    _cache: dict[type, Struct] = {}  # one compiled layout per class, shared on purpose

    def __init__(self, cls: type) -> None:
        """Wrap the attrs class ``cls``; its field layout is compiled on first use."""
        if not attrs.has(cls):
            raise TypeError(f"{cls!r} is not an attrs class")
        self.cls = cls
        self._fields: tuple[tuple[str, ScaleType], ...] | None = None
        self._aliases: tuple[str, ...] = ()
        self._min_size: int | None = None

    @classmethod
    def of(cls, struct_cls: type) -> Struct:
        """Return the shared :class:`Struct` for ``struct_cls``."""
        found = cls._cache.get(struct_cls)
        if found is None:
            found = cls._cache[struct_cls] = Struct(struct_cls)
        return found

    @property
    def fields(self) -> tuple[tuple[str, ScaleType], ...]:
        """Return ``(name, SCALE type)`` for every field, in encoding order."""
        if self._fields is None:
            compiled = []
            for attribute in attrs.fields(self.cls):
                spec = attribute.metadata.get(SCALE_METADATA_KEY)
                if spec is None:
                    raise TypeError(f"{self.cls.__name__}.{attribute.name} has no SCALE type in its metadata")
                if not attribute.init:
                    raise TypeError(f"{self.cls.__name__}.{attribute.name}: SCALE fields must be init fields")
                compiled.append((attribute.name, as_scale_type(spec)))
            self._aliases = tuple(attribute.alias or attribute.name for attribute in attrs.fields(self.cls))
            self._fields = tuple(compiled)
        return self._fields

    @property
    def min_size(self) -> int:
        """Return the sum of the fields' minimum sizes."""
        if self._min_size is None:
            self._min_size = sum(field_type.min_size for _, field_type in self.fields)
        return self._min_size

    def encode_into(self, value: Any, out: bytearray) -> None:
        """Append every field of ``value`` (an instance of the class) in order."""
        if not isinstance(value, self.cls):
            raise ScaleError(f"expected a {self.cls.__name__}, got {type(value).__name__}")
        for name, field_type in self.fields:
            try:
                field_type.encode_into(getattr(value, name), out)
            except ScaleError as exc:
                raise ScaleError(f"{self.cls.__name__}.{name}: {exc}") from None

    def decode_from(self, reader: ScaleReader) -> Any:
        """Read every field in order and build an instance (its validators run too)."""
        values = {}
        for (name, field_type), alias in zip(self.fields, self._aliases, strict=True):
            try:
                values[alias] = field_type.decode_from(reader)
            except ScaleError as exc:
                raise ScaleError(f"{self.cls.__name__}.{name}: {exc}") from None
        try:
            return self.cls(**values)
        except (TypeError, ValueError) as exc:
            # A class-level validator refused the decoded values: still a decoding failure.
            raise ScaleError(f"{self.cls.__name__}: {exc}") from None

    def __repr__(self) -> str:
        return f"Struct({self.cls.__name__})"


class Union(ScaleType):
    """A tagged union: a tag (one raw byte by default) selects which variant class follows.

    go-spacemesh writes the v1 malfeasance proof this way: ``EncodeByte(type)`` then the proof's
    own encoding. The Python value is an instance of one of the variant classes.
    """

    __slots__ = ("_by_cls", "_by_tag", "tag")

    def __init__(self, variants: Mapping[int, type], tag: ScaleType | None = None) -> None:
        """Declare a union of ``variants`` (tag value → SCALE attrs class)."""
        self.tag = tag if tag is not None else FixedUInt(1)
        self._by_tag: dict[int, Struct] = {int(k): Struct.of(v) for k, v in variants.items()}
        self._by_cls: dict[type, int] = {v: int(k) for k, v in variants.items()}
        if len(self._by_cls) != len(self._by_tag):
            raise ValueError("each union variant class must appear under exactly one tag")

    @property
    def variants(self) -> dict[int, type]:
        """Return the tag → class mapping."""
        return {tag: struct.cls for tag, struct in self._by_tag.items()}

    def get_tag(self, value: Any) -> int:
        """Return the tag of ``value``'s variant.

        :raises ScaleError: if ``value`` is not an instance of a variant class.
        """
        tag = self._by_cls.get(type(value))
        if tag is None:
            raise ScaleError(f"{type(value).__name__} is not a variant of this union")
        return tag

    @property
    def min_size(self) -> int:
        """Return the tag size plus the smallest variant."""
        return self.tag.min_size + min(struct.min_size for struct in self._by_tag.values())

    def encode_into(self, value: Any, out: bytearray) -> None:
        """Append the variant's tag and its encoding."""
        tag = self.get_tag(value)
        self.tag.encode_into(tag, out)
        self._by_tag[tag].encode_into(value, out)

    def decode_from(self, reader: ScaleReader) -> Any:
        """Read the tag and decode the matching variant; unknown tags are rejected."""
        tag = self.tag.decode_from(reader)
        struct = self._by_tag.get(tag)
        if struct is None:
            raise ScaleError(f"unknown union tag {tag}")
        return struct.decode_from(reader)

    def __repr__(self) -> str:
        names = ", ".join(f"{tag}: {struct.cls.__name__}" for tag, struct in self._by_tag.items())
        return f"Union({{{names}}})"


#: Compact unsigned integers, named after the Go types they stand for.
U8: Final = Compact(8)
U16: Final = Compact(16)
U32: Final = Compact(32)
U64: Final = Compact(64)
#: One raw byte (go-scale ``EncodeByte``).
BYTE: Final = FixedUInt(1)
BOOL: Final = Bool()


# ---------------------------------------------------------------------------------------------
# Declaring fields and the top-level API
# ---------------------------------------------------------------------------------------------


def as_scale_type(spec: ScaleType | type) -> ScaleType:
    """Return ``spec`` as a :class:`ScaleType`: SCALE attrs classes become :class:`Struct`.

    :raises TypeError: if ``spec`` is neither a SCALE type nor an attrs class.
    """
    if isinstance(spec, ScaleType):
        return spec
    if isinstance(spec, type) and attrs.has(spec):
        return Struct.of(spec)
    raise TypeError(f"{spec!r} is not a SCALE type or an attrs class")


def scale_metadata(spec: ScaleType | type) -> dict[str, Any]:
    """Return attrs field metadata declaring a SCALE type: ``attrs.field(metadata=scale_metadata(U32))``."""
    return {SCALE_METADATA_KEY: as_scale_type(spec)}


def field(spec: ScaleType | type, **kwargs: Any) -> Any:
    """Return an ``attrs.field`` carrying ``spec`` as its SCALE type; ``kwargs`` go to attrs.

    A shorthand for ``attrs.field(metadata=scale_metadata(spec), **kwargs)``.
    """
    metadata = dict(kwargs.pop("metadata", None) or {})
    metadata.update(scale_metadata(spec))
    return attrs.field(metadata=metadata, **kwargs)


def is_scale_class(cls: Any) -> bool:
    """Return True if ``cls`` is an attrs class whose every field declares a SCALE type."""
    if not (isinstance(cls, type) and attrs.has(cls)):
        return False
    return all(SCALE_METADATA_KEY in attribute.metadata for attribute in attrs.fields(cls))


def get_scale_fields(cls: type) -> tuple[tuple[str, ScaleType], ...]:
    """Return the ``(name, SCALE type)`` layout of the SCALE attrs class ``cls``, in order."""
    return Struct.of(cls).fields


def encode(obj: Any) -> bytes:
    """Return the SCALE encoding of ``obj``, an instance of a SCALE attrs class.

    :raises ScaleError: if a field value does not fit its declared layout (range, size, limit).
    """
    out = bytearray()
    Struct.of(type(obj)).encode_into(obj, out)
    return bytes(out)


def encode_value(spec: ScaleType | type, value: Any) -> bytes:
    """Return the SCALE encoding of ``value`` laid out as ``spec``."""
    out = bytearray()
    as_scale_type(spec).encode_into(value, out)
    return bytes(out)


def decode(cls: type[T], data: bytes | bytearray | memoryview) -> T:
    """Decode ``data`` as one ``cls`` (a SCALE attrs class) that spans all of it.

    :raises ScaleError: on truncated, malformed, over-limit or trailing bytes.
    """
    reader = ScaleReader(data)
    obj: T = reader.read_struct(cls)
    reader.expect_end()
    return obj


def decode_value(spec: ScaleType | type, data: bytes | bytearray | memoryview) -> Any:
    """Decode ``data`` as one value of ``spec`` that spans all of it.

    :raises ScaleError: on truncated, malformed, over-limit or trailing bytes.
    """
    reader = ScaleReader(data)
    value = reader.read(spec)
    reader.expect_end()
    return value


def decode_prefix(spec: ScaleType | type, data: bytes | bytearray | memoryview) -> tuple[Any, int]:
    """Decode one value of ``spec`` from the start of ``data``; return it and the bytes consumed.

    :raises ScaleError: on truncated or malformed bytes (trailing bytes are allowed).
    """
    reader = ScaleReader(data)
    value = reader.read(spec)
    return value, reader.offset


def iter_decode(spec: ScaleType | type, data: bytes | bytearray | memoryview) -> Iterable[Any]:
    """Yield consecutive values of ``spec`` until ``data`` is exhausted (no length prefix).

    :raises ScaleError: if the data ends inside a value.
    """
    reader = ScaleReader(data)
    scale_type = as_scale_type(spec)
    while reader.remaining:
        yield scale_type.decode_from(reader)
