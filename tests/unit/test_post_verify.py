"""Verification: a proof made here verifies in mode 'all'; tampering with any field is rejected with
the right reason; the three modes (post_k3.json, every case), unit bounds, the VRF nonce, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import attrs
import pytest
from click.testing import CliRunner

from spacemesh_core.post.k2pow import RandomXK2PowSolver, is_valid_k2pow
from spacemesh_core.post.labels import compute_commitment, compute_label_reference
from spacemesh_core.post.proof import (
    Proof,
    ProofParameterError,
    compress_indices,
    compute_pow_threshold,
    compute_proving_difficulty,
    compute_required_bits,
    get_indices_of_proof,
)
from spacemesh_core.post.prove_reference import compute_label_value
from spacemesh_core.post.prover import ProvingParams, ReferenceScanBackend, generate_proof_from_dir
from spacemesh_core.post.store import read_metadata
from spacemesh_core.post.verify import (
    Blake3Rng,
    InvalidIndicesLengthError,
    InvalidLabelError,
    InvalidNumLabelsError,
    InvalidPowError,
    InvalidProofError,
    InvalidVrfNonceError,
    NonceGroupOutOfBoundsError,
    NumUnitsOutOfBoundsError,
    ProofMetadata,
    VerifyConfig,
    VerifyMode,
    get_invalid_reason,
    get_label_function,
    is_proof_valid,
    iter_shuffled,
    select_indices,
    verify_proof,
    verify_vrf_nonce,
)
from spacemesh_core.testing.vectors import load_vectors

NODE_ID = bytes([0x11]) * 32
COMMITMENT_ATX = bytes([0x22]) * 32
CHALLENGE = bytes(range(100, 132))
UNITS, LABELS_PER_UNIT, SCRYPT_N = 2, 1024, 16
K1, K2 = 200, 37
#: about one RandomX hash in 4 is below this (after division by 2 units): pow tampering is detectable
POW_DIFFICULTY = bytes([0x7F]) + b"\xff" * 31
CONFIG = VerifyConfig(
    k1=K1,
    k2=K2,
    pow_difficulty=POW_DIFFICULTY,
    min_num_units=1,
    max_num_units=8,
    labels_per_unit=LABELS_PER_UNIT,
    scrypt_n=SCRYPT_N,
)
METADATA = ProofMetadata(NODE_ID, COMMITMENT_ATX, CHALLENGE, UNITS)
NUM_LABELS = UNITS * LABELS_PER_UNIT


@pytest.fixture(scope="module")
def post_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from spacemesh_core.post.initialize import initialize

    directory = tmp_path_factory.mktemp("postdata")
    initialize(directory, NODE_ID, COMMITMENT_ATX, UNITS, LABELS_PER_UNIT, SCRYPT_N, max_file_size=16 * 512)
    return directory


@pytest.fixture(scope="module")
def proof(post_dir: Path) -> Proof:
    """A real proof: native scan (the default backend), RandomX light-mode k2pow."""
    params = ProvingParams(k1=K1, k2=K2, pow_difficulty=POW_DIFFICULTY)
    return generate_proof_from_dir(post_dir, CHALLENGE, params, nonces=16, pow_solver=RandomXK2PowSolver("light", 2))


def _is_qualifying(index: int, nonce: int, pow_nonce: int) -> bool:
    """Whether label ``index`` qualifies for ``nonce`` (computed with the reference pieces, no RandomX)."""
    label = compute_label_reference(compute_commitment(NODE_ID, COMMITMENT_ATX), index, SCRYPT_N)[:16]
    return compute_label_value(label, nonce, CHALLENGE, pow_nonce) < compute_proving_difficulty(K1, NUM_LABELS)


def test_proof_verifies_in_every_mode(proof: Proof) -> None:
    verify_proof(proof, METADATA, CONFIG)
    verify_proof(proof, METADATA, CONFIG, VerifyMode.all(), label_function=compute_label_reference)
    for position in (0, 17, K2 - 1):
        verify_proof(proof, METADATA, CONFIG, VerifyMode.one(position))
    for k3 in (0, 1, 5, K2, K2 + 3):
        verify_proof(proof, METADATA, CONFIG, VerifyMode.subset(k3, b"peer"))
    assert is_proof_valid(proof, METADATA, CONFIG)
    assert get_invalid_reason(proof, METADATA, CONFIG) is None


def test_reference_backend_makes_the_same_proof(post_dir: Path, proof: Proof) -> None:
    params = ProvingParams(k1=K1, k2=K2, pow_difficulty=POW_DIFFICULTY)
    again = generate_proof_from_dir(
        post_dir,
        CHALLENGE,
        params,
        nonces=16,
        backend=ReferenceScanBackend(),
        pow_solver=RandomXK2PowSolver("light", 1),
    )
    assert again == proof


def test_tampered_pow_is_rejected_as_pow(proof: Proof) -> None:
    threshold = compute_pow_threshold(POW_DIFFICULTY, UNITS)
    group = proof.nonce // 16
    bad_pow = next(
        p for p in range(proof.pow + 1, proof.pow + 200) if not is_valid_k2pow(p, group, CHALLENGE, NODE_ID, threshold)
    )
    with pytest.raises(InvalidPowError) as caught:
        verify_proof(Proof(proof.nonce, proof.indices, bad_pow), METADATA, CONFIG)
    assert caught.value.reason == f"pow: invalid k2pow {bad_pow} for nonce group {group}"


def test_tampered_pow_high_byte_changes_the_labels(proof: Proof) -> None:
    """The 8th pow byte does not enter RandomX but does enter the AES keys: labels fail instead."""
    tampered = Proof(proof.nonce, proof.indices, proof.pow | (0x5A << 56))
    with pytest.raises(InvalidLabelError):
        verify_proof(tampered, METADATA, CONFIG)


def test_tampered_nonce_is_rejected(proof: Proof) -> None:
    # another nonce of the same group: the pow still holds, the labels no longer qualify
    other = next(n for n in range(proof.nonce // 16 * 16, proof.nonce // 16 * 16 + 16) if n != proof.nonce)
    reason = get_invalid_reason(Proof(other, proof.indices, proof.pow), METADATA, CONFIG)
    assert reason is not None and reason.startswith("label: index ")
    # a nonce beyond group 255
    with pytest.raises(NonceGroupOutOfBoundsError) as caught:
        verify_proof(Proof(4096 + proof.nonce, proof.indices, proof.pow), METADATA, CONFIG)
    assert caught.value.reason.startswith(f"nonce_group: nonce {4096 + proof.nonce} is in group 256")


def test_each_tampered_index_is_rejected_with_its_position(proof: Proof) -> None:
    indices = get_indices_of_proof(proof, NUM_LABELS, K2)
    bits = compute_required_bits(NUM_LABELS)
    for position in range(K2):
        replacement = next(
            i
            for i in ((indices[position] + step) % NUM_LABELS for step in range(1, 200))
            if not _is_qualifying(i, proof.nonce, proof.pow)
        )
        tampered = list(indices)
        tampered[position] = replacement
        bad = Proof(proof.nonce, compress_indices(tampered, bits), proof.pow)
        with pytest.raises(InvalidLabelError) as caught:
            verify_proof(bad, METADATA, CONFIG)
        assert (caught.value.position, caught.value.index) == (position, replacement)
        assert caught.value.reason.startswith(f"label: index {replacement} at position {position} ")
        if position % 6 == 0:
            # the one-index mode finds it too, and accepts the untouched positions
            with pytest.raises(InvalidLabelError):
                verify_proof(bad, METADATA, CONFIG, VerifyMode.one(position))
            verify_proof(bad, METADATA, CONFIG, VerifyMode.one((position + 1) % K2))


def test_tampered_indices_length_is_rejected(proof: Proof) -> None:
    for indices in (proof.indices[:-1], proof.indices + b"\x00", b""):
        with pytest.raises(InvalidIndicesLengthError) as caught:
            verify_proof(Proof(proof.nonce, indices, proof.pow), METADATA, CONFIG)
        assert caught.value.reason == (
            f"indices_length: invalid number of index bytes (expected: {len(proof.indices)}, got: {len(indices)})"
        )


def test_wrong_identity_or_challenge_is_rejected(proof: Proof) -> None:
    other_atx = ProofMetadata(NODE_ID, bytes(32), CHALLENGE, UNITS)
    assert isinstance(_reject(proof, other_atx, CONFIG), InvalidLabelError)
    other_challenge = ProofMetadata(NODE_ID, COMMITMENT_ATX, bytes(32), UNITS)
    assert isinstance(_reject(proof, other_challenge, CONFIG), (InvalidPowError, InvalidLabelError))


def _reject(proof: Proof, metadata: ProofMetadata, config: VerifyConfig) -> InvalidProofError:
    with pytest.raises(InvalidProofError) as caught:
        verify_proof(proof, metadata, config)
    return caught.value


def test_unit_bounds_and_label_count(proof: Proof) -> None:
    low = attrs.evolve(CONFIG, min_num_units=3)
    error = _reject(proof, METADATA, low)
    assert isinstance(error, NumUnitsOutOfBoundsError) and error.reason == "num_units: too small: 2 < 3"
    high = attrs.evolve(CONFIG, max_num_units=1)
    error = _reject(proof, METADATA, high)
    assert isinstance(error, NumUnitsOutOfBoundsError) and error.reason == "num_units: too large: 2 > 1"
    too_few = attrs.evolve(CONFIG, labels_per_unit=8, k1=16, k2=1)
    error = _reject(Proof(proof.nonce, b"\x00", proof.pow), METADATA, too_few)
    assert isinstance(error, InvalidNumLabelsError)


def test_one_mode_position_outside_the_proof(proof: Proof) -> None:
    with pytest.raises(ProofParameterError):
        verify_proof(proof, METADATA, CONFIG, VerifyMode.one(K2))


# ------------------------------------------------------------------------------------------------
# K3 subset (post_k3.json)
# ------------------------------------------------------------------------------------------------


def test_k3_vectors() -> None:
    cases = load_vectors("post_k3")["cases"]
    kinds = {case["kind"] for case in cases}
    assert kinds == {"shuffle", "xof_prefix"}
    for case in cases:
        seed = [bytes.fromhex(part) for part in case["seed_parts_hex"]]
        if case["kind"] == "shuffle":
            assert list(iter_shuffled(case["data"], seed)) == case["expected_order"]
        else:
            rng = Blake3Rng(seed)
            assert rng.read(16).hex() == case["first_16_xof_bytes_hex"]
            rng = Blake3Rng(seed)
            assert [rng.get_next_u16() for _ in case["first_u16_draws"]] == case["first_u16_draws"]


def test_k3_selection_is_seeded_by_seed_node_and_challenge() -> None:
    indices = list(range(1000, 1037))
    picked = select_indices(indices, VerifyMode.subset(5, b"peer-a"), 37, NODE_ID, CHALLENGE)
    expected = list(iter_shuffled(list(enumerate(indices)), [b"peer-a", NODE_ID, CHALLENGE]))[:5]
    assert picked == expected
    assert len({p for p, _ in picked}) == 5
    assert picked != select_indices(indices, VerifyMode.subset(5, b"peer-b"), 37, NODE_ID, CHALLENGE)
    assert select_indices(indices, VerifyMode.subset(37, b"x"), 37, NODE_ID, CHALLENGE) == list(enumerate(indices))
    assert select_indices(indices, VerifyMode.one(3), 37, NODE_ID, CHALLENGE) == [(3, 1003)]


def test_k3_subset_catches_a_bad_index_only_when_selected(proof: Proof) -> None:
    """Distributed verification: a K3=1 verifier checks the position its seed selects."""
    indices = get_indices_of_proof(proof, NUM_LABELS, K2)
    seed = b"peer-7"
    ((position, _),) = select_indices(indices, VerifyMode.subset(1, seed), K2, NODE_ID, CHALLENGE)
    bad_index = next(i for i in range(NUM_LABELS) if not _is_qualifying(i, proof.nonce, proof.pow))
    tampered = list(indices)
    tampered[position] = bad_index
    bad = Proof(proof.nonce, compress_indices(tampered, compute_required_bits(NUM_LABELS)), proof.pow)
    with pytest.raises(InvalidLabelError) as caught:
        verify_proof(bad, METADATA, CONFIG, VerifyMode.subset(1, seed))
    assert caught.value.position == position
    tampered = list(indices)
    tampered[(position + 1) % K2] = bad_index
    elsewhere = Proof(proof.nonce, compress_indices(tampered, compute_required_bits(NUM_LABELS)), proof.pow)
    verify_proof(elsewhere, METADATA, CONFIG, VerifyMode.subset(1, seed))


# ------------------------------------------------------------------------------------------------
# VRF nonce
# ------------------------------------------------------------------------------------------------


def test_vrf_nonce(post_dir: Path) -> None:
    meta = read_metadata(post_dir)
    assert meta.nonce is not None
    verify_vrf_nonce(meta.nonce, NODE_ID, COMMITMENT_ATX, UNITS, LABELS_PER_UNIT, SCRYPT_N)
    commitment = compute_commitment(NODE_ID, COMMITMENT_ATX)
    # with the difficulty of 2^30 labels, almost no label qualifies: find one that fails
    label = get_label_function()
    bad = next(i for i in range(64) if label(commitment, i, SCRYPT_N)[:4] >= b"\x00\x00\x00\x08")
    with pytest.raises(InvalidVrfNonceError) as caught:
        verify_vrf_nonce(bad, NODE_ID, COMMITMENT_ATX, 1 << 20, 1 << 10, SCRYPT_N)
    assert caught.value.reason.startswith(f"vrf_nonce: label output of nonce {bad} ")
    assert get_label_function(prefer_native=False) is compute_label_reference
    assert get_label_function()(commitment, 5, SCRYPT_N) == compute_label_reference(commitment, 5, SCRYPT_N)


# ------------------------------------------------------------------------------------------------
# CLI
# ------------------------------------------------------------------------------------------------


def _verify_cli(post_dir: Path, proof_path: Path, *extra: str) -> tuple[int, dict]:
    from spacemesh_core.cli import cli

    args = [
        "post",
        "verify",
        "--dir",
        str(post_dir),
        "--proof",
        str(proof_path),
        "--challenge",
        CHALLENGE.hex(),
        "--k1",
        str(K1),
        "--k2",
        str(K2),
        "--pow-difficulty",
        POW_DIFFICULTY.hex(),
        "--scrypt-n",
        str(SCRYPT_N),
        "--json",
        *extra,
    ]
    result = CliRunner().invoke(cli, args)
    return result.exit_code, json.loads(result.output) if result.output.startswith("{") else {"raw": result.output}


def test_cli_verify(post_dir: Path, proof: Proof, tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    good.write_text(proof.to_json())
    assert _verify_cli(post_dir, good) == (0, {"valid": True, "reason": None})
    assert _verify_cli(post_dir, good, "--k3", "1", "--seed", "beef") == (0, {"valid": True, "reason": None})
    assert _verify_cli(post_dir, good, "--index", "36") == (0, {"valid": True, "reason": None})

    code, out = _verify_cli(post_dir, good, "--min-units", "4")
    assert (code, out) == (1, {"valid": False, "reason": "num_units: too small: 2 < 4"})

    short = tmp_path / "short.json"
    short.write_text(Proof(proof.nonce, proof.indices[:-1], proof.pow).to_json())
    code, out = _verify_cli(post_dir, short)
    assert code == 1 and out["reason"].startswith("indices_length: ")

    garbage = tmp_path / "garbage.json"
    garbage.write_text('{"nonce": 1}')
    code, out = _verify_cli(post_dir, garbage)
    assert code == 1 and out["reason"].startswith("format: ")

    code, out = _verify_cli(post_dir, good, "--k3", "1", "--index", "2")
    assert code == 2
