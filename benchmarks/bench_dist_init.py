"""Benchmark: PoST initialization over a local Dask cluster (``--cluster local:W``) against one process.

Everything runs on this machine in the same invocation, on the same layout (default: 4 units of
16384 labels, files of 8192 labels, scrypt N = 8192, the mainnet N):

* ``single``: one process, :func:`initialize` with the native backend on all CPUs (what
  ``spacemesh post init`` does without ``--cluster``): the baseline;
* ``single-1t``: one process, one label thread (to show what one worker alone does);
* ``local:W``: :func:`initialize_distributed` on a fresh local cluster of W worker processes, each
  with ``cpu_count // W`` label threads; timed with and without starting the cluster.

Passes alternate between the variants (machines are noisy); the best pass of each is kept. Every
distributed result is checked byte for byte against the single-process one.

    python benchmarks/bench_dist_init.py [--units 4] [--labels-per-unit 16384] [--n 8192] [--workers 2]

On one machine the cluster cannot beat the native backend's own threads (it uses the same cores);
the figure shows the overhead of the Dask path, which is what a multi-machine run pays per machine.
"""

from __future__ import annotations

import argparse
import functools
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from spacemesh_core.post.distributed import create_local_initializer, initialize_distributed, open_cluster
from spacemesh_core.post.initialize import initialize

NODE_ID = bytes.fromhex("8411931ece38b5abfb611f3bb1155a7eecd9c0e6c26672b567f7b1629c70a924")
ATX_ID = bytes.fromhex("66ec687158c86167efec0fcad4b9a6f3e98db07cc065a595a5b979f8a20dc7e2")
_FLAGS = ("sse2", "avx2", "avx512f", "avx512vl", "avx512bw")


def get_cpu_description() -> tuple[str, str]:
    """Return the CPU model name and the SIMD flags the label kernels use, from /proc/cpuinfo."""
    model, flags = platform.processor() or "unknown", ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                if line.startswith("flags"):
                    present = set(line.split(":", 1)[1].split())
                    flags = " ".join(f for f in _FLAGS if f in present)
                    break
    except OSError:
        pass
    return model, flags


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()}


def main() -> None:
    """Run the benchmark and print a table of seconds, labels/s and ratios to the single process."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--units", type=int, default=4)
    parser.add_argument("--labels-per-unit", type=int, default=16384)
    parser.add_argument("--file-labels", type=int, default=8192, help="labels per postdata file")
    parser.add_argument("--n", type=int, default=8192, help="scrypt N")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--passes", type=int, default=2)
    args = parser.parse_args()
    params: dict[str, Any] = {
        "num_units": args.units,
        "labels_per_unit": args.labels_per_unit,
        "scrypt_n": args.n,
        "max_file_size": 16 * args.file_labels,
    }
    total = args.units * args.labels_per_unit
    cpus = os.cpu_count() or 1
    model, flags = get_cpu_description()
    print(f"CPU: {model} ({cpus} logical CPUs; {flags})")
    print(f"layout: {total} labels in files of {args.file_labels}, scrypt N={args.n}; {args.workers} workers")
    best: dict[str, float] = {}
    reference: dict[str, bytes] | None = None
    work = Path(tempfile.mkdtemp(prefix="bench-dist-"))
    try:
        for _ in range(args.passes):
            for name, threads in (("single", None), ("single-1t", 1)):
                target = work / name
                shutil.rmtree(target, ignore_errors=True)
                began = time.perf_counter()
                initialize(target, NODE_ID, ATX_ID, **params, provider=create_local_initializer(threads))
                best[name] = min(best.get(name, float("inf")), time.perf_counter() - began)
                if name == "single":
                    reference = _snapshot(target)
            target = work / "cluster"
            shutil.rmtree(target, ignore_errors=True)
            began = time.perf_counter()
            with open_cluster(f"local:{args.workers}") as client:
                started = time.perf_counter()
                threads = max(1, cpus // args.workers)
                initialize_distributed(
                    target, NODE_ID, ATX_ID, **params, cluster=client,
                    provider_factory=functools.partial(create_local_initializer, threads),
                )
                job = time.perf_counter() - started
            whole = time.perf_counter() - began
            if _snapshot(target) != reference:
                raise SystemExit("the distributed result differs from the single-process one")
            key = f"local:{args.workers}"
            best[key] = min(best.get(key, float("inf")), job)
            best[key + " incl. start"] = min(best.get(key + " incl. start", float("inf")), whole)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    base = best["single"]
    print(f"{'variant':<22}{'seconds':>10}{'labels/s':>12}{'speed-up vs single':>21}")
    for name, seconds in best.items():
        print(f"{name:<22}{seconds:>10.2f}{total / seconds:>12,.0f}{base / seconds:>20.2f}x")
    print("distributed results byte-identical to the single-process run: yes")


if __name__ == "__main__":
    main()
