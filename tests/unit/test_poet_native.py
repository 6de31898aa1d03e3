"""The native PoET code (SHA-NI and portable C) against the pure-Python reference."""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spacemesh_core.poet import native, reference
from spacemesh_core.poet.prover import CheckpointError, RoundProver
from spacemesh_core.poet.ripemd256 import compute_ripemd256
from spacemesh_core.poet.verify import verify_poet_proof
from spacemesh_core.testing.vectors import load_vectors

pytestmark = pytest.mark.skipif(not native.is_native_available(), reason="native PoET module not built")

IMPLEMENTATIONS = ["portable"] + (["sha-ni"] if native.has_sha_extensions() else [])


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_sha256_matches_hashlib(implementation: str) -> None:
    for length in [0, 1, 31, 32, 55, 56, 63, 64, 65, 96, 119, 120, 200, 1000]:
        data = hashlib.sha512(b"%d" % length).digest() * (length // 64 + 1)
        data = data[:length]
        assert native.compute_sha256(data, implementation) == hashlib.sha256(data).digest(), length


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_chain_matches_hashlib(implementation: str) -> None:
    digest = hashlib.sha256(b"seed").digest()
    expected = digest
    for _ in range(1000):
        expected = hashlib.sha256(expected).digest()
    assert native.compute_sha256_chain(digest, 1000, implementation) == expected
    assert native.compute_sha256_chain(digest, 0, implementation) == digest


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_label_hash_vector(implementation: str) -> None:
    for case in [c for c in load_vectors("poet")["cases"] if c["kind"] == "label_hash"]:
        got = native.compute_label_hash(
            bytes.fromhex(case["challenge_hex"]), bytes.fromhex(case["data_hex"]), case["nesting_depth"], implementation
        )
        assert got.hex() == case["expected_hex"]


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("num_leaves", [1, 2, 3, 4, 5, 7, 8, 9, 16, 31, 150, 151, 256, 300, 513])
def test_native_proof_equals_reference(implementation: str, num_leaves: int) -> None:
    statement = hashlib.sha256(b"native %d" % num_leaves).digest()
    expected = reference.generate_poet_proof(statement, num_leaves)
    assert native.generate_poet_proof(statement, num_leaves, implementation=implementation) == expected


@settings(max_examples=15, deadline=None)
@given(statement=st.binary(min_size=32, max_size=32), num_leaves=st.integers(min_value=1, max_value=200))
def test_native_proof_equals_reference_random(statement: bytes, num_leaves: int) -> None:
    proof = native.generate_poet_proof(statement, num_leaves)
    assert proof == reference.generate_poet_proof(statement, num_leaves)
    verify_poet_proof(proof, statement)


def test_chain_state_resumes_in_pieces() -> None:
    statement = hashlib.sha256(b"pieces").digest()
    whole = native.NativeLeafChain(statement).compute_leaves(100)
    chain = native.NativeLeafChain(statement)
    first = chain.compute_leaves(37)
    # Hand the state to a fresh chain, as a restart from a checkpoint does.
    resumed = native.NativeLeafChain(statement, chain.next_leaf, chain.get_parked_nodes())
    assert first + resumed.compute_leaves(63) == whole
    assert resumed.next_leaf == 100
    leaves, tree = reference.compute_poet_leaves(statement, 100)
    assert b"".join(leaves) == whole
    assert resumed.get_parked_nodes() == tree.get_parked_nodes()
    assert resumed.compute_root() == tree.get_root()


def test_chain_rejects_inconsistent_state() -> None:
    with pytest.raises(ValueError, match="parked node"):
        native.NativeLeafChain(bytes(32), 5, [bytes(32)])
    with pytest.raises(ValueError):
        native.NativeLeafChain(bytes(31))
    with pytest.raises(ValueError, match="unknown implementation"):
        native.NativeLeafChain(bytes(32), implementation="gpu")


def test_stop_request_interrupts_a_long_call() -> None:
    chain = native.NativeLeafChain(hashlib.sha256(b"stop").digest())
    result: list[bytes] = []
    worker = threading.Thread(target=lambda: result.append(chain.compute_leaves(10_000_000)))
    worker.start()
    while chain.next_leaf == 0 and not result:
        chain.request_stop()
        worker.join(timeout=0.05)
    worker.join()
    assert len(result[0]) // 32 == chain.next_leaf < 10_000_000
    assert result[0] == native.NativeLeafChain(chain.statement).compute_leaves(chain.next_leaf)


def test_parent_layer_matches_reference() -> None:
    statement = hashlib.sha256(b"layer").digest()
    nodes = [hashlib.sha256(b"%d" % i).digest() for i in range(11)]
    expected = reference.compute_parent_layer(nodes, reference.make_poet_node_hasher(statement))
    assert native.compute_parent_layer(statement, b"".join(nodes)) == b"".join(expected)


@settings(max_examples=20, deadline=None)
@given(data=st.binary(max_size=300))
def test_ripemd256_native_matches_python(data: bytes) -> None:
    assert native.compute_ripemd256(data) == compute_ripemd256(data)


def test_pow_nonce_native_matches_reference() -> None:
    args = (b"\x0a" * 32, b"\x0b" * 32, b"\x0c" * 32)
    for difficulty in (0, 5, 10):
        assert native.find_pow_nonce(*args, difficulty) == reference.find_pow_nonce(*args, difficulty)
    stop = threading.Event()
    stop.set()
    with pytest.raises(InterruptedError):
        native.find_pow_nonce(*args, 200, stop_event=stop)


# --- the disk-backed round prover and its checkpoints -----------------------------------------


def test_round_prover_resumes_after_a_crash(tmp_path: Path) -> None:
    statement = hashlib.sha256(b"round").digest()
    prover = RoundProver(tmp_path, statement, checkpoint_leaves=128)
    assert prover.run(deadline=float("inf"), max_leaves=256) == 256
    saved = json.loads(prover.checkpoint_path.read_text())
    assert saved["next_leaf"] == 256
    # Labels written after the last checkpoint, then a crash: they must be discarded.
    with prover.leaves_path.open("ab") as handle:
        handle.write(b"\xff" * 32 * 50)
    resumed = RoundProver(tmp_path, statement, checkpoint_leaves=128)
    assert resumed.resumed_from == 256
    assert resumed.leaves_path.stat().st_size == 256 * 32
    assert resumed.run(deadline=float("inf"), max_leaves=401) == 401
    assert resumed.generate_proof() == reference.generate_poet_proof(statement, 401)


def test_round_prover_runs_until_deadline_and_min_leaves(tmp_path: Path) -> None:
    statement = hashlib.sha256(b"deadline").digest()
    ticks = iter(range(1000))
    prover = RoundProver(tmp_path, statement)
    # A fake clock already past the deadline: the work still reaches min_leaves.
    leaves = prover.run(deadline=-1.0, min_leaves=150, clock=lambda: float(next(ticks)))
    assert leaves is not None and leaves >= 150
    verify_poet_proof(prover.generate_proof(), statement)


def test_round_prover_stop_checkpoints(tmp_path: Path) -> None:
    statement = hashlib.sha256(b"stop round").digest()
    stop = threading.Event()
    stop.set()
    prover = RoundProver(tmp_path, statement)
    assert prover.run(deadline=1e18, stop_event=stop) is None
    assert json.loads(prover.checkpoint_path.read_text())["next_leaf"] == 0


def test_round_prover_rejects_foreign_checkpoint(tmp_path: Path) -> None:
    RoundProver(tmp_path, bytes(32)).run(deadline=0, min_leaves=1, max_leaves=10)
    with pytest.raises(CheckpointError, match="statement"):
        RoundProver(tmp_path, b"\x01" * 32)
    (tmp_path / "leaves.bin").write_bytes(b"")
    with pytest.raises(CheckpointError, match="holds 0 leaves"):
        RoundProver(tmp_path, bytes(32))
