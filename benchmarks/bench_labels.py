"""Benchmark: PoST label throughput, SIMD lane kernels against the plain one-label-at-a-time C code.

Everything is measured in the same run, single-threaded (labels/s per core), at scrypt N = 8192
(mainnet). The baseline is ``sm_compute_labels_baseline``: plain C, one label at a time, no lanes.
Passes alternate between the variants (machines are noisy) and the best pass of each is kept.

    python benchmarks/bench_labels.py [--n 8192] [--seconds 2] [--passes 3] [--threads]

Prints labels/s and the ratio to the baseline for every kernel the CPU runs, and with ``--threads``
also the multi-threaded rate of the best kernel.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable

from spacemesh_core.post import native

COMMITMENT = bytes.fromhex("72f83ca99604810287652e3402f62784f66ceecc3ca7fda28e680aa816cff153")
_INTERESTING_FLAGS = ("sse2", "avx", "avx2", "avx512f", "avx512vl", "avx512bw", "aes", "vaes", "sha_ni")


def get_cpu_description() -> tuple[str, str]:
    """Return the CPU model name and the relevant flags from /proc/cpuinfo."""
    model, flags = platform.processor() or "unknown", ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name") and model in ("unknown", "", "x86_64"):
                    model = line.split(":", 1)[1].strip()
                if line.startswith("flags"):
                    present = set(line.split(":", 1)[1].split())
                    flags = " ".join(f for f in _INTERESTING_FLAGS if f in present)
                    break
    except OSError:
        pass
    return model, flags


def measure(run: Callable[[int, int], object], batch: int, seconds: float) -> float:
    """Return labels/s of ``run(start, count)`` over at least ``seconds``."""
    run(0, batch)  # warm up: page in the scratch memory, settle the clock
    done, start, began = 0, 1000, time.perf_counter()
    while True:
        run(start + done, batch)
        done += batch
        elapsed = time.perf_counter() - began
        if elapsed >= seconds:
            return done / elapsed


def _make_kernel_run(isa: str, scrypt_n: int) -> Callable[[int, int], object]:
    def run(start: int, count: int) -> bytes:
        return native.compute_labels_native(COMMITMENT, start, count, scrypt_n, threads=1, isa=isa)

    return run


def main() -> None:
    """Run the benchmark and print a table of labels/s and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=8192, help="scrypt N (default 8192)")
    parser.add_argument("--seconds", type=float, default=2.0, help="seconds per measurement")
    parser.add_argument("--passes", type=int, default=3, help="alternating passes (best kept)")
    parser.add_argument("--threads", action="store_true", help="also measure all cores")
    args = parser.parse_args()

    model, flags = get_cpu_description()
    print(f"CPU: {model}; {os.cpu_count()} logical cores; flags: {flags}")
    print(f"scrypt N = {args.n}, r = p = 1; {args.seconds} s per measurement, best of {args.passes} passes\n")

    variants: dict[str, tuple[Callable[[int, int], object], int]] = {
        "baseline (plain C, 1 label at a time)": (
            lambda s, c: native.compute_labels_baseline_native(COMMITMENT, s, c, args.n),
            4,
        )
    }
    for isa in native.get_supported_isas():
        lanes = native.get_isa_lanes(isa)
        variants[f"{isa} ({lanes} lanes)"] = (
            _make_kernel_run(isa, args.n),
            max(lanes, 4) * 2,
        )
    best: dict[str, float] = {}
    for _ in range(args.passes):
        for name, (run, batch) in variants.items():
            best[name] = max(best.get(name, 0.0), measure(run, batch, args.seconds))

    baseline = best["baseline (plain C, 1 label at a time)"]
    print(f"{'variant (1 thread)':<42}{'labels/s':>12}{'vs baseline':>14}")
    for name, rate in best.items():
        print(f"{name:<42}{rate:>12,.0f}{rate / baseline:>13.2f}x")
    top = native.get_best_isa()
    top_rate = best[next(k for k in best if k.startswith(top))]
    print(f"\nbest kernel on this CPU: {top}; SIMD per-core speed-up {top_rate / baseline:.2f}x")

    if args.threads:
        cores = os.cpu_count() or 1
        rate = measure(
            lambda s, c: native.compute_labels_native(COMMITMENT, s, c, args.n, threads=cores),
            native.get_isa_lanes(top) * cores * 2,
            args.seconds,
        )
        print(f"{top}, {cores} threads: {rate:,.0f} labels/s ({rate / top_rate:.2f}x one thread)")


if __name__ == "__main__":
    main()
