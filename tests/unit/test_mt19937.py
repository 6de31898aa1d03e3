"""MT19937-64: the published reference outputs (shared vectors) and the Source64 contract."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from spacemesh_core.determinism.go_rand import Source64
from spacemesh_core.determinism.mt19937_64 import (
    DEFAULT_SEED,
    MASK64,
    InvalidSeedError,
    MersenneTwister64,
    compute_seed_words,
)
from spacemesh_core.testing.vectors import load_vectors

u64 = st.integers(min_value=0, max_value=MASK64)


def _cases(kind: str) -> list[dict[str, Any]]:
    return [case for case in load_vectors("mt19937_64")["cases"] if case["kind"] == kind]


def test_vector_file_has_generator_cases() -> None:
    assert len(_cases("mt19937_64")) == 2


@pytest.mark.parametrize("index", range(2))
def test_reference_outputs(index: int) -> None:
    case = _cases("mt19937_64")[index]
    if "init_by_array" in case:
        mt = MersenneTwister64(key=case["init_by_array"])
        outputs = [mt.uint64() for _ in range(case["count_checked"])]
        assert outputs[:10] == case["first_10_uint64"]
        assert outputs[-1] == case["output_1000th_uint64"]
    else:
        mt = MersenneTwister64(seed=case["seed"])
        outputs = [mt.uint64() for _ in range(10_000)]
        assert outputs[:3] == case["first_3_uint64"]
        assert outputs[9_999] == case["output_10000th_uint64"]


def test_unseeded_generator_uses_default_seed() -> None:
    unseeded = MersenneTwister64()
    seeded = MersenneTwister64(seed=DEFAULT_SEED)
    assert [unseeded.uint64() for _ in range(400)] == [seeded.uint64() for _ in range(400)]


def test_from_seed_bytes_keys_with_little_endian_words() -> None:
    seed = bytes(range(32))
    expected = MersenneTwister64(key=compute_seed_words(seed))
    assert MersenneTwister64.from_seed_bytes(seed).uint64() == expected.uint64()
    assert compute_seed_words(seed)[0] == int.from_bytes(seed[:8], "little")


def test_seed_words_zero_pad_a_short_tail() -> None:
    assert compute_seed_words(b"\x01\x02\x03") == [0x030201]
    assert compute_seed_words(bytes(9) + b"\xff") == [0, 0xFF00]


def test_is_a_source64() -> None:
    assert isinstance(MersenneTwister64(seed=1), Source64)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"key": []},
        {"key": [1 << 64]},
        {"key": [-1]},
        {"seed": 1 << 64},
        {"seed": -(1 << 63) - 1},
        {"seed": 1, "key": [1]},
    ],
)
def test_rejects_bad_seeds(kwargs: dict[str, Any]) -> None:
    with pytest.raises(InvalidSeedError):
        MersenneTwister64(**kwargs)


def test_rejects_empty_seed_bytes() -> None:
    with pytest.raises(InvalidSeedError):
        compute_seed_words(b"")


def test_negative_seed_is_twos_complement() -> None:
    a = MersenneTwister64(seed=-1)
    b = MersenneTwister64(seed=MASK64)
    assert [a.uint64() for _ in range(5)] == [b.uint64() for _ in range(5)]


def test_state_snapshot_roundtrip_and_validation() -> None:
    mt = MersenneTwister64(key=[1, 2, 3])
    for _ in range(500):
        mt.uint64()
    snapshot = mt.get_state()
    first = [mt.uint64() for _ in range(400)]
    mt.set_state(snapshot)
    assert [mt.uint64() for _ in range(400)] == first
    with pytest.raises(InvalidSeedError):
        mt.set_state(((0,) * 5, 0))
    with pytest.raises(InvalidSeedError):
        mt.set_state(((1 << 64,) * 312, 0))


@settings(max_examples=30, deadline=None)
@given(st.lists(u64, min_size=1, max_size=400))
def test_same_key_same_stream_and_int63_is_masked_uint64(key: list[int]) -> None:
    a = MersenneTwister64(key=key)
    b = MersenneTwister64(key=key)
    for _ in range(20):
        value = a.uint64()
        assert 0 <= value <= MASK64
        assert b.int63() == value & ((1 << 63) - 1)


@settings(max_examples=20, deadline=None)
@given(u64, u64)
def test_different_single_word_keys_diverge(k1: int, k2: int) -> None:
    assume(k1 != k2)
    a = MersenneTwister64(key=[k1])
    b = MersenneTwister64(key=[k2])
    assert [a.uint64() for _ in range(4)] != [b.uint64() for _ in range(4)]
