"""The GPU initializer plugin without a GPU: fallback, `post devices`, batch planning, the CPU cross-check.

The initializer runs here on the CPU emulation of its CUDA kernel (tests/conftest.py builds it), so its
batching, nonce search and cross-check are the production code paths.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from click.testing import CliRunner

from spacemesh_core.cli import cli
from spacemesh_core.kernel.plugins import load_plugin_manager
from spacemesh_core.post.initialize import LabelMismatchError, initialize
from spacemesh_core.post.labels import LabelParameterError
from spacemesh_core.post.native import (
    NativeInitializer,
    compute_labels_and_nonce_native,
    compute_labels_native,
    get_default_isa,
    get_isa_lanes,
)
from spacemesh_core.post.store import get_labels, read_metadata
from spacemesh_plugins.initializer_gpu import cupy_runner, devices, plugin
from spacemesh_plugins.initializer_gpu.emulation import EmulatedKernelRunner
from spacemesh_plugins.initializer_gpu.initializer import GpuInitializer, GpuLabelMismatchError
from spacemesh_plugins.initializer_gpu.kernel import GpuUnavailableError, KernelRunner
from spacemesh_plugins.initializer_gpu.planning import (
    BATCH_BYTES_PER_LABEL,
    BatchPlan,
    GpuMemoryError,
    compute_batch_plan,
    compute_scratch_bytes,
)

GIB = 1 << 30


@pytest.fixture
def runner(gpu_kernel_emulation: Any) -> EmulatedKernelRunner:
    return EmulatedKernelRunner(gpu_kernel_emulation, free_memory=16 << 20, resident_threads=24, threads_per_block=8)


def _make_unavailable(monkeypatch: pytest.MonkeyPatch, reason: str = "CuPy is not installed (test)") -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise GpuUnavailableError(reason)

    monkeypatch.setattr(cupy_runner, "CupyKernelRunner", refuse)


# ---------------------------------------------------------------------------------------------------
# Fallback and registration
# ---------------------------------------------------------------------------------------------------


def test_factory_falls_back_to_the_native_initializer(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _make_unavailable(monkeypatch, "the CUDA runtime found no usable device (no driver)")
    with caplog.at_level(logging.WARNING, logger=plugin.__name__):
        backend = plugin.create_gpu_initializer()
    assert isinstance(backend, NativeInitializer)
    assert (
        "no usable GPU: the CUDA runtime found no usable device (no driver); using the CPU (native) initializer"
        in caplog.text
    )
    assert backend.compute_labels(bytes(32), 0, 2, 16) == compute_labels_native(bytes(32), 0, 2, 16)


def test_factory_without_fallback_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    _make_unavailable(monkeypatch, "no device")
    with pytest.raises(GpuUnavailableError, match="no device"):
        plugin.create_gpu_initializer(fallback=False)


def test_factory_on_this_machine_gives_a_working_initializer(caplog: pytest.LogCaptureFixture) -> None:
    """Unpatched: the real probe either finds a GPU or says why and returns the CPU backend."""
    with caplog.at_level(logging.WARNING, logger=plugin.__name__):
        backend = plugin.create_gpu_initializer()
    if isinstance(backend, GpuInitializer):
        assert backend.name == "gpu"
    else:
        assert isinstance(backend, NativeInitializer)
        assert "no usable GPU: " in caplog.text and "using the CPU (native) initializer" in caplog.text
    assert backend.compute_labels(bytes(32), 3, 2, 4) == compute_labels_native(bytes(32), 3, 2, 4)


@pytest.mark.parametrize(("variable", "value"), [("SPACEMESH_GPU_LOOKUP_GAP", "3"), ("SPACEMESH_GPU_DEVICE", "x")])
def test_factory_rejects_bad_environment(monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> None:
    _make_unavailable(monkeypatch)
    monkeypatch.setenv(variable, value)
    with pytest.raises(LabelParameterError, match=variable if value == "x" else "power of two"):
        plugin.create_gpu_initializer()


def test_registered_as_a_non_default_initializer(monkeypatch: pytest.MonkeyPatch) -> None:
    _make_unavailable(monkeypatch)
    registries = load_plugin_manager(
        {"SPACEMESH_LOAD_PLUGINS": "initializer_native,initializer_reference,initializer_gpu"}
    ).get_registries()
    assert registries.get_default_name("initializer") == "native"
    assert set(registries.get_names("initializer")) == {"native", "reference", "gpu"}
    assert isinstance(registries.get("initializer", "gpu").factory(), NativeInitializer)


def test_post_labels_with_provider_gpu_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    _make_unavailable(monkeypatch)
    result = CliRunner().invoke(
        cli, ["post", "labels", "--commitment", "00" * 32, "--start", "0", "--count", "2", "--scrypt-n", "2",
              "--provider", "gpu", "--json"]
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [bytes.fromhex(row["label"]) for row in rows] == [
        compute_labels_native(bytes(32), i, 1, 2) for i in range(2)
    ]


# ---------------------------------------------------------------------------------------------------
# spacemesh post devices
# ---------------------------------------------------------------------------------------------------


def test_devices_command_without_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(devices, "get_cuda_devices", lambda: ([], "CuPy is not installed (test)"))
    runner = CliRunner()
    plain = runner.invoke(cli, ["post", "devices"])
    assert plain.exit_code == 0, plain.output
    assert "No usable GPU: CuPy is not installed (test)" in plain.output
    assert f"CPU [{devices.CPU_PROVIDER_ID}] native" in plain.output and get_default_isa() in plain.output

    as_json = runner.invoke(cli, ["post", "devices", "--json"])
    assert as_json.exit_code == 0, as_json.output
    report = json.loads(as_json.stdout)
    assert report["gpu_available"] is False
    assert report["gpu_unavailable_reason"] == "CuPy is not installed (test)"
    [cpu] = report["devices"]
    assert cpu["id"] == 4294967295 and cpu["kind"] == "cpu" and cpu["provider"] == "native"
    assert cpu["isa"] == get_default_isa() and cpu["lanes"] == get_isa_lanes(get_default_isa())
    assert cpu["isa"] in cpu["supported_isas"] and cpu["threads"] >= 1 and cpu["name"]


def test_devices_command_lists_cuda_devices(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = devices.CudaDevice(
        id=0, name="NVIDIA H100 80GB HBM3", compute_capability="9.0", multiprocessors=132,
        memory_total_bytes=80 * GIB, memory_free_bytes=79 * GIB,
    )
    monkeypatch.setattr(devices, "get_cuda_devices", lambda: ([fake], None))
    runner = CliRunner()
    plain = runner.invoke(cli, ["post", "devices"])
    assert plain.exit_code == 0
    assert "[0] NVIDIA H100 80GB HBM3: compute capability 9.0, 132 SMs, 80.0 GiB (79.0 GiB free)" in plain.output
    report = json.loads(runner.invoke(cli, ["post", "devices", "--json"]).stdout)
    assert report["gpu_available"] is True and report["gpu_unavailable_reason"] is None
    assert report["devices"][0] == {
        "kind": "cuda", "id": 0, "name": "NVIDIA H100 80GB HBM3", "compute_capability": "9.0",
        "multiprocessors": 132, "memory_total_bytes": 80 * GIB, "memory_free_bytes": 79 * GIB,
    }
    assert report["devices"][1]["kind"] == "cpu"


def test_real_probe_never_raises() -> None:
    found, reason = devices.get_cuda_devices()
    assert (reason is None) == bool(found)
    assert all(device.memory_total_bytes > 0 for device in found)


# ---------------------------------------------------------------------------------------------------
# Batch planning
# ---------------------------------------------------------------------------------------------------


def _h100_resident(gap: int) -> int:
    # 132 SMs; the one-gap build for gap 1 uses fewer registers (more resident threads) than the others
    return 132 * (896 if gap == 1 else 640)


def test_plan_for_an_80_gb_card_uses_gap_1() -> None:
    plan = compute_batch_plan(80 * 10**9, 8192, _h100_resident, min_threads=132 * 256, threads_per_block=128)
    usable = int(80 * 10**9 * 0.9) - plan.batch_labels * BATCH_BYTES_PER_LABEL
    assert plan.lookup_gap == 1 and plan.batch_labels == 1 << 20
    assert plan.slots == usable // (1 << 20) // 128 * 128  # memory-bound: fewer than the 118 272 resident
    assert plan.slots % 128 == 0 and plan.slots < _h100_resident(1)
    assert plan.device_bytes <= 80 * 10**9 * 0.9


def test_plan_for_a_small_card_picks_a_larger_gap() -> None:
    # 8 GB, 46 SMs: gap 1 holds ~6 500 labels, below the 11 776 needed to hide latency; gap 2 holds ~13 000
    plan = compute_batch_plan(8 * 10**9, 8192, lambda gap: 46 * 768, min_threads=46 * 256, threads_per_block=128)
    usable = int(8 * 10**9 * 0.9) - plan.batch_labels * BATCH_BYTES_PER_LABEL
    assert plan.lookup_gap == 2
    assert plan.slots == usable // (512 << 10) // 128 * 128 == 13_312  # memory-bound, below the 35 328 resident
    # 2 GB: gap 8 is the first to hold 11 776 slots; 64 GB at gap 1: only the resident threads get slots
    tiny = compute_batch_plan(2 * 10**9, 8192, lambda gap: 46 * 768, min_threads=46 * 256, threads_per_block=128)
    assert tiny.lookup_gap == 8 and tiny.slots % 128 == 0 and tiny.slots >= 46 * 256
    big = compute_batch_plan(64 * 10**9, 8192, lambda gap: 46 * 768, min_threads=46 * 256, threads_per_block=128)
    assert big.lookup_gap == 1 and big.slots == 46 * 768


def test_plan_takes_the_largest_gap_when_nothing_keeps_the_device_busy() -> None:
    plan = compute_batch_plan(64 << 20, 8192, lambda gap: 10**6, min_threads=10**5, threads_per_block=32)
    assert plan.lookup_gap == 16
    assert plan.slots == (int((64 << 20) * 0.9) - plan.batch_labels * BATCH_BYTES_PER_LABEL) // (512 * 128) // 32 * 32


def test_plan_with_a_forced_gap_and_limits() -> None:
    plan = compute_batch_plan(4 * GIB, 8192, lambda gap: 10**6, lookup_gap=8, max_batch_labels=1000)
    assert plan == BatchPlan(scrypt_n=8192, lookup_gap=8, slots=1000, batch_labels=1000)
    assert plan.scratch_bytes_per_slot == 8192 // 8 * 128
    # slots below one block are not rounded away
    few = compute_batch_plan(900_000, 1024, lambda gap: 100, lookup_gap=1, threads_per_block=128)
    assert 0 < few.slots < 128


def test_plan_rejects_impossible_requests() -> None:
    with pytest.raises(GpuMemoryError, match="needs"):
        compute_batch_plan(100_000, 8192, lambda gap: 128, lookup_gap=1)
    with pytest.raises(ValueError, match="lookup gap"):
        compute_batch_plan(GIB, 4, lambda gap: 128, lookup_gap=8)
    with pytest.raises(ValueError, match="power of two"):
        compute_scratch_bytes(24, 1)
    with pytest.raises(ValueError, match="fraction"):
        compute_batch_plan(GIB, 8192, lambda gap: 128, memory_fraction=0)


# ---------------------------------------------------------------------------------------------------
# The initializer on the emulated kernel: batches, nonce, the CPU cross-check
# ---------------------------------------------------------------------------------------------------


def test_runner_protocol(runner: EmulatedKernelRunner) -> None:
    assert isinstance(runner, KernelRunner)


def test_batches_and_nonce_match_native(runner: EmulatedKernelRunner) -> None:
    initializer = GpuInitializer(runner, max_batch_labels=7)
    commitment = bytes(range(32))
    assert initializer.compute_labels(commitment, 95, 20, 16) == compute_labels_native(commitment, 95, 20, 16)
    assert [call[0] for call in runner.calls] == [7, 7, 6]
    plan = initializer.get_plan(16)
    assert runner.calls[0] == (7, 16, plan.lookup_gap, plan.slots) and plan.slots == 7
    bound = bytes([0x40]) + bytes(31)
    labels, nonce = initializer.compute_labels_with_nonce(commitment, 0, 45, 16, bound, 16)
    assert (labels, nonce) == compute_labels_and_nonce_native(commitment, 0, 45, 16, bound, label_size=16)
    assert nonce is not None
    assert initializer.compute_labels_with_nonce(commitment, 0, 45, 16, bytes(32), 32)[1] is None


def test_forced_gap_is_used_and_clamped_to_n(runner: EmulatedKernelRunner) -> None:
    initializer = GpuInitializer(runner, lookup_gap=4)
    assert initializer.compute_labels(bytes(32), 0, 3, 2) == compute_labels_native(bytes(32), 0, 3, 2)
    assert initializer.compute_labels(bytes(32), 0, 3, 64) == compute_labels_native(bytes(32), 0, 3, 64)
    assert [call[2] for call in runner.calls] == [2, 4]


def test_rejects_bad_input(runner: EmulatedKernelRunner) -> None:
    initializer = GpuInitializer(runner)
    for args in [(bytes(31), 0, 1, 16), (bytes(32), -1, 1, 16), (bytes(32), 0, -1, 16), (bytes(32), 0, 1, 24),
                 (bytes(32), (1 << 64) - 1, 2, 16)]:
        with pytest.raises(LabelParameterError):
            initializer.compute_labels(*args)
    with pytest.raises(LabelParameterError):
        initializer.compute_labels_with_nonce(bytes(32), 0, 1, 16, bytes(31), 16)
    with pytest.raises(LabelParameterError):
        initializer.compute_labels_with_nonce(bytes(32), 0, 1, 16, bytes(32), 33)
    with pytest.raises(LabelParameterError):
        GpuInitializer(runner, lookup_gap=3)
    assert runner.calls == []


class _CorruptingRunner(EmulatedKernelRunner):
    """Flips one bit of one label (a faulty device)."""

    def __init__(self, module: Any, bad_index: int, **kwargs: Any) -> None:
        super().__init__(module, **kwargs)
        self.bad_index = bad_index

    def compute_outputs(
        self, commitment: bytes, start: int, count: int, scrypt_n: int, lookup_gap: int, slots: int
    ) -> bytes:
        outputs = bytearray(super().compute_outputs(commitment, start, count, scrypt_n, lookup_gap, slots))
        if start <= self.bad_index < start + count:
            outputs[(self.bad_index - start) * 32 + 5] ^= 0x10
        return bytes(outputs)


def test_cross_check_catches_a_wrong_last_label(gpu_kernel_emulation: Any) -> None:
    faulty = _CorruptingRunner(gpu_kernel_emulation, bad_index=13, device_name="Faulty GPU 7")
    initializer = GpuInitializer(faulty, max_batch_labels=7)
    with pytest.raises(GpuLabelMismatchError, match=r"GPU Faulty GPU 7 computed a wrong label at index 13") as info:
        initializer.compute_labels(bytes(32), 7, 21, 16)  # batches 7..13, 14..20, 21..27
    assert isinstance(info.value, LabelMismatchError)
    assert "batch 7..13" in str(info.value)
    assert len(faulty.calls) <= 3


def test_initialize_stops_on_a_faulty_device(gpu_kernel_emulation: Any, tmp_path: Any) -> None:
    faulty = _CorruptingRunner(gpu_kernel_emulation, bad_index=11, device_name="Faulty GPU")
    with pytest.raises(LabelMismatchError, match="index 11"):
        initialize(tmp_path, bytes(32), bytes(32), 1, 30, 16, max_file_size=16 * 30,
                   provider=GpuInitializer(faulty, max_batch_labels=6), batch_size=12)
    assert not (tmp_path / "postdata_0.bin").exists()


def test_initialize_through_the_gpu_backend(runner: EmulatedKernelRunner, tmp_path: Any) -> None:
    node_id, atx_id = bytes(range(32)), bytes(range(1, 33))
    result = initialize(tmp_path / "gpu", node_id, atx_id, 2, 40, 32, max_file_size=16 * 25,
                        provider=GpuInitializer(runner, max_batch_labels=9))
    expected = initialize(tmp_path / "cpu", node_id, atx_id, 2, 40, 32, max_file_size=16 * 25,
                          provider=NativeInitializer(threads=1))
    assert (get_labels(tmp_path / "gpu", 0, 80) == get_labels(tmp_path / "cpu", 0, 80)).all()
    assert result.metadata == expected.metadata == read_metadata(tmp_path / "gpu")


# ---------------------------------------------------------------------------------------------------
# The CuPy runner's host code, on a stand-in for CuPy that launches the emulated kernels
# ---------------------------------------------------------------------------------------------------


class _FakeKernel:
    """A cupy RawKernel stand-in: ``kernel((grid,), (block,), args)`` runs the emulated launch loop."""

    def __init__(self, module: Any, name: str) -> None:
        self._ffi = module.ffi
        self._launch = getattr(module.lib, name.replace("sm_gpu_", "sm_emu_"))
        self.num_regs = 96
        self.kernel = type("Function", (), {"ptr": 0})()
        self.launches: list[tuple[int, int]] = []

    def __call__(self, grid: tuple[int], block: tuple[int], args: tuple[Any, ...]) -> None:
        import numpy as np

        assert len(grid) == 1 and len(block) == 1
        self.launches.append((grid[0], block[0]))
        converted = [
            self._ffi.cast("void *", arg.ctypes.data) if isinstance(arg, np.ndarray) else int(arg) for arg in args
        ]
        self._launch(grid[0], block[0], *converted)


class _FakeCupy:
    """Just enough of CuPy's API for CupyKernelRunner and get_cuda_devices (numpy arrays as device memory)."""

    def __init__(self, module: Any, *, fail_compile: bool = False) -> None:
        import numpy as np

        fake = self
        self.uint8, self.uint32 = np.uint8, np.uint32
        self.kernels: dict[str, _FakeKernel] = {}
        self.options: list[tuple[str, ...]] = []

        class Runtime:
            @staticmethod
            def getDeviceCount() -> int:  # noqa: N802 - CuPy's names
                return 1

            @staticmethod
            def getDeviceProperties(device: int) -> dict[str, Any]:  # noqa: N802
                return {"name": b"Fake H100", "major": 9, "minor": 0, "multiProcessorCount": 2,
                        "totalGlobalMem": 8 << 30}

            @staticmethod
            def memGetInfo() -> tuple[int, int]:  # noqa: N802
                return (24 << 20, 8 << 30)

        class Device:
            def __init__(self, device: int) -> None:
                self.id = device

            def __enter__(self) -> Device:
                return self

            def __exit__(self, *exc: object) -> None:
                return None

        class Event:
            def __init__(self, block: bool = False, disable_timing: bool = False) -> None:
                assert block, "the runner must wait with a blocking-sync event (no spinning core)"

            def record(self) -> None:
                return None

            def synchronize(self) -> None:
                return None

        class RawModule:
            def __init__(self, code: str, options: tuple[str, ...]) -> None:
                if fail_compile:
                    raise RuntimeError("nvrtc: error: failed to open libnvrtc-builtins.so.12")
                fake.options.append(options)

            def get_function(self, name: str) -> _FakeKernel:
                return fake.kernels.setdefault(name, _FakeKernel(module, name))

        class Pool:
            def free_bytes(self) -> int:
                return 0

            def free_all_blocks(self) -> None:
                return None

        self.cuda = type("cuda", (), {"runtime": Runtime, "Device": Device, "Event": Event})
        self.RawModule = RawModule
        self._pool = Pool()

    def get_default_memory_pool(self) -> Any:
        return self._pool

    def empty(self, size: int, dtype: Any) -> Any:
        import numpy as np

        return np.zeros(size, dtype=dtype)

    def asnumpy(self, array: Any) -> Any:
        return array


def test_cupy_runner_host_code_on_emulated_kernels(monkeypatch: pytest.MonkeyPatch, gpu_kernel_emulation: Any) -> None:
    """Launch geometry, argument order and byte order of the CuPy runner, checked against native labels."""
    fake = _FakeCupy(gpu_kernel_emulation)
    monkeypatch.setattr(cupy_runner, "import_cupy", lambda: fake)
    gpu_runner = cupy_runner.CupyKernelRunner(0, threads_per_block=32)
    assert gpu_runner.device_name == "Fake H100 (CUDA device 0, compute capability 9.0)"
    assert gpu_runner.get_min_threads() == 2 * 256
    # 96 registers x 32 threads: 21 blocks fit the register file, 64 fit the thread limit
    assert gpu_runner.get_resident_threads(1) == 21 * 32 * 2
    assert any("-DSM_LOOKUP_GAP_LOG2=0" in options for options in fake.options)
    initializer = GpuInitializer(gpu_runner, max_batch_labels=50)
    commitment = bytes(range(32))
    start = (1 << 32) - 30
    assert initializer.compute_labels(commitment, start, 70, 64) == compute_labels_native(commitment, start, 70, 64)
    plan = initializer.get_plan(64)
    assert plan.lookup_gap == 1 and plan.batch_labels == 50
    assert fake.kernels["sm_gpu_label_begin"].launches == [(2, 32), (1, 32)]  # 50 and 20 labels
    assert fake.kernels["sm_gpu_romix"].launches[0] == (-(-min(plan.slots, 50) // 32), 32)
    labels, nonce = initializer.compute_labels_with_nonce(commitment, 5, 3, 8192, bytes([0xFF] * 32), 16)
    expected = compute_labels_and_nonce_native(commitment, 5, 3, 8192, bytes([0xFF] * 32), label_size=16)
    assert (labels, nonce) == expected
    assert fake.options[0] == ("-DSM_THREADS_PER_BLOCK=32", "-DSM_LOOKUP_GAP_LOG2=0")


def test_cupy_runner_reports_unusable_gpus(monkeypatch: pytest.MonkeyPatch, gpu_kernel_emulation: Any) -> None:
    monkeypatch.setattr(cupy_runner, "import_cupy", lambda: _FakeCupy(gpu_kernel_emulation, fail_compile=True))
    with pytest.raises(GpuUnavailableError, match="does not build on Fake H100.*libnvrtc-builtins"):
        cupy_runner.CupyKernelRunner(0)
    monkeypatch.setattr(cupy_runner, "import_cupy", lambda: _FakeCupy(gpu_kernel_emulation))
    with pytest.raises(GpuUnavailableError, match="CUDA device 3 does not exist"):
        cupy_runner.CupyKernelRunner(3)

    def no_cupy() -> Any:
        raise ImportError("CuPy is not installed (pip install 'spacemesh[gpu]')")

    monkeypatch.setattr(cupy_runner, "import_cupy", no_cupy)
    with pytest.raises(GpuUnavailableError, match="CuPy is not installed"):
        cupy_runner.CupyKernelRunner(0)


def test_device_probe_reads_cuda_properties(monkeypatch: pytest.MonkeyPatch, gpu_kernel_emulation: Any) -> None:
    monkeypatch.setattr(devices, "import_cupy", lambda: _FakeCupy(gpu_kernel_emulation))
    found, reason = devices.get_cuda_devices()
    assert reason is None
    assert found == [devices.CudaDevice(0, "Fake H100", "9.0", 2, 8 << 30, 24 << 20)]
    report = devices.get_devices_report()
    assert report["gpu_available"] is True and [d["kind"] for d in report["devices"]] == ["cuda", "cpu"]


# ---------------------------------------------------------------------------------------------------
# On a real GPU (skipped elsewhere by tests/conftest.py)
# ---------------------------------------------------------------------------------------------------


@pytest.mark.gpu
@pytest.mark.parametrize("lookup_gap", [None, 1, 2, 4])
def test_real_gpu_matches_native_at_mainnet_n(lookup_gap: int | None) -> None:
    """The post-rs GPU test shapes at N = 8192: a run from 0 and one across u32::MAX, against the C code."""
    backend = plugin.create_gpu_initializer(lookup_gap=lookup_gap, fallback=False)
    assert isinstance(backend, GpuInitializer)
    commitment = bytes.fromhex("72f83ca99604810287652e3402f62784f66ceecc3ca7fda28e680aa816cff153")
    count = 1000 if lookup_gap is None else 300
    for start in (0, (1 << 32) - count // 2):
        assert backend.compute_labels(commitment, start, count, 8192) == compute_labels_native(
            commitment, start, count, 8192
        ), f"start={start} gap={backend.get_plan(8192).lookup_gap}"
    assert backend.compute_labels(commitment, 77, 513, 512) == compute_labels_native(commitment, 77, 513, 512)
