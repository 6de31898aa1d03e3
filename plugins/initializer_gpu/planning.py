"""Batch planning for the GPU initializer: how many labels run at once, with which lookup gap.

Memory per concurrent label (a *slot*) is its scratch, ``N / gap`` rows of 128 bytes (1 MiB at N = 8192
and gap 1); every label of a launch also keeps 160 bytes on the device (its 128-byte block between the
kernels and its 32-byte output). The plan:

1. set aside the batch buffers (``max_batch_labels * 160`` bytes, at most an eighth of the memory);
2. take the smallest lookup gap at which the remaining memory holds at least ``min_threads`` slots
   (enough warps per SM to hide DRAM latency: below that a larger gap, which trades memory for
   recomputation, is faster), or the largest candidate gap if none does;
3. run as many slots as fit, but no more than the device keeps resident for that gap's build (more
   would only queue) and no more than the labels of a batch.

A small gap means less work per label (gap 1: 2N BlockMix; gap g: about ``2N + N(g-1)/2``), so the
smallest gap that keeps the device busy wins.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

from spacemesh_plugins.initializer_gpu.kernel import OUTPUT_BYTES_PER_LABEL, ROW_BYTES, STATE_BYTES_PER_LABEL

#: gaps tried when none is forced, smallest (least recomputation) first
CANDIDATE_LOOKUP_GAPS = (1, 2, 4, 8, 16)
#: labels of one launch (the Go initializer's compute batch is 2^20 too)
DEFAULT_MAX_BATCH_LABELS = 1 << 20
#: share of the free memory a plan may use (the driver and CuPy's pool need some)
DEFAULT_MEMORY_FRACTION = 0.9
#: bytes per label of a launch besides the scratch
BATCH_BYTES_PER_LABEL = STATE_BYTES_PER_LABEL + OUTPUT_BYTES_PER_LABEL


class GpuMemoryError(MemoryError):
    """The device has not enough free memory for even one label."""


@attrs.frozen
class BatchPlan:
    """How the GPU initializer runs labels at scrypt N ``scrypt_n``."""

    scrypt_n: int
    #: keep every ``lookup_gap``-th scratch entry, recompute the others
    lookup_gap: int
    #: labels computed concurrently (each owns one scratch slot)
    slots: int
    #: labels per kernel launch (the CPU cross-checks the last one of each)
    batch_labels: int

    @property
    def scratch_bytes_per_slot(self) -> int:
        """Bytes of scratch one concurrent label uses."""
        return compute_scratch_bytes(self.scrypt_n, self.lookup_gap)

    @property
    def device_bytes(self) -> int:
        """Device memory the plan allocates: scratch plus the batch buffers."""
        return self.slots * self.scratch_bytes_per_slot + self.batch_labels * BATCH_BYTES_PER_LABEL


def compute_scratch_bytes(scrypt_n: int, lookup_gap: int) -> int:
    """Return the scratch bytes of one label: ``scrypt_n / lookup_gap`` rows of 128 bytes.

    :raises ValueError: when N or the gap is not a power of two, or the gap exceeds N.
    """
    if scrypt_n < 2 or scrypt_n & (scrypt_n - 1):
        raise ValueError(f"scrypt N must be a power of two >= 2, got {scrypt_n}")
    if lookup_gap < 1 or lookup_gap & (lookup_gap - 1) or lookup_gap > scrypt_n:
        raise ValueError(f"the lookup gap must be a power of two in 1..N={scrypt_n}, got {lookup_gap}")
    return scrypt_n // lookup_gap * ROW_BYTES


def compute_batch_plan(
    free_bytes: int,
    scrypt_n: int,
    get_resident_threads: Callable[[int], int],
    *,
    min_threads: int = 1,
    lookup_gap: int | None = None,
    threads_per_block: int = 1,
    max_batch_labels: int = DEFAULT_MAX_BATCH_LABELS,
    memory_fraction: float = DEFAULT_MEMORY_FRACTION,
) -> BatchPlan:
    """Plan the batches for a device with ``free_bytes`` of free memory (see the module docstring).

    :param get_resident_threads: the device's resident ROMix threads for the build of a given gap.
    :param min_threads: fewest concurrent labels that keep the device busy.
    :param lookup_gap: force this gap (None: choose).
    :param threads_per_block: slots are rounded down to a multiple of it when at least one block fits.
    :raises ValueError: bad N, gap, fraction or sizes.
    :raises GpuMemoryError: when not even one label fits.
    """
    if not 0 < memory_fraction <= 1:
        raise ValueError(f"memory fraction must be in (0, 1], got {memory_fraction}")
    if max_batch_labels < 1 or threads_per_block < 1 or min_threads < 1:
        raise ValueError("max_batch_labels, threads_per_block and min_threads must be >= 1")
    gaps = [lookup_gap] if lookup_gap is not None else [g for g in CANDIDATE_LOOKUP_GAPS if g <= scrypt_n]
    for gap in gaps:
        compute_scratch_bytes(scrypt_n, gap)  # validates N and the gap
    usable = int(max(free_bytes, 0) * memory_fraction)
    batch_labels = max(1, min(max_batch_labels, usable // (8 * BATCH_BYTES_PER_LABEL)))
    remaining = usable - batch_labels * BATCH_BYTES_PER_LABEL

    chosen, fit = gaps[-1], 0
    for gap in gaps:
        fit = max(remaining, 0) // compute_scratch_bytes(scrypt_n, gap)
        if fit >= min(min_threads, get_resident_threads(gap), batch_labels):
            chosen = gap
            break
    if fit < 1:
        needed = compute_scratch_bytes(scrypt_n, chosen) + BATCH_BYTES_PER_LABEL
        raise GpuMemoryError(
            f"the device has {free_bytes} bytes free; one label at scrypt N={scrypt_n} with lookup gap {chosen} "
            f"needs {needed} bytes (at a {memory_fraction:.0%} share)"
        )
    slots = min(fit, max(get_resident_threads(chosen), 1), batch_labels)
    if slots >= threads_per_block:
        slots -= slots % threads_per_block
    return BatchPlan(scrypt_n=scrypt_n, lookup_gap=chosen, slots=slots, batch_labels=batch_labels)
