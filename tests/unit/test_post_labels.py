"""PoST labels: the reference and the native C code against every case of scrypt_jane.json and
post_labels.json, every SIMD kernel against the reference, the single-pass VRF-nonce search, errors,
and the GIL being released during native calls."""

from __future__ import annotations

import hashlib
import random
import threading
import time
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spacemesh_core.post import native
from spacemesh_core.post.labels import (
    Keccak,
    LabelParameterError,
    ReferenceInitializer,
    VrfNonce,
    compute_commitment,
    compute_keccak512,
    compute_label_reference,
    compute_labels_reference,
    compute_scrypt_jane,
    compute_vrf_difficulty,
    search_vrf_nonce_reference,
)
from spacemesh_core.testing.vectors import load_vectors

ISAS = native.get_supported_isas()
#: the reference runs the vectors up to this N (N = 8192 costs about a second per label)
REFERENCE_MAX_N = 1024


def _cases(name: str, kind: str) -> list[dict]:
    return [c for c in load_vectors(name)["cases"] if c["kind"] == kind]


# --------------------------------------------------------------------------------------------
# scrypt_jane.json
# --------------------------------------------------------------------------------------------


def test_scrypt_jane_vectors_native() -> None:
    cases = _cases("scrypt_jane", "scrypt")
    assert len(cases) == 2
    for case in cases:
        assert case["N"] == 2 ** (case["Nfactor"] + 1)
        assert (case["r"], case["p"]) == (2 ** case["rfactor"], 2 ** case["pfactor"])
        out = native.compute_scrypt_jane_native(
            bytes.fromhex(case["password_hex"]), bytes.fromhex(case["salt_hex"]), case["N"], case["r"],
            case["p"], case["dklen"],
        )
        assert out.hex() == case["output_hex"]


def test_scrypt_jane_vectors_reference_small() -> None:
    cases = [c for c in _cases("scrypt_jane", "scrypt") if c["N"] * c["r"] * c["p"] <= REFERENCE_MAX_N]
    assert cases
    for case in cases:
        out = compute_scrypt_jane(
            bytes.fromhex(case["password_hex"]), bytes.fromhex(case["salt_hex"]), case["N"], case["r"],
            case["p"], case["dklen"],
        )
        assert out.hex() == case["output_hex"]


def _keccak_selftest(digest: Callable[[bytes], bytes], digest_size: int) -> bytes:
    # scrypt-jane's procedure: hash msg[:i] for i = 0..257 and absorb every digest into one state
    message = bytes(i & 0xFF for i in range(257))
    running = Keccak(digest_size)
    for i in range(len(message) + 1):
        running.update(digest(message[:i]))
    return running.digest()


def test_keccak_selftest_vectors() -> None:
    cases = _cases("scrypt_jane", "keccak_selftest")
    assert len(cases) == 2
    for case in cases:
        if case["hash"].startswith("Keccak-512"):
            assert _keccak_selftest(compute_keccak512, 64).hex() == case["output_hex"]
            assert _keccak_selftest(native.compute_keccak512_native, 64).hex() == case["output_hex"]
        else:
            assert case["hash"].startswith("Keccak-256")
            assert _keccak_selftest(lambda m: Keccak(32, m).digest(), 32).hex() == case["output_hex"]


def test_keccak512_native_matches_reference_on_all_lengths() -> None:
    rng = random.Random(3)
    for length in [*range(0, 300), 1000]:
        data = rng.randbytes(length)
        assert native.compute_keccak512_native(data) == compute_keccak512(data)
    assert compute_keccak512(b"") != hashlib.sha3_512(b"").digest()  # original padding, not FIPS 202


def test_scrypt_jane_is_not_rfc7914() -> None:
    (case,) = _cases("scrypt_jane", "contrast_rfc7914")
    password, salt = bytes.fromhex(case["password_hex"]), bytes.fromhex(case["salt_hex"])
    rfc = hashlib.scrypt(password, salt=salt, n=case["N"], r=case["r"], p=case["p"], dklen=case["dklen"])
    assert rfc.hex() == case["rfc7914_output_hex"]
    ours = native.compute_scrypt_jane_native(password, salt, case["N"], case["r"], case["p"], case["dklen"])
    assert ours != rfc
    assert ours == compute_scrypt_jane(password, salt, case["N"], case["r"], case["p"], case["dklen"])


def test_generic_scrypt_native_matches_reference_random() -> None:
    rng = random.Random(11)
    for n, r, p in [(2, 1, 1), (4, 2, 1), (8, 1, 3), (16, 3, 2)]:
        password, salt = rng.randbytes(rng.randrange(0, 150)), rng.randbytes(rng.randrange(0, 100))
        dklen = rng.randrange(1, 200)
        assert native.compute_scrypt_jane_native(password, salt, n, r, p, dklen) == compute_scrypt_jane(
            password, salt, n, r, p, dklen
        )


# --------------------------------------------------------------------------------------------
# post_labels.json
# --------------------------------------------------------------------------------------------


def test_commitment_vectors() -> None:
    cases = _cases("post_labels", "commitment")
    assert len(cases) == 3
    for case in cases:
        got = compute_commitment(bytes.fromhex(case["node_id_hex"]), bytes.fromhex(case["commitment_atx_id_hex"]))
        assert got.hex() == case["commitment_hex"]
    with pytest.raises(LabelParameterError):
        compute_commitment(bytes(31), bytes(32))


def test_label_vectors_reference_small_n() -> None:
    cases = [c for c in _cases("post_labels", "label") if c["N"] <= REFERENCE_MAX_N]
    assert len(cases) == 6
    for case in cases:
        out = compute_label_reference(bytes.fromhex(case["commitment_hex"]), case["index"], case["N"])
        assert out.hex() == case["out32_hex"]
        assert out[:16].hex() == case["label16_hex"]
        assert bytes.fromhex(case["password_hex"]) == bytes.fromhex(case["commitment_hex"]) + case[
            "index"
        ].to_bytes(8, "little") + bytes(32)


@pytest.mark.slow
def test_label_vector_reference_mainnet_n() -> None:
    """One N = 8192 vector through the pure-Python oracle (about a second)."""
    case = next(c for c in _cases("post_labels", "label") if c["N"] == 8192 and c["index"] == 1)
    assert compute_label_reference(bytes.fromhex(case["commitment_hex"]), 1, 8192).hex() == case["out32_hex"]


@pytest.mark.parametrize("isa", ISAS)
def test_label_vectors_native_every_kernel(isa: str) -> None:
    """Every label vector computed in every lane of the kernel (the vector index sits in each lane)."""
    lanes = native.get_isa_lanes(isa)
    cases = _cases("post_labels", "label")
    assert len(cases) == 19
    for case in cases:
        commitment, index = bytes.fromhex(case["commitment_hex"]), case["index"]
        lanes_here = lanes if case["N"] <= 64 else min(lanes, 2)  # N = 8192: two lane positions suffice
        for lane in range(lanes_here):
            start = index - lane
            if start < 0:
                continue
            out = native.compute_labels_native(commitment, start, lanes, case["N"], threads=1, isa=isa)
            assert out[32 * lane : 32 * lane + 32].hex() == case["out32_hex"], (isa, lane, case["index"])


def test_label_vectors_native_baseline() -> None:
    for case in _cases("post_labels", "label"):
        out = native.compute_label_baseline_native(bytes.fromhex(case["commitment_hex"]), case["index"], case["N"])
        assert out.hex() == case["out32_hex"]


def test_vrf_difficulty_vectors() -> None:
    cases = _cases("post_labels", "vrf_difficulty")
    assert len(cases) == 2
    for case in cases:
        assert case["num_labels"] == case["num_units"] * case["labels_per_unit"]
        assert compute_vrf_difficulty(case["num_labels"]).hex() == case["difficulty_hex"]
    assert compute_vrf_difficulty(1) == b"\xff" * 32  # saturates where Go's value would overflow
    with pytest.raises(LabelParameterError):
        compute_vrf_difficulty(0)


def test_vrf_nonce_search_vectors_native() -> None:
    """The Go KAT over 261 121 labels at N = 32, through the search-only native path."""
    cases = _cases("post_labels", "vrf_nonce_search")
    assert len(cases) == 2
    for case in cases:
        count = case["last_index_inclusive"] - case["first_index"] + 1
        found = native.search_vrf_nonce_native(
            bytes.fromhex(case["commitment_hex"]), case["first_index"], count, case["N"],
            bytes.fromhex(case["difficulty_hex"]),
        )
        if case["expected_nonce"] is None:
            assert found is None
        else:
            assert found == VrfNonce(case["expected_nonce"], bytes.fromhex(case["expected_out32_hex"]))


def test_vrf_nonce_search_reference_window() -> None:
    """The reference search around the KAT's nonce finds it (the full range is too slow in Python)."""
    (case, _) = _cases("post_labels", "vrf_nonce_search")
    found = search_vrf_nonce_reference(
        bytes.fromhex(case["commitment_hex"]), case["expected_nonce"] - 3, 7, case["N"],
        bytes.fromhex(case["difficulty_hex"]),
    )
    assert found == VrfNonce(case["expected_nonce"], bytes.fromhex(case["expected_out32_hex"]))


# --------------------------------------------------------------------------------------------
# native == reference; kernels, threads, tails, buffers
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("isa", ISAS)
def test_every_kernel_matches_reference_on_random_ranges(isa: str) -> None:
    rng = random.Random(sum(isa.encode()))
    lanes = native.get_isa_lanes(isa)
    for scrypt_n in (2, 8, 128):
        commitment = rng.randbytes(32)
        start = rng.choice([0, rng.randrange(1 << 40), (1 << 32) - 3])
        count = 2 * lanes + 3  # full batches plus a tail on narrower kernels
        expected = compute_labels_reference(commitment, start, count, scrypt_n)
        for threads in (1, 2, 3):
            got = native.compute_labels_native(commitment, start, count, scrypt_n, threads=threads, isa=isa)
            assert got == expected, (isa, scrypt_n, threads)


@settings(max_examples=25, deadline=None)
@given(
    commitment=st.binary(min_size=32, max_size=32),
    start=st.integers(0, 2**64 - 64),
    count=st.integers(0, 20),
    log_n=st.integers(1, 5),
)
def test_native_matches_reference_property(commitment: bytes, start: int, count: int, log_n: int) -> None:
    scrypt_n = 1 << log_n
    assert native.compute_labels_native(commitment, start, count, scrypt_n) == compute_labels_reference(
        commitment, start, count, scrypt_n
    )


def test_largest_index() -> None:
    top = 2**64 - 1
    commitment = bytes(range(32))
    assert native.compute_labels_native(commitment, top, 1, 4) == compute_label_reference(commitment, top, 4)
    with pytest.raises(LabelParameterError):
        native.compute_labels_native(commitment, top, 2, 4)
    with pytest.raises(LabelParameterError):
        compute_labels_reference(commitment, top, 2, 4)


def test_all_kernels_agree_at_mainnet_n() -> None:
    commitment = bytes.fromhex("72f83ca99604810287652e3402f62784f66ceecc3ca7fda28e680aa816cff153")
    results = {isa: native.compute_labels_native(commitment, 4294967290, 19, 8192, isa=isa) for isa in ISAS}
    baseline = native.compute_labels_baseline_native(commitment, 4294967290, 19, 8192)
    assert all(value == baseline for value in results.values())


def test_into_buffer_label_size_and_bound() -> None:
    commitment = random.Random(5).randbytes(32)
    full = native.compute_labels_native(commitment, 10, 50, 16)
    array = np.zeros((50, 16), dtype=np.uint8)
    bound = b"\x40" + bytes(31)
    nonce = native.compute_labels_native_into(array, commitment, 10, 50, 16, label_size=16, bound=bound)
    assert array.tobytes() == b"".join(full[k : k + 16] for k in range(0, len(full), 32))
    best = min((full[k : k + 32], 10 + k // 32) for k in range(0, len(full), 32))
    assert best[0] < bound  # with 50 random outputs one is below 0x40.. (probability 1 - 0.75^50)
    assert nonce == VrfNonce(best[1], best[0])
    assert native.compute_labels_native_into(array, commitment, 10, 50, 16, label_size=16, bound=bytes(32)) is None
    labels, again = native.compute_labels_and_nonce_native(commitment, 10, 50, 16, bound, label_size=32)
    assert labels == full and again == nonce


def test_nonce_search_equal_values_keep_the_lowest_index() -> None:
    """Two labels never collide in practice; the rule is still pinned: repeat a range, the first wins."""
    commitment = bytes(32)
    outputs = native.compute_labels_native(commitment, 0, 40, 4)
    best = min(outputs[k : k + 32] for k in range(0, len(outputs), 32))
    index = outputs.index(best) // 32
    found = native.search_vrf_nonce_native(commitment, 0, 40, 4, b"\xff" * 32, threads=3)
    assert found == VrfNonce(index, best)
    # a bound equal to the best value is not strictly greater: nothing qualifies
    assert native.search_vrf_nonce_native(commitment, 0, 40, 4, best) is None


def test_bad_inputs_raise() -> None:
    with pytest.raises(LabelParameterError):
        native.compute_labels_native(bytes(31), 0, 1, 16)
    with pytest.raises(LabelParameterError):
        native.compute_labels_native(bytes(32), 0, 1, 12)
    with pytest.raises(LabelParameterError):
        native.compute_labels_native(bytes(32), 0, -1, 16)
    with pytest.raises(LabelParameterError):
        native.compute_labels_native(bytes(32), -1, 1, 16)
    with pytest.raises(LabelParameterError):
        native.compute_labels_native(bytes(32), 0, 1, 16, isa="mmx")
    with pytest.raises(LabelParameterError):
        native.compute_labels_native_into(bytearray(31), bytes(32), 0, 1, 16)
    with pytest.raises(LabelParameterError):
        native.compute_labels_native_into(bytearray(32), bytes(32), 0, 1, 16, bound=bytes(31))
    with pytest.raises(LabelParameterError):
        native.compute_labels_native_into(bytearray(64), bytes(32), 0, 1, 16, label_size=33)
    with pytest.raises(LabelParameterError):
        native.compute_scrypt_jane_native(b"", b"", 3, 1, 1, 32)
    with pytest.raises(LabelParameterError):
        compute_scrypt_jane(b"", b"", 16, 0, 1, 32)
    with pytest.raises(LabelParameterError):
        compute_label_reference(bytes(32), 0, 0)
    with pytest.raises(LabelParameterError):
        native.compute_labels_native_into(b"read-only" * 8, bytes(32), 0, 1, 16)


def test_unsupported_kernel_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    missing = [isa for isa in native.ISA_CODES if isa not in ISAS]
    if missing:
        with pytest.raises(native.NativeLabelsError):
            native.compute_labels_native(bytes(32), 0, 1, 16, isa=missing[0])
    monkeypatch.setenv(native.ENV_ISA, "scalar")
    assert native.get_default_isa() == "scalar"
    assert native.compute_labels_native(bytes(32), 0, 3, 2) == compute_labels_reference(bytes(32), 0, 3, 2)
    monkeypatch.delenv(native.ENV_ISA)
    assert native.get_default_isa() == native.get_best_isa() == ISAS[-1]


def test_native_call_releases_the_gil() -> None:
    """Python code of another thread runs while a long native call is in progress."""
    commitment = bytes(32)
    window: dict[str, float] = {}

    def work() -> None:
        window["start"] = time.monotonic()
        native.compute_labels_native(commitment, 0, 300, 8192, threads=1, isa="scalar")
        window["end"] = time.monotonic()

    ticks: list[float] = []
    worker = threading.Thread(target=work)
    worker.start()
    while worker.is_alive():
        ticks.append(time.monotonic())
        time.sleep(0)  # plain Python work; it can only run when the worker does not hold the GIL
    worker.join()
    middle_start = window["start"] + (window["end"] - window["start"]) * 0.5
    # with the GIL held during the call, no tick could fall in the second half of the call
    assert any(middle_start < tick < window["end"] for tick in ticks)


def test_reference_initializer_object() -> None:
    backend = ReferenceInitializer()
    assert backend.name == "reference"
    assert backend.compute_labels(bytes(32), 0, 2, 2) == compute_labels_reference(bytes(32), 0, 2, 2)
