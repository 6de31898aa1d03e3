"""k2pow: RandomX hashes (randomx.json, every case), the Spacemesh input layout, the threshold and the search."""

from __future__ import annotations

import os
import threading

import pytest

from spacemesh_core.post.k2pow import (
    RANDOMX_CACHE_KEY,
    InvalidK2PowError,
    K2PowNotFoundError,
    RandomXHasher,
    RandomXK2PowSolver,
    choose_randomx_mode,
    compute_expected_k2pow_hashes,
    compute_k2pow_hash,
    compute_k2pow_input,
    find_k2pow,
    get_randomx_hasher,
    is_valid_k2pow,
    verify_k2pow,
)
from spacemesh_core.post.proof import compute_pow_threshold
from spacemesh_core.testing.vectors import load_vectors


def _cases(kind: str) -> list[dict]:
    cases = [case for case in load_vectors("randomx")["cases"] if case["kind"] == kind]
    assert cases, f"randomx.json has no {kind} case"
    return cases


def test_randomx_reference_hashes() -> None:
    """RandomX v1.2.1 tests.cpp hash tests 1a-1e, light mode (one cache per key)."""
    hashers: dict[bytes, RandomXHasher] = {}
    for case in _cases("randomx_hash"):
        key = bytes.fromhex(case["key_hex"])
        hasher = hashers.setdefault(key, RandomXHasher(key, "light"))
        assert hasher.compute_hash(bytes.fromhex(case["input_hex"])).hex() == case["expected_hash_hex"], case["name"]


def test_k2pow_layout_hashes_and_smallest_valid_pow() -> None:
    """Spacemesh layout: 12 input/hash pairs, then the smallest pow below the threshold is 11,
    whatever the number of search threads."""
    for case in _cases("k2pow_layout"):
        assert case["cache_key_ascii"].encode() == RANDOMX_CACHE_KEY
        challenge = case["challenge8_ascii"].encode() + bytes(24)
        node_id = bytes.fromhex(case["miner_id_hex"])
        group = case["nonce_group"]
        threshold = bytes.fromhex(case["threshold_hex"])
        for item in case["hashes"]:
            assert compute_k2pow_input(item["pow"], group, challenge, node_id).hex() == item["input_hex"]
            assert compute_k2pow_hash(item["pow"], group, challenge, node_id).hex() == item["hash_hex"]
        smallest = case["smallest_valid_pow"]
        assert next(item["pow"] for item in case["hashes"] if bytes.fromhex(item["hash_hex"]) < threshold) == smallest
        assert find_k2pow(group, challenge, node_id, threshold, threads=1) == smallest
        solver = RandomXK2PowSolver("light", threads=3)
        assert solver.find_k2pows([group], challenge, node_id, threshold) == {group: smallest}
        assert is_valid_k2pow(smallest, group, challenge, node_id, threshold)
        verify_k2pow(smallest, group, challenge, node_id, threshold)
        with pytest.raises(InvalidK2PowError):
            verify_k2pow(0, group, challenge, node_id, threshold)


def test_k2pow_input_layout() -> None:
    """Only the low 7 pow bytes and the first 8 challenge bytes enter the input."""
    for case in _cases("k2pow_input"):
        data = compute_k2pow_input(
            case["pow"], case["nonce_group"], bytes.fromhex(case["challenge_hex"]), bytes.fromhex(case["miner_id_hex"])
        )
        assert data.hex() == case["expected_input_hex"]
        assert len(data) == 48
        # the 8th pow byte does not enter the hash input
        assert (
            compute_k2pow_input(
                case["pow"] | (0xAB << 56),
                case["nonce_group"],
                bytes.fromhex(case["challenge_hex"]),
                bytes.fromhex(case["miner_id_hex"]),
            )
            == data
        )


def test_k2pow_threshold() -> None:
    """The threshold is U256(pow_difficulty) / NumUnits; expected work per group follows."""
    for case in _cases("k2pow_threshold"):
        threshold = compute_pow_threshold(bytes.fromhex(case["pow_difficulty_hex"]), case["num_units"])
        assert threshold.hex() == case["threshold_hex"]
        assert compute_expected_k2pow_hashes(threshold) == pytest.approx(case["expected_hashes_per_group"], rel=1e-9)


def test_bad_inputs_are_rejected() -> None:
    with pytest.raises(ValueError, match="nonce group"):
        compute_k2pow_input(0, 256, bytes(32), bytes(32))
    with pytest.raises(ValueError, match="node id"):
        compute_k2pow_input(0, 0, bytes(32), bytes(31))
    with pytest.raises(ValueError, match="challenge"):
        compute_k2pow_input(0, 0, bytes(7), bytes(32))
    with pytest.raises(ValueError, match="u64"):
        compute_k2pow_input(1 << 64, 0, bytes(32), bytes(32))
    with pytest.raises(ValueError, match="threshold"):
        is_valid_k2pow(0, 0, bytes(32), bytes(32), bytes(31))
    with pytest.raises(ValueError, match="mode"):
        RandomXHasher(mode="turbo")  # type: ignore[arg-type]


def test_search_exhausted_and_stop() -> None:
    """An impossible threshold exhausts a bounded range; a stop request interrupts the search."""
    with pytest.raises(K2PowNotFoundError):
        find_k2pow(0, bytes(32), bytes(32), bytes(32), limit=3, threads=2)
    stop = threading.Event()
    stop.set()
    with pytest.raises(InterruptedError):
        find_k2pow(0, bytes(32), bytes(32), bytes(32), should_stop=stop.is_set)


def test_mode_choice() -> None:
    assert choose_randomx_mode(10) == "light"
    assert choose_randomx_mode(1e6) == "fast"
    assert get_randomx_hasher("light") is get_randomx_hasher("light")


@pytest.mark.skipif(
    os.environ.get("SPACEMESH_TEST_RANDOMX_FAST") != "1",
    reason="fast mode builds a 2080 MiB dataset (~1 min on 2 cores); set SPACEMESH_TEST_RANDOMX_FAST=1",
)
def test_fast_mode_gives_the_light_mode_hashes() -> None:
    case = _cases("k2pow_layout")[0]
    fast = RandomXHasher(RANDOMX_CACHE_KEY, "fast")
    challenge = case["challenge8_ascii"].encode() + bytes(24)
    for item in case["hashes"][:3]:
        hash_fast = compute_k2pow_hash(
            item["pow"], case["nonce_group"], challenge, bytes.fromhex(case["miner_id_hex"]), fast
        )
        assert hash_fast.hex() == item["hash_hex"]
