"""Unit and property tests of the SCALE codec (spacemesh_core.codec.scale)."""

from __future__ import annotations

import enum

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spacemesh_core.codec import scale as sc
from spacemesh_core.codec.scale import (
    BOOL,
    BYTE,
    U8,
    U16,
    U32,
    U64,
    Array,
    Bytes,
    ByteSlice,
    Compact,
    Enum,
    FixedUInt,
    List,
    Option,
    ScaleError,
    ScaleReader,
    String,
    Union,
    decode,
    decode_compact,
    decode_prefix,
    decode_value,
    encode,
    encode_compact,
    encode_value,
    field,
)

WIDTHS = (8, 16, 32, 64)


def model_compact(value: int) -> bytes:
    """An independent, literal transcription of protocol.md §8.1's compact rule."""
    if value < 2**6:
        return bytes([value << 2])
    if value < 2**14:
        word = (value << 2) | 1
        return bytes([word & 0xFF, word >> 8])
    if value < 2**30:
        word = (value << 2) | 2
        return bytes([(word >> (8 * i)) & 0xFF for i in range(4)])
    payload = []
    rest = value
    while rest:
        payload.append(rest & 0xFF)
        rest >>= 8
    return bytes([((len(payload) - 4) << 2) | 3, *payload])


# --- compact integers ---------------------------------------------------------------------


@pytest.mark.parametrize("bits", WIDTHS)
def test_compact_boundaries_round_trip(bits: int) -> None:
    edges = [0, 1, 63, 64, 255, 256, 16383, 16384, 65535, 65536, 2**30 - 1, 2**30, 2**32 - 1, 2**32, 2**64 - 1]
    for value in (v for v in edges if v < 2**bits):
        data = encode_compact(value, bits)
        assert data == model_compact(value)
        assert decode_compact(data, bits) == value


@pytest.mark.parametrize("bits", WIDTHS)
def test_compact_encode_rejects_out_of_range_and_wrong_types(bits: int) -> None:
    for bad in (2**bits, -1):
        with pytest.raises(ScaleError, match="does not fit"):
            encode_compact(bad, bits)
    for bad_type in (True, 1.0, "1", None, b"\x01"):
        with pytest.raises(ScaleError, match="unsigned integer"):
            encode_compact(bad_type, bits)  # type: ignore[arg-type]


def test_compact_width_must_be_known() -> None:
    with pytest.raises(ValueError, match="compact width"):
        Compact(12)
    with pytest.raises(ValueError, match="compact width"):
        encode_compact(1, 24)


@pytest.mark.parametrize(
    ("bits", "hex_data"),
    [
        # a value that fits a shorter mode, in a longer one (every width)
        (8, "0100"),  # 0 in the two-byte form
        (16, "0100"),
        (32, "fd00"),  # 63 in the two-byte form
        (64, "fd00"),
        (16, "02000000"),  # 0 in the four-byte form
        (32, "feff0000"),  # 16383 in the four-byte form
        (64, "03ffffff3f"),  # 2^30 - 1 in the big form
        (32, "03ffffff3f"),
        # a width overflow
        (8, "0104"),  # 256 in two bytes
        (8, "02000100"),  # any four-byte form
        (8, "03ffffffff"),
        (16, "03ffffffff"),
        (16, "feff0400"),  # 65536 in the four-byte form
        (32, "070000000001"),  # five bytes in a compact32
        (64, "17000000000000000001"),  # nine bytes in a compact64
        (64, "ff"),
        # truncation
        (8, ""),
        (16, "01"),
        (32, "020000"),
        (64, "0300"),
        (64, "0b0000000000"),
    ],
)
def test_compact_decode_rejects_invalid(bits: int, hex_data: str) -> None:
    with pytest.raises(ScaleError):
        decode_compact(bytes.fromhex(hex_data), bits)


def test_compact64_accepts_a_non_minimal_big_form_like_go_scale() -> None:
    # go-scale only requires the value to exceed 2^30 - 1 in the big form; the byte count may be
    # larger than needed (and the 64-bit decoder allows up to 8 bytes).
    assert decode_compact(bytes.fromhex("070000008000"), 64) == 2**31
    assert encode_compact(2**31, 64) == bytes.fromhex("0300000080")
    with pytest.raises(ScaleError):  # the 32-bit decoder insists on exactly 4 bytes
        decode_compact(bytes.fromhex("070000008000"), 32)


def test_compact_rejects_trailing_bytes() -> None:
    with pytest.raises(ScaleError, match="trailing"):
        decode_compact(b"\x04\x00", 64)


@settings(max_examples=200)
@given(st.sampled_from(WIDTHS), st.data())
def test_compact_round_trip_property(bits: int, data: st.DataObject) -> None:
    value = data.draw(st.integers(min_value=0, max_value=2**bits - 1))
    encoded = encode_compact(value, bits)
    assert encoded == model_compact(value)
    assert decode_compact(encoded, bits) == value


@settings(max_examples=300)
@given(st.sampled_from(WIDTHS), st.binary(max_size=12))
def test_compact_decode_of_random_bytes_raises_only_scale_error(bits: int, data: bytes) -> None:
    try:
        value, used = decode_prefix(Compact(bits), data)
    except ScaleError:
        return
    assert 0 <= value < 2**bits
    # Whatever decodes must re-encode to the prefix, except go-scale's non-minimal big form.
    if data[0] & 3 != 3 or (data[0] >> 2) + 4 == max(4, (value.bit_length() + 7) // 8):
        assert encode_compact(value, bits) == data[:used]


# --- fixed integers, bools, bytes ------------------------------------------------------------


def test_fixed_width_integers_are_little_endian() -> None:
    assert encode_value(FixedUInt(8), 1) == b"\x01" + bytes(7)
    assert encode_value(FixedUInt(2), 0x1234) == b"\x34\x12"
    assert decode_value(FixedUInt(4), b"\x78\x56\x34\x12") == 0x12345678
    assert encode_value(BYTE, 255) == b"\xff"
    with pytest.raises(ScaleError):
        encode_value(BYTE, 256)
    with pytest.raises(ValueError, match="fixed integer size"):
        FixedUInt(3)


def test_bool_is_strict() -> None:
    assert encode_value(BOOL, True) == b"\x01"
    assert encode_value(BOOL, False) == b"\x00"
    assert decode_value(BOOL, b"\x01") is True
    assert decode_value(BOOL, b"\x00") is False
    with pytest.raises(ScaleError, match="invalid bool"):
        decode_value(BOOL, b"\x02")
    with pytest.raises(ScaleError, match="expected a bool"):
        encode_value(BOOL, 1)


def test_fixed_bytes() -> None:
    assert encode_value(Bytes(4), b"abcd") == b"abcd"
    assert encode_value(Bytes(4), bytearray(b"abcd")) == b"abcd"
    assert decode_value(Bytes(4), b"abcd") == b"abcd"
    with pytest.raises(ScaleError, match="expected 4 bytes"):
        encode_value(Bytes(4), b"abc")
    with pytest.raises(ScaleError, match="expected bytes"):
        encode_value(Bytes(4), "abcd")
    with pytest.raises(ScaleError, match="unexpected end"):
        decode_value(Bytes(4), b"abc")


def test_byte_slice_limit_is_checked_on_both_sides() -> None:
    spec = ByteSlice(3)
    assert encode_value(spec, b"") == b"\x00"
    assert encode_value(spec, b"abc") == b"\x0cabc"
    assert decode_value(spec, b"\x0cabc") == b"abc"
    with pytest.raises(ScaleError, match="exceeds the limit of 3"):
        encode_value(spec, b"abcd")
    # the limit is checked from the length prefix, before the bytes are read
    with pytest.raises(ScaleError, match="exceeds the limit of 3"):
        decode_value(spec, b"\x10abcd")
    with pytest.raises(ScaleError, match="unexpected end"):
        decode_value(spec, b"\x0cab")


def test_string_is_utf8_with_a_byte_limit() -> None:
    spec = String(4)
    assert encode_value(spec, "ab") == b"\x08ab"
    assert decode_value(spec, b"\x08ab") == "ab"
    assert encode_value(spec, "é") == b"\x08\xc3\xa9"
    with pytest.raises(ScaleError, match="exceeds"):
        encode_value(spec, "ééé")  # 6 bytes
    with pytest.raises(ScaleError, match="UTF-8"):
        decode_value(spec, b"\x04\xff")
    with pytest.raises(ScaleError, match="UTF-8"):
        encode_value(spec, "\udc80")
    with pytest.raises(ScaleError, match="expected a str"):
        encode_value(spec, b"ab")


# --- collections, options, unions, enums -------------------------------------------------------


def test_list_encoding_limit_and_tuple_result() -> None:
    spec = List(U16, 3)
    assert encode_value(spec, [1, 2]) == b"\x08\x04\x08"
    assert encode_value(spec, (1, 2)) == b"\x08\x04\x08"
    assert decode_value(spec, b"\x08\x04\x08") == (1, 2)
    assert decode_value(spec, b"\x00") == ()
    with pytest.raises(ScaleError, match="exceeds the limit of 3"):
        encode_value(spec, [1, 2, 3, 4])
    with pytest.raises(ScaleError, match="exceeds the limit of 3"):
        decode_value(spec, b"\x10\x04\x04\x04\x04")
    with pytest.raises(ScaleError, match="expected a tuple or list"):
        encode_value(spec, {1, 2})


def test_list_length_beyond_the_input_is_refused_before_allocating() -> None:
    # A hostile length prefix of 2^32 - 1 elements against a huge declared limit: refused at once,
    # since the remaining input cannot hold that many elements.
    spec = List(Bytes(32), sc.MAX_LENGTH)
    with pytest.raises(ScaleError, match="cannot fit"):
        decode_value(spec, b"\x03\xff\xff\xff\xff" + bytes(64))
    spec_small = List(U64, 1000)
    with pytest.raises(ScaleError, match="cannot fit"):
        decode_value(spec_small, encode_compact(1000, 32) + bytes(999))


def test_array_has_no_prefix_and_a_fixed_count() -> None:
    spec = Array(U8, 2)
    assert encode_value(spec, (1, 2)) == b"\x04\x08"
    assert decode_value(spec, b"\x04\x08") == (1, 2)
    with pytest.raises(ScaleError, match="expected 2 elements"):
        encode_value(spec, (1,))
    with pytest.raises(ScaleError):
        decode_value(spec, b"\x04")


def test_option_is_strict() -> None:
    spec = Option(U32)
    assert encode_value(spec, None) == b"\x00"
    assert encode_value(spec, 5) == b"\x01\x14"
    assert decode_value(spec, b"\x00") is None
    assert decode_value(spec, b"\x01\x14") == 5
    with pytest.raises(ScaleError, match="invalid option byte"):
        decode_value(spec, b"\x02\x14")
    with pytest.raises(ScaleError):
        decode_value(spec, b"\x01")


class Color(enum.IntEnum):
    RED = 1
    GREEN = 2


def test_enum_maps_members_and_rejects_unknown_values() -> None:
    spec = Enum(Color)
    assert encode_value(spec, Color.GREEN) == b"\x08"
    assert decode_value(spec, b"\x04") is Color.RED
    with pytest.raises(ScaleError, match="not a valid Color"):
        decode_value(spec, b"\x0c")
    with pytest.raises(ScaleError, match="expected a Color"):
        encode_value(spec, 1)


@attrs.frozen
class Leaf:
    value: int = field(U64)


@attrs.frozen
class Pair:
    first: int = field(U8)
    second: bytes = field(Bytes(2))


def test_union_tags_with_a_raw_byte() -> None:
    spec = Union({1: Leaf, 7: Pair})
    assert encode_value(spec, Leaf(1)) == b"\x01\x04"
    assert encode_value(spec, Pair(1, b"xy")) == b"\x07\x04xy"
    assert decode_value(spec, b"\x07\x04xy") == Pair(1, b"xy")
    assert spec.variants == {1: Leaf, 7: Pair}
    with pytest.raises(ScaleError, match="unknown union tag 2"):
        decode_value(spec, b"\x02\x04")
    with pytest.raises(ScaleError, match="not a variant"):
        encode_value(spec, 5)
    with pytest.raises(ValueError, match="exactly one tag"):
        Union({1: Leaf, 2: Leaf})


# --- structs -----------------------------------------------------------------------------------


@attrs.frozen
class Inner:
    n: int = field(U32)
    tag: bytes | None = field(Option(Bytes(4)))


def _small(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value > 100:
        raise ValueError("too big")


@attrs.frozen
class Outer:
    inner: Inner = attrs.field(metadata=sc.scale_metadata(Inner))  # the long form of field()
    items: tuple[Inner, ...] = field(List(Inner, 5))
    flag: bool = field(BOOL)
    small: int = field(U16, validator=_small)
    label: str = field(String(8), default="")


def test_struct_layout_is_its_fields_in_order() -> None:
    obj = Outer(Inner(1, None), (Inner(2, b"abcd"),), True, 7, "hi")
    expected = (
        b"\x04\x00"  # inner: n=1, tag=None
        + b"\x04"  # one item
        + b"\x08\x01abcd"  # n=2, tag=Some(abcd)
        + b"\x01"  # flag
        + b"\x1c"  # small = 7
        + b"\x08hi"
    )
    assert encode(obj) == expected
    assert decode(Outer, expected) == obj
    assert sc.get_scale_fields(Outer)[0][0] == "inner"
    assert sc.is_scale_class(Outer)
    assert not sc.is_scale_class(int)


def test_struct_decode_rejects_trailing_bytes_but_prefix_decoding_allows_them() -> None:
    data = encode(Inner(3, None))
    with pytest.raises(ScaleError, match="trailing"):
        decode(Inner, data + b"\x00")
    assert decode_prefix(Inner, data + b"\x00") == (Inner(3, None), len(data))


def test_struct_validator_failures_become_scale_errors() -> None:
    data = encode(Outer(Inner(1, None), (), False, 100, ""))
    bad = data[:-3] + encode_compact(101, 16) + b"\x00"  # small (2 bytes) and label (1)
    with pytest.raises(ScaleError, match="too big"):
        decode(Outer, bad)


def test_errors_name_the_failing_field() -> None:
    obj = Outer(Inner(1, b"abc"), (), False, 1)  # tag has 3 bytes, not 4
    with pytest.raises(ScaleError, match=r"Outer\.inner: Inner\.tag: expected 4 bytes"):
        encode(obj)
    with pytest.raises(ScaleError, match=r"Outer\.items"):
        decode(Outer, b"\x04\x00\x18")


def test_struct_type_checks() -> None:
    with pytest.raises(ScaleError, match="expected a Inner"):
        encode_value(Inner, Leaf(1))

    @attrs.frozen
    class Undeclared:
        x: int

    with pytest.raises(TypeError, match="no SCALE type"):
        encode(Undeclared(1))
    with pytest.raises(TypeError, match="not a SCALE type"):
        List(int, 3)


def test_streaming_reader_walks_consecutive_values() -> None:
    data = encode_compact(5, 32) + encode(Inner(9, b"wxyz")) + b"\x01" + b"rest"
    reader = ScaleReader(memoryview(data))
    assert reader.read_compact(32) == 5
    assert reader.read_struct(Inner) == Inner(9, b"wxyz")
    assert reader.read(BOOL) is True
    assert reader.remaining == 4
    with pytest.raises(ScaleError, match="trailing"):
        reader.expect_end()
    assert reader.read_bytes(4) == b"rest"
    reader.expect_end()
    assert reader.offset == len(data)
    with pytest.raises(ScaleError, match="unexpected end"):
        reader.read_byte()


def test_iter_decode_yields_concatenated_values() -> None:
    data = b"".join(encode(Leaf(i)) for i in (1, 100, 2**40))
    assert [leaf.value for leaf in sc.iter_decode(Leaf, data)] == [1, 100, 2**40]
    with pytest.raises(ScaleError):
        list(sc.iter_decode(Leaf, data + b"\x03"))


@settings(max_examples=100)
@given(
    st.builds(
        Outer,
        st.builds(Inner, st.integers(0, 2**32 - 1), st.none() | st.binary(min_size=4, max_size=4)),
        st.lists(
            st.builds(Inner, st.integers(0, 2**32 - 1), st.none() | st.binary(min_size=4, max_size=4)),
            max_size=5,
        ).map(tuple),
        st.booleans(),
        st.integers(0, 100),
        st.text(max_size=2),
    )
)
def test_struct_round_trip_and_truncation_property(obj: Outer) -> None:
    data = encode(obj)
    assert decode(Outer, data) == obj
    for cut in range(len(data)):
        with pytest.raises(ScaleError):
            decode(Outer, data[:cut])


@settings(max_examples=300)
@given(st.binary(max_size=64))
def test_struct_decode_of_random_bytes_raises_only_scale_error(data: bytes) -> None:
    try:
        obj = decode(Outer, data)
    except ScaleError:
        return
    assert decode(Outer, encode(obj)) == obj
