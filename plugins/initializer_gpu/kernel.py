"""What the GPU runners share: the kernel source, its kernel names, the argument encoding, the interface.

A *kernel runner* executes the three kernels of ``scrypt_kernel.cu`` on some device (a CUDA GPU through
CuPy, or the CPU emulation in the tests) and returns the full 32-byte outputs of a range of labels. The
:class:`~spacemesh_plugins.initializer_gpu.initializer.GpuInitializer` plans batches from the runner's
memory and occupancy figures and cross-checks the results on the CPU.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Protocol, runtime_checkable

#: the directory of the kernel source and its C emulation shim
KERNEL_DIR = Path(__file__).resolve().parent
KERNEL_SOURCE_PATH = KERNEL_DIR / "scrypt_kernel.cu"
#: the three kernels, in launch order
KERNEL_NAMES = ("sm_gpu_label_begin", "sm_gpu_romix", "sm_gpu_label_finish")
#: bytes per label kept on the device between the kernels: the 128-byte block and the 32-byte output
STATE_BYTES_PER_LABEL = 128
OUTPUT_BYTES_PER_LABEL = 32
#: bytes of one stored scratch entry (r = 1)
ROW_BYTES = 128


class GpuError(RuntimeError):
    """A GPU backend failure (driver, compilation, launch)."""


class GpuUnavailableError(GpuError):
    """No usable GPU: CuPy missing, no driver, no device, or the kernel does not build."""


def get_kernel_source() -> str:
    """Return the CUDA source of the label kernels."""
    return KERNEL_SOURCE_PATH.read_text(encoding="utf-8")


def compute_commitment_words(commitment: bytes) -> tuple[int, int, int, int]:
    """Return the 32-byte commitment as the four little-endian 64-bit kernel arguments."""
    words: tuple[int, int, int, int] = struct.unpack("<4Q", commitment)
    return words


def get_gap_log2(lookup_gap: int) -> int:
    """Return log2 of a power-of-two lookup gap.

    :raises ValueError: when ``lookup_gap`` is not a power of two >= 1.
    """
    if lookup_gap < 1 or lookup_gap & (lookup_gap - 1):
        raise ValueError(f"the lookup gap must be a power of two >= 1, got {lookup_gap}")
    return lookup_gap.bit_length() - 1


@runtime_checkable
class KernelRunner(Protocol):
    """Runs the label kernels on one device."""

    #: a human-readable device name (used in messages and benchmarks)
    device_name: str

    def get_free_memory(self) -> int:
        """Return the bytes of device memory available for the scratch and the batch buffers."""
        ...

    def get_resident_threads(self, lookup_gap: int) -> int:
        """Return how many ROMix threads (of the build for ``lookup_gap``) the device keeps resident."""
        ...

    def get_min_threads(self) -> int:
        """Return the fewest concurrent labels worth running (enough warps to hide memory latency)."""
        ...

    def compute_outputs(
        self, commitment: bytes, start: int, count: int, scrypt_n: int, lookup_gap: int, slots: int
    ) -> bytes:
        """Return the ``count * 32`` output bytes of labels ``start .. start+count-1``.

        ``slots`` labels run concurrently, each with ``scrypt_n / lookup_gap`` rows of scratch.
        """
        ...
