"""Benchmark: PoST labels per second on an NVIDIA GPU against the native CPU backend, same run.

    python benchmarks/gpu_labels.py [--n 8192] [--seconds 5] [--gaps auto,1,2,4] [--device 0]

Prints the device, the batch plan (lookup gap, concurrent labels, labels per launch), labels/s of the
kernels alone and of the whole initializer path (host copy, nonce scan, CPU cross-check of every
batch's last label) for each lookup gap, and the ratio to the native CPU backend on all cores measured
in the same run. Before timing, the GPU's outputs of a few labels are compared with the CPU's.
Without a usable GPU it prints why and exits with status 2. ``--emulated`` runs the same script on
the CPU emulation of the CUDA kernel (tiny figures; it only checks that the script works).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable

from spacemesh_core.post import native
from spacemesh_plugins.initializer_gpu.devices import get_cpu_model
from spacemesh_plugins.initializer_gpu.initializer import GpuInitializer
from spacemesh_plugins.initializer_gpu.kernel import GpuUnavailableError, KernelRunner
from spacemesh_plugins.initializer_gpu.planning import BatchPlan

COMMITMENT = bytes.fromhex("72f83ca99604810287652e3402f62784f66ceecc3ca7fda28e680aa816cff153")


def measure(run: Callable[[int, int], object], batch: int, seconds: float) -> float:
    """Return labels/s of ``run(start, count)`` repeated for at least ``seconds`` (after one warm-up)."""
    run(0, batch)
    done, began = 0, time.perf_counter()
    while True:
        run(1000 + done, batch)
        done += batch
        elapsed = time.perf_counter() - began
        if elapsed >= seconds:
            return done / elapsed


def _make_runner(args: argparse.Namespace) -> KernelRunner:
    if args.emulated:
        from spacemesh_plugins.initializer_gpu.emulation import EmulatedKernelRunner, build_emulated_kernel

        module = build_emulated_kernel(tempfile.mkdtemp(prefix="gpu_labels_bench_"))
        return EmulatedKernelRunner(module, free_memory=256 << 20, resident_threads=64, threads_per_block=32)
    from spacemesh_plugins.initializer_gpu.cupy_runner import CupyKernelRunner

    return CupyKernelRunner(args.device)


def main() -> int:
    """Run the benchmark; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=8192, help="scrypt N (default 8192)")
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds per GPU measurement")
    parser.add_argument("--cpu-seconds", type=float, default=3.0, help="seconds of the CPU baseline")
    parser.add_argument("--gaps", default="auto,1,2,4", help="lookup gaps to measure ('auto': the planner's)")
    parser.add_argument("--batch", type=int, default=None, help="labels per launch (default: the plan's)")
    parser.add_argument("--device", type=int, default=0, help="CUDA device id")
    parser.add_argument("--emulated", action="store_true", help="CPU emulation of the kernel (script check)")
    args = parser.parse_args()

    if args.emulated and args.batch is None:
        args.batch = 256  # the emulation runs one thread at a time
    try:
        runner = _make_runner(args)
    except GpuUnavailableError as exc:
        print(f"no usable GPU: {exc}; nothing to measure (see `spacemesh post devices`)", file=sys.stderr)
        return 2
    isa = native.get_default_isa()
    print(f"device: {runner.device_name}")
    print(f"CPU: {get_cpu_model()}; {os.cpu_count()} logical cores; native kernel {isa}")
    print(f"scrypt N = {args.n}, r = p = 1; labels per launch: {args.batch or 'the plan (up to 2^20)'}\n")

    cpu_batch = 64 * (os.cpu_count() or 1)
    cpu_rate = measure(
        lambda s, c: native.compute_labels_native(COMMITMENT, s, c, args.n), cpu_batch, args.cpu_seconds
    )
    print(f"{'native CPU, all cores (baseline)':<72} {cpu_rate:>12,.0f} labels/s    1.00x")

    for gap_text in args.gaps.split(","):
        gap = None if gap_text.strip() == "auto" else int(gap_text)
        if gap is not None and gap > args.n:
            continue
        initializer = GpuInitializer(runner, lookup_gap=gap, **({"max_batch_labels": args.batch} if args.batch else {}))
        plan = initializer.get_plan(args.n)
        sample = runner.compute_outputs(COMMITMENT, (1 << 32) - 2, 4, args.n, plan.lookup_gap, plan.slots)
        if sample != native.compute_labels_native(COMMITMENT, (1 << 32) - 2, 4, args.n):
            print(f"gap {plan.lookup_gap}: the GPU's labels differ from the CPU's; not timing a wrong kernel")
            return 1
        label = f"gap {plan.lookup_gap}{' (auto)' if gap is None else ''}, {plan.slots:,} slots"
        def run_kernels(start: int, count: int, p: BatchPlan = plan) -> bytes:
            return runner.compute_outputs(COMMITMENT, start, count, args.n, p.lookup_gap, p.slots)

        def run_initializer(start: int, count: int, i: GpuInitializer = initializer) -> object:
            return i.compute_labels_with_nonce(COMMITMENT, start, count, args.n, bytes(32), 16)

        kernels = measure(run_kernels, plan.batch_labels, args.seconds)
        whole = measure(run_initializer, plan.batch_labels, args.seconds)
        for what, rate in (("kernels", kernels), ("initializer path (copy, nonce, check)", whole)):
            print(f"{'GPU ' + what + ', ' + label:<72} {rate:>12,.0f} labels/s {rate / cpu_rate:>7.2f}x")
        print(f"{'':<72} = {whole * 16 / 2**20:,.2f} MiB/s of labels stored")
    return 0


if __name__ == "__main__":
    sys.exit(main())
