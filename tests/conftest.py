"""Project-wide pytest hooks and fixtures.

* Tests marked ``@pytest.mark.gpu`` need a usable NVIDIA GPU (CuPy and a CUDA device): they are skipped
  automatically, with the reason, where there is none.
* ``gpu_kernel_emulation``: the CUDA label kernel compiled for the CPU (once per session), so the GPU
  backend's arithmetic and batching are tested on every machine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip the ``gpu`` tests when no CUDA device can be used (probed only if such tests were collected)."""
    gpu_items = [item for item in items if item.get_closest_marker("gpu") is not None]
    if not gpu_items:
        return
    from spacemesh_plugins.initializer_gpu.devices import get_cuda_devices

    devices, reason = get_cuda_devices()
    if devices:
        return
    skip = pytest.mark.skip(reason=f"needs an NVIDIA GPU: {reason}")
    for item in gpu_items:
        item.add_marker(skip)


@pytest.fixture(scope="session")
def gpu_kernel_emulation(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The cffi module of ``scrypt_kernel.cu`` compiled as C (the gap is a run-time argument)."""
    from spacemesh_plugins.initializer_gpu.emulation import build_emulated_kernel

    build_dir: Path = tmp_path_factory.mktemp("gpu_kernel_emulation")
    return build_emulated_kernel(build_dir)
