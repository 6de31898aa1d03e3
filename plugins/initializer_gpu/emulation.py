"""CPU emulation of the CUDA label kernels: the test harness that checks the kernel without a GPU.

:func:`build_emulated_kernel` compiles ``scrypt_kernel.cu`` as plain C (through the ``emulate_cuda.h``
shim and the launch loops of ``scrypt_kernel_emulated.c``) with cffi into a directory of the caller's
choice and returns an :class:`EmulatedKernelRunner`, a :class:`~.kernel.KernelRunner` that runs every
kernel launch as a loop over the grid's threads. The node never imports this module; tests and the
benchmark's self-check do.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np

from spacemesh_plugins.initializer_gpu.kernel import (
    KERNEL_DIR,
    OUTPUT_BYTES_PER_LABEL,
    ROW_BYTES,
    compute_commitment_words,
    get_gap_log2,
)

_CDEF = """
void sm_emu_label_begin(unsigned int grid, unsigned int block, uint64_t c0, uint64_t c1, uint64_t c2,
                        uint64_t c3, uint64_t start, uint32_t count, uint32_t *state);
void sm_emu_romix(unsigned int grid, unsigned int block, uint32_t *state, void *scratch, uint32_t count,
                  uint32_t n, uint32_t gap_log2);
void sm_emu_label_finish(unsigned int grid, unsigned int block, uint64_t c0, uint64_t c1, uint64_t c2,
                         uint64_t c3, uint64_t start, uint32_t count, const uint32_t *state, uint32_t *out);
"""


def build_emulated_kernel(build_dir: str | os.PathLike[str], *, fixed_lookup_gap: int | None = None) -> Any:
    """Compile the kernel source for the CPU into ``build_dir`` and return the loaded cffi module.

    :param fixed_lookup_gap: build with ``SM_LOOKUP_GAP_LOG2`` (the GPU's one-gap builds); None: the
        gap is a run-time argument.
    :raises ValueError: for a lookup gap that is not a power of two.
    :raises cffi.VerificationError: when the C compiler fails.
    """
    from cffi import FFI

    defines: list[tuple[str, str | None]] = []
    name = "_sm_gpu_kernel_emulated"
    if fixed_lookup_gap is not None:
        gap_log2 = get_gap_log2(fixed_lookup_gap)
        defines.append(("SM_LOOKUP_GAP_LOG2", str(gap_log2)))
        name += f"_gap{fixed_lookup_gap}"
    ffi = FFI()
    ffi.cdef(_CDEF)
    ffi.set_source(
        name,
        '#include "scrypt_kernel_emulated.c"',
        include_dirs=[str(KERNEL_DIR)],
        define_macros=defines,
        extra_compile_args=["-O2", "-std=gnu11", "-Wno-unknown-pragmas"],
    )
    library = ffi.compile(tmpdir=str(build_dir))
    loader = importlib.machinery.ExtensionFileLoader(name, library)
    spec = importlib.util.spec_from_file_location(name, library, loader=loader)
    if spec is None:  # pragma: no cover - importlib always returns a spec for an existing file
        raise ImportError(f"cannot load {library}")
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


class EmulatedKernelRunner:
    """A :class:`~.kernel.KernelRunner` executing the kernels on the CPU, one emulated thread at a time.

    The memory and occupancy figures are parameters, so tests can drive the batch planning.
    """

    def __init__(
        self,
        module: Any,
        *,
        free_memory: int = 64 << 20,
        resident_threads: int = 48,
        min_threads: int = 8,
        threads_per_block: int = 16,
        device_name: str = "CPU emulation of the CUDA kernel",
    ) -> None:
        """:param module: a module from :func:`build_emulated_kernel`."""
        self._ffi = module.ffi
        self._lib = module.lib
        self.free_memory = free_memory
        self.resident_threads = resident_threads
        self.min_threads = min_threads
        self.threads_per_block = threads_per_block
        self.device_name = device_name
        #: (count, scrypt_n, lookup_gap, slots) of every call, for tests
        self.calls: list[tuple[int, int, int, int]] = []
        # the emulated built-in variables (threadIdx, ...) are C globals: one launch at a time
        self._lock = threading.Lock()

    def get_free_memory(self) -> int:
        """Return the configured free memory."""
        return self.free_memory

    def get_resident_threads(self, lookup_gap: int) -> int:
        """Return the configured number of resident threads (the same for every gap)."""
        return self.resident_threads

    def get_min_threads(self) -> int:
        """Return the configured minimum of concurrent labels."""
        return self.min_threads

    def compute_outputs(
        self, commitment: bytes, start: int, count: int, scrypt_n: int, lookup_gap: int, slots: int
    ) -> bytes:
        """Run the three kernels as the GPU runner launches them and return ``count * 32`` bytes."""
        self.calls.append((count, scrypt_n, lookup_gap, slots))
        if count == 0:
            return b""
        ffi, lib = self._ffi, self._lib
        gap_log2 = get_gap_log2(lookup_gap)
        block = self.threads_per_block
        grid = -(-count // block)
        romix_grid = -(-min(slots, count) // block)
        words = compute_commitment_words(commitment)
        state = ffi.new("uint32_t[]", count * 32)
        out = ffi.new("uint32_t[]", count * 8)
        scratch = ffi.new("uint8_t[]", romix_grid * block * (scrypt_n >> gap_log2) * ROW_BYTES)
        with self._lock:
            lib.sm_emu_label_begin(grid, block, *words, start, count, state)
            lib.sm_emu_romix(romix_grid, block, state, scratch, count, scrypt_n, gap_log2)
            lib.sm_emu_label_finish(grid, block, *words, start, count, state, out)
        # the kernels write 32-bit words; the output bytes are those words little-endian
        outputs = np.frombuffer(ffi.buffer(out), dtype=np.uint32).astype("<u4").tobytes()
        assert len(outputs) == count * OUTPUT_BYTES_PER_LABEL
        return outputs


def get_emulation_sources() -> list[Path]:
    """Return the files the emulation build reads (for cache keys)."""
    return [KERNEL_DIR / name for name in ("scrypt_kernel.cu", "emulate_cuda.h", "scrypt_kernel_emulated.c")]
