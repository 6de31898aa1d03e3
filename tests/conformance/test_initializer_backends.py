"""The initializer conformance suite, run for the built-in backends obtained through their plugins.

The GPU backend runs it twice: on the real device (``@pytest.mark.gpu``, skipped without one) and on
the CPU emulation of its CUDA kernel, which exercises the same batching, nonce search and cross-check
code on every machine.
"""

from __future__ import annotations

from typing import Any

import pytest

from spacemesh_core.kernel.plugins import load_plugin_manager
from spacemesh_core.post.initialize import LabelInitializer
from spacemesh_core.testing.conformance.initializer import InitializerConformance
from spacemesh_plugins.initializer_gpu.emulation import EmulatedKernelRunner
from spacemesh_plugins.initializer_gpu.initializer import GpuInitializer

#: load only the initializer plugins: this suite is about them, not about the rest of the bundle
_ENVIRON = {"SPACEMESH_LOAD_PLUGINS": "initializer_native,initializer_reference"}


def _create(name: str) -> LabelInitializer:
    registries = load_plugin_manager(_ENVIRON).get_registries()
    backend: LabelInitializer = registries.get("initializer", name).factory()
    return backend


def test_native_is_the_default_initializer() -> None:
    registries = load_plugin_manager(_ENVIRON).get_registries()
    assert registries.get_default_name("initializer") == "native"
    assert set(registries.get_names("initializer")) == {"native", "reference"}


class TestNativeInitializer(InitializerConformance):
    """The C backend runs every vector, the large VRF-nonce KAT included."""

    @pytest.fixture
    def initializer(self) -> LabelInitializer:
        return _create("native")


class TestReferenceInitializer(InitializerConformance):
    """The pure-Python oracle: only the small-N vectors (N = 8192 takes about a second per label)."""

    max_scrypt_n = 64
    run_vrf_search_vector = False
    random_scrypt_ns = (2, 16)

    @pytest.fixture
    def initializer(self) -> LabelInitializer:
        return _create("reference")


@pytest.mark.gpu
class TestGpuInitializer(InitializerConformance):
    """The CUDA backend on the real device (no CPU fallback): every vector, the VRF-nonce KAT included."""

    @pytest.fixture(scope="class")
    def gpu_initializer(self) -> LabelInitializer:
        from spacemesh_plugins.initializer_gpu.plugin import create_gpu_initializer

        return create_gpu_initializer(fallback=False)

    @pytest.fixture
    def initializer(self, gpu_initializer: LabelInitializer) -> LabelInitializer:
        return gpu_initializer


class TestEmulatedGpuInitializer(InitializerConformance):
    """The GPU backend's code with its CUDA kernel compiled for the CPU (small batches, several slots).

    The 261 121-label VRF-nonce KAT runs through the emulated kernel in tests/unit/test_gpu_kernel_emulated.py.
    """

    run_vrf_search_vector = False

    @pytest.fixture
    def initializer(self, gpu_kernel_emulation: Any) -> LabelInitializer:
        runner = EmulatedKernelRunner(
            gpu_kernel_emulation, free_memory=32 << 20, resident_threads=12, threads_per_block=4
        )
        return GpuInitializer(runner, max_batch_labels=10)
