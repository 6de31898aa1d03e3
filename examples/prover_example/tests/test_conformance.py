"""The example backend passes the prover conformance suite of spacemesh and registers through its hook."""

from __future__ import annotations

import random

import pytest
from spacemesh_prover_example import scan
from spacemesh_prover_example.scan import NumpyScanBackend

from spacemesh_core.post.prove_reference import scan_labels_reference
from spacemesh_core.post.prover import LabelSegment
from spacemesh_core.testing.conformance.prover import ProverConformance


class TestNumpyProver(ProverConformance):
    """The whole shared suite: vectors, random inputs against the reference, rejections, a full proof."""

    @pytest.fixture
    def backend(self) -> NumpyScanBackend:
        return NumpyScanBackend()


class TestNumpyProverSmallBlocks(ProverConformance):
    """Tiny blocks, so that every case crosses block boundaries (and segment cuts inside blocks)."""

    @pytest.fixture
    def backend(self, monkeypatch: pytest.MonkeyPatch) -> NumpyScanBackend:
        monkeypatch.setattr(scan, "BLOCK_LABELS", 16)
        return NumpyScanBackend()


def test_progress_reports_every_block(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scan, "BLOCK_LABELS", 64)
    data = random.Random(3).randbytes(16 * 300)
    seen: list[tuple[int, int]] = []
    result = NumpyScanBackend().scan(
        [LabelSegment(5, data)], bytes(32), 0, 16, {0: 1}, 0, 1, progress=lambda d, t: seen.append((d, t))
    )
    assert result is None and scan_labels_reference(data, 5, bytes(32), 0, 16, {0: 1}, 0, 1) is None
    assert seen == [(59, 300), (123, 300), (187, 300), (251, 300), (300, 300)]


def test_registers_in_the_prover_category() -> None:
    from spacemesh_prover_example import plugin

    registered: list[tuple[str, str, object]] = []

    class Registries:
        def register(self, category: str, name: str, factory: object, **_: object) -> None:
            registered.append((category, name, factory))

    plugin.spacemesh_register_implementations(Registries())
    assert registered == [("prover", "numpy", scan.create_numpy_prover)]
