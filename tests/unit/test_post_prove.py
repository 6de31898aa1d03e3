"""Proving: post_prove.json (every case), the reference scan, the native scan against it, the prover and
``spacemesh post prove``."""

from __future__ import annotations

import json
import os
import random
from collections.abc import Sequence
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from spacemesh_core.post.proof import (
    Proof,
    ProofFormatError,
    ProofParameterError,
    compress_indices,
    compute_expected_indices_bytes,
    compute_nonce_group,
    compute_nonce_group_range,
    compute_pow_threshold,
    compute_proving_difficulty,
    compute_required_bits,
    decompress_indices,
    get_indices_of_proof,
    make_proof,
    split_proving_difficulty,
)
from spacemesh_core.post.prove_reference import (
    compute_aes_ecb,
    compute_group_key,
    compute_label_value,
    compute_nonce_key,
    is_label_qualifying_for_nonce,
    iter_qualifying_labels_reference,
    scan_labels_reference,
)
from spacemesh_core.post.prover import (
    LabelSegment,
    NativeScanBackend,
    PostDataError,
    ProofNotFoundError,
    ProvingParams,
    ProvingStoppedError,
    ReferenceScanBackend,
    StopFlag,
    compute_aes_ecb_native,
    create_native_prover,
    generate_proof,
    generate_proof_from_dir,
    get_best_native_impl,
    get_supported_native_impls,
    is_native_scan_available,
)
from spacemesh_core.testing.vectors import load_vectors

needs_native = pytest.mark.skipif(not is_native_scan_available(), reason="spacemesh_core._native_scan is not built")
EASY_POW = b"\xff" * 32


def _cases(kind: str) -> list[dict]:
    cases = [case for case in load_vectors("post_prove")["cases"] if case["kind"] == kind]
    assert cases, f"post_prove.json has no {kind} case"
    return cases


class ZeroPowSolver:
    """k2pow for the all-0xff difficulty: pow 0 hashes below 2^256 - 1 (fails with probability 2^-256),
    so the pass loop can be tested without RandomX cost; real RandomX is used elsewhere."""

    def __init__(self) -> None:
        self.groups: list[int] = []

    def find_k2pows(
        self, nonce_groups: Sequence[int], challenge: bytes, node_id: bytes, threshold: bytes, *, should_stop=None
    ) -> dict:
        assert threshold == b"\xff" * 32
        self.groups.extend(nonce_groups)
        return dict.fromkeys(nonce_groups, 0)


# ------------------------------------------------------------------------------------------------
# post_prove.json
# ------------------------------------------------------------------------------------------------


def test_vector_proving_difficulty() -> None:
    for case in _cases("proving_difficulty"):
        if case.get("expected_error"):
            with pytest.raises(ProofParameterError):
                compute_proving_difficulty(case["k1"], case["num_labels"])
            continue
        difficulty = compute_proving_difficulty(case["k1"], case["num_labels"])
        assert difficulty == case["expected"]
        assert split_proving_difficulty(difficulty) == (case["expected_msb"], case["expected_lsb"])


def test_vector_pow_threshold() -> None:
    for case in _cases("pow_threshold"):
        assert (
            compute_pow_threshold(bytes.fromhex(case["pow_difficulty_hex"]), case["num_units"]).hex()
            == (case["expected_hex"])
        )
    with pytest.raises(ProofParameterError):
        compute_pow_threshold(bytes(32), 0)
    with pytest.raises(ProofParameterError):
        compute_pow_threshold(bytes(31), 1)


def test_vector_compress() -> None:
    for case in _cases("compress"):
        packed = compress_indices(case["indices"], case["bits"])
        assert packed.hex() == case["expected_hex"]
        mask = (1 << case["bits"]) - 1
        assert decompress_indices(packed, case["bits"], len(case["indices"])) == [i & mask for i in case["indices"]]
        if "num_labels" in case:
            assert compute_required_bits(case["num_labels"]) == case["bits"]
            assert make_proof(7, case["indices"], case["num_labels"], 77).indices.hex() == case["expected_hex"]


def test_vector_required_bits_and_sizes() -> None:
    for case in _cases("required_bits"):
        assert compute_required_bits(case["value"]) == case["expected"]
    for case in _cases("expected_indices_bytes"):
        assert compute_expected_indices_bytes(case["bits"], case["k2"]) == case["expected"]


def test_vector_nonce_groups() -> None:
    for case in _cases("nonce_group_range"):
        start, end = case["nonces"]
        groups = compute_nonce_group_range(start, end)
        assert [groups.start, groups.stop] == case["expected_groups"]
    for case in _cases("nonce_group"):
        assert compute_nonce_group(case["nonce"]) == case["expected_group"]


def test_vector_aes_keys() -> None:
    for case in _cases("aes_keys"):
        challenge = bytes.fromhex(case["challenge_hex"])
        assert compute_group_key(challenge, case["nonce_group"], case["pow"]).hex() == case["group_key_hex"]
        assert (
            compute_nonce_key(challenge, case["nonce_group"], case["pow"], case["nonce"]).hex() == case["lazy_key_hex"]
        )


def test_vector_prove_reference() -> None:
    """post-rs proving_vector with the reference scan, and the packed proof bytes."""
    for case in _cases("prove"):
        data = bytes.fromhex(case["data_hex"])
        assert data == bytes(j % 12 for j in range(2048))
        pows = {int(g): p for g, p in case["pow_by_group"].items()}
        result = scan_labels_reference(
            data,
            0,
            bytes.fromhex(case["challenge_hex"]),
            case["nonce_start"],
            case["nonce_end_exclusive"],
            pows,
            case["difficulty"],
            case["k2"],
        )
        assert result is not None
        assert result.nonce == case["expected_nonce"]
        assert list(result.indices) == case["expected_indices"]
        expected = case["expected_proof"]
        proof = make_proof(result.nonce, result.indices, case["num_labels"], pows[0])
        assert compute_required_bits(case["num_labels"]) == expected["bits_per_index"]
        assert (proof.nonce, proof.pow, proof.indices.hex()) == (
            expected["nonce"],
            expected["pow"],
            expected["indices_hex"],
        )
        assert get_indices_of_proof(proof, case["num_labels"], case["k2"]) == case["expected_indices"]


def test_vector_prove_order_reference() -> None:
    for case in _cases("prove_order"):
        hits = list(
            iter_qualifying_labels_reference(
                bytes.fromhex(case["data_hex"]),
                0,
                bytes.fromhex(case["challenge_hex"]),
                case["nonce_start"],
                case["nonce_end_exclusive"],
                {int(g): p for g, p in case["pow_by_group"].items()},
                case["difficulty"],
            )
        )
        assert [list(hit) for hit in hits] == case["expected_hits_nonce_index"]


@needs_native
def test_vector_prove_native_every_impl() -> None:
    case = _cases("prove")[0]
    for impl in get_supported_native_impls():
        for threads in (1, 4):
            result = NativeScanBackend(threads=threads, impl=impl, batch_labels=16).scan(
                [LabelSegment(0, bytes.fromhex(case["data_hex"]))],
                bytes.fromhex(case["challenge_hex"]),
                0,
                16,
                {0: 0},
                case["difficulty"],
                case["k2"],
            )
            assert result is not None and result.nonce == 3 and list(result.indices) == case["expected_indices"]


# ------------------------------------------------------------------------------------------------
# Reference pieces and the proof type
# ------------------------------------------------------------------------------------------------


def test_label_value_matches_the_shortcut() -> None:
    """The scan's shortcut (top byte decides unless tied) agrees with the full 64-bit value."""
    rng = random.Random(3)
    challenge = rng.randbytes(32)
    for _ in range(200):
        label = rng.randbytes(16)
        nonce = rng.randrange(64)
        value = compute_label_value(label, nonce, challenge, 5)
        msb = compute_aes_ecb(compute_group_key(challenge, nonce // 16, 5), label)[nonce % 16]
        assert value >> 56 == msb
        for difficulty in (value, value + 1, (msb << 56), (msb << 56) | ((1 << 56) - 1)):
            assert is_label_qualifying_for_nonce(label, nonce, challenge, 5, difficulty) == (value < difficulty)


def test_proof_json_round_trip_and_errors() -> None:
    proof = Proof(nonce=3, indices=bytes(range(10)), pow=1 << 63)
    assert Proof.from_json(proof.to_json()) == proof
    assert json.loads(proof.to_json()) == {"nonce": 3, "indices": "AAECAwQFBgcICQ==", "pow": 1 << 63}
    for bad in (
        "[]",
        "{}",
        '{"nonce": 1, "indices": "!!", "pow": 0}',
        '{"nonce": -1, "indices": "", "pow": 0}',
        '{"nonce": 1, "indices": "", "pow": 18446744073709551616}',
        "not json",
        '{"nonce": 1, "indices": 5, "pow": 0}',
    ):
        with pytest.raises(ProofFormatError):
            Proof.from_json(bad)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 64).flatmap(lambda bits: st.tuples(st.just(bits), st.lists(st.integers(0, (1 << bits) - 1)))))
def test_compress_round_trip(bits_and_indices: tuple[int, list[int]]) -> None:
    bits, indices = bits_and_indices
    packed = compress_indices(indices, bits)
    assert len(packed) == compute_expected_indices_bytes(bits, len(indices))
    assert decompress_indices(packed, bits, len(indices)) == indices


def test_compress_errors() -> None:
    with pytest.raises(ProofParameterError):
        compress_indices([1], 65)
    with pytest.raises(ProofParameterError):
        decompress_indices(b"\x00", 0)
    with pytest.raises(ProofParameterError):
        decompress_indices(b"\x00", 8, 2)
    with pytest.raises(ProofParameterError):
        get_indices_of_proof(Proof(0, b"\x00", 0), 128, 2)


# ------------------------------------------------------------------------------------------------
# Native scan == reference
# ------------------------------------------------------------------------------------------------


@needs_native
def test_native_aes_cores_match_openssl() -> None:
    rng = random.Random(11)
    for _ in range(5):
        key, data = rng.randbytes(16), rng.randbytes(16 * rng.randint(1, 40))
        for impl in ("portable", "aesni"):
            if impl in get_supported_native_impls():
                assert compute_aes_ecb_native(key, data, impl) == compute_aes_ecb(key, data)
    assert get_best_native_impl() in get_supported_native_impls()


@needs_native
@settings(max_examples=25, deadline=None)
@given(
    data=st.binary(min_size=16, max_size=16 * 300).map(lambda b: b[: len(b) // 16 * 16]).filter(bool),
    first_index=st.sampled_from([0, 1, 7, 8, (1 << 32) - 3]),
    challenge=st.binary(min_size=32, max_size=32),
    group_start=st.integers(0, 254),
    groups=st.integers(1, 2),
    pow_seed=st.integers(0, (1 << 64) - 1),
    difficulty=st.one_of(st.integers(0, (1 << 64) - 1), st.integers(0, (4 << 56) - 1)),
    k2=st.integers(1, 6),
    threads=st.integers(1, 3),
    batch=st.sampled_from([8, 16, 40]),
)
def test_native_matches_reference_property(
    data: bytes,
    first_index: int,
    challenge: bytes,
    group_start: int,
    groups: int,
    pow_seed: int,
    difficulty: int,
    k2: int,
    threads: int,
    batch: int,
) -> None:
    groups = min(groups, 256 - group_start)
    start, end = 16 * group_start, 16 * (group_start + groups)
    pows = {g: (pow_seed * (g + 1)) % (1 << 64) for g in range(group_start, group_start + groups)}
    expected = scan_labels_reference(data, first_index, challenge, start, end, pows, difficulty, k2)
    result = NativeScanBackend(threads=threads, batch_labels=batch).scan(
        [LabelSegment(first_index, data)], challenge, start, end, pows, difficulty, k2
    )
    assert result == expected


@needs_native
def test_native_thread_count_does_not_change_the_proof() -> None:
    """Many batches over several threads give the single-threaded reference winner, for 16 and 48 nonces."""
    rng = random.Random(5)
    data = rng.randbytes(16 * 6000)
    challenge = rng.randbytes(32)
    segments = [LabelSegment(0, data[: 16 * 2500]), LabelSegment(2500, data[16 * 2500 :])]
    for nonces in (16, 48):
        pows = {g: rng.getrandbits(64) for g in range(nonces // 16)}
        difficulty = compute_proving_difficulty(60, 6000)
        expected = ReferenceScanBackend().scan(segments, challenge, 0, nonces, pows, difficulty, 37)
        assert expected is not None
        for threads, batch in ((1, 1 << 20), (2, 64), (4, 24)):
            result = NativeScanBackend(threads=threads, batch_labels=batch).scan(
                segments, challenge, 0, nonces, pows, difficulty, 37
            )
            assert result == expected


@needs_native
def test_native_progress_and_stop() -> None:
    data = bytes(16 * 50_000)
    seen: list[tuple[int, int]] = []
    backend = NativeScanBackend(threads=2, batch_labels=4096)
    assert (
        backend.scan([LabelSegment(0, data)], bytes(32), 0, 16, {0: 0}, 0, 1, progress=lambda d, t: seen.append((d, t)))
        is None
    )
    assert seen[-1] == (50_000, 50_000)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    stop = StopFlag()
    stop.set()
    with pytest.raises(ProvingStoppedError):
        backend.scan([LabelSegment(0, data)], bytes(32), 0, 16, {0: 0}, 0, 1, should_stop=stop)


def test_native_backend_rejects_unknown_impl() -> None:
    with pytest.raises(ValueError, match="unknown native implementation"):
        NativeScanBackend(impl="quantum")


# ------------------------------------------------------------------------------------------------
# generate_proof: passes, errors, directories, CLI
# ------------------------------------------------------------------------------------------------


def test_generate_proof_runs_passes_until_a_nonce_wins() -> None:
    """With a difficulty where most nonces fail, later passes are tried; the winner's pow is its group's."""
    rng = random.Random(9)
    data = rng.randbytes(16 * 512)
    solver = ZeroPowSolver()
    params = ProvingParams(k1=8, k2=14, pow_difficulty=EASY_POW)
    proof = generate_proof(
        [LabelSegment(0, data)],
        rng.randbytes(32),
        rng.randbytes(32),
        1,
        512,
        params,
        nonces=16,
        backend=ReferenceScanBackend(),
        pow_solver=solver,
    )
    assert solver.groups == list(range(len(solver.groups)))
    assert proof.nonce // 16 == solver.groups[-1]
    assert len(get_indices_of_proof(proof, 512, 14)) == 14


def test_generate_proof_not_found_and_bad_arguments() -> None:
    data = bytes(16 * 64)
    segments = [LabelSegment(0, data)]
    params = ProvingParams(k1=1, k2=65, pow_difficulty=EASY_POW)  # more indices than labels: no nonce can win
    backend = NativeScanBackend(threads=1) if is_native_scan_available() else ReferenceScanBackend()
    with pytest.raises(ProofNotFoundError):
        generate_proof(
            segments, bytes(32), bytes(32), 1, 64, params, nonces=1024, backend=backend, pow_solver=ZeroPowSolver()
        )
    with pytest.raises(ProofParameterError):
        generate_proof(segments, bytes(32), bytes(32), 1, 64, params, nonces=24, pow_solver=ZeroPowSolver())
    with pytest.raises(ProofParameterError):
        generate_proof(segments, bytes(31), bytes(32), 1, 64, params, pow_solver=ZeroPowSolver())
    with pytest.raises(ProofParameterError):  # k1 >= number of labels
        generate_proof(segments, bytes(32), bytes(32), 1, 64, ProvingParams(k1=64), pow_solver=ZeroPowSolver())
    with pytest.raises(PostDataError):  # the data holds fewer labels than the metadata says
        generate_proof(segments, bytes(32), bytes(32), 2, 64, params, pow_solver=ZeroPowSolver())
    stop = StopFlag()
    stop.set()
    with pytest.raises(ProvingStoppedError):
        generate_proof(segments, bytes(32), bytes(32), 1, 64, params, pow_solver=ZeroPowSolver(), should_stop=stop)



def test_a_stop_during_the_k2pow_search_stops_proving() -> None:
    """With an unreachable pow difficulty the RandomX search never ends by itself: only the stop flag ends it."""
    from spacemesh_core.post.k2pow import RandomXK2PowSolver

    segments = [LabelSegment(0, bytes(16 * 64))]
    params = ProvingParams(k1=1, k2=2, pow_difficulty=bytes(32))
    checks = []

    def should_stop() -> bool:
        checks.append(1)
        return len(checks) > 3  # the pass loop's check, then a few k2pow blocks

    with pytest.raises(ProvingStoppedError):
        generate_proof(
            segments, bytes(32), bytes(32), 1, 64, params, nonces=16,
            pow_solver=RandomXK2PowSolver("light", threads=1), should_stop=should_stop,
        )
    assert len(checks) > 3

@pytest.fixture(scope="module")
def post_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1 unit of 2048 labels (scrypt N = 16) in files of 300 labels (not a multiple of 8)."""
    from spacemesh_core.post.initialize import initialize

    directory = tmp_path_factory.mktemp("postdata")
    initialize(directory, bytes([1]) * 32, bytes([2]) * 32, 1, 2048, 16, max_file_size=16 * 300)
    return directory


def test_generate_proof_from_dir_native_equals_reference(post_dir: Path) -> None:
    challenge = bytes(range(32))
    params = ProvingParams(k1=40, k2=20, pow_difficulty=EASY_POW)
    native = (
        generate_proof_from_dir(
            post_dir,
            challenge,
            params,
            nonces=32,
            pow_solver=ZeroPowSolver(),
            backend=NativeScanBackend(threads=3, batch_labels=64),
        )
        if is_native_scan_available()
        else None
    )
    reference = generate_proof_from_dir(
        post_dir, challenge, params, nonces=32, pow_solver=ZeroPowSolver(), backend=ReferenceScanBackend()
    )
    if native is not None:
        assert native == reference
    assert len(reference.indices) == compute_expected_indices_bytes(12, 20)


def test_generate_proof_from_incomplete_dir(post_dir: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(post_dir, copy)
    (copy / "postdata_3.bin").unlink()
    with pytest.raises(PostDataError):
        generate_proof_from_dir(copy, bytes(32), ProvingParams(pow_difficulty=EASY_POW), pow_solver=ZeroPowSolver())


@needs_native
def test_cli_prove(post_dir: Path, tmp_path: Path) -> None:
    """``spacemesh post prove --json`` prints the proof the library makes (real RandomX, easy threshold)."""
    from spacemesh_core.cli import cli

    out = tmp_path / "proof.json"
    args = [
        "post",
        "prove",
        "--dir",
        str(post_dir),
        "--challenge",
        "ab" * 32,
        "--k1",
        "40",
        "--k2",
        "20",
        "--pow-difficulty",
        "7f" + "ff" * 31,
        "--nonces",
        "16",
        "--threads",
        "2",
        "--randomx-mode",
        "light",
        "--json",
        "--out",
        str(out),
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    printed = Proof.from_json(result.output)
    assert Proof.from_json(out.read_text()) == printed
    expected = create_native_prover(threads=1, randomx_mode="light").generate_proof_from_dir(
        post_dir,
        bytes([0xAB]) * 32,
        ProvingParams(k1=40, k2=20, pow_difficulty=bytes([0x7F]) + b"\xff" * 31),
        nonces=16,
    )
    assert printed == expected
    bad = CliRunner().invoke(cli, [*args[:9], "--nonces", "24"])
    assert bad.exit_code == 2
    missing = CliRunner().invoke(cli, ["post", "prove", "--dir", str(tmp_path), "--challenge", "00" * 32, "--json"])
    assert missing.exit_code == 2
    assert "postdata_metadata.json" in missing.output


def test_random_data_needs_no_numpy_for_reference(post_dir: Path) -> None:
    """The reference backend reads memory-mapped segments too (bytes or numpy views)."""
    from spacemesh_core.post.prover import open_label_segments

    segments = open_label_segments(post_dir)
    assert [s.first_index for s in segments] == [0, 300, 600, 900, 1200, 1500, 1800]
    assert sum(s.label_count for s in segments) == 2048
    assert os.path.getsize(post_dir / "postdata_6.bin") == 16 * 248
