"""Cost of the bit-exact deterministic helpers, each against a baseline measured in the same run.

1. MT19937-64 draws (pure Python) vs ``random.getrandbits(64)`` (CPython's C MT19937-32).
2. Go ``Shuffle`` of a block's transaction list over MT19937-64 vs ``random.shuffle`` of the same list.
3. One fixed-point ``BinCDF`` at hare shape (committee 50, 1 % of the total weight) with the memo
   cleared vs a naive float64 binomial sum of the same CDF.
4. Validating one hare eligibility count (two ``BinCDF`` values) with a cold and a warm memo.
5. The decimal subsidy of one layer vs the float64 evaluation of the same curve.

    python benchmarks/bench_determinism.py [--seconds 0.5] [--txs 2000]
"""

from __future__ import annotations

import argparse
import math
import random
import time
from collections.abc import Callable

from spacemesh_core import economics
from spacemesh_core.determinism import fixed
from spacemesh_core.determinism.fixed import (
    compute_eligibility_parameters,
    compute_hare_eligibility_count,
    is_hare_eligibility_count_valid,
)
from spacemesh_core.determinism.go_rand import apply_go_shuffle, new_mt19937_rand
from spacemesh_core.determinism.mt19937_64 import MersenneTwister64


def measure(fn: Callable[[], object], seconds: float) -> float:
    """Calls per second of ``fn`` (best of three windows of ``seconds / 3``)."""
    best = 0.0
    for _ in range(3):
        calls = 0
        start = time.perf_counter()
        deadline = start + seconds / 3
        while True:
            fn()
            calls += 1
            now = time.perf_counter()
            if now >= deadline:
                break
        best = max(best, calls / (now - start))
    return best


def float_bin_cdf(n: int, p: float, x: int) -> float:
    """Naive float64 binomial CDF by the pmf recurrence (the baseline)."""
    q = 1.0 - p
    pmf = math.exp(n * math.log(q))
    total = pmf
    for k in range(x):
        pmf *= (n - k) / (k + 1) * p / q
        total += pmf
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=0.6, help="time per measurement")
    parser.add_argument("--txs", type=int, default=2000, help="transactions in the shuffled block")
    args = parser.parse_args()
    s = args.seconds
    rows: list[tuple[str, float, str]] = []

    mt = MersenneTwister64(key=[1, 2, 3, 4])
    py_rng = random.Random(1)
    batch = 1000
    mt_rate = measure(lambda: [mt.uint64() for _ in range(batch)], s) * batch
    base_rate = measure(lambda: [py_rng.getrandbits(64) for _ in range(batch)], s) * batch
    rows.append(("random.getrandbits(64) (baseline)", base_rate, "1.00"))
    rows.append(("MersenneTwister64.uint64", mt_rate, f"{mt_rate / base_rate:.3f}"))

    seed = bytes(range(32))
    items = list(range(args.txs))

    def go_shuffle() -> None:
        apply_go_shuffle(new_mt19937_rand(seed), items)

    def py_shuffle() -> None:
        random.Random(7).shuffle(items)

    base_shuffle = measure(py_shuffle, s)
    go_rate = measure(go_shuffle, s)
    rows.append((f"random.shuffle({args.txs}) (baseline)", base_shuffle, "1.00"))
    rows.append((f"Go Shuffle({args.txs}) over MT19937-64, incl. seeding", go_rate, f"{go_rate / base_shuffle:.3f}"))

    weight, total, committee = 10_000_000, 1_000_000_000, 50
    n, p = compute_eligibility_parameters(weight, total, committee)
    p_float = committee / total

    def fixed_cdf() -> None:
        fixed._bin_cdf_raw.cache_clear()
        fixed._bin_cdf_raw(n, p.raw, 1)

    base_cdf = measure(lambda: float_bin_cdf(n, p_float, 1), s)
    fixed_rate = measure(fixed_cdf, s)
    rows.append(("float64 binomial CDF, n=1e7 x=1 (baseline)", base_cdf, "1.00"))
    rows.append(("fixed BinCDF, same (memo cleared)", fixed_rate, f"{fixed_rate / base_cdf:.4f}"))

    frac = 0xE8E863E5A5DE21  # worth 2 eligibilities for these weights
    count = compute_hare_eligibility_count(frac, weight, total, committee)

    def validate_cold() -> None:
        fixed._bin_cdf_raw.cache_clear()
        is_hare_eligibility_count_valid(frac, weight, total, committee, count)

    def validate_warm() -> None:
        is_hare_eligibility_count_valid(frac, weight, total, committee, count)

    cold = measure(validate_cold, s)
    warm = measure(validate_warm, s)
    rows.append(("eligibility validation, cold memo", cold, f"{cold / base_cdf:.4f}"))
    rows.append(("eligibility validation, warm memo", warm, f"{warm / base_cdf:.3f}"))

    lam = float(economics.LAMBDA)

    def float_subsidy() -> int:
        layer = 123_456
        acc = int(economics.TOTAL_SUBSIDY * (1 - math.exp(-lam * (layer + 1))))
        prev = int(economics.TOTAL_SUBSIDY * (1 - math.exp(-lam * layer)))
        return acc - prev

    base_sub = measure(float_subsidy, s)
    dec_sub = measure(lambda: economics.compute_layer_subsidy(123_455), s)
    rows.append(("float64 subsidy of one layer (baseline, inexact)", base_sub, "1.00"))
    rows.append(("decimal subsidy of one layer (exact)", dec_sub, f"{dec_sub / base_sub:.3f}"))

    width = max(len(r[0]) for r in rows)
    print(f"{'operation':<{width}}  {'ops/s':>14}  ratio vs baseline")
    for name, rate, ratio in rows:
        print(f"{name:<{width}}  {rate:>14,.0f}  {ratio}")


if __name__ == "__main__":
    main()
