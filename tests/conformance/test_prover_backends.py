"""Every built-in prover backend runs the shared prover conformance suite."""

from __future__ import annotations

import pytest

from spacemesh_core.post.prover import (
    NativeScanBackend,
    ReferenceScanBackend,
    get_supported_native_impls,
    is_native_scan_available,
)
from spacemesh_core.testing.conformance.prover import ProverConformance

NEEDS_NATIVE = pytest.mark.skipif(not is_native_scan_available(), reason="spacemesh_core._native_scan is not built")


class TestReferenceProver(ProverConformance):
    @pytest.fixture
    def backend(self) -> ReferenceScanBackend:
        return ReferenceScanBackend()


@NEEDS_NATIVE
class TestNativeProver(ProverConformance):
    """The default native backend: best AES implementation, several threads, small batches so the
    multi-batch merge is exercised."""

    @pytest.fixture
    def backend(self) -> NativeScanBackend:
        return NativeScanBackend(threads=3, batch_labels=64)


@NEEDS_NATIVE
class TestNativeProverEachImpl(ProverConformance):
    """Each AES implementation this CPU supports (portable C, AES-NI, VAES-256, VAES-512)."""

    @pytest.fixture(params=get_supported_native_impls() if is_native_scan_available() else [])
    def backend(self, request: pytest.FixtureRequest) -> NativeScanBackend:
        return NativeScanBackend(threads=2, impl=request.param, batch_labels=200)
