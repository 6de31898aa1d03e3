"""Tests of the unified block, the transaction order, optimistic filtering and certificates."""

from __future__ import annotations

import random
from fractions import Fraction

import attrs
import pytest

from spacemesh_core.consensus.blocks import (
    BlockError,
    BlockProposal,
    BlockTx,
    CertificateError,
    Certifier,
    CertifierConfig,
    DuplicateAtxError,
    compute_block_rewards,
    compute_block_seed,
    compute_block_tx_order,
    compute_optimistic_filter,
    create_certify_message,
    generate_block,
    prune_to_gas_limit,
)
from spacemesh_core.consensus.hare3 import HareConfig, HareOracle
from spacemesh_core.crypto.hashes import compute_blake3
from spacemesh_core.crypto.signing import Signer
from spacemesh_core.determinism.go_rand import compute_shuffle_permutation
from spacemesh_core.testing.vectors import load_vectors

GENESIS_ID = bytes(range(20))


def _proposal(index: int, **kw: object) -> BlockProposal:
    base = {
        "id": compute_blake3(b"p", bytes([index]))[:20],
        "atx_id": compute_blake3(b"a", bytes([index])),
        "atx_weight": 10 * (index + 1),
        "eligibility_count": 3,
        "proof_count": 1,
        "tick_height": 100 + index,
    }
    base.update(kw)
    return BlockProposal(**base)  # type: ignore[arg-type]


def test_block_seed_pads_and_sorts_ids() -> None:
    ids = [b"\x02" * 20, b"\x01" * 20]
    expected = compute_blake3(b"\x01" * 20 + bytes(12) + b"\x02" * 20 + bytes(12))
    assert compute_block_seed(ids) == expected


def test_tx_order_matches_go_shuffle_vectors() -> None:
    cases = [c for c in load_vectors("mt19937_64")["cases"] if c["kind"] == "go_shuffle"]
    assert cases
    for case in cases:
        seed = bytes.fromhex(case["seed_hex"])
        n = int(case["n"])
        expected = [int(x) for x in str(case["expected_permutation"]).strip("[]").split(",")]
        txs = [BlockTx(i.to_bytes(32, "big"), bytes([i]) * 24, 0, 1, 100) for i in range(n)]
        shuffled = list(reversed(txs))  # input order must not matter: candidates are sorted by id
        order = compute_block_tx_order(shuffled, seed)
        assert [tx.id for tx in order] == [txs[p].id for p in expected]
        assert compute_shuffle_permutation(seed, n) == expected


def test_tx_order_keeps_nonce_order_and_best_fee() -> None:
    rng = random.Random(7)
    txs = []
    for account in range(5):
        for nonce in range(4):
            txs.append(BlockTx(rng.randbytes(32), bytes([account]) * 24, nonce, rng.randint(1, 5), 100))
    cheap = attrs.evolve(txs[0], id=b"\xff" * 32, fee=0)  # same account and nonce, lower fee
    txs.append(cheap)
    txs.append(txs[3])  # duplicate id
    order = compute_block_tx_order(txs, b"seed")
    assert cheap not in order
    assert len(order) == 20
    for account in range(5):
        nonces = [tx.nonce for tx in order if tx.principal == bytes([account]) * 24]
        assert nonces == sorted(nonces) == [0, 1, 2, 3]
    assert compute_block_tx_order(list(reversed(txs)), b"seed") == order
    assert compute_block_tx_order(txs, b"other seed") != order


def test_gas_pruning() -> None:
    txs = [BlockTx(bytes([i]) * 32, bytes([i]) * 24, 0, 1, 30_000) for i in range(10)]
    assert prune_to_gas_limit(txs, 0) == txs
    # 100 000 gas: three txs (90 000) leave 10 000 < the 20 000 minimum
    assert prune_to_gas_limit(txs, 100_000) == txs[:3]
    assert prune_to_gas_limit(txs, 130_000) == txs[:4]
    # the reference's uint64 wrap-around: 25 000 left, a 30 000 transaction passes and wraps
    assert prune_to_gas_limit(txs, 55_000) == txs


def test_rewards_sorted_reduced_and_unique() -> None:
    proposals = [_proposal(i, proof_count=i + 1) for i in range(4)]
    rewards = compute_block_rewards(list(reversed(proposals)))
    assert [r.atx_id for r in rewards] == sorted(p.atx_id for p in proposals)
    by_atx = {r.atx_id: r.weight for r in rewards}
    for p in proposals:
        weight = by_atx[p.atx_id]
        assert Fraction(weight.num, weight.denom) == Fraction(p.atx_weight * p.proof_count, p.eligibility_count)
        assert Fraction(weight.num, weight.denom).denominator == weight.denom  # reduced like big.Rat
    with pytest.raises(DuplicateAtxError):
        compute_block_rewards([proposals[0], attrs.evolve(proposals[1], atx_id=proposals[0].atx_id)])
    with pytest.raises(BlockError):
        compute_block_rewards([_proposal(0, atx_id=bytes(32))])
    with pytest.raises(BlockError):
        compute_block_rewards([_proposal(0, eligibility_count=0)])


def test_generate_block_is_deterministic() -> None:
    txs = {bytes([i]) * 32: BlockTx(bytes([i]) * 32, bytes([i % 3]) * 24, i // 3, 1, 1000) for i in range(9)}
    proposals = [_proposal(i, tx_ids=tuple(list(txs)[i * 3 : i * 3 + 3])) for i in range(3)]
    block = generate_block(50, proposals, txs)
    assert block is not None
    assert block.tick_height == 102
    assert block.layer_index == 50
    assert sorted(block.tx_ids) == sorted(txs)
    again = generate_block(50, list(reversed(proposals)), txs)
    assert again is not None and again.compute_id() == block.compute_id()
    assert generate_block(50, [], txs) is None
    with pytest.raises(BlockError):
        generate_block(50, [_proposal(0, tx_ids=(b"\x99" * 32,))], txs)


def test_optimistic_filtering() -> None:
    mesh = b"\x05" * 32
    proposals = [_proposal(i, mesh_hash=mesh) for i in range(9)] + [_proposal(9, mesh_hash=b"\x06" * 32)]
    agreed = compute_optimistic_filter(proposals, mesh)
    assert agreed.is_enabled and agreed.majority_hash == mesh
    assert not compute_optimistic_filter(proposals, b"\x07" * 32).is_enabled
    split = [_proposal(i, mesh_hash=mesh) for i in range(8)] + [_proposal(i, mesh_hash=b"\x06" * 32) for i in (8, 9)]
    assert compute_optimistic_filter(split, mesh).majority_hash is None
    empty = [_proposal(i) for i in range(5)]
    assert compute_optimistic_filter(empty, bytes(32)).majority_hash is None
    # only effective transactions are kept when filtering applies
    txs = {bytes([i]) * 32: BlockTx(bytes([i]) * 32, bytes([i]) * 24, 0, 1, 1000) for i in range(4)}
    props = [attrs.evolve(p, tx_ids=tuple(txs)) for p in proposals[:9]]
    block = generate_block(60, props, txs, local_mesh_hash=mesh, is_effective=lambda ordered: ordered[:2])
    assert block is not None and len(block.tx_ids) == 2


@pytest.fixture(scope="module")
def committee() -> tuple[list[Signer], HareOracle]:
    signers = [Signer.from_seed(bytes([i + 1]) * 32) for i in range(12)]
    oracle = HareOracle({s.node_id: 10 for s in signers}, b"\x01\x02\x03\x04", HareConfig(committee=20))
    return signers, oracle


def test_certificate_forms_at_threshold(committee: tuple[list[Signer], HareOracle]) -> None:
    signers, oracle = committee
    config = CertifierConfig(committee=20, threshold=11)
    certifier = Certifier(GENESIS_ID, config)
    block_id = b"\x0b" * 20
    messages = [create_certify_message(s, oracle, 40, block_id, GENESIS_ID, 20) for s in signers]
    eligible = [m for m in messages if m is not None]
    assert sum(m.content.eligibility_count for m in eligible) >= 11
    certificate = None
    for message in eligible:
        certificate = certificate or certifier.on_certify_message(message, oracle, 40)
    assert certificate is not None and certificate.block_id == block_id
    assert certifier.get_certified_block(40) == block_id
    certifier.verify_certificate(certificate, 40, oracle)
    with pytest.raises(CertificateError):
        certifier.on_certify_message(eligible[0], oracle, 40)  # duplicate signer
    fresh = Certifier(GENESIS_ID, config)
    with pytest.raises(CertificateError):
        fresh.on_certify_message(eligible[0], oracle, 44)  # outside the layer window
    forged = attrs.evolve(eligible[0], signature=bytes(64))
    with pytest.raises(CertificateError):
        fresh.on_certify_message(forged, oracle, 40)
    inflated = attrs.evolve(eligible[0], content=attrs.evolve(eligible[0].content, eligibility_count=99))
    with pytest.raises(CertificateError):
        fresh.on_certify_message(inflated, oracle, 40)
    short = attrs.evolve(certificate, signatures=certificate.signatures[:1])
    with pytest.raises(CertificateError):
        fresh.verify_certificate(short, 40, oracle)


def test_two_certified_blocks_mean_empty_output(committee: tuple[list[Signer], HareOracle]) -> None:
    signers, oracle = committee
    certifier = Certifier(GENESIS_ID, CertifierConfig(committee=20, threshold=1))
    for signer, block_id in zip(signers, [b"\x01" * 20, b"\x02" * 20] * 6, strict=True):
        message = create_certify_message(signer, oracle, 41, block_id, GENESIS_ID, 20)
        if message is not None:
            certifier.on_certify_message(message, oracle, 41)
    assert certifier.is_conflicted(41)
    assert certifier.get_certified_block(41) is None
    assert certifier.get_certificate(41) is None
