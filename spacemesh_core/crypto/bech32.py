"""Bech32 (BIP-173, checksum constant 1) as the reference's address code uses it.

Decoding follows ``btcutil/bech32.DecodeNoLimit`` (no 90-character limit) and
:func:`convert_bits` follows ``bech32.ConvertBits``, including its quirks: bits above ``from_bits``
in an input group are discarded, and with ``pad=True`` an unfinished group is zero-padded into
one more output group.
"""

from __future__ import annotations

from collections.abc import Sequence

CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_CHARSET_INDEX = {char: index for index, char in enumerate(CHARSET)}
_GENERATOR = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
#: BIP-173 checksum constant (bech32m's 0x2BC830A3 is not accepted).
BECH32_CONSTANT = 1
CHECKSUM_LENGTH = 6
MIN_LENGTH = 8


class Bech32Error(ValueError):
    """A string is not valid bech32, or data cannot be regrouped."""


def _polymod(values: Sequence[int]) -> int:
    checksum = 1
    for value in values:
        top = checksum >> 25
        checksum = ((checksum & 0x1FFFFFF) << 5) ^ value
        for bit, generator in enumerate(_GENERATOR):
            if (top >> bit) & 1:
                checksum ^= generator
    return checksum


def _expand_hrp(hrp: str) -> list[int]:
    codes = [ord(char) for char in hrp]
    return [code >> 5 for code in codes] + [0] + [code & 31 for code in codes]


def compute_bech32_checksum(hrp: str, data: Sequence[int]) -> list[int]:
    """Return the six 5-bit checksum groups for ``hrp`` and 5-bit ``data``."""
    polymod = _polymod([*_expand_hrp(hrp), *data, 0, 0, 0, 0, 0, 0]) ^ BECH32_CONSTANT
    return [(polymod >> (5 * (5 - index))) & 31 for index in range(CHECKSUM_LENGTH)]


def is_valid_bech32_checksum(hrp: str, data_with_checksum: Sequence[int]) -> bool:
    """Return whether the last six groups of ``data_with_checksum`` are the bech32 checksum."""
    return _polymod([*_expand_hrp(hrp), *data_with_checksum]) == BECH32_CONSTANT


def encode_bech32(hrp: str, data: Sequence[int]) -> str:
    """Encode 5-bit groups ``data`` under ``hrp`` (lower-cased) as a bech32 string.

    Raises :class:`Bech32Error` for an empty HRP, HRP characters outside ASCII 33..126, or a data
    value outside 0..31.
    """
    if not hrp:
        raise Bech32Error("empty human-readable part")
    if any(not 33 <= ord(char) <= 126 for char in hrp):
        raise Bech32Error(f"invalid character in human-readable part {hrp!r}")
    if any(not 0 <= value < 32 for value in data):
        raise Bech32Error("bech32 data values must be 5-bit")
    hrp = hrp.lower()
    checksum = compute_bech32_checksum(hrp, data)
    return hrp + "1" + "".join(CHARSET[value] for value in [*data, *checksum])


def decode_bech32_no_limit(text: str) -> tuple[str, list[int]]:
    """Decode a bech32 string of any length: return (lower-case HRP, 5-bit data without checksum).

    Checks, in the reference's order: length >= 8, ASCII 33..126, no mixed case, position of the
    last ``1`` separator, data characters, checksum. Raises :class:`Bech32Error`.
    """
    if len(text) < MIN_LENGTH:
        raise Bech32Error(f"invalid bech32 string length {len(text)}")
    has_lower = has_upper = False
    for char in text:
        code = ord(char)
        if code < 33 or code > 126:
            raise Bech32Error(f"invalid character {char!r} in bech32 string")
        has_lower = has_lower or "a" <= char <= "z"
        has_upper = has_upper or "A" <= char <= "Z"
        if has_lower and has_upper:
            raise Bech32Error("mixed-case bech32 string")
    text = text.lower()
    separator = text.rfind("1")
    if separator < 1 or separator + CHECKSUM_LENGTH + 1 > len(text):
        raise Bech32Error(f"invalid bech32 separator index {separator}")
    hrp, data_part = text[:separator], text[separator + 1 :]
    try:
        values = [_CHARSET_INDEX[char] for char in data_part]
    except KeyError as exc:
        raise Bech32Error(f"invalid character {exc.args[0]!r} in bech32 data") from None
    if not is_valid_bech32_checksum(hrp, values):
        raise Bech32Error("invalid bech32 checksum")
    return hrp, values[:-CHECKSUM_LENGTH]


def convert_bits(data: Sequence[int], from_bits: int, to_bits: int, pad: bool) -> list[int]:
    """Regroup ``data`` from ``from_bits``-bit groups into ``to_bits``-bit groups (btcutil rules).

    Raises :class:`Bech32Error` for group sizes outside 1..8, or (without padding) for an
    unfinished group longer than 4 bits or with non-zero bits.
    """
    if not (1 <= from_bits <= 8 and 1 <= to_bits <= 8):
        raise Bech32Error("bit group sizes must be between 1 and 8")
    out: list[int] = []
    accumulator = 0
    filled = 0
    from_mask = (1 << from_bits) - 1
    to_mask = (1 << to_bits) - 1
    for value in data:
        accumulator = (accumulator << from_bits) | (value & from_mask)
        filled += from_bits
        while filled >= to_bits:
            filled -= to_bits
            out.append((accumulator >> filled) & to_mask)
        accumulator &= (1 << filled) - 1
    if pad and filled:
        out.append((accumulator << (to_bits - filled)) & to_mask)
        filled = 0
        accumulator = 0
    if filled and (filled > 4 or accumulator != 0):
        raise Bech32Error("invalid incomplete bit group")
    return out
