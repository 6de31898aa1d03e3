"""PoST initialization: files and metadata, resumption (in-process interruptions and SIGKILL of a
``spacemesh post init`` subprocess), the VRF nonce across files and runs, the search beyond the data,
cross-checks, ``verify-data`` and the ``post`` CLI commands."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import click
import numpy as np
import pytest
from click.testing import CliRunner

from spacemesh_core.post.initialize import (
    BEYOND_BATCH_SIZE,
    InitProgress,
    LabelMismatchError,
    compute_smallest_below,
    initialize,
    verify_data,
)
from spacemesh_core.post.labels import (
    LabelParameterError,
    VrfNonce,
    compute_commitment,
    compute_vrf_difficulty,
)
from spacemesh_core.post.native import NativeInitializer, compute_labels_native
from spacemesh_core.post.store import (
    METADATA_FILE_NAME,
    MetadataMismatchError,
    get_data_file_path,
    get_labels,
    open_zarr_array,
    read_metadata,
)
from spacemesh_core.testing.vectors import load_vectors

NODE_ID = bytes.fromhex("8411931ece38b5abfb611f3bb1155a7eecd9c0e6c26672b567f7b1629c70a924")
ATX_ID = bytes.fromhex("66ec687158c86167efec0fcad4b9a6f3e98db07cc065a595a5b979f8a20dc7e2")
COMMITMENT = compute_commitment(NODE_ID, ATX_ID)
#: 6 files: 5 of 40 labels and a last one of 30 (230 labels)
SMALL: dict[str, Any] = {"num_units": 2, "labels_per_unit": 115, "scrypt_n": 16, "max_file_size": 16 * 40}
PLUGINS_ENV = {"SPACEMESH_LOAD_PLUGINS": "initializer_native,initializer_reference"}


class _Interrupt(Exception):
    pass


class CountingInitializer:
    """Wraps a backend and counts the labels it computes."""

    name = "counting"

    def __init__(self) -> None:
        self.inner = NativeInitializer(threads=1)
        self.labels = 0

    def compute_labels(self, commitment: bytes, start: int, count: int, scrypt_n: int) -> bytes:
        self.labels += count
        return self.inner.compute_labels(commitment, start, count, scrypt_n)


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {name: (directory / name).read_bytes() for name in sorted(os.listdir(directory))}


def _expected_outputs(total: int, scrypt_n: int = 16) -> bytes:
    return compute_labels_native(COMMITMENT, 0, total, scrypt_n)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    directory = tmp_path_factory.mktemp("full")
    initialize(directory, NODE_ID, ATX_ID, **SMALL, batch_size=16)
    return _snapshot(directory)


def test_initialize_writes_post_rs_files_and_metadata(tmp_path: Path, uninterrupted: dict[str, bytes]) -> None:
    reports: list[InitProgress] = []
    result = initialize(tmp_path, NODE_ID, ATX_ID, **SMALL, progress=reports.append)
    names = sorted(os.listdir(tmp_path))
    assert names == sorted([f"postdata_{k}.bin" for k in range(6)] + [METADATA_FILE_NAME, "zarr.json"])
    outputs = _expected_outputs(230)
    labels = np.frombuffer(outputs, dtype=np.uint8).reshape(230, 32)[:, :16]
    assert np.array_equal(get_labels(tmp_path, 0, 230), labels)
    assert np.array_equal(open_zarr_array(tmp_path)[:], labels)
    assert get_data_file_path(tmp_path, 5).stat().st_size == 30 * 16
    best = compute_smallest_below(outputs, 0, compute_vrf_difficulty(230))
    meta = read_metadata(tmp_path)
    assert best is not None and result.metadata == meta
    assert (meta.nonce, meta.nonce_value, meta.last_position) == (best.index, best.value[:16], None)
    assert (meta.node_id, meta.commitment_atx_id, meta.num_units, meta.labels_per_unit) == (NODE_ID, ATX_ID, 2, 115)
    # the batch size does not change a single byte
    assert _snapshot(tmp_path) == uninterrupted
    # progress: monotonic, complete at the end, with a rate
    done = [r.labels_done for r in reports]
    assert done == sorted(done) and done[-1] == reports[-1].labels_total == 230
    assert reports[-1].labels_per_second > 0 and reports[-1].seconds_left == 0


@pytest.mark.parametrize("stop_after", [1, 2, 3, 5, 7, 8])
def test_interrupted_runs_resume_to_identical_bytes(
    tmp_path: Path, uninterrupted: dict[str, bytes], stop_after: int
) -> None:
    """Interrupt after some batches (inside a file, at a file end), twice, then finish."""
    for _ in range(2):
        seen: list[int] = []

        def stop(report: InitProgress, seen: list[int] = seen) -> None:
            seen.append(1)
            if len(seen) == stop_after:
                raise _Interrupt

        with pytest.raises(_Interrupt):
            initialize(tmp_path, NODE_ID, ATX_ID, **SMALL, batch_size=16, progress=stop)
        assert not any(
            name.startswith("postdata_") and name.endswith(".bin") and (tmp_path / name).stat().st_size
            not in (640, 480)
            for name in os.listdir(tmp_path)
        ), "a partial file carries a complete file's name"
    counter = CountingInitializer()
    result = initialize(tmp_path, NODE_ID, ATX_ID, **SMALL, batch_size=16, provider=counter)
    assert _snapshot(tmp_path) == uninterrupted
    assert counter.labels < 230  # work done before the interruptions is kept
    if stop_after >= 3:  # three batches finish file 0 (40 labels in batches of 16)
        assert 0 in result.files_skipped


def test_resume_does_not_recompute_finished_files(tmp_path: Path) -> None:
    initialize(tmp_path, NODE_ID, ATX_ID, **SMALL, to_file=2)
    counter = CountingInitializer()
    result = initialize(tmp_path, NODE_ID, ATX_ID, **SMALL, provider=counter)
    assert result.files_skipped == (0, 1, 2) and result.files_written == (3, 4, 5)
    # three files of 40 + 40 + 30 labels, plus one label to restore the recorded nonce's bound
    assert counter.labels == 110 + (1 if read_metadata(tmp_path).nonce is not None else 0)


def test_torn_partial_file_restarts_that_file(tmp_path: Path, uninterrupted: dict[str, bytes]) -> None:
    initialize(tmp_path, NODE_ID, ATX_ID, **SMALL, to_file=0)
    partial = tmp_path / "postdata_1.bin.partial"
    partial.write_bytes(os.urandom(16 * 7 + 5))  # garbage, not even whole labels
    initialize(tmp_path, NODE_ID, ATX_ID, **SMALL)
    assert _snapshot(tmp_path) == uninterrupted


def test_partial_file_with_good_labels_is_continued(tmp_path: Path, uninterrupted: dict[str, bytes]) -> None:
    initialize(tmp_path, NODE_ID, ATX_ID, **SMALL, to_file=0)
    good = uninterrupted["postdata_1.bin"][: 16 * 25 + 9]  # 25 labels and a torn 26th
    (tmp_path / "postdata_1.bin.partial").write_bytes(good)
    restores = 1 if read_metadata(tmp_path).nonce is not None else 0  # the recorded nonce's bound
    counter = CountingInitializer()
    initialize(tmp_path, NODE_ID, ATX_ID, **SMALL, provider=counter)
    assert _snapshot(tmp_path) == uninterrupted
    # file 1 continues after label 25 (15 left), files 2..5 in full, one check of the kept last label
    assert counter.labels == 15 + 150 + 1 + restores


def test_split_ranges_give_the_same_data(tmp_path: Path, uninterrupted: dict[str, bytes]) -> None:
    initialize(tmp_path, NODE_ID, ATX_ID, **SMALL, from_file=3, to_file=5)
    initialize(tmp_path, NODE_ID, ATX_ID, **SMALL, from_file=0, to_file=2)
    assert _snapshot(tmp_path) == uninterrupted


def test_metadata_of_other_data_is_refused(tmp_path: Path) -> None:
    initialize(tmp_path, NODE_ID, ATX_ID, **SMALL, to_file=0)
    before = _snapshot(tmp_path)
    with pytest.raises(MetadataMismatchError):
        initialize(tmp_path, bytes(32), ATX_ID, **SMALL)
    with pytest.raises(MetadataMismatchError):
        initialize(tmp_path, NODE_ID, ATX_ID, **{**SMALL, "max_file_size": 16 * 41})
    assert _snapshot(tmp_path) == before


def test_bad_parameters_are_refused(tmp_path: Path) -> None:
    for change in [
        {"scrypt_n": 24},
        {"max_file_size": 100},
        {"num_units": 0},
        {"from_file": 4, "to_file": 2},
        {"to_file": 6},
        {"batch_size": 0},
    ]:
        with pytest.raises(LabelParameterError):
            initialize(tmp_path / "x", NODE_ID, ATX_ID, **{**SMALL, **change})
    with pytest.raises(LabelParameterError):
        initialize(tmp_path, NODE_ID[:31], ATX_ID, **SMALL)


def test_wrong_backend_is_caught_by_the_cross_check(tmp_path: Path) -> None:
    class Broken(CountingInitializer):
        name = "broken"

        def compute_labels(self, commitment: bytes, start: int, count: int, scrypt_n: int) -> bytes:
            outputs = bytearray(super().compute_labels(commitment, start, count, scrypt_n))
            outputs[-32] ^= 1  # the last label of every batch
            return bytes(outputs)

    with pytest.raises(LabelMismatchError, match="index 15"):
        initialize(tmp_path, NODE_ID, ATX_ID, **SMALL, provider=Broken(), batch_size=16)
    assert not get_data_file_path(tmp_path, 0).exists()


def _beyond_setup() -> tuple[bytes, VrfNonce]:
    """A difficulty no label of SMALL's data meets but some label past the end does, and the nonce
    the Go rule (fixed batches from the end, the best of the first batch with a hit) must find."""
    total = 230
    outputs = compute_labels_native(COMMITMENT, 0, total + 4 * BEYOND_BATCH_SIZE, 16)
    data_min = min(outputs[k : k + 32] for k in range(0, total * 32, 32))
    beyond = [outputs[k : k + 32] for k in range(total * 32, len(outputs), 32)]
    best_beyond = min(beyond)
    assert best_beyond < data_min  # holds for these ids: 16 384 labels beyond against 230
    difficulty = (int.from_bytes(best_beyond, "big") + 1).to_bytes(32, "big")
    first_batch = (beyond.index(best_beyond)) // BEYOND_BATCH_SIZE
    batch_start = total + first_batch * BEYOND_BATCH_SIZE
    batch = outputs[batch_start * 32 : (batch_start + BEYOND_BATCH_SIZE) * 32]
    expected = compute_smallest_below(batch, batch_start, difficulty)
    assert expected is not None
    return difficulty, expected


def test_nonce_search_continues_beyond_the_data(tmp_path: Path) -> None:
    difficulty, expected = _beyond_setup()
    straight, other = tmp_path / "straight", tmp_path / "interrupted"
    result = initialize(straight, NODE_ID, ATX_ID, **SMALL, vrf_difficulty=difficulty)
    meta = result.metadata
    assert (meta.nonce, meta.nonce_value) == (expected.index, expected.value[:16])
    assert meta.last_position == 230 + (expected.index - 230) // BEYOND_BATCH_SIZE * BEYOND_BATCH_SIZE
    # interrupted during the search beyond, then resumed: the same metadata
    calls = []

    def stop(report: InitProgress) -> None:
        calls.append(report)
        if report.file_index is None and len(calls) > 20:
            raise _Interrupt

    with pytest.raises(_Interrupt):
        initialize(other, NODE_ID, ATX_ID, **SMALL, vrf_difficulty=difficulty, batch_size=16, progress=stop)
    assert read_metadata(other).last_position is not None
    initialize(other, NODE_ID, ATX_ID, **SMALL, vrf_difficulty=difficulty)
    assert _snapshot(other) == _snapshot(straight)


def test_split_range_does_not_search_beyond(tmp_path: Path) -> None:
    difficulty, _ = _beyond_setup()
    result = initialize(tmp_path, NODE_ID, ATX_ID, **SMALL, to_file=1, vrf_difficulty=difficulty)
    assert result.metadata.nonce is None and result.metadata.last_position is None


# --------------------------------------------------------------------------------------------
# SIGKILL of a `spacemesh post init` subprocess
# --------------------------------------------------------------------------------------------

KILL_ARGS = [
    "post", "init", "--node-id", NODE_ID.hex(), "--commitment-atx", ATX_ID.hex(), "--units", "4",
    "--labels-per-unit", "1536", "--scrypt-n", "2048", "--max-file-size", str(16 * 768),
    "--threads", "1", "--batch-size", "48", "--json",
]


def _post_init(directory: Path) -> subprocess.Popen[bytes]:
    code = "import sys; from spacemesh_core.cli import main; main(sys.argv[1:])"
    env = {**os.environ, **PLUGINS_ENV}
    return subprocess.Popen(
        [sys.executable, "-c", code, *KILL_ARGS, "--dir", str(directory)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
    )


def _wait_for(path: Path, process: subprocess.Popen[bytes]) -> None:
    while not path.exists() and process.poll() is None:
        time.sleep(0.005)


def test_sigkill_at_random_moments_then_resume_is_byte_identical(tmp_path: Path) -> None:
    """8 files of 768 labels at N=2048: kill the CLI twice at random moments, resume, compare."""
    reference_dir, killed_dir = tmp_path / "reference", tmp_path / "killed"
    process = _post_init(reference_dir)
    out, err = process.communicate(timeout=240)
    assert process.returncode == 0, err.decode()
    compute_seconds = json.loads(out)["seconds"]
    rng = random.Random()
    kills_mid_run = 0
    complete_before: set[str] = set()
    for _ in range(2):
        process = _post_init(killed_dir)
        _wait_for(killed_dir / METADATA_FILE_NAME, process)
        time.sleep(rng.uniform(0.0, 0.8 * compute_seconds))
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            kills_mid_run += 1
        process.communicate(timeout=240)
        complete_before = {n for n in os.listdir(killed_dir) if n.endswith(".bin")}
    process = _post_init(killed_dir)
    out, err = process.communicate(timeout=240)
    assert process.returncode == 0, err.decode()
    summary = json.loads(out)
    assert {f"postdata_{k}.bin" for k in summary["files_skipped"]} == complete_before
    assert _snapshot(killed_dir) == _snapshot(reference_dir)
    assert kills_mid_run >= 1, "the run finished before any kill; nothing was tested"


# --------------------------------------------------------------------------------------------
# verify-data
# --------------------------------------------------------------------------------------------


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    initialize(tmp_path, NODE_ID, ATX_ID, **SMALL)
    return tmp_path


def test_verify_data_passes_good_data(data_dir: Path) -> None:
    report = verify_data(data_dir, 1.0, 16)
    assert report.is_valid and report.labels_checked == 230 and report.nonce_valid is True
    sample = verify_data(data_dir, 0.01, 16, seed=1)
    assert sample.is_valid and 6 * 16 <= sample.labels_checked < 230


def test_verify_data_names_bad_file_and_index(data_dir: Path) -> None:
    path = get_data_file_path(data_dir, 3)
    raw = bytearray(path.read_bytes())
    raw[16 * 21 + 4] ^= 0xFF  # label 3*40 + 21 = 141
    path.write_bytes(bytes(raw))
    report = verify_data(data_dir, 1.0, 16)
    assert not report.is_valid
    assert [(b.file_index, b.index) for b in report.bad_labels] == [(3, 141)]
    get_data_file_path(data_dir, 5).unlink()
    assert verify_data(data_dir, 0.5, 16).missing_files == (5,)


def test_verify_data_rejects_a_wrong_nonce(data_dir: Path) -> None:
    from spacemesh_core.post.store import write_metadata

    meta = read_metadata(data_dir)
    write_metadata(data_dir, attrs.evolve(meta, nonce=(meta.nonce or 0) + 1))
    assert verify_data(data_dir, 0.1, 16).nonce_valid is False
    with pytest.raises(LabelParameterError):
        verify_data(data_dir, 0.0, 16)


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------


@pytest.fixture
def cli() -> Iterator[click.Group]:
    from spacemesh_core.cli import cli as root
    from spacemesh_core.kernel.plugins import load_plugin_manager

    root.use_plugin_manager(load_plugin_manager(PLUGINS_ENV))
    yield root
    root.use_plugin_manager(None)


def test_cli_labels_json_matches_vectors(cli: click.Group) -> None:
    runner = CliRunner()
    cases = [c for c in load_vectors("post_labels")["cases"] if c["kind"] == "label" and c["N"] == 2]
    result = runner.invoke(
        cli, ["post", "labels", "--commitment", "00" * 32, "--start", "0", "--count", "4", "--scrypt-n", "2", "--json"]
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert rows == [{"index": c["index"], "label": c["out32_hex"]} for c in cases]
    plain = runner.invoke(cli, ["post", "labels", "--commitment", "00" * 32, "--start", "1", "--count", "1",
                                "--scrypt-n", "2", "--provider", "reference"])
    assert plain.exit_code == 0 and plain.output.split() == ["1", cases[1]["out32_hex"]]
    bad = runner.invoke(cli, ["post", "labels", "--commitment", "zz", "--start", "0", "--count", "1"])
    assert bad.exit_code == 2 and "--commitment" in bad.output
    unknown = runner.invoke(cli, ["post", "labels", "--commitment", "00" * 32, "--start", "0", "--count", "1",
                                  "--provider", "gpu9000"])
    assert unknown.exit_code == 1 and "gpu9000" in unknown.output and "native" in unknown.output


def test_cli_init_and_verify_data(cli: click.Group, tmp_path: Path, uninterrupted: dict[str, bytes]) -> None:
    runner = CliRunner()
    args = ["post", "init", "--dir", str(tmp_path), "--node-id", NODE_ID.hex(), "--commitment-atx", ATX_ID.hex(),
            "--units", "2", "--labels-per-unit", "115", "--scrypt-n", "16", "--max-file-size", str(16 * 40)]
    result = runner.invoke(cli, [*args, "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["files_written"] == [0, 1, 2, 3, 4, 5] and summary["num_files"] == 6
    assert _snapshot(tmp_path) == uninterrupted
    again = runner.invoke(cli, args)
    assert again.exit_code == 0 and "0 written, 6 already complete" in again.output
    check = ["post", "verify-data", "--dir", str(tmp_path), "--fraction", "1", "--scrypt-n", "16"]
    good = runner.invoke(cli, [*check, "--json"])
    assert good.exit_code == 0 and json.loads(good.output)["valid"] is True
    path = get_data_file_path(tmp_path, 2)
    raw = bytearray(path.read_bytes())
    raw[16 * 3] ^= 1
    path.write_bytes(bytes(raw))
    bad = runner.invoke(cli, check)
    assert bad.exit_code == 1
    assert "bad label: postdata_2.bin index 83" in bad.output
    report = json.loads(runner.invoke(cli, [*check, "--json"]).output)
    assert report["bad_labels"] == [{"file": "postdata_2.bin", "file_index": 2, "index": 83}]
    other = runner.invoke(cli, [*args[:4], "--node-id", "00" * 32, *args[6:]])
    assert other.exit_code == 1 and "other data" in other.output
