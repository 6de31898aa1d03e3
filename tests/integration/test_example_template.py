"""The example template package installs, registers through its entry point, and passes its tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "template_dailylimit"


@pytest.mark.slow
def test_dailylimit_example_installs_registers_and_passes_its_suite(tmp_path: Path) -> None:
    target = tmp_path / "site"
    source = tmp_path / "source"  # build from a copy: no build/ or egg-info left in the checkout
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(source)],
        capture_output=True, text=True, timeout=300,
    )
    assert install.returncode == 0, install.stderr
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), os.environ.get("PYTHONPATH", "")])}
    listed = subprocess.run(
        [sys.executable, "-c",
         "from spacemesh_core.vm.template import load_template_registry;"
         "print(sorted(t.name for t in load_template_registry()))"],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert listed.returncode == 0, listed.stderr
    assert "'dailylimit'" in listed.stdout and "'wallet'" in listed.stdout
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(source / "tests")],
        capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path,
    )
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "12 passed" in tests.stdout
