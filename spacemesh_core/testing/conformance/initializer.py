"""Conformance suite for ``initializer`` backends (label computation and PoST initialization).

Use it from a pytest module::

    from spacemesh_core.testing.conformance.initializer import InitializerConformance

    class TestMyInitializer(InitializerConformance):
        max_scrypt_n = 8192          # largest N of the shared vectors this backend runs (speed)
        run_vrf_search_vector = True # the 261 121-label VRF-nonce KAT (needs a fast backend)

        @pytest.fixture
        def initializer(self):
            return MyInitializer()

Every test compares the backend with the shared known-answer vectors (``post_labels.json``) and with the
pure-Python reference (:mod:`spacemesh_core.post.labels`), the oracle.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from spacemesh_core.post.initialize import (
    LabelInitializer,
    compute_labels_with_nonce,
    compute_smallest_below,
    initialize,
)
from spacemesh_core.post.labels import (
    ENTIRE_LABEL_SIZE,
    LABEL_SIZE,
    compute_commitment,
    compute_labels_reference,
    compute_vrf_difficulty,
)
from spacemesh_core.post.store import get_labels, read_metadata
from spacemesh_core.testing.vectors import load_vectors


def get_label_cases(kind: str = "label") -> list[dict[str, Any]]:
    """Return the ``post_labels.json`` cases of ``kind``."""
    return [case for case in load_vectors("post_labels")["cases"] if case["kind"] == kind]


class InitializerConformance:
    """Test methods every initializer backend must pass; subclasses provide the ``initializer`` fixture."""

    #: vectors with a larger scrypt N are skipped for this backend (a slow reference, say)
    max_scrypt_n: int = 1 << 30
    #: whether to run the VRF-nonce search KAT over 261 121 labels at N = 32
    run_vrf_search_vector: bool = True
    #: scrypt N values of the random comparisons with the reference
    random_scrypt_ns: tuple[int, ...] = (2, 16, 64)

    @pytest.fixture
    def initializer(self) -> LabelInitializer:
        """The backend under test; subclasses must override this fixture."""
        raise NotImplementedError("override the `initializer` fixture in the subclass")

    def test_has_name_and_compute_labels(self, initializer: LabelInitializer) -> None:
        assert isinstance(initializer.name, str) and initializer.name
        assert callable(initializer.compute_labels)

    def test_label_vectors(self, initializer: LabelInitializer) -> None:
        """Every label KAT with N <= max_scrypt_n, alone and as a middle element of a range."""
        cases = [c for c in get_label_cases() if c["N"] <= self.max_scrypt_n]
        assert cases, "no label vector within this backend's N range"
        for case in cases:
            commitment = bytes.fromhex(case["commitment_hex"])
            one = initializer.compute_labels(commitment, case["index"], 1, case["N"])
            assert one.hex() == case["out32_hex"], f"label {case['index']} N={case['N']}"
            assert one[:LABEL_SIZE].hex() == case["label16_hex"]
        # ranges exercise batching (SIMD lanes, threads): the vector sits inside a longer run
        for case in cases:
            if case["N"] > 64:
                continue
            start = max(0, case["index"] - 5)
            outputs = initializer.compute_labels(bytes.fromhex(case["commitment_hex"]), start, 23, case["N"])
            offset = (case["index"] - start) * ENTIRE_LABEL_SIZE
            assert outputs[offset : offset + ENTIRE_LABEL_SIZE].hex() == case["out32_hex"]

    def test_commitment_vectors(self) -> None:
        for case in get_label_cases("commitment"):
            commitment = compute_commitment(
                bytes.fromhex(case["node_id_hex"]), bytes.fromhex(case["commitment_atx_id_hex"])
            )
            assert commitment.hex() == case["commitment_hex"]

    def test_matches_reference_on_random_inputs(self, initializer: LabelInitializer) -> None:
        """Random commitments, starts (also across 2^32) and counts give the reference's bytes."""
        rng = random.Random(0x5EED)
        for scrypt_n in self.random_scrypt_ns:
            for _ in range(3):
                commitment = rng.randbytes(32)
                start = rng.choice([0, rng.randrange(1 << 20), (1 << 32) - rng.randrange(1, 20)])
                count = rng.randrange(1, 40)
                got = initializer.compute_labels(commitment, start, count, scrypt_n)
                assert got == compute_labels_reference(commitment, start, count, scrypt_n), (
                    f"N={scrypt_n} start={start} count={count} commitment={commitment.hex()}"
                )

    def test_empty_range(self, initializer: LabelInitializer) -> None:
        assert initializer.compute_labels(bytes(32), 7, 0, 16) == b""

    def test_rejects_bad_input(self, initializer: LabelInitializer) -> None:
        """Bad inputs raise ValueError (LabelParameterError is one) instead of computing garbage."""
        with pytest.raises(ValueError):
            initializer.compute_labels(bytes(31), 0, 1, 16)
        with pytest.raises(ValueError):
            initializer.compute_labels(bytes(32), 0, 1, 24)
        with pytest.raises(ValueError):
            initializer.compute_labels(bytes(32), 0, 1, 1)

    def test_vrf_nonce_vector(self, initializer: LabelInitializer) -> None:
        """The Go KAT: smallest output below the difficulty over labels 1024..262144 at N = 32."""
        if not self.run_vrf_search_vector:
            pytest.skip("the 261 121-label KAT is too slow for this backend")
        for case in get_label_cases("vrf_nonce_search"):
            commitment = bytes.fromhex(case["commitment_hex"])
            start, count = case["first_index"], case["last_index_inclusive"] - case["first_index"] + 1
            bound = bytes.fromhex(case["difficulty_hex"])
            _, nonce = compute_labels_with_nonce(initializer, commitment, start, count, case["N"], bound)
            if case["expected_nonce"] is None:
                assert nonce is None
            else:
                assert nonce is not None
                assert nonce.index == case["expected_nonce"]
                assert nonce.value.hex() == case["expected_out32_hex"]

    def test_vrf_difficulty_vectors(self) -> None:
        for case in get_label_cases("vrf_difficulty"):
            assert compute_vrf_difficulty(case["num_labels"]).hex() == case["difficulty_hex"]

    def test_single_pass_nonce_agrees_with_outputs(self, initializer: LabelInitializer) -> None:
        """The nonce search (in the backend's own pass or generic) equals a search over its outputs."""
        commitment = random.Random(7).randbytes(32)
        outputs = initializer.compute_labels(commitment, 100, 160, 16)
        rows = sorted(outputs[k : k + 32] for k in range(0, len(outputs), 32))
        bound = rows[5]  # exactly five outputs are strictly smaller
        labels, nonce = compute_labels_with_nonce(initializer, commitment, 100, 160, 16, bound)
        expected = compute_smallest_below(outputs, 100, bound)
        assert nonce == expected and nonce is not None and nonce.value == rows[0]
        assert labels == b"".join(outputs[k : k + LABEL_SIZE] for k in range(0, len(outputs), 32))

    def test_initialize_directory(self, initializer: LabelInitializer, tmp_path: Path) -> None:
        """A small initialization through this backend stores the reference's labels and nonce."""
        node_id, atx_id = bytes(range(32)), bytes(range(32, 64))
        result = initialize(
            tmp_path, node_id, atx_id, num_units=3, labels_per_unit=10, scrypt_n=16, max_file_size=16 * 8,
            provider=initializer,
        )
        commitment = compute_commitment(node_id, atx_id)
        reference = compute_labels_reference(commitment, 0, 30, 16)
        stored = get_labels(tmp_path, 0, 30)
        expected = np.frombuffer(reference, dtype=np.uint8).reshape(30, 32)[:, :LABEL_SIZE]
        assert np.array_equal(stored, expected)
        assert result.metadata.num_files == 4
        best = compute_smallest_below(reference, 0, compute_vrf_difficulty(30))
        meta = read_metadata(tmp_path)
        assert best is not None and meta.nonce == best.index
        assert meta.nonce_value == best.value[:LABEL_SIZE]
