"""Conformance suite for PoST prover backends (the ``prover`` category).

Any scan backend (built in or a third party's) proves it matches the pure-Python reference: the same
winning nonce and indices on the shared vectors (``post_prove.json``) and on random inputs, the same
rejections of bad arguments, and proofs that the verifier accepts.  Use it like this::

    import pytest
    from spacemesh_core.testing.conformance.prover import ProverConformance

    class TestMyProver(ProverConformance):
        @pytest.fixture
        def backend(self):
            return MyScanBackend()

The fixture returns an object with ``name`` and the ``scan(...)`` method of
:class:`spacemesh_core.post.prover.ScanBackend`.
"""

from __future__ import annotations

import itertools
import random
from typing import Any

import pytest

from spacemesh_core.post.k2pow import RandomXK2PowSolver
from spacemesh_core.post.proof import ProofParameterError, compute_proving_difficulty
from spacemesh_core.post.prove_reference import ScanResult, scan_labels_reference
from spacemesh_core.post.prover import LabelSegment, PostDataError, ProvingParams, generate_proof
from spacemesh_core.post.verify import ProofMetadata, VerifyConfig, VerifyMode, verify_proof
from spacemesh_core.testing.vectors import load_vectors

#: Random cases compared with the reference per backend (kept small: the reference is pure Python).
RANDOM_CASES = 24


def _cases(kind: str) -> list[dict[str, Any]]:
    return [case for case in load_vectors("post_prove")["cases"] if case["kind"] == kind]


def _split(data: bytes, first_index: int, rng: random.Random) -> list[LabelSegment]:
    """Cut ``data`` into 1-3 contiguous segments at random label boundaries (like postdata files)."""
    count = len(data) // 16
    cuts = sorted({rng.randint(1, count - 1) for _ in range(rng.randint(0, 2))}) if count > 1 else []
    bounds = [0, *cuts, count]
    return [LabelSegment(first_index + a, data[16 * a : 16 * b]) for a, b in itertools.pairwise(bounds)]


class ProverConformance:
    """Test methods every prover scan backend must pass; subclasses provide the ``backend`` fixture."""

    @pytest.fixture
    def backend(self) -> Any:  # pragma: no cover - always overridden
        raise NotImplementedError("a conformance subclass must provide the backend fixture")

    # -- shared vectors ---------------------------------------------------------------------------

    def test_proving_vector(self, backend: Any) -> None:
        """post-rs ``proving_vector``: nonce 3 wins with indices 0, 3, ..., 93."""
        cases = _cases("prove")
        assert cases, "post_prove.json has no prove case"
        for case in cases:
            data = bytes.fromhex(case["data_hex"])
            pows = {int(group): pow_nonce for group, pow_nonce in case["pow_by_group"].items()}
            difficulty = compute_proving_difficulty(case["k1"], case["num_labels"])
            assert difficulty == case["difficulty"]
            result = backend.scan(
                [LabelSegment(0, data)],
                bytes.fromhex(case["challenge_hex"]),
                case["nonce_start"],
                case["nonce_end_exclusive"],
                pows,
                difficulty,
                case["k2"],
            )
            assert result == ScanResult(case["expected_nonce"], tuple(case["expected_indices"]))

    def test_sanity_order_vector(self, backend: Any) -> None:
        """post-rs ``sanity``: with difficulty u64::MAX every (nonce, label) qualifies in label-major
        order; for every k2 the winner is the first nonce of that order to collect k2 labels."""
        for case in _cases("prove_order"):
            data = bytes.fromhex(case["data_hex"])
            pows = {int(group): pow_nonce for group, pow_nonce in case["pow_by_group"].items()}
            order = [tuple(hit) for hit in case["expected_hits_nonce_index"]]
            labels = len(data) // 16
            for k2 in range(1, labels + 1):
                seen: dict[int, list[int]] = {}
                expected = None
                for nonce, index in order:
                    seen.setdefault(nonce, []).append(index)
                    if len(seen[nonce]) == k2:
                        expected = ScanResult(nonce, tuple(seen[nonce]))
                        break
                result = backend.scan(
                    [LabelSegment(0, data)],
                    bytes.fromhex(case["challenge_hex"]),
                    case["nonce_start"],
                    case["nonce_end_exclusive"],
                    pows,
                    case["difficulty"],
                    k2,
                )
                assert result == expected, f"k2={k2}"
            # more than there are labels: nobody wins
            too_many = backend.scan(
                [LabelSegment(0, data)],
                bytes.fromhex(case["challenge_hex"]),
                0,
                16,
                pows,
                case["difficulty"],
                labels + 1,
            )
            assert too_many is None

    # -- random inputs ----------------------------------------------------------------------------

    def test_random_inputs_match_reference(self, backend: Any) -> None:
        """Random data, challenges, pows, difficulties (ties on the top byte included), nonce ranges,
        segment cuts and k2: the same winner and indices as the reference, or none."""
        rng = random.Random(0x5EED)
        for case in range(RANDOM_CASES):
            count = rng.randint(1, 1200)
            first_index = rng.choice([0, 3, 8, 1 << 32])
            data = rng.randbytes(16 * count)
            challenge = rng.randbytes(32)
            groups = rng.randint(1, 3)
            nonce_start = 16 * rng.randint(0, 4)
            nonce_end = nonce_start + 16 * groups
            pows = {g: rng.getrandbits(64) for g in range(nonce_start // 16, nonce_end // 16)}
            # top bytes 0..3 make ties (the lazy second AES) frequent
            difficulty = (rng.randint(0, 3) << 56) | rng.getrandbits(56)
            if case % 4 == 0:
                difficulty = rng.getrandbits(64)
            k2 = rng.randint(1, 12)
            expected = scan_labels_reference(data, first_index, challenge, nonce_start, nonce_end, pows, difficulty, k2)
            result = backend.scan(
                _split(data, first_index, rng), challenge, nonce_start, nonce_end, pows, difficulty, k2
            )
            assert result == expected, f"case {case}"

    def test_no_winner(self, backend: Any) -> None:
        """Difficulty 0: nothing qualifies, the pass has no winner."""
        data = random.Random(1).randbytes(16 * 64)
        assert backend.scan([LabelSegment(0, data)], bytes(32), 0, 32, {0: 0, 1: 0}, 0, 1) is None

    # -- rejections -------------------------------------------------------------------------------

    @pytest.mark.parametrize(
        ("nonce_start", "nonce_end", "pows", "challenge", "k2", "difficulty"),
        [
            (0, 0, {0: 0}, bytes(32), 1, 1),  # empty range
            (8, 24, {0: 0, 1: 0}, bytes(32), 1, 1),  # start not a multiple of 16
            (0, 20, {0: 0, 1: 0}, bytes(32), 1, 1),  # length not a multiple of 16
            (4096, 4112, {256: 0}, bytes(32), 1, 1),  # beyond nonce group 255
            (0, 32, {0: 0}, bytes(32), 1, 1),  # no pow for group 1
            (0, 16, {0: 0}, bytes(31), 1, 1),  # short challenge
            (0, 16, {0: 0}, bytes(32), 0, 1),  # k2 = 0
            (0, 16, {0: 0}, bytes(32), 1, 1 << 64),  # difficulty not a u64
        ],
    )
    def test_rejects_bad_arguments(
        self,
        backend: Any,
        nonce_start: int,
        nonce_end: int,
        pows: dict[int, int],
        challenge: bytes,
        k2: int,
        difficulty: int,
    ) -> None:
        """Bad arguments raise ProofParameterError, as the reference does."""
        segments = [LabelSegment(0, bytes(16 * 8))]
        with pytest.raises(ProofParameterError):
            scan_labels_reference(bytes(16 * 8), 0, challenge, nonce_start, nonce_end, pows, difficulty, k2)
        with pytest.raises(ProofParameterError):
            backend.scan(segments, challenge, nonce_start, nonce_end, pows, difficulty, k2)

    def test_rejects_gapped_segments(self, backend: Any) -> None:
        """Segments must be contiguous."""
        segments = [LabelSegment(0, bytes(16 * 8)), LabelSegment(9, bytes(16 * 8))]
        with pytest.raises(PostDataError):
            backend.scan(segments, bytes(32), 0, 16, {0: 0}, 1 << 60, 1)

    # -- proofs verify ----------------------------------------------------------------------------

    def test_generated_proof_verifies(self, backend: Any) -> None:
        """A full proof (RandomX light k2pow) over random labels is accepted by the verifier in mode
        'all' with a label function that reads the same labels."""
        rng = random.Random(7)
        num_units, labels_per_unit = 1, 2048
        data = rng.randbytes(16 * num_units * labels_per_unit)
        node_id, commitment_atx, challenge = rng.randbytes(32), rng.randbytes(32), rng.randbytes(32)
        params = ProvingParams(k1=300, k2=37, pow_difficulty=bytes([0x3F]) + b"\xff" * 31)
        proof = generate_proof(
            _split(data, 0, rng),
            challenge,
            node_id,
            num_units,
            labels_per_unit,
            params,
            nonces=16,
            backend=backend,
            pow_solver=RandomXK2PowSolver("light", threads=1),
        )

        def stored_label(_commitment: bytes, index: int, _scrypt_n: int) -> bytes:
            return data[16 * index : 16 * index + 16] + bytes(16)

        config = VerifyConfig(
            k1=params.k1,
            k2=params.k2,
            pow_difficulty=params.pow_difficulty,
            min_num_units=1,
            labels_per_unit=labels_per_unit,
            scrypt_n=2,
        )
        metadata = ProofMetadata(node_id, commitment_atx, challenge, num_units)
        verify_proof(proof, metadata, config, VerifyMode.all(), label_function=stored_label)
