"""Registers the GPU initializer (``initializer:gpu``, not the default) and ``spacemesh post devices``.

The factory falls back to the CPU: without CuPy, a CUDA driver, a device or a working NVRTC it logs
``no usable GPU: <reason>; using the CPU (native) initializer`` and returns the default CPU initializer,
so ``--provider gpu`` always initializes (use ``create_gpu_initializer(fallback=False)`` to insist).
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

import click

from spacemesh_core.post.initialize import LabelInitializer, get_default_initializer
from spacemesh_core.post.labels import LabelParameterError
from spacemesh_hooks import hookimpl
from spacemesh_plugins.initializer_gpu.cli import add_devices_command
from spacemesh_plugins.initializer_gpu.kernel import GpuUnavailableError

if TYPE_CHECKING:
    from spacemesh_core.kernel.registry import Registries

_LOG = logging.getLogger(__name__)
#: environment defaults of the factory
ENV_DEVICE = "SPACEMESH_GPU_DEVICE"
ENV_LOOKUP_GAP = "SPACEMESH_GPU_LOOKUP_GAP"


def _get_env_int(name: str) -> int | None:
    text = os.environ.get(name, "").strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise LabelParameterError(f"${name} must be an integer, got {text!r}") from None


def create_gpu_initializer(
    device: int | None = None,
    lookup_gap: int | None = None,
    *,
    fallback: bool = True,
    threads_per_block: int | None = None,
) -> LabelInitializer:
    """Build the GPU initializer on CUDA device ``device``, or the CPU initializer when no GPU is usable.

    :param device: CUDA device id (None: ``$SPACEMESH_GPU_DEVICE`` or 0).
    :param lookup_gap: force a lookup gap (None: ``$SPACEMESH_GPU_LOOKUP_GAP`` or chosen from memory).
    :param fallback: return the CPU initializer (with a logged warning) instead of raising.
    :raises GpuUnavailableError: no usable GPU and ``fallback`` is False.
    :raises LabelParameterError: a bad device id or lookup gap (also from the environment).
    """
    from spacemesh_plugins.initializer_gpu.cupy_runner import DEFAULT_THREADS_PER_BLOCK, CupyKernelRunner
    from spacemesh_plugins.initializer_gpu.initializer import GpuInitializer

    device_id = device if device is not None else (_get_env_int(ENV_DEVICE) or 0)
    gap = lookup_gap if lookup_gap is not None else _get_env_int(ENV_LOOKUP_GAP)
    if device_id < 0:
        raise LabelParameterError(f"the CUDA device id must be >= 0, got {device_id}")
    if gap is not None and (gap < 1 or gap & (gap - 1)):
        raise LabelParameterError(f"the lookup gap must be a power of two >= 1, got {gap}")
    try:
        runner = CupyKernelRunner(device_id, threads_per_block=threads_per_block or DEFAULT_THREADS_PER_BLOCK)
    except GpuUnavailableError as exc:
        if not fallback:
            raise
        _LOG.warning("no usable GPU: %s; using the CPU (native) initializer", exc)
        return get_default_initializer()
    return GpuInitializer(runner, lookup_gap=gap)


@hookimpl
def spacemesh_register_implementations(registries: Registries) -> None:
    """Register ``initializer:gpu`` (not the default)."""
    registries.register(
        "initializer",
        "gpu",
        create_gpu_initializer,
        description="scrypt-jane labels on an NVIDIA GPU (CuPy/NVRTC, the 'gpu' extra); falls back to the CPU",
        default=False,
    )


@hookimpl
def spacemesh_cli_commands(cli: click.Group) -> None:
    """Add ``spacemesh post devices``."""
    add_devices_command(cli)
