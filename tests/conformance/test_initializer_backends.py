"""The initializer conformance suite, run for both built-in backends obtained through their plugins."""

from __future__ import annotations

import pytest

from spacemesh_core.kernel.plugins import load_plugin_manager
from spacemesh_core.post.initialize import LabelInitializer
from spacemesh_core.testing.conformance.initializer import InitializerConformance

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
