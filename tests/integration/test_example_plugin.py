"""A third-party plugin package from examples/ appears in `spacemesh plugins list` once installed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_installed_example_plugin_is_listed(tmp_path: Path) -> None:
    target = tmp_path / "site"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(ROOT / "examples" / "bundle_lowpower")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert install.returncode == 0, install.stderr
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), os.environ.get("PYTHONPATH", "")])}

    def spacemesh(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", "from spacemesh_core.cli import main; main()", *args],
            capture_output=True, text=True, env=env, timeout=120,
        )

    listed = spacemesh("plugins", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = {row["name"]: row for row in json.loads(listed.stdout)}
    assert rows["lowpower"]["distribution"] == "spacemesh-lowpower"
    assert rows["lowpower"]["version"] == "0.1.0"
    assert "bundles_builtin" in rows
    shown = spacemesh("config", "show", "--json", "--set", "lowpower.max_threads=2")
    assert json.loads(shown.stdout)["config"]["lowpower"]["max_threads"] == 2
    # without the package the section is unknown: the plugin really is what contributes it
    plain = subprocess.run(
        [sys.executable, "-c", "from spacemesh_core.cli import main; main()", "config", "show",
         "--set", "lowpower.max_threads=2"],
        capture_output=True, text=True, timeout=120,
    )
    assert plain.returncode == 2 and "unknown config section [lowpower]" in plain.stderr
