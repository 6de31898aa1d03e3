"""The example prover package installs, registers ``prover``/``numpy`` through its entry point, and
passes the prover conformance suite (its own tests/ run the shared suite)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.examples import install_example


@pytest.mark.slow
def test_prover_example_installs_registers_and_passes_conformance(tmp_path: Path) -> None:
    source, env = install_example("prover_example", tmp_path)
    # the kernel finds it through the entry point and builds it by name from the registry
    built = subprocess.run(
        [sys.executable, "-c",
         "import json; from spacemesh_core.kernel.plugins import load_plugin_manager;"
         "item = load_plugin_manager().get_registries().get('prover', 'numpy');"
         "prover = item.factory(randomx_mode='light', threads=1);"
         "print(json.dumps({'name': prover.name, 'module': type(prover.backend).__module__}))"],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert built.returncode == 0, built.stderr
    assert json.loads(built.stdout.strip().splitlines()[-1]) == {
        "name": "numpy", "module": "spacemesh_prover_example.scan",
    }
    listed = subprocess.run(
        [sys.executable, "-c", "from spacemesh_core.cli import main; main()", "plugins", "list", "--json"],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert listed.returncode == 0, listed.stderr
    rows = {row["name"]: row for row in json.loads(listed.stdout)}
    assert rows["prover_example"]["distribution"] == "spacemesh-prover-example"
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(source / "tests")],
        capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path,
    )
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "30 passed" in tests.stdout
