"""``spacemesh devnet --dir D`` never reuses an earlier devnet: it is refused, or wiped with --fresh,
and a status written before this run is never read."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from spacemesh_core.cli import cli
from spacemesh_plugins.devnet.supervisor import (
    NODE_STATUS_FILE,
    Devnet,
    DevnetDirectoryError,
    DevnetPlan,
    get_devnet_entries,
    prepare_devnet_directory,
    read_status,
)

OLD_STATUS = {"layer": 999, "epoch": 166, "stopping": True, "mesh": {"layers_applied": 40}}


def make_earlier_devnet(directory: Path) -> None:
    """Lay out what a finished two-node devnet leaves behind (data, statuses, logs, PoET)."""
    for name in ("node-0", "node-1"):
        (directory / name).mkdir(parents=True)
        (directory / name / NODE_STATUS_FILE).write_text(json.dumps(OLD_STATUS))
        (directory / f"{name}.log").write_text("old log\n")
    (directory / "poet").mkdir()
    (directory / "poet.toml").write_text("[poet_server]\n")
    (directory / "poet.log").write_text("old log\n")


def test_an_earlier_devnet_is_refused_with_a_message_naming_fresh(tmp_path: Path) -> None:
    make_earlier_devnet(tmp_path)
    with pytest.raises(DevnetDirectoryError, match="--fresh"):
        prepare_devnet_directory(tmp_path, fresh=False)
    assert (tmp_path / "node-0" / NODE_STATUS_FILE).exists()  # refused: nothing deleted


def test_fresh_wipes_the_earlier_devnet_and_keeps_other_files(tmp_path: Path) -> None:
    make_earlier_devnet(tmp_path)
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "other").mkdir()
    prepare_devnet_directory(tmp_path, fresh=True)
    assert get_devnet_entries(tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "other"]
    prepare_devnet_directory(tmp_path, fresh=False)  # now clean: accepted


def test_an_empty_or_missing_folder_is_accepted(tmp_path: Path) -> None:
    prepare_devnet_directory(tmp_path / "missing", fresh=False)
    prepare_devnet_directory(tmp_path, fresh=False)
    (tmp_path / "unrelated.txt").write_text("x")
    prepare_devnet_directory(tmp_path, fresh=False)


def test_devnet_start_refuses_before_starting_anything(tmp_path: Path) -> None:
    make_earlier_devnet(tmp_path)
    plan = DevnetPlan(nodes=1, layer_duration_s=1.0, layers_per_epoch=6, directory=tmp_path,
                      phase_shift_s=1.0, cycle_gap_s=1.0)
    devnet = Devnet(plan)
    with pytest.raises(DevnetDirectoryError):
        devnet.start()
    assert devnet.children == []


def test_the_command_refuses_a_reused_dir_instead_of_printing_the_old_summary(tmp_path: Path) -> None:
    make_earlier_devnet(tmp_path)
    result = CliRunner().invoke(cli, ["devnet", "--nodes", "2", "--layers", "3", "--dir", str(tmp_path), "--json"])
    assert result.exit_code != 0
    assert "--fresh" in result.output and "earlier devnet" in result.output
    assert '"layers_applied"' not in result.output  # no summary of the earlier run
    assert read_status(tmp_path / "node-0") == OLD_STATUS  # and nothing was touched


def test_the_command_help_documents_fresh() -> None:
    result = CliRunner().invoke(cli, ["devnet", "--help"])
    assert result.exit_code == 0
    assert "--fresh" in result.output


def test_a_status_written_before_the_run_is_not_read(tmp_path: Path) -> None:
    (tmp_path / NODE_STATUS_FILE).write_text(json.dumps(OLD_STATUS))
    before = time.time() - 100
    os.utime(tmp_path / NODE_STATUS_FILE, (before, before))
    assert read_status(tmp_path) == OLD_STATUS
    assert read_status(tmp_path, newer_than=before + 50) is None
    assert read_status(tmp_path, newer_than=before - 50) == OLD_STATUS
