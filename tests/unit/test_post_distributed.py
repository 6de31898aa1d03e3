"""Distributed PoST initialization over Dask: byte-identical to a single-machine run (also when a worker
is killed mid-run, after an interrupted job, and mixed with single-machine runs), the nonce merge, the
search past the end, the shared-directory check and ``spacemesh post init --cluster``."""

from __future__ import annotations

import functools
import json
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

pytest.importorskip("distributed", reason="dask[distributed] (the 'dist' extra) is not installed")

import distributed

from spacemesh_core.post.distributed import (
    STAGING_DIR_NAME,
    ClusterError,
    ClusterProgress,
    ClusterSpec,
    _verify_workers_see,
    compute_file_on_worker,
    create_local_initializer,
    initialize_distributed,
    open_cluster,
    parse_cluster_spec,
)
from spacemesh_core.post.initialize import initialize
from spacemesh_core.post.labels import LabelParameterError
from spacemesh_core.post.store import MetadataMismatchError, read_metadata

NODE_ID = bytes.fromhex("8411931ece38b5abfb611f3bb1155a7eecd9c0e6c26672b567f7b1629c70a924")
ATX_ID = bytes.fromhex("66ec687158c86167efec0fcad4b9a6f3e98db07cc065a595a5b979f8a20dc7e2")
#: 7 files: 6 of 300 labels and a last one of 200
SMALL: dict[str, Any] = {"num_units": 4, "labels_per_unit": 500, "scrypt_n": 64, "max_file_size": 16 * 300}


def _snapshot(directory: Path) -> dict[str, bytes]:
    """Every file of the directory (recursively) by relative name."""
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def _single(tmp_path: Path, params: dict[str, Any], **options: Any) -> dict[str, bytes]:
    reference = tmp_path / "single"
    initialize(reference, NODE_ID, ATX_ID, **params, **options)
    return _snapshot(reference)


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    """A local cluster of 3 worker processes (1 label thread each) shared by this module's tests."""
    cluster = distributed.LocalCluster(
        n_workers=3, threads_per_worker=1, processes=True, dashboard_address="127.0.0.1:0", silence_logs=50
    )
    with distributed.Client(cluster) as dask_client:
        yield dask_client
    cluster.close()


ONE_THREAD = functools.partial(create_local_initializer, 1)


# -- the --cluster value ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("local:3", ClusterSpec(local_workers=3)),
        ("local:1", ClusterSpec(local_workers=1)),
        ("tcp://10.0.0.5:8786", ClusterSpec(address="tcp://10.0.0.5:8786")),
        ("10.0.0.5:8786", ClusterSpec(address="tcp://10.0.0.5:8786")),
        ("tls://sched:8786", ClusterSpec(address="tls://sched:8786")),
    ],
)
def test_parse_cluster_spec(value: str, expected: ClusterSpec) -> None:
    assert parse_cluster_spec(value) == expected
    assert expected.is_local == value.startswith("local:")


@pytest.mark.parametrize("value", ["", "  ", "local:", "local:0", "local:x", "local:-2"])
def test_parse_cluster_spec_rejects(value: str) -> None:
    with pytest.raises(ClusterError):
        parse_cluster_spec(value)


def test_unreachable_scheduler_is_a_cluster_error() -> None:
    with pytest.raises(ClusterError, match="cannot reach the Dask scheduler"), open_cluster(
        "127.0.0.1:1", connect_timeout=1
    ):
        pass


# -- byte-identical results ----------------------------------------------------------------------


def test_local3_is_byte_identical_to_single_machine(tmp_path: Path, client: Any) -> None:
    """--cluster local:3 semantics: every file, the metadata and zarr.json equal a single-machine run's;
    the staging directory is gone; progress covers the whole job."""
    expected = _single(tmp_path, SMALL)
    reports: list[ClusterProgress] = []
    target = tmp_path / "dist"
    result = initialize_distributed(
        target, NODE_ID, ATX_ID, **SMALL, cluster=client, provider_factory=ONE_THREAD, progress=reports.append,
        batch_size=50,
    )
    assert _snapshot(target) == expected
    assert not (target / STAGING_DIR_NAME).exists()
    assert result.workers == 3
    assert result.files_written == tuple(range(7)) and result.files_skipped == ()
    assert result.labels_computed == 2000
    assert result.metadata == read_metadata(target)
    assert result.metadata.nonce is not None and result.metadata.last_position is None
    # the whole job: counts never exceed the total and end at it, and more than one file reported
    assert reports and reports[-1].labels_done == reports[-1].labels_total == 2000
    assert all(0 <= r.labels_done <= r.labels_total for r in reports)
    assert len({r.file_index for r in reports if r.file_index is not None}) == 7
    assert {r.worker_pid for r in reports if r.worker_pid is not None} <= set(client.run(os.getpid).values())
    # a second run has nothing to do and changes nothing
    again = initialize_distributed(target, NODE_ID, ATX_ID, **SMALL, cluster=client)
    assert again.files_written == () and again.files_skipped == tuple(range(7))
    assert _snapshot(target) == expected


def test_killed_worker_has_its_file_redone(tmp_path: Path, client: Any) -> None:
    """SIGKILL of the worker process that is writing a file, mid-file: Dask reruns the task on another
    worker, which resumes the staged partial file; the result is still byte-identical."""
    params: dict[str, Any] = {"num_units": 3, "labels_per_unit": 2000, "scrypt_n": 4096, "max_file_size": 16 * 1000}
    expected = _single(tmp_path, params)
    killed: dict[str, int] = {}
    lock = threading.Lock()

    def kill_a_busy_worker(report: ClusterProgress) -> None:
        # a file strictly inside its run: labels already written, at least half of it still to come
        if report.worker_pid is None or report.file_index is None or report.file_labels_done is None:
            return
        assert report.file_labels_total == 1000
        with lock:
            if killed or not 0 < report.file_labels_done < 500:
                return
            killed["pid"] = report.worker_pid
            killed["file"] = report.file_index
            killed["done"] = report.file_labels_done
        os.kill(report.worker_pid, signal.SIGKILL)

    target = tmp_path / "dist"
    result = initialize_distributed(
        target, NODE_ID, ATX_ID, **params, cluster=client, provider_factory=ONE_THREAD,
        progress=kill_a_busy_worker, batch_size=16,
    )
    assert killed, "no worker was killed: the run finished before any progress report"
    assert killed["file"] in result.files_redone
    # the new attempt resumed the dead worker's partial file: its labels were not computed again
    assert result.labels_computed <= 6000 - killed["done"]
    assert _snapshot(target) == expected
    assert killed["pid"] not in client.run(os.getpid).values()
    client.wait_for_workers(3, timeout=60)


def test_search_beyond_the_data(tmp_path: Path, client: Any) -> None:
    """A difficulty no stored label meets: the search past the end runs (once, on the client), with the
    same Nonce and LastPosition as the single-machine run."""
    difficulty = bytes(2) + b"\x40" + bytes(29)
    expected = _single(tmp_path, SMALL, vrf_difficulty=difficulty)
    meta = json.loads(expected["postdata_metadata.json"])
    assert meta["LastPosition"] is not None and meta["Nonce"] >= 2000
    target = tmp_path / "dist"
    initialize_distributed(target, NODE_ID, ATX_ID, **SMALL, cluster=client, vrf_difficulty=difficulty)
    assert _snapshot(target) == expected


def test_one_file_layout(tmp_path: Path, client: Any) -> None:
    """One file: its staging run may search past the end itself; the candidate is ignored and the
    client's search reproduces LastPosition."""
    params = {**SMALL, "max_file_size": 16 * 2000}
    for difficulty in (None, bytes(2) + b"\x40" + bytes(29)):
        name = "easy" if difficulty is None else "hard"
        expected = _single(tmp_path / name, params, vrf_difficulty=difficulty)
        target = tmp_path / name / "dist"
        initialize_distributed(target, NODE_ID, ATX_ID, **params, cluster=client, vrf_difficulty=difficulty)
        assert _snapshot(target) == expected


def test_interrupted_job_keeps_staged_files(tmp_path: Path, client: Any) -> None:
    """A job interrupted after a worker finished the file holding the global nonce but before the
    client merged it: the file is not in place yet; the rerun merges the staged candidate without
    recomputing the file."""
    expected = _single(tmp_path, SMALL)
    winner = json.loads(expected["postdata_metadata.json"])["Nonce"]
    k = winner // 300
    target = tmp_path / "dist"
    target.mkdir()
    outcome = compute_file_on_worker(
        str(target), k, NODE_ID, ATX_ID, SMALL["num_units"], SMALL["labels_per_unit"], SMALL["scrypt_n"],
        SMALL["max_file_size"], create_local_initializer, None, None, "no-topic",
    )
    assert outcome.nonce is not None and outcome.nonce.index == winner
    staged = target / STAGING_DIR_NAME / str(k) / f"postdata_{k}.bin"
    assert staged.is_file() and not (target / f"postdata_{k}.bin").exists()
    result = initialize_distributed(target, NODE_ID, ATX_ID, **SMALL, cluster=client)
    assert k in result.files_written
    assert result.labels_computed == 2000 - min(300, 2000 - 300 * k)
    assert _snapshot(target) == expected


def test_file_in_place_is_covered_by_the_metadata(tmp_path: Path, client: Any) -> None:
    """Crash right after a file was moved into place (its staging directory still there): the main
    metadata already holds the candidate, so a plain single-machine rerun gives the same data files
    and metadata (the leftover staging directory aside)."""
    expected = _single(tmp_path, SMALL)
    target = tmp_path / "dist"
    initialize_distributed(target, NODE_ID, ATX_ID, **SMALL, cluster=client)
    winner = json.loads(expected["postdata_metadata.json"])["Nonce"]
    for k in range(7):
        if k != winner // 300:
            (target / f"postdata_{k}.bin").unlink()
    (target / STAGING_DIR_NAME / "0").mkdir(parents=True)
    initialize(target, NODE_ID, ATX_ID, **SMALL)
    got = {name: data for name, data in _snapshot(target).items() if not name.startswith(STAGING_DIR_NAME)}
    assert got == expected


def test_interrupted_partial_file_is_resumed(tmp_path: Path, client: Any) -> None:
    """A staged .partial file of a dead job (with its staging metadata) is resumed by the rerun."""
    expected = _single(tmp_path, SMALL)
    target = tmp_path / "dist"
    staging = target / STAGING_DIR_NAME / "3"
    # what a worker killed mid-file leaves: the staging run's metadata and a partial file
    initialize(staging, NODE_ID, ATX_ID, **SMALL, from_file=3, to_file=3)
    data = (staging / "postdata_3.bin").read_bytes()
    (staging / "postdata_3.bin").unlink()
    (staging / "postdata_3.bin.partial").write_bytes(data[: 16 * 120])
    result = initialize_distributed(target, NODE_ID, ATX_ID, **SMALL, cluster=client)
    assert 3 in result.files_written
    assert result.labels_computed == 2000 - 120
    assert _snapshot(target) == expected


def test_mixed_with_single_machine_runs(tmp_path: Path, client: Any) -> None:
    """Files 0-2 by a single-machine run, 3-4 on the cluster (file range), the rest single again."""
    expected = _single(tmp_path, SMALL)
    target = tmp_path / "dist"
    initialize(target, NODE_ID, ATX_ID, **SMALL, from_file=0, to_file=2)
    part = initialize_distributed(target, NODE_ID, ATX_ID, **SMALL, cluster=client, from_file=3, to_file=4)
    assert part.files_written == (3, 4)
    initialize(target, NODE_ID, ATX_ID, **SMALL)
    assert _snapshot(target) == expected


# -- bad input -------------------------------------------------------------------------------------


def test_rejects_other_data_and_bad_ranges(tmp_path: Path, client: Any) -> None:
    target = tmp_path / "dist"
    initialize(target, NODE_ID, ATX_ID, **SMALL, from_file=0, to_file=0)
    before = _snapshot(target)
    with pytest.raises(MetadataMismatchError):
        initialize_distributed(target, NODE_ID, bytes(32), **SMALL, cluster=client)
    with pytest.raises(LabelParameterError):
        initialize_distributed(target, NODE_ID, ATX_ID, **SMALL, cluster=client, from_file=5, to_file=9)
    with pytest.raises(LabelParameterError):
        initialize_distributed(target, NODE_ID, ATX_ID, **{**SMALL, "scrypt_n": 3}, cluster=client)
    assert _snapshot(target) == before
    assert not (target / STAGING_DIR_NAME).exists()


def test_workers_that_cannot_see_the_directory(tmp_path: Path) -> None:
    """The shared-filesystem check names the workers whose probe read failed."""

    class BlindCluster:
        def scheduler_info(self) -> dict[str, Any]:
            return {"workers": {"tcp://a:1": {}, "tcp://b:2": {}}}

        def run(self, function: Any, path: str, token: str) -> dict[str, bool]:
            assert Path(path).read_text() == token
            return {"tcp://a:1": function(path, token), "tcp://b:2": False}

    with pytest.raises(ClusterError, match=r"tcp://b:2 cannot see"):
        _verify_workers_see(BlindCluster(), tmp_path)
    assert not (tmp_path / STAGING_DIR_NAME).exists() or not list((tmp_path / STAGING_DIR_NAME).iterdir())


# -- CLI -------------------------------------------------------------------------------------------

PLUGINS_ENV = {"SPACEMESH_LOAD_PLUGINS": "initializer_native,initializer_reference"}


@pytest.fixture
def cli() -> Iterator[click.Group]:
    from spacemesh_core.cli import cli as root
    from spacemesh_core.kernel.plugins import load_plugin_manager

    root.use_plugin_manager(load_plugin_manager(PLUGINS_ENV))
    yield root
    root.use_plugin_manager(None)


def _init_args(directory: Path, params: dict[str, Any]) -> list[str]:
    return [
        "post", "init", "--dir", str(directory), "--node-id", NODE_ID.hex(), "--commitment-atx", ATX_ID.hex(),
        "--units", str(params["num_units"]), "--labels-per-unit", str(params["labels_per_unit"]),
        "--scrypt-n", str(params["scrypt_n"]), "--max-file-size", str(params["max_file_size"]),
    ]


def test_cli_post_init_cluster_local(cli: click.Group, tmp_path: Path) -> None:
    """``spacemesh post init --cluster local:2 --provider native --threads 1 --json`` starts its own local
    cluster, builds the named backend on every worker and gives the single-machine bytes."""
    expected = _single(tmp_path, SMALL)
    target = tmp_path / "cli"
    args = [*_init_args(target, SMALL), "--cluster", "local:2", "--provider", "native", "--threads", "1", "--json"]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["files_written"] == list(range(7)) and summary["workers"] == 2
    assert summary["files_redone"] == []
    assert summary["nonce"] == json.loads(expected["postdata_metadata.json"])["Nonce"]
    assert _snapshot(target) == expected


def test_cli_rejects_bad_cluster_value(cli: click.Group, tmp_path: Path) -> None:
    target = tmp_path / "x"
    result = CliRunner().invoke(cli, [*_init_args(target, SMALL), "--cluster", "local:0"])
    assert result.exit_code == 1
    assert "local:W needs a worker count" in result.output
    assert not target.exists()
