"""Go math/rand methods over MT19937-64: shared shuffle vectors, Go-generated answers, properties.

The ``GO_KNOWN_ANSWERS`` table was produced by running Go 1.19's ``math/rand`` (``rand.New(src)``)
over a ``Source64`` that replays this module's MT19937-64 stream for the seed ``_KAT_SEED``: it pins
how each method consumes the source (masking, rejection loops, Lemire's ``int31n`` in ``Shuffle``).
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spacemesh_core.determinism.go_rand import (
    GoRand,
    InvalidArgumentError,
    Source,
    Source64,
    apply_go_shuffle,
    compute_shuffle_permutation,
    new_mt19937_rand,
)
from spacemesh_core.determinism.mt19937_64 import InvalidSeedError, MersenneTwister64, compute_seed_words
from spacemesh_core.testing.vectors import load_vectors

_KAT_SEED = b"spacemesh-py go_rand known answers"

# (method, argument, number of calls, comma-separated Go outputs); float64 as IEEE bit patterns.
GO_KNOWN_ANSWERS: list[tuple[str, int, int, str]] = [
    (
        "int31n",
        1000000007,
        12,
        "726296993,130100781,733389789,731615829,790615938,100277891,128841040,"
        "686346631,71250424,626272453,24929601,734609933",
    ),
    ("int31n", 10, 12, "3,9,8,6,6,5,8,7,8,4,3,1"),
    ("int31n", 1048576, 6, "682401,349963,784436,93668,416860,696713"),
    ("int31n", 2147483647, 8, "726296993,2130007819,1130100788,1733389796,1731615836,1790615945,1100277898,1128841047"),
    (
        "int31n",
        1610612736,
        12,
        "726296993,1130100788,1100277898,1128841047,71250424,626272453,24929601,"
        "377437641,195422092,612206779,242154791,1197547123",
    ),
    (
        "int63n",
        1000000000000000009,
        8,
        "119421833650948090,853745928518532651,444852488984099597,"
        "437233384919716066,690636924117997766,725657589408472893,848335381222250127,242803660333123285",
    ),
    ("int63n", 1099511627776, 4, "693022541845,48237205318,226213002831,983196531532"),
    (
        "int63n",
        4611686018427387905,
        12,
        "3119421833650948117,306018241913755273,2689819706727724778,"
        "107071821765673191,1621082327509084724,839331495968710036,2629408095514354519,"
        "1040046908051543302,1506284649394915494,4140571335570980801,2183165800068629631,"
        "2458839530710941430",
    ),
    ("int63n", 7, 8, "5,0,5,2,3,0,2,1"),
    ("intn", 6, 12, "5,1,2,2,2,5,4,3,0,4,1,3"),
    ("intn", 8589934592, 6, "5827774485,5287532358,2874703439,3943988044,64016673,4941830405"),
    ("intn", 2147483647, 4, "726296993,2130007819,1130100788,1733389796"),
    ("uint32", 0, 8, "1452593986,4260015638,2260201577,3466779593,3463231672,3581231890,2200555796,2257682094"),
    ("uint64", 0, 4, "3119421833650948117,9148313923821852486,4853745928518532687,7444852488984099660"),
    ("int31", 0, 6, "726296993,2130007819,1130100788,1733389796,1731615836,1790615945"),
    (
        "float64",
        0,
        6,
        "4599764240686755428,4607109119861508694,4602915205803595296,4605445583304049951,"
        "4605438142772737076,4605685607166485398",
    ),
    ("perm", 12, 0, "3,4,2,0,10,5,8,7,6,11,9,1"),
    ("shuffle", 1, 0, "0"),
    ("shuffle", 2, 0, "1,0"),
    (
        "shuffle",
        64,
        0,
        "2,12,33,18,38,28,31,17,47,3,52,34,59,63,30,39,14,36,55,56,61,23,25,6,37,35,16,27,"
        "20,54,11,51,24,44,50,58,53,46,45,22,10,9,41,19,7,40,26,5,13,4,8,42,0,15,1,43,57,29,60,48,49,32,62,21",
    ),
]
#: SHA-256 of Go's comma-separated Shuffle(1000) result for the same stream.
GO_SHUFFLE_1000_SHA256 = "48cd5ce857f7be23bf3490f035fb331c9818366b91d9ec6b558a420d6245024a"
#: Go's first seven swap(i, j) calls of Shuffle(2**31 + 2): Int63n above index 2**31 - 2, int31n below.
GO_BIG_SHUFFLE_SWAPS = [
    (2147483649, 775102867),
    (2147483648, 1027516722),
    (2147483647, 727219791),
    (2147483646, 1733389795),
    (2147483645, 1731615834),
    (2147483644, 1790615942),
    (2147483643, 1100277895),
]
#: Go's Shuffle(3) over hand-made streams whose first Uint32 is 0, forcing int31n's rejection loop.
GO_CRAFTED_SHUFFLES = [
    ([0, 0x123456789ABCDEF0, 0xFEDCBA9876543210, 0x0F0F0F0F0F0F0F0F], [2, 1, 0]),
    ([0, 0, 1 << 40, 7 << 50, 3], [1, 2, 0]),
]


class ReplaySource:
    """A Source64 that replays fixed uint64 values (as the Go side of the known answers did)."""

    def __init__(self, values: Sequence[int]) -> None:
        self._values = list(values)
        self._pos = 0

    def uint64(self) -> int:
        value = self._values[self._pos]
        self._pos += 1
        return value

    def int63(self) -> int:
        return self.uint64() & ((1 << 63) - 1)

    def seed(self, seed: int) -> None:
        self._pos = 0


class Int63OnlySource:
    """A plain Source (no uint64) counting upward, to check the two-draw Uint64 fallback."""

    def __init__(self) -> None:
        self.next_value = 0x0123456789ABCDEF

    def int63(self) -> int:
        value = self.next_value
        self.next_value += 0x1111111111
        return value

    def seed(self, seed: int) -> None:
        self.next_value = seed


def _kat_rand() -> GoRand:
    return new_mt19937_rand(_KAT_SEED)


def _shuffle_cases() -> list[dict[str, Any]]:
    return [case for case in load_vectors("mt19937_64")["cases"] if case["kind"] == "go_shuffle"]


def test_vector_file_has_shuffle_cases() -> None:
    assert len(_shuffle_cases()) == 4


@pytest.mark.parametrize("index", range(4))
def test_shared_shuffle_vectors(index: int) -> None:
    case = _shuffle_cases()[index]
    seed = bytes.fromhex(case["seed_hex"])
    assert compute_seed_words(seed) == case["seed_words_le_u64"]
    assert compute_shuffle_permutation(seed, case["n"]) == case["expected_permutation"]


@pytest.mark.parametrize(("method", "arg", "count", "expected"), GO_KNOWN_ANSWERS)
def test_go_known_answers(method: str, arg: int, count: int, expected: str) -> None:
    rand = _kat_rand()
    if method == "shuffle":
        got = compute_shuffle_permutation(_KAT_SEED, arg)
    elif method == "perm":
        got = rand.perm(arg)
    elif method == "float64":
        got = [struct.unpack("<Q", struct.pack("<d", rand.float64()))[0] for _ in range(count)]
    elif arg:
        got = [getattr(rand, method)(arg) for _ in range(count)]
    else:
        got = [getattr(rand, method)() for _ in range(count)]
    assert got == [int(v) for v in expected.split(",")]


def test_go_shuffle_of_1000() -> None:
    text = ",".join(map(str, compute_shuffle_permutation(_KAT_SEED, 1000)))
    assert hashlib.sha256(text.encode()).hexdigest() == GO_SHUFFLE_1000_SHA256


def test_shuffle_switches_from_int63n_to_int31n_at_the_go_boundary() -> None:
    rand = _kat_rand()
    calls: list[tuple[int, int]] = []

    class Enough(Exception):
        pass

    def swap(i: int, j: int) -> None:
        calls.append((i, j))
        if len(calls) == len(GO_BIG_SHUFFLE_SWAPS):
            raise Enough

    with pytest.raises(Enough):
        rand.shuffle((1 << 31) + 2, swap)
    assert calls == GO_BIG_SHUFFLE_SWAPS


@pytest.mark.parametrize(("stream", "expected"), GO_CRAFTED_SHUFFLES)
def test_lemire_rejection_matches_go(stream: list[int], expected: list[int]) -> None:
    items = [0, 1, 2]
    apply_go_shuffle(GoRand(ReplaySource(stream)), items)
    assert items == expected


def test_uint64_fallback_for_plain_source() -> None:
    src = Int63OnlySource()
    assert not isinstance(src, Source64)
    assert isinstance(src, Source)
    first, second = 0x0123456789ABCDEF, 0x0123456789ABCDEF + 0x1111111111
    expected = (first >> 31) | ((second << 32) & ((1 << 64) - 1))
    assert GoRand(src).uint64() == expected


def test_uint64_uses_source64_directly() -> None:
    mt = MersenneTwister64(key=[7])
    reference = MersenneTwister64(key=[7])
    rand = GoRand(mt)
    assert rand.source is mt
    assert [rand.uint64() for _ in range(3)] == [reference.uint64() for _ in range(3)]


def test_seed_resets_the_source() -> None:
    rand = GoRand(MersenneTwister64())
    rand.seed(42)
    first = rand.int63()
    rand.seed(42)
    assert rand.int63() == first


@pytest.mark.parametrize(
    ("method", "arg"),
    [
        ("int31n", 0),
        ("int31n", -5),
        ("int31n", 1 << 31),
        ("int63n", 0),
        ("int63n", 1 << 63),
        ("intn", 0),
        ("intn", 1 << 63),
        ("int31n_lemire", 0),
        ("perm", -1),
    ],
)
def test_invalid_arguments(method: str, arg: int) -> None:
    with pytest.raises(InvalidArgumentError):
        getattr(_kat_rand(), method)(arg)


def test_negative_shuffle_and_empty_seed() -> None:
    with pytest.raises(InvalidArgumentError):
        compute_shuffle_permutation(b"x", -1)
    with pytest.raises(InvalidArgumentError):
        _kat_rand().shuffle(-1, lambda i, j: None)
    with pytest.raises(InvalidSeedError):
        compute_shuffle_permutation(b"", 3)


def test_empty_and_single_shuffles_draw_nothing() -> None:
    mt = MersenneTwister64(key=[1])
    rand = GoRand(mt)
    rand.shuffle(0, lambda i, j: None)
    rand.shuffle(1, lambda i, j: None)
    assert rand.uint64() == MersenneTwister64(key=[1]).uint64()


@settings(max_examples=40, deadline=None)
@given(st.binary(min_size=1, max_size=64), st.integers(min_value=0, max_value=300))
def test_shuffle_is_a_deterministic_permutation(seed: bytes, n: int) -> None:
    first = compute_shuffle_permutation(seed, n)
    assert sorted(first) == list(range(n))
    assert compute_shuffle_permutation(seed, n) == first
    items = [f"tx{i}" for i in range(n)]
    apply_go_shuffle(new_mt19937_rand(seed), items)
    assert items == [f"tx{i}" for i in first]


@settings(max_examples=40, deadline=None)
@given(st.binary(min_size=1, max_size=40), st.integers(min_value=1, max_value=(1 << 63) - 1))
def test_bounded_draws_stay_in_range(seed: bytes, n: int) -> None:
    rand = new_mt19937_rand(seed)
    assert 0 <= rand.int63n(n) < n
    assert 0 <= rand.intn(n) < n
    small = n % ((1 << 31) - 1) + 1
    assert 0 <= rand.int31n(small) < small
    assert 0 <= rand.int31n_lemire(small) < small
    assert 0.0 <= rand.float64() < 1.0
    assert 0 <= rand.uint32() < 1 << 32


@settings(max_examples=25, deadline=None)
@given(st.binary(min_size=1, max_size=40), st.integers(min_value=0, max_value=200))
def test_perm_is_a_permutation(seed: bytes, n: int) -> None:
    assert sorted(new_mt19937_rand(seed).perm(n)) == list(range(n))
