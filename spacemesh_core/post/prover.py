"""PoST proving: the Prover8_56 scan over the memory-mapped label store, in native C or the reference.

``generate_proof`` runs passes of ``nonces`` nonces (a multiple of 16): per nonce group a k2pow
(RandomX), then one scan over all labels that applies one AES-128 pass per group (16 nonces per pass),
until a nonce collects ``k2`` qualifying labels.  The native backend spreads batches of labels over
threads; each batch is one GIL-free C call (``spacemesh_core._native_scan``) that returns, per nonce,
the batch's hit count and its first ``k2`` hits.  Batches are merged in data order and a winner is
declared only once every label that could precede it in the single-threaded order has been merged,
so the native prover returns exactly the proof of the pure-Python reference
(``spacemesh_core.post.prove_reference``) whatever the number of threads.
"""

from __future__ import annotations

import importlib
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, Protocol

import attrs
import numpy as np

from spacemesh_core.post.k2pow import K2PowSolver, RandomXK2PowSolver
from spacemesh_core.post.proof import (
    MAINNET_K1,
    MAINNET_K2,
    MAINNET_POW_DIFFICULTY,
    MAINNET_PROVING_NONCES,
    MAX_NONCE,
    NONCES_PER_AES,
    Proof,
    ProofParameterError,
    compute_nonce_group_range,
    compute_pow_threshold,
    compute_proving_difficulty,
    make_proof,
    split_proving_difficulty,
    verify_nonce_range,
)
from spacemesh_core.post.prove_reference import (
    CHUNK_LABELS,
    LABEL_SIZE,
    ScanResult,
    compute_group_key,
    compute_nonce_key,
    scan_labels_reference,
)
from spacemesh_core.post.store import LabelStore, PostDataError, PostMetadata, read_metadata

#: Progress callback: ``(labels_done, labels_total)`` of the current pass.
ProgressCallback = Callable[[int, int], None]


class ProofNotFoundError(RuntimeError):
    """No nonce up to the last nonce group (255) collected k2 labels."""


class ProvingStoppedError(RuntimeError):
    """Proving was stopped on request."""


# ------------------------------------------------------------------------------------------------
# Label data: contiguous segments (one per postdata file, memory-mapped)
# ------------------------------------------------------------------------------------------------


@attrs.frozen
class LabelSegment:
    """Consecutive 16-byte labels; ``data`` holds label ``first_index`` first (bytes or a uint8 array)."""

    first_index: int
    data: Any

    @property
    def label_count(self) -> int:
        """Number of whole labels in the segment."""
        return len(memoryview(self.data).cast("B")) // LABEL_SIZE


def open_label_segments(directory: str | os.PathLike[str], metadata: PostMetadata | None = None) -> list[LabelSegment]:
    """Memory-map every ``postdata_<k>.bin`` of a directory as one :class:`LabelSegment` each.

    File ``k`` holds labels from ``k * MaxFileSize / 16``; every file of the layout must be present
    with its exact size (only the last one may be shorter than MaxFileSize).

    :raises PostDataError: missing metadata, or a missing or truncated file.
    """
    store = LabelStore(directory, metadata)
    meta = store.metadata
    return [LabelSegment(k * meta.labels_per_file, store.get_file_array(k).reshape(-1)) for k in range(meta.num_files)]


def _check_segments(segments: Sequence[LabelSegment]) -> int:
    """Check that segments are contiguous; return the total label count."""
    expected = segments[0].first_index if segments else 0
    total = 0
    for segment in segments:
        if segment.first_index != expected:
            raise PostDataError(f"label segments are not contiguous at label {expected}")
        if len(memoryview(segment.data).cast("B")) % LABEL_SIZE:
            raise PostDataError(f"segment at label {segment.first_index} is not a whole number of labels")
        count = segment.label_count
        expected += count
        total += count
    return total


# ------------------------------------------------------------------------------------------------
# Scan backends
# ------------------------------------------------------------------------------------------------


class ScanBackend(Protocol):
    """Finds the winning nonce of one proving pass (the hot loop; swappable: native, reference, GPU...)."""

    name: str

    def scan(
        self,
        segments: Sequence[LabelSegment],
        challenge: bytes,
        nonce_start: int,
        nonce_end: int,
        pows: Mapping[int, int],
        difficulty: int,
        k2: int,
        *,
        progress: ProgressCallback | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> ScanResult | None:
        """Return the first nonce (reference order) of the pass to collect ``k2`` labels, or None."""
        ...


def _check_scan_arguments(
    challenge: bytes, nonce_start: int, nonce_end: int, pows: Mapping[int, int], difficulty: int, k2: int
) -> list[int]:
    if len(challenge) != 32:
        raise ProofParameterError(f"challenge must be 32 bytes, got {len(challenge)}")
    if k2 < 1:
        raise ProofParameterError(f"k2 must be >= 1, got {k2}")
    if not 0 <= difficulty < (1 << 64):
        raise ProofParameterError(f"difficulty must be a u64, got {difficulty}")
    verify_nonce_range(nonce_start, nonce_end)
    groups = list(compute_nonce_group_range(nonce_start, nonce_end))
    missing = [g for g in groups if g not in pows]
    if missing:
        raise ProofParameterError(f"no k2pow given for nonce group(s) {missing}")
    return groups


class ReferenceScanBackend:
    """The pure-Python oracle (:func:`scan_labels_reference` over all segments joined); slow."""

    name = "reference"

    def scan(
        self,
        segments: Sequence[LabelSegment],
        challenge: bytes,
        nonce_start: int,
        nonce_end: int,
        pows: Mapping[int, int],
        difficulty: int,
        k2: int,
        *,
        progress: ProgressCallback | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> ScanResult | None:
        """See :meth:`ScanBackend.scan`."""
        _check_scan_arguments(challenge, nonce_start, nonce_end, pows, difficulty, k2)
        total = _check_segments(segments)
        if should_stop is not None and should_stop():
            raise ProvingStoppedError("proving was stopped")
        if not segments:
            return None
        data = b"".join(bytes(memoryview(s.data).cast("B")) for s in segments)
        result = scan_labels_reference(
            data, segments[0].first_index, challenge, nonce_start, nonce_end, pows, difficulty, k2
        )
        if progress is not None:
            progress(total, total)
        return result


def _get_native_lib() -> Any:
    """Return the compiled cffi module (``ffi``, ``lib``); raises ImportError when it is not built."""
    return importlib.import_module("spacemesh_core._native_scan")


def is_native_scan_available() -> bool:
    """Return whether the compiled scan module ``spacemesh_core._native_scan`` can be imported."""
    try:
        _get_native_lib()
    except ImportError:
        return False
    return True


#: Native AES implementations by name (``ps_scan_batch``'s ``impl`` argument).
NATIVE_IMPLS = {"auto": -1, "portable": 0, "aesni": 1, "vaes256": 2, "vaes512": 3}


def get_supported_native_impls() -> list[str]:
    """Return the names of the native AES implementations this CPU runs (always includes ``portable``)."""
    lib = _get_native_lib().lib
    return [name for name, code in NATIVE_IMPLS.items() if code >= 0 and lib.ps_is_impl_supported(code)]


def get_best_native_impl() -> str:
    """Return the name of the fastest native AES implementation this CPU supports."""
    code = _get_native_lib().lib.ps_get_best_impl()
    return next(name for name, value in NATIVE_IMPLS.items() if value == code)


def compute_round_keys(keys: Sequence[bytes]) -> bytes:
    """Return the AES-128 key schedules (176 bytes each) of ``keys``, computed by the native module."""
    module = _get_native_lib()
    joined = b"".join(keys)
    if len(joined) != 16 * len(keys):
        raise ProofParameterError("AES-128 keys must be 16 bytes each")
    out = module.ffi.new("uint8_t[]", 176 * len(keys))
    module.lib.ps_expand_keys(joined, len(keys), out)
    return bytes(module.ffi.buffer(out))


def compute_aes_ecb_native(key: bytes, data: bytes, impl: str = "auto") -> bytes:
    """AES-128-ECB with a native single-block core (``portable`` or AES-NI); for tests of the cores."""
    module = _get_native_lib()
    if len(data) % 16:
        raise ProofParameterError("data must be a multiple of 16 bytes")
    out = module.ffi.new("uint8_t[]", max(1, len(data)))
    rc = module.lib.ps_encrypt_ecb(compute_round_keys([key]), data, len(data) // 16, out, NATIVE_IMPLS[impl])
    if rc != 0:
        raise ProofParameterError(f"native AES implementation {impl!r} is not supported on this CPU")
    return bytes(module.ffi.buffer(out, len(data)))


@attrs.define
class _Batch:
    first_index: int
    data: Any  # uint8 view of the labels
    label_count: int


def _iter_batches(segments: Sequence[LabelSegment], batch_labels: int) -> Iterator[_Batch]:
    """Split segments into batches whose ends fall on multiples of 8 labels where possible."""
    for segment in segments:
        view = np.frombuffer(segment.data, dtype=np.uint8) if not isinstance(segment.data, np.ndarray) else segment.data
        view = view.reshape(-1)
        count = view.size // LABEL_SIZE
        position = 0
        while position < count:
            index = segment.first_index + position
            end_index = min(segment.first_index + count, index + batch_labels)
            if end_index < segment.first_index + count:
                end_index -= end_index % CHUNK_LABELS  # keep chunks whole inside a batch
                if end_index <= index:
                    end_index = min(segment.first_index + count, index + CHUNK_LABELS)
            length = end_index - index
            yield _Batch(index, view[position * LABEL_SIZE : (position + length) * LABEL_SIZE], length)
            position += length


@attrs.define
class _Merge:
    """Merges per-batch hits in data order and decides the winner exactly as the sequential scan would."""

    k2: int
    slots: int
    groups_order: dict[int, int]  # nonce group -> position of its cipher in the pass
    nonce_start: int
    hits: list[list[int]] = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.hits = [[] for _ in range(self.slots)]

    def add(self, counts: np.ndarray, hits: np.ndarray, stride: int) -> None:
        """Append a batch's first hits per nonce slot (``stride`` hits stored per slot)."""
        for slot in np.flatnonzero(counts).tolist():
            have = self.hits[slot]
            need = self.k2 - len(have)
            if need > 0:
                take = min(need, int(counts[slot]), stride)
                have.extend(hits[slot * stride : slot * stride + take].tolist())

    def get_winner(self, prefix_end: int, complete: bool) -> ScanResult | None:
        best: tuple[int, int, int, int] | None = None
        best_slot = -1
        for slot, found in enumerate(self.hits):
            if len(found) < self.k2:
                continue
            last = found[self.k2 - 1]
            nonce = self.nonce_start + slot
            key = (
                last // CHUNK_LABELS,
                self.groups_order[nonce // NONCES_PER_AES],
                last % CHUNK_LABELS,
                nonce % NONCES_PER_AES,
            )
            if best is None or key < best:
                best, best_slot = key, slot
        if best is None:
            return None
        # final only when no label of the winner's chunk is still outstanding
        if not complete and (best[0] + 1) * CHUNK_LABELS > prefix_end:
            return None
        return ScanResult(self.nonce_start + best_slot, tuple(self.hits[best_slot][: self.k2]))


class NativeScanBackend:
    """The C scan (AES-NI / VAES, portable fallback), batches spread over threads with the GIL released."""

    name = "native"

    def __init__(self, threads: int | None = None, impl: str = "auto", batch_labels: int = 1 << 20):
        """:param threads: worker threads (default: all CPUs); :param impl: a name of :data:`NATIVE_IMPLS`;
        :param batch_labels: labels per C call (the unit of work and of early stopping)."""
        if impl not in NATIVE_IMPLS:
            raise ValueError(f"unknown native implementation {impl!r}; choose from {', '.join(NATIVE_IMPLS)}")
        if batch_labels < CHUNK_LABELS:
            raise ValueError(f"batch_labels must be >= {CHUNK_LABELS}")
        self.threads = max(1, threads or (os.cpu_count() or 1))
        self.impl = impl
        self.batch_labels = batch_labels
        self._module = _get_native_lib()
        if NATIVE_IMPLS[impl] >= 0 and not self._module.lib.ps_is_impl_supported(NATIVE_IMPLS[impl]):
            raise ValueError(f"native implementation {impl!r} is not supported on this CPU")

    def _scan_batch(
        self, batch: _Batch, group_rk: bytes, nonce_rk: bytes, groups: int, msb: int, lsb: int, k2: int
    ) -> tuple[np.ndarray, np.ndarray, int]:
        """Scan one batch (GIL released in C); return per-slot counts, hits and the hits' stride."""
        ffi, lib = self._module.ffi, self._module.lib
        # a batch cannot contribute more than its label count to any nonce
        stride = max(1, min(k2, batch.label_count))
        counts = np.zeros(groups * NONCES_PER_AES, dtype=np.uint32)
        hits = np.empty(groups * NONCES_PER_AES * stride, dtype=np.uint64)  # C fills what it counts
        data = ffi.from_buffer("uint8_t[]", batch.data) if batch.label_count else ffi.NULL
        rc = lib.ps_scan_batch(
            data,
            batch.label_count,
            batch.first_index,
            group_rk,
            groups,
            nonce_rk,
            msb,
            lsb,
            stride,
            ffi.from_buffer("uint32_t[]", counts),
            ffi.from_buffer("uint64_t[]", hits),
            NATIVE_IMPLS[self.impl],
        )
        if rc != 0:  # pragma: no cover - arguments are checked before the call
            raise ProofParameterError(f"native scan failed with code {rc}")
        return counts, hits, stride

    def scan(
        self,
        segments: Sequence[LabelSegment],
        challenge: bytes,
        nonce_start: int,
        nonce_end: int,
        pows: Mapping[int, int],
        difficulty: int,
        k2: int,
        *,
        progress: ProgressCallback | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> ScanResult | None:
        """See :meth:`ScanBackend.scan`."""
        groups = _check_scan_arguments(challenge, nonce_start, nonce_end, pows, difficulty, k2)
        total = _check_segments(segments)
        if not segments or total == 0:
            return None
        first_label = segments[0].first_index
        group_rk = compute_round_keys([compute_group_key(challenge, g, pows[g]) for g in groups])
        nonce_rk = compute_round_keys(
            [
                compute_nonce_key(challenge, n // NONCES_PER_AES, pows[n // NONCES_PER_AES], n)
                for n in range(nonce_start, nonce_end)
            ]
        )
        msb, lsb = split_proving_difficulty(difficulty)
        merge = _Merge(k2, nonce_end - nonce_start, {g: i for i, g in enumerate(groups)}, nonce_start)
        # smaller batches for small data so every thread gets work
        batch_labels = min(self.batch_labels, max(CHUNK_LABELS * 512, -(-total // (self.threads * 4))))
        batches = _iter_batches(segments, batch_labels)

        done: dict[int, tuple[_Batch, tuple[np.ndarray, np.ndarray, int]]] = {}
        pending: dict[Future[tuple[np.ndarray, np.ndarray, int]], tuple[int, _Batch]] = {}
        next_submit = 0
        next_merge = 0
        merged_labels = 0
        exhausted = False
        with ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="post-scan") as pool:
            try:
                while True:
                    while not exhausted and len(pending) < self.threads * 2:
                        batch = next(batches, None)
                        if batch is None:
                            exhausted = True
                            break
                        future = pool.submit(self._scan_batch, batch, group_rk, nonce_rk, len(groups), msb, lsb, k2)
                        pending[future] = (next_submit, batch)
                        next_submit += 1
                    if not pending:
                        return merge.get_winner(first_label + merged_labels, complete=True)
                    finished, _ = wait(list(pending), return_when=FIRST_COMPLETED)
                    for future in finished:
                        number, batch = pending.pop(future)
                        done[number] = (batch, future.result())
                    while next_merge in done:
                        batch, (counts, hits, stride) = done.pop(next_merge)
                        merge.add(counts, hits, stride)
                        merged_labels += batch.label_count
                        next_merge += 1
                    if progress is not None:
                        progress(merged_labels, total)
                    complete = exhausted and not pending and not done
                    winner = merge.get_winner(first_label + merged_labels, complete)
                    if winner is not None:
                        return winner
                    if complete:
                        return None
                    if should_stop is not None and should_stop():
                        raise ProvingStoppedError("proving was stopped")
            finally:
                for future in pending:
                    future.cancel()


#: Scan backends by name (the prover plugins register factories of these).
SCAN_BACKENDS: dict[str, Callable[..., ScanBackend]] = {
    "native": NativeScanBackend,
    "reference": ReferenceScanBackend,
}


def get_scan_backend(name: str = "native", **options: Any) -> ScanBackend:
    """Build a scan backend by name (``native`` or ``reference``).

    :raises ValueError: unknown name.
    """
    factory = SCAN_BACKENDS.get(name)
    if factory is None:
        raise ValueError(f"unknown prover backend {name!r}; choose from {', '.join(sorted(SCAN_BACKENDS))}")
    if name == "reference":
        return factory()
    return factory(**options)


# ------------------------------------------------------------------------------------------------
# Generating a proof
# ------------------------------------------------------------------------------------------------


@attrs.frozen
class ProvingParams:
    """Network proving parameters: ``k1`` (expected hits per nonce), ``k2`` (indices in a proof) and
    the k2pow difficulty (32 bytes, scaled down by the number of units)."""

    k1: int = MAINNET_K1
    k2: int = MAINNET_K2
    pow_difficulty: bytes = MAINNET_POW_DIFFICULTY


@attrs.frozen
class PassStarted:
    """Progress event: a pass over nonces ``[nonce_start, nonce_end)`` starts (k2pow first)."""

    nonce_start: int
    nonce_end: int


def generate_proof(
    segments: Sequence[LabelSegment],
    challenge: bytes,
    node_id: bytes,
    num_units: int,
    labels_per_unit: int,
    params: ProvingParams = ProvingParams(),
    *,
    nonces: int = MAINNET_PROVING_NONCES,
    backend: ScanBackend | None = None,
    pow_solver: K2PowSolver | None = None,
    progress: ProgressCallback | None = None,
    on_pass: Callable[[PassStarted], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Proof:
    """Generate a proof that the labels in ``segments`` are held, for ``challenge``.

    :param segments: all ``num_units * labels_per_unit`` labels, contiguous, from label 0.
    :param nonces: nonces per pass (a multiple of 16); pass p covers ``[p*nonces, (p+1)*nonces)``.
    :param backend: the scan (native by default); :param pow_solver: the k2pow (RandomX, auto mode).
    :raises ProofParameterError: bad parameters (k1 vs. labels, nonces, challenge, node id).
    :raises PostDataError: the segments do not hold exactly the labels the metadata describes.
    :raises ProofNotFoundError: no nonce up to 4095 succeeded.
    :raises ProvingStoppedError: ``should_stop()`` returned True.
    """
    if len(challenge) != 32:
        raise ProofParameterError(f"challenge must be 32 bytes, got {len(challenge)}")
    if len(node_id) != 32:
        raise ProofParameterError(f"node id must be 32 bytes, got {len(node_id)}")
    if nonces <= 0 or nonces % NONCES_PER_AES:
        raise ProofParameterError(f"nonces per pass must be a positive multiple of {NONCES_PER_AES}, got {nonces}")
    num_labels = num_units * labels_per_unit
    difficulty = compute_proving_difficulty(params.k1, num_labels)
    threshold = compute_pow_threshold(params.pow_difficulty, num_units)
    total = _check_segments(segments)
    if (segments and segments[0].first_index != 0) or total != num_labels:
        raise PostDataError(f"the data holds {total} labels from label 0, expected {num_labels}")
    scan = backend or NativeScanBackend()
    solver = pow_solver or RandomXK2PowSolver()
    nonce_start = 0
    while nonce_start <= MAX_NONCE:
        nonce_end = min(nonce_start + nonces, MAX_NONCE + 1)
        if should_stop is not None and should_stop():
            raise ProvingStoppedError("proving was stopped")
        if on_pass is not None:
            on_pass(PassStarted(nonce_start, nonce_end))
        groups = list(compute_nonce_group_range(nonce_start, nonce_end))
        try:
            pows = solver.find_k2pows(groups, challenge, node_id, threshold, should_stop=should_stop)
        except InterruptedError:
            raise ProvingStoppedError("proving was stopped") from None
        result = scan.scan(
            segments,
            challenge,
            nonce_start,
            nonce_end,
            pows,
            difficulty,
            params.k2,
            progress=progress,
            should_stop=should_stop,
        )
        if result is not None:
            return make_proof(result.nonce, result.indices, num_labels, pows[result.nonce // NONCES_PER_AES])
        nonce_start = nonce_end
    raise ProofNotFoundError(f"no nonce up to {MAX_NONCE} collected k2={params.k2} labels")


def generate_proof_from_dir(
    directory: str | os.PathLike[str],
    challenge: bytes,
    params: ProvingParams = ProvingParams(),
    **options: Any,
) -> Proof:
    """Generate a proof over a post-rs data directory (metadata + memory-mapped ``postdata_<k>.bin``).

    ``options`` are those of :func:`generate_proof`.

    :raises PostDataError: missing or incomplete data; see :func:`generate_proof` for the rest.
    """
    metadata = read_metadata(directory)
    segments = open_label_segments(directory, metadata)
    return generate_proof(
        segments, challenge, metadata.node_id, metadata.num_units, metadata.labels_per_unit, params, **options
    )


class PostProver:
    """A prover implementation: a scan backend plus a k2pow solver (what the ``prover`` plugins build)."""

    def __init__(self, backend: ScanBackend, pow_solver: K2PowSolver | None = None) -> None:
        """:param backend: the scan; :param pow_solver: k2pow (RandomX on this CPU, auto mode, by default)."""
        self.backend = backend
        self.pow_solver: K2PowSolver = pow_solver or RandomXK2PowSolver()

    @property
    def name(self) -> str:
        """The scan backend's name (``native``, ``reference``...)."""
        return self.backend.name

    def generate_proof(
        self,
        segments: Sequence[LabelSegment],
        challenge: bytes,
        node_id: bytes,
        num_units: int,
        labels_per_unit: int,
        params: ProvingParams = ProvingParams(),
        **options: Any,
    ) -> Proof:
        """Generate a proof over label segments (see :func:`generate_proof`)."""
        return generate_proof(
            segments,
            challenge,
            node_id,
            num_units,
            labels_per_unit,
            params,
            backend=self.backend,
            pow_solver=self.pow_solver,
            **options,
        )

    def generate_proof_from_dir(
        self,
        directory: str | os.PathLike[str],
        challenge: bytes,
        params: ProvingParams = ProvingParams(),
        **options: Any,
    ) -> Proof:
        """Generate a proof over a PoST data directory (see :func:`generate_proof_from_dir`)."""
        return generate_proof_from_dir(
            directory, challenge, params, backend=self.backend, pow_solver=self.pow_solver, **options
        )


def create_native_prover(
    threads: int | None = None, impl: str = "auto", randomx_mode: str = "auto", batch_labels: int = 1 << 20
) -> PostProver:
    """Build the native prover: the C scan on ``threads`` threads and RandomX k2pow (``randomx_mode``)."""
    return PostProver(
        NativeScanBackend(threads=threads, impl=impl, batch_labels=batch_labels),
        RandomXK2PowSolver(randomx_mode, threads),  # type: ignore[arg-type]
    )


def create_reference_prover(randomx_mode: str = "auto", threads: int | None = None) -> PostProver:
    """Build the pure-Python reference prover (slow; the oracle) with RandomX k2pow."""
    return PostProver(ReferenceScanBackend(), RandomXK2PowSolver(randomx_mode, threads))  # type: ignore[arg-type]


class StopFlag:
    """A thread-safe stop request usable as ``should_stop``."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        """Request a stop."""
        self._event.set()

    def __call__(self) -> bool:
        return self._event.is_set()
