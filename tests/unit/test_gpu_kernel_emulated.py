"""The CUDA label kernel (plugins/initializer_gpu/scrypt_kernel.cu) compiled for the CPU and checked.

The very source NVRTC compiles for the GPU is compiled here as C through the emulate_cuda.h shim and
run as loops over the grid's threads. It must reproduce every shared label vector, the native CPU
backend on random ranges (both sides of 2^32, up to 2^64-1, odd batch sizes, odd block sizes, fewer
scratch slots than labels), at lookup gaps 1, 2 and 4, with the gap as a run-time argument and in the
one-gap builds. When NVRTC is importable the same source is also compiled for sm_80/sm_90 (no GPU is
needed for that) and must not spill registers.
"""

from __future__ import annotations

import random
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spacemesh_core.post.initialize import compute_labels_with_nonce
from spacemesh_core.post.native import compute_labels_native
from spacemesh_core.testing.vectors import load_vectors
from spacemesh_plugins.initializer_gpu.cupy_runner import DEFAULT_THREADS_PER_BLOCK, get_nvrtc_options
from spacemesh_plugins.initializer_gpu.emulation import EmulatedKernelRunner, build_emulated_kernel
from spacemesh_plugins.initializer_gpu.initializer import GpuInitializer
from spacemesh_plugins.initializer_gpu.kernel import KERNEL_NAMES, get_kernel_source

GAPS = (1, 2, 4)
_MAX_U64 = (1 << 64) - 1


def _label_cases(kind: str = "label") -> list[dict[str, Any]]:
    return [case for case in load_vectors("post_labels")["cases"] if case["kind"] == kind]


@pytest.fixture(scope="module")
def fixed_gap_modules(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Any]:
    """The one-gap builds (``-DSM_LOOKUP_GAP_LOG2``), as the GPU runner compiles them."""
    root = tmp_path_factory.mktemp("gpu_kernel_fixed_gaps")
    return {gap: build_emulated_kernel(root / str(gap), fixed_lookup_gap=gap) for gap in GAPS}


@pytest.fixture
def runner(gpu_kernel_emulation: Any) -> EmulatedKernelRunner:
    return EmulatedKernelRunner(gpu_kernel_emulation, threads_per_block=8)


def test_every_label_vector_at_every_gap(runner: EmulatedKernelRunner, fixed_gap_modules: dict[int, Any]) -> None:
    """All label KATs (N = 2, 4, 8192; indices up to 2^32), alone, at gaps 1/2/4, in both kinds of build."""
    cases = _label_cases()
    assert len(cases) >= 19
    for case in cases:
        commitment = bytes.fromhex(case["commitment_hex"])
        for gap in GAPS:
            if gap > case["N"]:
                continue
            for label_runner in (runner, EmulatedKernelRunner(fixed_gap_modules[gap], threads_per_block=3)):
                out = label_runner.compute_outputs(commitment, case["index"], 1, case["N"], gap, 1)
                assert out.hex() == case["out32_hex"], f"N={case['N']} index={case['index']} gap={gap}"
                assert out[:16].hex() == case["label16_hex"]


def test_label_vectors_inside_ranges(runner: EmulatedKernelRunner) -> None:
    """Each vector as a middle element of a longer launch: 2 slots for 9 labels (grid-stride reuse)."""
    for case in _label_cases():
        start = max(0, case["index"] - 4)
        count = 9 if case["N"] <= 64 else 5
        gap = 2 if case["N"] > 2 else 1
        out = runner.compute_outputs(bytes.fromhex(case["commitment_hex"]), start, count, case["N"], gap, 2)
        offset = (case["index"] - start) * 32
        assert out[offset : offset + 32].hex() == case["out32_hex"]


def test_matches_native_at_mainnet_n(runner: EmulatedKernelRunner, fixed_gap_modules: dict[int, Any]) -> None:
    """Random commitments and starts at N = 8192: a few labels per gap, both builds."""
    rng = random.Random(8192)
    for gap in GAPS:
        commitment = rng.randbytes(32)
        start = rng.choice([rng.randrange(1 << 40), (1 << 32) - 2, _MAX_U64 - 2])
        expected = compute_labels_native(commitment, start, 3, 8192)
        assert runner.compute_outputs(commitment, start, 3, 8192, gap, 2) == expected, f"gap={gap}"
        fixed = EmulatedKernelRunner(fixed_gap_modules[gap], threads_per_block=2)
        assert fixed.compute_outputs(commitment, start, 3, 8192, gap, 3) == expected, f"fixed gap={gap}"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    seed=st.binary(min_size=32, max_size=32),
    start=st.one_of(
        st.integers(0, 1 << 20),
        st.integers((1 << 32) - 40, (1 << 32) + 40),
        st.integers(_MAX_U64 - 60, _MAX_U64 - 50),
    ),
    count=st.integers(1, 50),
    log_n=st.integers(1, 7),
    gap=st.sampled_from(GAPS),
    slots=st.integers(1, 64),
    block=st.sampled_from([1, 3, 7, 16, 32]),
)
def test_random_ranges_match_native(
    gpu_kernel_emulation: Any, seed: bytes, start: int, count: int, log_n: int, gap: int, slots: int, block: int
) -> None:
    """Odd batch sizes, odd block sizes, slots fewer or more than labels, every gap <= N: the native bytes."""
    scrypt_n = 1 << log_n
    gap = min(gap, scrypt_n)
    emulated = EmulatedKernelRunner(gpu_kernel_emulation, threads_per_block=block)
    got = emulated.compute_outputs(seed, start, count, scrypt_n, gap, slots)
    assert got == compute_labels_native(seed, start, count, scrypt_n)


def test_one_gap_build_refuses_another_gap(fixed_gap_modules: dict[int, Any]) -> None:
    """A build for gap 2 launched with gap 1 leaves ROMix undone (and the initializer's check catches it)."""
    commitment = bytes(range(32))
    wrong = EmulatedKernelRunner(fixed_gap_modules[2]).compute_outputs(commitment, 0, 4, 16, 1, 4)
    assert wrong != compute_labels_native(commitment, 0, 4, 16)
    right = EmulatedKernelRunner(fixed_gap_modules[2]).compute_outputs(commitment, 0, 4, 16, 2, 4)
    assert right == compute_labels_native(commitment, 0, 4, 16)


class _MemoRunner(EmulatedKernelRunner):
    """Computes each distinct launch once (the VRF KAT's two cases share one 261 121-label range)."""

    def __init__(self, module: Any, **kwargs: Any) -> None:
        super().__init__(module, **kwargs)
        self.memo: dict[tuple[bytes, int, int, int, int, int], bytes] = {}

    def compute_outputs(
        self, commitment: bytes, start: int, count: int, scrypt_n: int, lookup_gap: int, slots: int
    ) -> bytes:
        key = (commitment, start, count, scrypt_n, lookup_gap, slots)
        if key not in self.memo:
            self.memo[key] = super().compute_outputs(commitment, start, count, scrypt_n, lookup_gap, slots)
        return self.memo[key]


def test_vrf_nonce_vectors_through_the_kernel(gpu_kernel_emulation: Any) -> None:
    """The Go KAT (labels 1024..262144 at N = 32): the nonce, carried over several batches, and 'none'."""
    runner = _MemoRunner(gpu_kernel_emulation, free_memory=48 << 20, resident_threads=64, threads_per_block=32)
    initializer = GpuInitializer(runner)
    cases = _label_cases("vrf_nonce_search")
    assert {case["expected_nonce"] is None for case in cases} == {True, False}
    for case in cases:
        commitment = bytes.fromhex(case["commitment_hex"])
        start, count = case["first_index"], case["last_index_inclusive"] - case["first_index"] + 1
        _, nonce = compute_labels_with_nonce(
            initializer, commitment, start, count, case["N"], bytes.fromhex(case["difficulty_hex"])
        )
        if case["expected_nonce"] is None:
            assert nonce is None
        else:
            assert nonce is not None and nonce.index == case["expected_nonce"]
            assert nonce.value.hex() == case["expected_out32_hex"]
    assert len({key[1] for key in runner.memo}) > 1, "the range must span several batches"


# ---------------------------------------------------------------------------------------------------
# NVRTC: the same source compiles for the GPU (no device needed to compile)
# ---------------------------------------------------------------------------------------------------


def _get_nvrtc() -> Any:
    try:
        from cupy_backends.cuda.libs import nvrtc

        nvrtc.getVersion()
    except Exception as exc:  # CuPy or the NVRTC library absent
        pytest.skip(f"NVRTC is not importable here ({exc}); install the 'gpu' extra and nvidia-cuda-nvrtc-cu12")
    return nvrtc


@pytest.mark.parametrize(("arch", "lookup_gap"), [("sm_90", None), ("sm_90", 1), ("sm_90", 2), ("sm_80", 1)])
def test_kernel_compiles_with_nvrtc_without_spills(arch: str, lookup_gap: int | None) -> None:
    nvrtc = _get_nvrtc()
    # CuPy's RawModule adds --device-as-default-execution-space; -Xptxas -v reports registers and spills
    options = [*get_nvrtc_options(DEFAULT_THREADS_PER_BLOCK, lookup_gap), f"-arch={arch}",
               "--device-as-default-execution-space", "-Xptxas", "-v"]
    program = nvrtc.createProgram(get_kernel_source(), "scrypt_kernel.cu", (), ())
    try:
        try:
            nvrtc.compileProgram(program, options)
        except Exception as exc:
            pytest.fail(f"NVRTC rejected the kernel: {exc}\n{nvrtc.getProgramLog(program)}")
        log = nvrtc.getProgramLog(program)
        assert len(nvrtc.getCUBIN(program)) > 0
    finally:
        nvrtc.destroyProgram(program)
    for name in KERNEL_NAMES:
        assert f"entry function '{name}'" in log
    # register spills to local memory would turn the in-register ChaCha core into memory traffic
    assert re.findall(r"(\d+) bytes spill stores", log) == ["0"] * len(KERNEL_NAMES), log
    registers = re.search(r"sm_gpu_romix'.*?Used (\d+) registers", log, re.S)
    assert registers is not None and int(registers.group(1)) <= 128, log

