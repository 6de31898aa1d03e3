"""Device probing for ``spacemesh post devices`` and the GPU initializer's fallback decision.

The report lists the CUDA devices (ids 0..n-1, as the reference's providers) and the CPU backend under
the reference's CPU provider id 4294967295 (u32::MAX). JSON shape of :func:`get_devices_report`::

    {
      "gpu_available": true | false,
      "gpu_unavailable_reason": null | "why no GPU can be used",
      "devices": [
        {"id": 0, "kind": "cuda", "name": "NVIDIA H100 80GB HBM3", "compute_capability": "9.0",
         "multiprocessors": 132, "memory_total_bytes": 85031714816, "memory_free_bytes": 84490715136},
        {"id": 4294967295, "kind": "cpu", "provider": "native", "name": "AMD EPYC ...", "isa": "avx512",
         "supported_isas": ["scalar", "sse2", "avx2", "avx512"], "lanes": 16, "threads": 16}
      ]
    }

``memory_free_bytes`` is null when the device could not be queried; the CPU entry has ``"provider":
"reference"`` and null ISA fields when the native module is not built.
"""

from __future__ import annotations

import os
from typing import Any

import attrs

#: the reference's provider id of the CPU (post-rs / postcli ``-provider``)
CPU_PROVIDER_ID = 0xFFFFFFFF
INSTALL_HINT = "pip install 'spacemesh[gpu]'"


@attrs.frozen
class CudaDevice:
    """One CUDA device as the runtime reports it."""

    id: int
    name: str
    compute_capability: str
    multiprocessors: int
    memory_total_bytes: int
    memory_free_bytes: int | None

    def to_json(self) -> dict[str, Any]:
        """Return the device's entry of the JSON report."""
        return {"kind": "cuda", **attrs.asdict(self)}


def import_cupy() -> Any:
    """Import CuPy.

    :raises ImportError: with an install hint when CuPy is absent or broken.
    """
    try:
        import cupy
    except ImportError as exc:
        raise ImportError(f"CuPy is not installed ({INSTALL_HINT}): {exc}") from exc
    except Exception as exc:  # a broken CuPy install raises all kinds of errors at import
        raise ImportError(f"CuPy failed to import: {exc}") from exc
    return cupy


def get_cuda_devices() -> tuple[list[CudaDevice], str | None]:
    """Return the CUDA devices and, when there is none, the reason why (else None). Never raises."""
    try:
        cupy = import_cupy()
    except ImportError as exc:
        return [], str(exc)
    try:
        count = int(cupy.cuda.runtime.getDeviceCount())
    except Exception as exc:  # CUDARuntimeError: no driver, driver too old, no device
        return [], f"the CUDA runtime found no usable device ({exc})"
    if count == 0:
        return [], "the CUDA runtime reports no device"
    devices: list[CudaDevice] = []
    for device_id in range(count):
        try:
            props = cupy.cuda.runtime.getDeviceProperties(device_id)
        except Exception as exc:
            return devices, f"CUDA device {device_id} cannot be queried ({exc})"
        name = props["name"]
        free: int | None
        try:
            with cupy.cuda.Device(device_id):
                free = int(cupy.cuda.runtime.memGetInfo()[0])
        except Exception:
            free = None
        devices.append(
            CudaDevice(
                id=device_id,
                name=name.decode(errors="replace") if isinstance(name, bytes) else str(name),
                compute_capability=f"{props['major']}.{props['minor']}",
                multiprocessors=int(props["multiProcessorCount"]),
                memory_total_bytes=int(props["totalGlobalMem"]),
                memory_free_bytes=free,
            )
        )
    return devices, None


def get_cpu_model() -> str:
    """Return the CPU model name from /proc/cpuinfo (or the platform's processor string)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine() or "unknown"


def get_cpu_backend() -> dict[str, Any]:
    """Return the CPU provider's entry of the JSON report (native kernel ISA, lanes, threads)."""
    entry: dict[str, Any] = {
        "id": CPU_PROVIDER_ID,
        "kind": "cpu",
        "provider": "native",
        "name": get_cpu_model(),
        "threads": os.cpu_count() or 1,
    }
    try:
        from spacemesh_core.post import native
    except ImportError:  # pragma: no cover - only without the native module
        return {**entry, "provider": "reference", "isa": None, "supported_isas": [], "lanes": None}
    isa = native.get_default_isa()
    return {**entry, "isa": isa, "supported_isas": native.get_supported_isas(), "lanes": native.get_isa_lanes(isa)}


def get_devices_report() -> dict[str, Any]:
    """Return the report of ``spacemesh post devices --json`` (shape in the module docstring)."""
    devices, reason = get_cuda_devices()
    return {
        "gpu_available": bool(devices),
        "gpu_unavailable_reason": reason if not devices else None,
        "devices": [device.to_json() for device in devices] + [get_cpu_backend()],
    }
