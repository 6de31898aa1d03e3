"""PoET sequential work: leaves per second of the native loop against baselines, in one run.

Baselines, all computing exactly the same leaves (checked):
* ``openssl``: the same leaf loop in C with OpenSSL ``SHA256_Init/Update/Final`` per hash (a small
  cffi module built here, linked with -lcrypto);
* ``hashlib``: the pure-Python reference loop (``spacemesh_core.poet.reference``).

Each measurement is repeated; the best rate of each is reported, interleaved so that machine noise
hits all of them alike. Run: ``python benchmarks/bench_poet.py [--leaves N] [--repeat R]``.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from spacemesh_core.poet import native, reference

OPENSSL_SOURCE = r"""
#include <openssl/sha.h>
#include <stdint.h>
#include <string.h>

static void sha(const uint8_t *msg, size_t len, uint8_t out[32]) {
    SHA256_CTX ctx;
    SHA256_Init(&ctx);
    SHA256_Update(&ctx, msg, len);
    SHA256_Final(out, &ctx);
}

int64_t openssl_compute_leaves(const uint8_t statement[32], uint64_t first, uint64_t count,
                               uint8_t *parked, uint8_t *out) {
    uint8_t input[40 + 64 * 32], node[96];
    memcpy(input, statement, 32);
    memcpy(node, statement, 32);
    for (uint64_t done = 0; done < count; done++) {
        uint64_t leaf = first + done;
        for (int b = 0; b < 8; b++) input[32 + b] = (uint8_t)(leaf >> (56 - 8 * b));
        size_t len = 40;
        for (int h = 0; h < 64; h++)
            if ((leaf >> h) & 1) { memcpy(input + len, parked + 32 * h, 32); len += 32; }
        uint8_t label[32];
        sha(input, len, label);
        for (int i = 1; i < 400; i++) sha(label, 32, label);
        memcpy(out + 32 * done, label, 32);
        int h = 0;
        while (h < 64 && ((leaf >> h) & 1)) {
            memcpy(node + 32, parked + 32 * h, 32);
            memcpy(node + 64, label, 32);
            sha(node, 96, label);
            h++;
        }
        if (h < 64) memcpy(parked + 32 * h, label, 32);
    }
    return (int64_t)count;
}
"""


def build_openssl_module(workdir: Path) -> Any:
    """Compile the OpenSSL baseline; None (and a note for the lead) when headers are missing."""
    from cffi import FFI

    if not Path("/usr/include/openssl/sha.h").exists():
        note = Path("/work/notes/h6-apt.txt")
        note.parent.mkdir(parents=True, exist_ok=True)
        note.write_text("apt-get install -y libssl-dev\n")
        print("OpenSSL headers missing: wrote the apt line to", note)
        return None
    ffi = FFI()
    ffi.cdef(
        "int64_t openssl_compute_leaves(const uint8_t statement[32], uint64_t first, uint64_t count,"
        " uint8_t *parked, uint8_t *out);"
    )
    ffi.set_source(
        "_bench_poet_openssl",
        OPENSSL_SOURCE,
        libraries=["crypto"],
        extra_compile_args=["-O2", "-Wno-deprecated-declarations"],
    )
    ffi.compile(tmpdir=str(workdir), verbose=False)
    sys.path.insert(0, str(workdir))
    return importlib.import_module("_bench_poet_openssl")


def get_cpu_description() -> str:
    """Return the CPU model and the flags relevant here, from /proc/cpuinfo."""
    model, flags = platform.processor() or "unknown", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and model in ("unknown", "", platform.processor()):
                model = line.split(":", 1)[1].strip()
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    except OSError:
        pass
    wanted = ["sha_ni", "avx2", "avx512f", "ssse3", "sse4_1", "aes"]
    return f"{model}; flags: {' '.join(f for f in wanted if f in flags)}"


def measure(run: Callable[[int], bytes], leaves: int) -> tuple[float, bytes]:
    """Return (leaves per second, output) of one run over ``leaves`` leaves."""
    started = time.perf_counter()
    output = run(leaves)
    return leaves / (time.perf_counter() - started), output


def main() -> None:
    """Run the benchmark and print rates and ratios."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--leaves", type=int, default=20_000, help="leaves per native/OpenSSL run")
    parser.add_argument("--python-leaves", type=int, default=3_000, help="leaves per hashlib run")
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    statement = hashlib.sha256(b"bench_poet").digest()

    with tempfile.TemporaryDirectory() as workdir:
        openssl = build_openssl_module(Path(workdir))

        def run_native(implementation: str) -> Callable[[int], bytes]:
            return lambda n: native.NativeLeafChain(statement, implementation=implementation).compute_leaves(n)

        def run_openssl(n: int) -> bytes:
            ffi, lib = openssl.ffi, openssl.lib
            parked = ffi.new("uint8_t[2048]")
            out = ffi.new(f"uint8_t[{32 * n}]")
            lib.openssl_compute_leaves(statement, 0, n, parked, out)
            return bytes(ffi.buffer(out))

        def run_hashlib(n: int) -> bytes:
            return b"".join(reference.compute_poet_leaves(statement, n)[0])

        contenders: dict[str, tuple[Callable[[int], bytes], int]] = {}
        if native.has_sha_extensions():
            contenders["native sha-ni"] = (run_native("sha-ni"), args.leaves)
        contenders["native portable"] = (run_native("portable"), args.leaves // 4)
        if openssl is not None:
            contenders["openssl loop (C)"] = (run_openssl, args.leaves)
        contenders["hashlib (Python)"] = (run_hashlib, args.python_leaves)

        # Same leaves from every contender (compare the common prefix).
        check = min(n for _, n in contenders.values())
        outputs = {name: run(check) for name, (run, _) in contenders.items()}
        assert len(set(outputs.values())) == 1, "the contenders disagree on the leaves"

        best = dict.fromkeys(contenders, 0.0)
        pair_ratios: list[float] = []
        for _ in range(args.repeat):
            rates = {name: measure(run, n)[0] for name, (run, n) in contenders.items()}
            for name, rate in rates.items():
                best[name] = max(best[name], rate)
            if "native sha-ni" in rates and "openssl loop (C)" in rates:
                pair_ratios.append(rates["native sha-ni"] / rates["openssl loop (C)"])

    print(f"CPU: {get_cpu_description()}")
    print(f"native implementation in use: {native.get_implementation_name()}")
    print(f"best of {args.repeat} runs; {args.leaves} leaves per native/OpenSSL run, 400 SHA-256 per leaf")
    for name, rate in best.items():
        print(f"  {name:18s} {rate:12,.0f} leaves/s  ({rate * 400 / 1e6:6.1f} M SHA-256/s)")
    fastest = best.get("native sha-ni") or best["native portable"]
    if "openssl loop (C)" in best:
        print(
            f"ratio native / openssl loop: {fastest / best['openssl loop (C)']:.2f}x best/best"
            " (target >= 1.3x with SHA-NI)"
        )
    if pair_ratios:
        print(
            f"  back-to-back pairs: median {statistics.median(pair_ratios):.2f}x, "
            f"min {min(pair_ratios):.2f}x, max {max(pair_ratios):.2f}x over {len(pair_ratios)} pairs"
        )
    print(f"ratio native / hashlib:      {fastest / best['hashlib (Python)']:.2f}x")
    print(f"ratio portable C / openssl:  {best['native portable'] / best.get('openssl loop (C)', 1.0):.2f}x")


if __name__ == "__main__":
    main()
