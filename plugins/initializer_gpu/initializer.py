"""The GPU label initializer: batches planned from device memory, the CPU cross-check of every batch.

:class:`GpuInitializer` implements the ``initializer`` interface (``compute_labels`` and the one-pass
``compute_labels_with_nonce``) on top of any :class:`~.kernel.KernelRunner`: the CUDA one in production,
the CPU emulation in the tests. Like the reference's Go initializer it recomputes the **last label of
every batch** with the independent CPU code and stops with :class:`GpuLabelMismatchError` (naming the
device and the index) when they differ. The check of batch k runs on a helper thread while the device
computes batch k+1 (both release the GIL). The VRF-nonce search scans the full 32-byte outputs on the
host, carrying the bound across batches, so it gives exactly the CPU backends' result.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from spacemesh_core.post.initialize import LabelMismatchError, compute_smallest_below
from spacemesh_core.post.labels import (
    COMMITMENT_SIZE,
    ENTIRE_LABEL_SIZE,
    LabelParameterError,
    VrfNonce,
    compute_label_reference,
    is_power_of_two,
)
from spacemesh_plugins.initializer_gpu.kernel import GpuError, KernelRunner
from spacemesh_plugins.initializer_gpu.planning import (
    DEFAULT_MAX_BATCH_LABELS,
    BatchPlan,
    compute_batch_plan,
)

_MAX_U64 = (1 << 64) - 1
CheckFunction = Callable[[bytes, int, int], bytes]


class GpuLabelMismatchError(LabelMismatchError):
    """A label computed on the GPU differs from the CPU's computation of the same index."""


def get_cpu_check_function() -> CheckFunction:
    """Return the independent one-label CPU implementation (plain C, else the pure-Python reference)."""
    try:
        from spacemesh_core.post.native import compute_label_baseline_native
    except ImportError:  # pragma: no cover - only without the native module
        return compute_label_reference
    return compute_label_baseline_native


def verify_label_range(commitment: bytes, start: int, count: int, scrypt_n: int) -> None:
    """Check the inputs of a label range.

    :raises LabelParameterError: commitment not 32 bytes, a negative count, indices outside u64, N not
        a power of two >= 2 (or >= 2^32).
    """
    if len(commitment) != COMMITMENT_SIZE:
        raise LabelParameterError(f"commitment must be {COMMITMENT_SIZE} bytes, got {len(commitment)}")
    if count < 0:
        raise LabelParameterError(f"label count must be >= 0, got {count}")
    if start < 0 or start + max(count - 1, 0) > _MAX_U64:
        raise LabelParameterError(f"label indices must be u64, got start={start} count={count}")
    if scrypt_n < 2 or not is_power_of_two(scrypt_n) or scrypt_n >= 1 << 32:
        raise LabelParameterError(f"scrypt N must be a power of two >= 2 (and < 2^32), got {scrypt_n}")


class GpuInitializer:
    """The ``gpu`` initializer: labels computed by a kernel runner, cross-checked on the CPU."""

    name = "gpu"
    is_reference = False

    def __init__(
        self,
        runner: KernelRunner,
        *,
        lookup_gap: int | None = None,
        max_batch_labels: int = DEFAULT_MAX_BATCH_LABELS,
        threads_per_block: int | None = None,
        check: CheckFunction | None = None,
    ) -> None:
        """:param runner: the device's kernel runner.
        :param lookup_gap: force this lookup gap (power of two; None: chosen per N from the free memory).
        :param max_batch_labels: labels per launch (each batch's last label is cross-checked).
        :param threads_per_block: rounding of the concurrent labels (None: the runner's, else 1).
        :param check: the CPU label function of the cross-check (None: the plain C one).
        :raises LabelParameterError: a lookup gap that is not a power of two or a batch size < 1.
        """
        if lookup_gap is not None and (lookup_gap < 1 or not is_power_of_two(lookup_gap)):
            raise LabelParameterError(f"the lookup gap must be a power of two >= 1, got {lookup_gap}")
        if max_batch_labels < 1:
            raise LabelParameterError(f"labels per batch must be >= 1, got {max_batch_labels}")
        self.runner = runner
        self.lookup_gap = lookup_gap
        self.max_batch_labels = max_batch_labels
        self.threads_per_block = threads_per_block or int(getattr(runner, "threads_per_block", 1))
        self.check = check or get_cpu_check_function()
        self._plans: dict[int, BatchPlan] = {}

    @property
    def device_name(self) -> str:
        """The runner's device name."""
        return self.runner.device_name

    def get_plan(self, scrypt_n: int) -> BatchPlan:
        """Return the batch plan at scrypt N ``scrypt_n`` (made once per N from the free memory).

        :raises GpuMemoryError: when the device cannot hold even one label.
        """
        plan = self._plans.get(scrypt_n)
        if plan is None:
            plan = compute_batch_plan(
                self.runner.get_free_memory(),
                scrypt_n,
                self.runner.get_resident_threads,
                min_threads=self.runner.get_min_threads(),
                lookup_gap=min(self.lookup_gap, scrypt_n) if self.lookup_gap is not None else None,
                threads_per_block=self.threads_per_block,
                max_batch_labels=self.max_batch_labels,
            )
            self._plans[scrypt_n] = plan
        return plan

    def compute_labels(self, commitment: bytes, start: int, count: int, scrypt_n: int) -> bytes:
        """Return the 32-byte outputs of labels ``start .. start+count-1``.

        :raises LabelParameterError: on a bad commitment, range or N.
        :raises GpuLabelMismatchError: when a batch's last label differs from the CPU's.
        :raises GpuError: when the device fails.
        """
        labels, _ = self._compute(commitment, start, count, scrypt_n, None, ENTIRE_LABEL_SIZE)
        return labels

    def compute_labels_with_nonce(
        self, commitment: bytes, start: int, count: int, scrypt_n: int, bound: bytes, label_size: int
    ) -> tuple[bytes, VrfNonce | None]:
        """Return the labels cut to ``label_size`` bytes and the smallest full output strictly below ``bound``.

        :raises LabelParameterError: on a bad commitment, range, N, bound or label size.
        :raises GpuLabelMismatchError: when a batch's last label differs from the CPU's.
        """
        if len(bound) != ENTIRE_LABEL_SIZE:
            raise LabelParameterError(f"bound must be {ENTIRE_LABEL_SIZE} bytes, got {len(bound)}")
        return self._compute(commitment, start, count, scrypt_n, bytes(bound), label_size)

    def _compute(
        self, commitment: bytes, start: int, count: int, scrypt_n: int, bound: bytes | None, label_size: int
    ) -> tuple[bytes, VrfNonce | None]:
        verify_label_range(commitment, start, count, scrypt_n)
        if not 1 <= label_size <= ENTIRE_LABEL_SIZE:
            raise LabelParameterError(f"label_size must be 1..{ENTIRE_LABEL_SIZE}, got {label_size}")
        commitment = bytes(commitment)
        result = bytearray(count * label_size)
        if count == 0:
            return bytes(result), None
        plan = self.get_plan(scrypt_n)
        table = np.frombuffer(result, dtype=np.uint8).reshape(count, label_size)
        best: VrfNonce | None = None
        checks: list[Future[None]] = []
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="gpu-label-check") as pool:
            for offset in range(0, count, plan.batch_labels):
                batch = min(plan.batch_labels, count - offset)
                first = start + offset
                outputs = self.runner.compute_outputs(
                    commitment, first, batch, scrypt_n, plan.lookup_gap, plan.slots
                )
                if len(outputs) != batch * ENTIRE_LABEL_SIZE:
                    raise GpuError(f"{self.device_name}: {len(outputs)} output bytes for {batch} labels")
                checks.append(pool.submit(self._verify_last_label, commitment, first, batch, scrypt_n, outputs[-32:]))
                rows = np.frombuffer(outputs, dtype=np.uint8).reshape(batch, ENTIRE_LABEL_SIZE)
                table[offset : offset + batch] = rows[:, :label_size]
                if bound is not None:
                    candidate = compute_smallest_below(outputs, first, best.value if best else bound)
                    best = candidate or best
                for done in [check for check in checks if check.done()]:
                    done.result()  # a mismatch stops before the next launch
                    checks.remove(done)
            for check in checks:
                check.result()
        return bytes(result), best

    def _verify_last_label(self, commitment: bytes, first: int, batch: int, scrypt_n: int, computed: bytes) -> None:
        """Recompute the batch's last label on the CPU; raise GpuLabelMismatchError when it differs."""
        index = first + batch - 1
        expected = self.check(commitment, index, scrypt_n)
        if computed != expected:
            raise GpuLabelMismatchError(
                f"GPU {self.device_name} computed a wrong label at index {index} (the CPU cross-check of the last "
                f"label of batch {first}..{index}): {computed.hex()} instead of {expected.hex()}; the device, its "
                "driver or the kernel is faulty: use the CPU initializer (--provider native)"
            )
