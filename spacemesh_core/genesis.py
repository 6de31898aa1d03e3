"""Genesis identity of a network: the golden ATX and the genesis id (spec §1.3).

``golden ATX = BLAKE3(decimal(unix seconds of the genesis time) || extra data)`` and
``genesis id = golden ATX[:20]``. The genesis id prefixes every signed message and appears in the
transport handshake prologue ``"<hex genesis id>-<effective genesis layer>"``.
"""

from __future__ import annotations

from datetime import UTC, datetime

from spacemesh_core.crypto.hashes import HASH_SIZE, ID20_SIZE, compute_blake3

#: The reference refuses longer extra data.
MAX_EXTRA_DATA_SIZE = 255

MAINNET_GENESIS_TIME = "2023-07-14T08:00:00Z"
#: A Bitcoin block hash, committed to as a string.
MAINNET_EXTRA_DATA = "00000000000000000001a6bc150307b5c1998045752b3c87eccf3c013036f3cc"
MAINNET_EFFECTIVE_GENESIS = 8063

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class GenesisError(ValueError):
    """The genesis time or extra data is invalid."""


def get_genesis_unix_seconds(genesis_time: datetime | str | int) -> int:
    """Return the genesis time as whole Unix seconds (floor, like Go's ``Time.Unix``).

    Accepts a timezone-aware :class:`datetime`, an RFC 3339 string (``2023-07-14T08:00:00Z``) or
    an integer number of seconds. Raises :class:`GenesisError` for naive datetimes or bad strings.
    """
    if isinstance(genesis_time, bool):
        raise GenesisError("genesis time must be a datetime, an RFC 3339 string or Unix seconds")
    if isinstance(genesis_time, int):
        return genesis_time
    if isinstance(genesis_time, str):
        try:
            parsed = datetime.fromisoformat(genesis_time)
        except ValueError:
            raise GenesisError(f"cannot parse genesis time {genesis_time!r} as RFC 3339") from None
        genesis_time = parsed
    if not isinstance(genesis_time, datetime):
        raise GenesisError("genesis time must be a datetime, an RFC 3339 string or Unix seconds")
    if genesis_time.tzinfo is None or genesis_time.utcoffset() is None:
        raise GenesisError("genesis time must carry a timezone (RFC 3339)")
    delta = genesis_time - _EPOCH
    return delta.days * 86400 + delta.seconds  # floor: microseconds are dropped toward -inf


def _extra_data_bytes(extra_data: str | bytes) -> bytes:
    data = extra_data.encode("utf-8") if isinstance(extra_data, str) else bytes(extra_data)
    if not data:
        raise GenesisError("genesis extra data is empty")
    if len(data) > MAX_EXTRA_DATA_SIZE:
        raise GenesisError(f"genesis extra data is longer than {MAX_EXTRA_DATA_SIZE} bytes")
    return data


def compute_golden_atx(genesis_time: datetime | str | int, extra_data: str | bytes) -> bytes:
    """Return the 32-byte golden ATX id for a genesis time and extra data.

    Raises :class:`GenesisError` for an invalid time or empty / over-long extra data.
    """
    seconds = get_genesis_unix_seconds(genesis_time)
    digest = compute_blake3(str(seconds).encode("ascii"), _extra_data_bytes(extra_data))
    assert len(digest) == HASH_SIZE
    return digest


def compute_genesis_id(genesis_time: datetime | str | int, extra_data: str | bytes) -> bytes:
    """Return the 20-byte genesis id (the first 20 bytes of the golden ATX).

    Raises :class:`GenesisError` for an invalid time or empty / over-long extra data.
    """
    return compute_golden_atx(genesis_time, extra_data)[:ID20_SIZE]


def compute_handshake_prologue(genesis_id: bytes, effective_genesis: int) -> bytes:
    """Return ``"<hex genesis id>-<effective genesis layer>"`` as ASCII bytes (Noise prologue)."""
    if len(genesis_id) != ID20_SIZE:
        raise GenesisError(f"a genesis id is {ID20_SIZE} bytes, got {len(genesis_id)}")
    if effective_genesis < 0:
        raise GenesisError("effective genesis layer must be non-negative")
    return f"{bytes(genesis_id).hex()}-{effective_genesis}".encode("ascii")


MAINNET_GOLDEN_ATX = compute_golden_atx(MAINNET_GENESIS_TIME, MAINNET_EXTRA_DATA)
MAINNET_GENESIS_ID = MAINNET_GOLDEN_ATX[:ID20_SIZE]
