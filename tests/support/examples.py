"""Installing a package from examples/ the way a user would, into a throw-away target folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def install_example(name: str, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """``pip install`` ``examples/<name>`` into ``tmp_path/site``.

    The package is built from a copy, so no build/ or egg-info is left in the checkout. Returns
    the copied source folder and an environment whose ``PYTHONPATH`` sees the installed package.
    """
    target = tmp_path / "site"
    source = tmp_path / "source"
    shutil.copytree(ROOT / "examples" / name, source,
                    ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(source)],
        capture_output=True, text=True, timeout=300,
    )
    assert install.returncode == 0, install.stderr
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), os.environ.get("PYTHONPATH", "")])}
    return source, env
