"""The CUDA kernel runner: ``scrypt_kernel.cu`` compiled by NVRTC through CuPy, one module per lookup gap.

Constructing a :class:`CupyKernelRunner` imports CuPy, opens the device and compiles the gap-1 build,
so every reason the GPU cannot be used (no CuPy, no driver, no device, NVRTC missing or failing)
surfaces there as :class:`~.kernel.GpuUnavailableError`, and the plugin's factory can fall back to the
CPU before any label is computed.

The host waits for a launch with a blocking-sync CUDA event, so the waiting thread sleeps instead of
spinning a core (the reference's OpenCL host sleeps ~90 % of the kernel time for the same reason), and
CuPy releases the GIL while it waits.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from spacemesh_plugins.initializer_gpu.devices import import_cupy
from spacemesh_plugins.initializer_gpu.kernel import (
    KERNEL_NAMES,
    OUTPUT_BYTES_PER_LABEL,
    ROW_BYTES,
    GpuError,
    GpuUnavailableError,
    compute_commitment_words,
    get_gap_log2,
    get_kernel_source,
)

DEFAULT_THREADS_PER_BLOCK = 128
#: resident threads per SM that hide the latency of the dependent random reads (8 warps)
MIN_THREADS_PER_MULTIPROCESSOR = 256
#: the per-SM limits of every CUDA architecture since Volta (used if the occupancy query fails)
_REGISTERS_PER_MULTIPROCESSOR = 65536
_MAX_THREADS_PER_MULTIPROCESSOR = 2048


def get_nvrtc_options(threads_per_block: int, lookup_gap: int | None) -> tuple[str, ...]:
    """Return the NVRTC options of the kernel build (``lookup_gap`` None: the gap is a run-time argument)."""
    options = [f"-DSM_THREADS_PER_BLOCK={threads_per_block}"]
    if lookup_gap is not None:
        options.append(f"-DSM_LOOKUP_GAP_LOG2={get_gap_log2(lookup_gap)}")
    return tuple(options)


class CupyKernelRunner:
    """A :class:`~.kernel.KernelRunner` on CUDA device ``device_id``."""

    def __init__(self, device_id: int = 0, *, threads_per_block: int = DEFAULT_THREADS_PER_BLOCK) -> None:
        """Open the device and compile the kernels.

        :raises GpuUnavailableError: CuPy missing, no driver or device, or the kernel does not compile.
        :raises ValueError: a threads-per-block value that is not a multiple of 32 in 32..1024.
        """
        if threads_per_block % 32 or not 32 <= threads_per_block <= 1024:
            raise ValueError(f"threads per block must be a multiple of 32 in 32..1024, got {threads_per_block}")
        try:
            self._cupy = import_cupy()
        except ImportError as exc:
            raise GpuUnavailableError(str(exc)) from None
        cupy = self._cupy
        try:
            count = int(cupy.cuda.runtime.getDeviceCount())
        except Exception as exc:
            raise GpuUnavailableError(f"the CUDA runtime found no usable device ({exc})") from None
        if not 0 <= device_id < count:
            raise GpuUnavailableError(f"CUDA device {device_id} does not exist ({count} device(s) present)")
        self.device_id = device_id
        self.threads_per_block = threads_per_block
        self._device = cupy.cuda.Device(device_id)
        props = cupy.cuda.runtime.getDeviceProperties(device_id)
        name = props["name"].decode(errors="replace") if isinstance(props["name"], bytes) else str(props["name"])
        self.multiprocessors = int(props["multiProcessorCount"])
        self.compute_capability = f"{props['major']}.{props['minor']}"
        self.device_name = f"{name} (CUDA device {device_id}, compute capability {self.compute_capability})"
        self._modules: dict[int, tuple[Any, Any, Any]] = {}
        self._scratch: Any = None
        self._source = get_kernel_source()
        self._get_kernels(1)  # compile now: NVRTC problems must show before the first label

    def _get_kernels(self, lookup_gap: int) -> tuple[Any, Any, Any]:
        """Return the (begin, romix, finish) kernels of the build for ``lookup_gap`` (compiled once)."""
        kernels = self._modules.get(lookup_gap)
        if kernels is not None:
            return kernels
        cupy = self._cupy
        try:
            with self._device:
                module = cupy.RawModule(
                    code=self._source, options=get_nvrtc_options(self.threads_per_block, lookup_gap)
                )
                begin, romix, finish = (module.get_function(name) for name in KERNEL_NAMES)
                romix.num_regs  # noqa: B018 - forces the compilation (and its errors) now
        except Exception as exc:  # CompileException, a missing NVRTC library, a driver error
            raise GpuUnavailableError(f"the label kernel does not build on {self.device_name}: {exc}") from None
        self._modules[lookup_gap] = (begin, romix, finish)
        return begin, romix, finish

    def get_free_memory(self) -> int:
        """Return free device memory, counting what this runner's scratch and CuPy's pool could reuse."""
        with self._device:
            free = int(self._cupy.cuda.runtime.memGetInfo()[0])
            pool = self._cupy.get_default_memory_pool()
            held = int(self._scratch.nbytes) if self._scratch is not None else 0
            return free + int(pool.free_bytes()) + held

    def get_resident_threads(self, lookup_gap: int) -> int:
        """Return the ROMix threads the device keeps resident with the build for ``lookup_gap``."""
        _, romix, _ = self._get_kernels(lookup_gap)
        block = self.threads_per_block
        try:
            from cupy_backends.cuda.api import driver

            with self._device:
                blocks = int(driver.occupancyMaxActiveBlocksPerMultiprocessor(romix.kernel.ptr, block, 0))
        except Exception:  # an older CuPy: estimate from the register count
            registers = max(int(romix.num_regs), 1)
            blocks = min(_REGISTERS_PER_MULTIPROCESSOR // (registers * block), _MAX_THREADS_PER_MULTIPROCESSOR // block)
        return max(blocks, 1) * block * self.multiprocessors

    def get_min_threads(self) -> int:
        """Return 8 warps per SM: the fewest concurrent labels that hide the memory latency."""
        return MIN_THREADS_PER_MULTIPROCESSOR * self.multiprocessors

    def _get_scratch(self, nbytes: int) -> Any:
        """Return a scratch buffer of at least ``nbytes`` (kept between launches, grown when needed)."""
        if self._scratch is None or self._scratch.nbytes < nbytes:
            self._scratch = None  # release the old buffer before allocating the larger one
            self._cupy.get_default_memory_pool().free_all_blocks()
            self._scratch = self._cupy.empty(nbytes, dtype=self._cupy.uint8)
        return self._scratch

    def compute_outputs(
        self, commitment: bytes, start: int, count: int, scrypt_n: int, lookup_gap: int, slots: int
    ) -> bytes:
        """Run the three kernels for labels ``start .. start+count-1``; return ``count * 32`` bytes.

        :raises GpuError: when a launch or a copy fails.
        """
        if count == 0:
            return b""
        cupy = self._cupy
        begin, romix, finish = self._get_kernels(lookup_gap)
        block = self.threads_per_block
        grid = -(-count // block)
        romix_grid = -(-min(slots, count) // block)
        gap_log2 = get_gap_log2(lookup_gap)
        words = tuple(np.uint64(w) for w in compute_commitment_words(commitment))
        first, total = np.uint64(start), np.uint32(count)
        try:
            with self._device:
                scratch = self._get_scratch(romix_grid * block * (scrypt_n >> gap_log2) * ROW_BYTES)
                state = cupy.empty(count * 32, dtype=cupy.uint32)
                out = cupy.empty(count * 8, dtype=cupy.uint32)
                begin((grid,), (block,), (*words, first, total, state))
                romix((romix_grid,), (block,), (state, scratch, total, np.uint32(scrypt_n), np.uint32(gap_log2)))
                finish((grid,), (block,), (*words, first, total, state, out))
                done = cupy.cuda.Event(block=True, disable_timing=True)
                done.record()
                done.synchronize()  # sleeps (blocking sync) with the GIL released
                host = cupy.asnumpy(out)
        except Exception as exc:
            raise GpuError(f"{self.device_name}: label kernels failed for {start}..{start + count - 1}: {exc}") from exc
        outputs = host.astype("<u4", copy=False).tobytes()
        if len(outputs) != count * OUTPUT_BYTES_PER_LABEL:  # pragma: no cover - a CuPy bug
            raise GpuError(f"{self.device_name}: {len(outputs)} output bytes for {count} labels")
        return outputs
