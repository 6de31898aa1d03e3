"""A third-party plugin package from examples/ appears in `spacemesh plugins list` once installed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.examples import install_example


@pytest.mark.slow
def test_installed_example_plugin_is_listed(tmp_path: Path) -> None:
    _, env = install_example("bundle_lowpower", tmp_path)

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
