"""The example template package installs, registers through its entry point, and passes its tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.examples import install_example


@pytest.mark.slow
def test_dailylimit_example_installs_registers_and_passes_its_suite(tmp_path: Path) -> None:
    source, env = install_example("template_dailylimit", tmp_path)
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
