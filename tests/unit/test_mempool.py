"""The mempool (conservative state): nonce order, projected balance, best fee per nonce, bounds, reasons."""

from __future__ import annotations

import pytest

from spacemesh_core.types.tx import METHOD_SPAWN, METHOD_SPEND, WalletSpawnArguments, WalletSpendArguments
from spacemesh_core.vm.mempool import Mempool, MempoolRejection, RejectReason
from spacemesh_core.vm.template import TemplateRegistry
from spacemesh_core.vm.transaction import encode_unsigned_transaction, sign_single
from spacemesh_core.vm.vm import VM
from spacemesh_plugins.account_template_wallet.template import WalletTemplate
from spacemesh_plugins.wallet_cli.keystore import compute_public_key

GENESIS_ID = b"\x07" * 20
WALLET = WalletTemplate()
SEEDS = [bytes([i]) * 32 for i in range(30, 34)]
KEYS = [compute_public_key(seed) for seed in SEEDS]
ADDRESSES = [bytes(WALLET.compute_principal(WalletSpawnArguments(key))) for key in KEYS]
DEST = bytes(4) + b"\x55" * 20
SPEND_GAS = 36_090  # max gas of these spends (small amounts and nonces)


def spend(i: int, nonce: int, amount: int = 10, gas_price: int = 1) -> bytes:
    unsigned = encode_unsigned_transaction(
        ADDRESSES[i], METHOD_SPEND, nonce, gas_price, WalletSpendArguments(DEST, amount)
    )
    return sign_single(unsigned, SEEDS[i], GENESIS_ID)


def spawn(i: int) -> bytes:
    args = WalletSpawnArguments(KEYS[i])
    unsigned = encode_unsigned_transaction(ADDRESSES[i], METHOD_SPAWN, 0, 1, args, WALLET.address)
    return sign_single(unsigned, SEEDS[i], GENESIS_ID)


@pytest.fixture
def vm() -> VM:
    machine = VM(TemplateRegistry([WALLET]), genesis_id=GENESIS_ID, effective_genesis=1)
    machine.apply_genesis([(address, 10**9) for address in ADDRESSES])
    machine.apply_layer(1, [spawn(i) for i in range(len(SEEDS))])
    return machine


def rejected(pool: Mempool, raw: bytes) -> RejectReason:
    before = len(pool)
    with pytest.raises(MempoolRejection) as info:
        pool.add(raw)
    assert len(pool) == before
    return info.value.reason


def test_nonce_order_and_projection(vm: VM) -> None:
    pool = Mempool(vm)
    for nonce in (1, 2, 3):
        pool.add(spend(0, nonce, amount=100, gas_price=2))
    assert [entry.nonce for entry in pool.get_pending(ADDRESSES[0])] == [1, 2, 3]
    nonce, balance = pool.get_projection(ADDRESSES[0])
    assert nonce == 4
    assert balance == vm.get_balance(ADDRESSES[0]) - 3 * (100 + 2 * SPEND_GAS)


def test_every_rejection_has_a_reason(vm: VM) -> None:
    pool = Mempool(vm)
    pool.add(spend(0, 1))
    assert rejected(pool, spend(0, 1)) is RejectReason.DUPLICATE
    assert rejected(pool, spend(0, 0)) is RejectReason.NONCE_TOO_LOW
    assert rejected(pool, spend(0, 5)) is RejectReason.NONCE_GAP
    assert rejected(pool, spend(0, 2, gas_price=0)) is RejectReason.ZERO_GAS_PRICE
    assert rejected(pool, spend(0, 2, amount=10**12)) is RejectReason.INSUFFICIENT_BALANCE
    assert rejected(pool, spend(0, 1, amount=11, gas_price=1)) is RejectReason.FEE_TOO_LOW
    forged = bytearray(spend(0, 2))
    forged[-1] ^= 1
    assert rejected(pool, bytes(forged)) is RejectReason.INVALID_SIGNATURE
    assert rejected(pool, b"\x00\x01") is RejectReason.MALFORMED
    assert rejected(pool, bytes(2000)) is RejectReason.MALFORMED


def test_best_fee_per_nonce_replaces_and_trims(vm: VM) -> None:
    pool = Mempool(vm)
    balance = vm.get_balance(ADDRESSES[1])
    first = pool.add(spend(1, 1, amount=10))
    second = pool.add(spend(1, 2, amount=10))
    # a richer replacement of nonce 1 leaves too little for nonce 2, which is dropped
    replacement = pool.add(spend(1, 1, amount=balance - 2 * SPEND_GAS - 10, gas_price=2))
    assert first.tx_id not in pool and second.tx_id not in pool and replacement.tx_id in pool
    assert (first.tx_id, RejectReason.REPLACED) in pool.dropped
    assert (second.tx_id, RejectReason.INSUFFICIENT_BALANCE) in pool.dropped


def test_account_limit_and_pool_bound_with_eviction(vm: VM) -> None:
    pool = Mempool(vm, max_size=3, max_per_account=2)
    pool.add(spend(0, 1))
    pool.add(spend(0, 2))
    assert rejected(pool, spend(0, 3)) is RejectReason.ACCOUNT_LIMIT
    pool.add(spend(1, 1))
    assert rejected(pool, spend(2, 1, gas_price=1)) is RejectReason.POOL_FULL
    evicting = pool.add(spend(2, 1, gas_price=5))
    assert len(pool) == 3 and evicting.tx_id in pool
    assert pool.dropped[-1][1] is RejectReason.EVICTED


def test_block_candidates_and_update_after_apply(vm: VM) -> None:
    pool = Mempool(vm)
    pool.add(spend(0, 1, gas_price=1))
    pool.add(spend(0, 2, gas_price=9))
    pool.add(spend(1, 1, gas_price=3))
    candidates = pool.get_block_candidates()
    assert candidates == [spend(1, 1, gas_price=3), spend(0, 1, gas_price=1), spend(0, 2, gas_price=9)]
    assert pool.get_block_candidates(gas_limit=SPEND_GAS) == [spend(1, 1, gas_price=3)]
    ids = {pool.get_pending(ADDRESSES[0])[0].tx_id}
    vm.apply_layer(2, candidates[:2], verified=ids)
    pool.update_from_state()
    assert [entry.nonce for entry in pool.get_pending(ADDRESSES[0])] == [2]
    assert pool.get_pending(ADDRESSES[1]) == []
    assert sum(1 for _, reason in pool.dropped if reason is RejectReason.EXECUTED) == 2
    vm.revert(1)  # the tortoise changed its mind: nonce 2 now leaves a gap again
    pool.update_from_state()
    assert pool.get_pending(ADDRESSES[0]) == []
