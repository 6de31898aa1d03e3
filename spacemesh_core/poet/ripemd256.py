"""RIPEMD-256 (Dobbertin, Bosselaers, Preneel), pure Python.

The PoET registration proof of work hashes with RIPEMD-256, which neither ``hashlib`` nor the
OpenSSL build behind it provides, so the project carries its own. RIPEMD-256 runs two RIPEMD-128
lines side by side over the same message block and swaps one register pair between the lines
after each of the four rounds; the 256-bit result is both lines' registers, not their sum.

It is checked against the published test vectors of the designers (tests/unit/test_poet_reference.py).
"""

from __future__ import annotations

import struct

_MASK = 0xFFFFFFFF

_INITIAL_STATE = (
    0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476,
    0x76543210, 0xFEDCBA98, 0x89ABCDEF, 0x01234567,
)  # fmt: skip

# Message word order per step, left and right line (same as the first four rounds of RIPEMD-160).
_WORDS_LEFT = (
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
    7, 4, 13, 1, 10, 6, 15, 3, 12, 0, 9, 5, 2, 14, 11, 8,
    3, 10, 14, 4, 9, 15, 8, 1, 2, 7, 0, 6, 13, 11, 5, 12,
    1, 9, 11, 10, 0, 8, 12, 4, 13, 3, 7, 15, 14, 5, 6, 2,
)  # fmt: skip
_WORDS_RIGHT = (
    5, 14, 7, 0, 9, 2, 11, 4, 13, 6, 15, 8, 1, 10, 3, 12,
    6, 11, 3, 7, 0, 13, 5, 10, 14, 15, 8, 12, 4, 9, 1, 2,
    15, 5, 1, 3, 7, 14, 6, 9, 11, 8, 12, 2, 10, 0, 4, 13,
    8, 6, 4, 1, 3, 11, 15, 0, 5, 12, 2, 13, 9, 7, 10, 14,
)  # fmt: skip
# Left-rotation amounts per step.
_SHIFTS_LEFT = (
    11, 14, 15, 12, 5, 8, 7, 9, 11, 13, 14, 15, 6, 7, 9, 8,
    7, 6, 8, 13, 11, 9, 7, 15, 7, 12, 15, 9, 11, 7, 13, 12,
    11, 13, 6, 7, 14, 9, 13, 15, 14, 8, 13, 6, 5, 12, 7, 5,
    11, 12, 14, 15, 14, 15, 9, 8, 9, 14, 5, 6, 8, 6, 5, 12,
)  # fmt: skip
_SHIFTS_RIGHT = (
    8, 9, 9, 11, 13, 15, 15, 5, 7, 7, 8, 11, 14, 14, 12, 6,
    9, 13, 15, 7, 12, 8, 9, 11, 7, 7, 12, 7, 6, 15, 13, 11,
    9, 7, 15, 11, 8, 6, 6, 14, 12, 13, 5, 14, 13, 13, 7, 5,
    15, 5, 8, 11, 14, 14, 6, 14, 6, 9, 12, 9, 12, 5, 15, 8,
)  # fmt: skip
_CONSTANTS_LEFT = (0x00000000, 0x5A827999, 0x6ED9EBA1, 0x8F1BBCDC)
_CONSTANTS_RIGHT = (0x50A28BE6, 0x5C4DD124, 0x6D703EF3, 0x00000000)


def _boolean(round_index: int, x: int, y: int, z: int) -> int:
    """The four boolean functions of RIPEMD, selected by round (0..3)."""
    if round_index == 0:
        return x ^ y ^ z
    if round_index == 1:
        return (x & y) | (~x & z)
    if round_index == 2:
        return (x | (~y & _MASK)) ^ z
    return (x & z) | (y & ~z)


def _rotate_left(value: int, amount: int) -> int:
    value &= _MASK
    return ((value << amount) | (value >> (32 - amount))) & _MASK


def _compress(state: list[int], block: bytes) -> None:
    words = struct.unpack("<16I", block)
    a, b, c, d, a2, b2, c2, d2 = state
    for round_index in range(4):
        for step in range(16 * round_index, 16 * round_index + 16):
            t = a + _boolean(round_index, b, c, d) + words[_WORDS_LEFT[step]] + _CONSTANTS_LEFT[round_index]
            a, b, c, d = d, _rotate_left(t, _SHIFTS_LEFT[step]), b, c
            # The right line uses the boolean functions in reverse order.
            t = a2 + _boolean(3 - round_index, b2, c2, d2) + words[_WORDS_RIGHT[step]]
            t += _CONSTANTS_RIGHT[round_index]
            a2, b2, c2, d2 = d2, _rotate_left(t, _SHIFTS_RIGHT[step]), b2, c2
        # After each round one register is exchanged between the lines (A, then B, C, D).
        if round_index == 0:
            a, a2 = a2, a
        elif round_index == 1:
            b, b2 = b2, b
        elif round_index == 2:
            c, c2 = c2, c
        else:
            d, d2 = d2, d
    for index, value in enumerate((a, b, c, d, a2, b2, c2, d2)):
        state[index] = (state[index] + value) & _MASK


def compute_ripemd256(data: bytes) -> bytes:
    """Return the 32-byte RIPEMD-256 digest of ``data``."""
    state = list(_INITIAL_STATE)
    message = bytes(data)
    bit_length = (len(message) * 8) & 0xFFFFFFFFFFFFFFFF
    padded = message + b"\x80" + b"\x00" * ((55 - len(message)) % 64) + struct.pack("<Q", bit_length)
    for offset in range(0, len(padded), 64):
        _compress(state, padded[offset : offset + 64])
    return struct.pack("<8I", *state)
