"""Genesis id and golden ATX against the shared vectors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from spacemesh_core import genesis
from spacemesh_core.crypto.hashes import compute_blake3
from spacemesh_core.testing.vectors import load_vectors


def _cases() -> list[dict]:
    cases = [case for case in load_vectors("scale_and_tx")["cases"] if case["kind"] == "genesis"]
    assert cases, "no genesis cases in scale_and_tx.json"
    return cases


def test_genesis_vectors() -> None:
    for case in _cases():
        seconds = case["genesis_unix"]
        extra = case["extra_data"]
        assert genesis.compute_genesis_id(seconds, extra).hex() == case["genesis_id_hex"]
        if "genesis_time" in case:
            assert genesis.get_genesis_unix_seconds(case["genesis_time"]) == seconds
            assert genesis.compute_genesis_id(case["genesis_time"], extra).hex() == case["genesis_id_hex"]
        if "golden_atx_hex" in case:
            golden = genesis.compute_golden_atx(seconds, extra)
            assert golden.hex() == case["golden_atx_hex"]
            assert golden[:20].hex() == case["genesis_id_hex"]
        if "genesis_id_base64" in case:
            import base64

            assert base64.b64encode(genesis.compute_genesis_id(seconds, extra)).decode() == case["genesis_id_base64"]
        if "noise_prologue_ascii" in case:
            prologue = genesis.compute_handshake_prologue(
                bytes.fromhex(case["genesis_id_hex"]), genesis.MAINNET_EFFECTIVE_GENESIS
            )
            assert prologue.decode() == case["noise_prologue_ascii"]


def test_mainnet_constants() -> None:
    mainnet = next(case for case in _cases() if case.get("network") == "mainnet")
    assert mainnet["genesis_time"] == genesis.MAINNET_GENESIS_TIME
    assert mainnet["extra_data"] == genesis.MAINNET_EXTRA_DATA
    assert genesis.MAINNET_GOLDEN_ATX.hex() == mainnet["golden_atx_hex"]
    assert genesis.MAINNET_GENESIS_ID.hex() == mainnet["genesis_id_hex"]


def test_time_forms_agree() -> None:
    moment = datetime(2023, 7, 14, 8, 0, tzinfo=UTC)
    same_in_other_zone = moment.astimezone(timezone(timedelta(hours=-5)))
    assert genesis.get_genesis_unix_seconds(moment) == 1689321600
    assert genesis.get_genesis_unix_seconds(same_in_other_zone) == 1689321600
    assert genesis.get_genesis_unix_seconds("2023-07-14T03:00:00-05:00") == 1689321600
    # fractional seconds are floored like Go's Time.Unix, also before 1970
    assert genesis.get_genesis_unix_seconds(moment + timedelta(microseconds=999_999)) == 1689321600
    assert genesis.get_genesis_unix_seconds(datetime(1969, 12, 31, 23, 59, 59, 500_000, tzinfo=UTC)) == -1
    assert genesis.compute_golden_atx(-1, "x") == compute_blake3(b"-1", b"x")


def test_bad_inputs() -> None:
    with pytest.raises(genesis.GenesisError, match="timezone"):
        genesis.get_genesis_unix_seconds(datetime(2023, 7, 14))
    with pytest.raises(genesis.GenesisError, match="RFC 3339"):
        genesis.get_genesis_unix_seconds("yesterday")
    with pytest.raises(genesis.GenesisError):
        genesis.get_genesis_unix_seconds(True)
    with pytest.raises(genesis.GenesisError, match="empty"):
        genesis.compute_genesis_id(0, "")
    with pytest.raises(genesis.GenesisError, match="255"):
        genesis.compute_genesis_id(0, "x" * 256)
    assert len(genesis.compute_genesis_id(0, "x" * 255)) == 20
    assert genesis.compute_genesis_id(0, b"one") == genesis.compute_genesis_id(0, "one")
    with pytest.raises(genesis.GenesisError):
        genesis.compute_handshake_prologue(bytes(19), 1)
    with pytest.raises(genesis.GenesisError):
        genesis.compute_handshake_prologue(bytes(20), -1)
