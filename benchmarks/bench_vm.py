"""Wallet spends applied per second by the VM, and the share of signature verification in it.

One run measures, on the same machine and the same transactions:

1. applying N signed wallet spends (from many accounts) as layers, signatures verified by the VM;
2. applying the same spends with every id marked pre-verified (the mempool already checked them),
   i.e. the VM without signature verification;
3. verifying the N signatures alone.

The share of verification is ``1 - t(2) / t(1)``; ``t(3) / t(1)`` cross-checks it. Run:
``python benchmarks/bench_vm.py [--spends 4000] [--accounts 200] [--per-layer 500]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Sequence

from nacl.bindings import crypto_sign_seed_keypair

from spacemesh_core.types.tx import METHOD_SPAWN, METHOD_SPEND, WalletSpawnArguments, WalletSpendArguments
from spacemesh_core.vm.template import load_template_registry
from spacemesh_core.vm.transaction import compute_tx_id, encode_unsigned_transaction, sign_single
from spacemesh_core.vm.vm import VM, TxStatus

GENESIS_ID = b"\x33" * 20


def build_workload(accounts: int, spends: int) -> tuple[list[tuple[bytes, int]], list[bytes], list[bytes]]:
    """Return genesis balances, the spawn transactions, and ``spends`` signed spends."""
    wallet_address = bytes(23) + b"\x01"
    seeds = [os.urandom(32) for _ in range(accounts)]
    keys = [bytes(crypto_sign_seed_keypair(seed)[0]) for seed in seeds]
    registry = load_template_registry()
    wallet = registry.get(wallet_address)
    assert wallet is not None
    addresses = [bytes(wallet.compute_principal(WalletSpawnArguments(key))) for key in keys]
    genesis = [(address, 10**15) for address in addresses]
    spawns = [
        sign_single(
            encode_unsigned_transaction(address, METHOD_SPAWN, 0, 1, WalletSpawnArguments(key), wallet_address),
            seed, GENESIS_ID,
        )
        for address, key, seed in zip(addresses, keys, seeds, strict=True)
    ]
    txs = []
    for i in range(spends):
        sender = i % accounts
        nonce = 1 + i // accounts
        args = WalletSpendArguments(addresses[(sender + 1) % accounts], 1 + i % 1000)
        txs.append(sign_single(encode_unsigned_transaction(addresses[sender], METHOD_SPEND, nonce, 1, args),
                               seeds[sender], GENESIS_ID))
    return genesis, spawns, txs


def apply_all(genesis: list[tuple[bytes, int]], spawns: list[bytes], txs: Sequence[bytes], per_layer: int,
              pre_verified: bool) -> float:
    """Apply ``txs`` in layers of ``per_layer`` on a fresh VM; return the seconds spent on them."""
    vm = VM(load_template_registry(), genesis_id=GENESIS_ID, effective_genesis=1, gas_limit=10**12)
    vm.apply_genesis(genesis)
    vm.apply_layer(1, spawns)
    verified = {compute_tx_id(raw) for raw in txs} if pre_verified else set()
    start = time.perf_counter()
    for layer, offset in enumerate(range(0, len(txs), per_layer), start=2):
        result = vm.apply_layer(layer, txs[offset : offset + per_layer], verified=verified)
        assert all(r.status is TxStatus.SUCCESS for r in result.executed) and not result.ineffective
    return time.perf_counter() - start


def verify_all(vm: VM, txs: Sequence[bytes]) -> float:
    """Parse each spend (outside the timing) and time only the signature checks."""
    parsed = [vm.parse(raw) for raw in txs]
    start = time.perf_counter()
    assert all(p.verify(GENESIS_ID) for p in parsed)
    return time.perf_counter() - start


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spends", type=int, default=4000)
    parser.add_argument("--accounts", type=int, default=200)
    parser.add_argument("--per-layer", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    options = parser.parse_args()
    genesis, spawns, txs = build_workload(options.accounts, options.spends)
    with_sig = min(apply_all(genesis, spawns, txs, options.per_layer, False) for _ in range(options.repeat))
    without_sig = min(apply_all(genesis, spawns, txs, options.per_layer, True) for _ in range(options.repeat))
    vm = VM(load_template_registry(), genesis_id=GENESIS_ID, effective_genesis=1)
    vm.apply_genesis(genesis)
    vm.apply_layer(1, spawns)
    verify_only = min(verify_all(vm, txs) for _ in range(options.repeat))
    n = len(txs)
    print(f"python {platform.python_version()} on {platform.machine()}; {n} wallet spends, "
          f"{options.accounts} accounts, {options.per_layer} per layer, best of {options.repeat}")
    print(f"apply, signatures verified : {n / with_sig:10.0f} spends/s  ({with_sig * 1e6 / n:7.1f} us/spend)")
    print(f"apply, pre-verified (base) : {n / without_sig:10.0f} spends/s  ({without_sig * 1e6 / n:7.1f} us/spend)")
    print(f"signature checks alone     : {n / verify_only:10.0f} sigs/s    ({verify_only * 1e6 / n:7.1f} us/sig)")
    print(f"ratio verified/pre-verified throughput: {without_sig / with_sig:.3f}")
    print(f"share of signature verification in apply: {1 - without_sig / with_sig:.1%} "
          f"(cross-check: checks alone / apply = {verify_only / with_sig:.1%})")


if __name__ == "__main__":
    main()
