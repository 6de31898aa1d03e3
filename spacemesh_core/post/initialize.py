"""PoST initialization: compute the labels into post-rs ``postdata_<k>.bin`` files and find the VRF nonce.

Crash safety and resumption:

* file ``k`` is written as ``postdata_<k>.bin.partial`` (a name the post-rs reader ignores) and renamed to
  ``postdata_<k>.bin`` only once complete and fsynced, so a partial file never passes for a complete one;
* a finished file (right name, exact size) is never recomputed; an interrupted ``.partial`` file is
  resumed from its last whole label after re-checking that label;
* the VRF nonce (the smallest 32-byte output strictly below the difficulty) is carried across batches,
  files and runs: whenever a batch improves it, ``postdata_metadata.json`` is rewritten atomically
  *before* that batch's labels reach the disk, so every stored label has had its candidate recorded.
  A resumed run recomputes the recorded nonce's output as its starting bound. The outcome (the global
  minimum) does not depend on where a run was interrupted, so an interrupted and resumed run ends with
  the same bytes as an uninterrupted one;
* if no label of the complete data is below the difficulty, the search continues past the end (not
  stored) in fixed-size batches, recording ``LastPosition`` like the Go initializer.
"""

from __future__ import annotations

import math
import os
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, runtime_checkable

import attrs
import numpy as np

from spacemesh_core.post.labels import (
    ENTIRE_LABEL_SIZE,
    LABEL_SIZE,
    LabelParameterError,
    VrfNonce,
    compute_commitment,
    compute_label_reference,
    compute_vrf_difficulty,
    is_power_of_two,
)
from spacemesh_core.post.store import (
    METADATA_FILE_NAME,
    ZARR_METADATA_FILE_NAME,
    MetadataMismatchError,
    PostDataError,
    PostMetadata,
    get_data_file_path,
    read_metadata,
    write_metadata,
    write_zarr_metadata,
)

#: post-rs / Go default: 4 GiB files (2^28 labels)
DEFAULT_MAX_FILE_SIZE = 4 * 1024**3
#: labels per batch of the search beyond the data (fixed, so LastPosition is reproducible)
BEYOND_BATCH_SIZE = 4096
#: a batch should take about this long (progress granularity, interruption loss)
_TARGET_BATCH_SECONDS = 1.0
_MAX_BATCH = 1 << 20
_PARTIAL_SUFFIX = ".partial"


class InitializationError(RuntimeError):
    """Initialization could not run or finish (bad parameters, I/O, a backend failure)."""


class LabelMismatchError(InitializationError):
    """The backend's label disagrees with the independent CPU check of the same index."""


@runtime_checkable
class LabelInitializer(Protocol):
    """What the ``initializer`` category's factories build.

    ``compute_labels`` returns ``count * 32`` bytes: the full scrypt outputs of labels
    ``start .. start+count-1``. A backend may also offer ``compute_labels_with_nonce(commitment, start,
    count, scrypt_n, bound, label_size) -> (bytes, VrfNonce | None)`` to search the nonce in the same pass.
    """

    name: str

    def compute_labels(self, commitment: bytes, start: int, count: int, scrypt_n: int) -> bytes:
        """Return the 32-byte outputs of labels ``start .. start+count-1``."""
        ...


@attrs.frozen
class InitProgress:
    """A progress report, given to the callback after every batch."""

    labels_done: int
    labels_total: int
    labels_per_second: float
    seconds_left: float | None
    file_index: int | None
    nonce: int | None


ProgressCallback = Callable[[InitProgress], None]


@attrs.frozen
class InitResult:
    """What :func:`initialize` did."""

    metadata: PostMetadata
    files_written: tuple[int, ...]
    files_skipped: tuple[int, ...]
    labels_computed: int
    seconds: float


def compute_smallest_below(outputs: bytes, start: int, bound: bytes) -> VrfNonce | None:
    """Return the output (32 bytes each, label ``start`` first) smallest and strictly below ``bound``.

    Big-endian byte-string order; on equal outputs the lowest index wins.
    """
    rows = np.frombuffer(outputs, dtype=np.uint8).reshape(-1, ENTIRE_LABEL_SIZE)
    if rows.size == 0:
        return None
    # a cheap pre-filter on the first 8 bytes, then exact comparisons on the few candidates
    heads = rows[:, :8].copy().view(">u8").reshape(-1)
    limit = int.from_bytes(bound[:8], "big")
    best: VrfNonce | None = None
    current = bytes(bound)
    for position in np.nonzero(heads <= limit)[0]:
        value = rows[position].tobytes()
        if value < current:
            current = value
            best = VrfNonce(start + int(position), value)
    return best


def compute_labels_with_nonce(
    provider: LabelInitializer,
    commitment: bytes,
    start: int,
    count: int,
    scrypt_n: int,
    bound: bytes,
    label_size: int = LABEL_SIZE,
) -> tuple[bytes, VrfNonce | None]:
    """Compute a batch with ``provider``: labels cut to ``label_size`` bytes and the best output below ``bound``.

    Uses the provider's own single-pass method when it has one.
    """
    fast = getattr(provider, "compute_labels_with_nonce", None)
    if fast is not None:
        labels, nonce = fast(commitment, start, count, scrypt_n, bound, label_size)
        return bytes(labels), nonce
    outputs = provider.compute_labels(commitment, start, count, scrypt_n)
    if len(outputs) != count * ENTIRE_LABEL_SIZE:
        raise InitializationError(f"initializer {provider.name!r} returned {len(outputs)} bytes for {count} labels")
    rows = np.frombuffer(outputs, dtype=np.uint8).reshape(-1, ENTIRE_LABEL_SIZE)
    return rows[:, :label_size].tobytes(), compute_smallest_below(outputs, start, bound)


def _get_check_function(provider: LabelInitializer) -> Callable[[bytes, int, int], bytes] | None:
    """The independent one-label CPU implementation used to cross-check a backend's batches."""
    if getattr(provider, "is_reference", False):
        return None  # checking the oracle against itself proves nothing
    try:
        from spacemesh_core.post.native import compute_label_baseline_native
    except ImportError:  # pragma: no cover - only without the native module
        return compute_label_reference
    return compute_label_baseline_native


def _remove_stale_temp_files(directory: Path) -> None:
    """Remove temp files of an interrupted atomic metadata write (never data)."""
    for name in (METADATA_FILE_NAME, ZARR_METADATA_FILE_NAME):
        for stale in directory.glob(f".{name}.*.tmp"):
            stale.unlink(missing_ok=True)


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _Run:
    """State of one initialization run."""

    def __init__(
        self,
        directory: Path,
        metadata: PostMetadata,
        commitment: bytes,
        scrypt_n: int,
        provider: LabelInitializer,
        difficulty: bytes,
        progress: ProgressCallback | None,
        batch_size: int | None,
        labels_total: int,
    ) -> None:
        self.directory = directory
        self.metadata = metadata
        self.commitment = commitment
        self.scrypt_n = scrypt_n
        self.provider = provider
        self.difficulty = difficulty
        self.progress = progress
        self.fixed_batch = batch_size
        self.batch = batch_size or 64
        self.check = _get_check_function(provider)
        self.labels_total = labels_total
        self.labels_done = 0
        self.labels_computed = 0
        self.started = time.monotonic()
        self.bound = difficulty
        self.nonce: VrfNonce | None = None

    # -- nonce ---------------------------------------------------------------------------------

    def restore_nonce(self) -> None:
        """Take the recorded nonce (if any) as the starting bound, recomputing its full output."""
        index = self.metadata.nonce
        if index is None:
            return
        labels, _ = compute_labels_with_nonce(
            self.provider, self.commitment, index, 1, self.scrypt_n, bytes(32), ENTIRE_LABEL_SIZE
        )
        if self.metadata.nonce_value is not None and labels[:LABEL_SIZE] != self.metadata.nonce_value:
            raise InitializationError(
                f"{METADATA_FILE_NAME}: NonceValue does not match label {index} (metadata of other data?)"
            )
        if labels < self.difficulty:
            self.nonce = VrfNonce(index, labels)
            self.bound = labels

    def record_nonce(self, candidate: VrfNonce | None) -> None:
        """Adopt ``candidate`` if it beats the bound and persist it before its labels are stored."""
        if candidate is None or candidate.value >= self.bound:
            return
        self.nonce = candidate
        self.bound = candidate.value
        self.metadata = attrs.evolve(self.metadata, nonce=candidate.index, nonce_value=candidate.value[:LABEL_SIZE])
        write_metadata(self.directory, self.metadata)

    # -- batches -------------------------------------------------------------------------------

    def compute_batch(self, start: int, count: int, label_size: int) -> bytes:
        began = time.monotonic()
        labels, candidate = compute_labels_with_nonce(
            self.provider, self.commitment, start, count, self.scrypt_n, self.bound, label_size
        )
        if len(labels) != count * label_size:
            raise InitializationError(
                f"initializer {self.provider.name!r} returned {len(labels)} bytes for {count} labels"
            )
        if self.check is not None:
            last = start + count - 1
            expected = self.check(self.commitment, last, self.scrypt_n)[:label_size]
            if labels[-label_size:] != expected:
                raise LabelMismatchError(
                    f"initializer {self.provider.name!r} computed a wrong label at index {last}: "
                    f"{labels[-label_size:].hex()} instead of {expected.hex()}"
                )
        self.record_nonce(candidate)
        self.labels_computed += count
        if self.fixed_batch is None:
            elapsed = max(time.monotonic() - began, 1e-6)
            wanted = int(count * _TARGET_BATCH_SECONDS / elapsed)
            self.batch = max(16, min(_MAX_BATCH, wanted, self.batch * 4))
        return labels

    def report(self, file_index: int | None) -> None:
        if self.progress is None:
            return
        elapsed = max(time.monotonic() - self.started, 1e-9)
        rate = self.labels_computed / elapsed
        left = self.labels_total - self.labels_done
        self.progress(
            InitProgress(
                labels_done=self.labels_done,
                labels_total=self.labels_total,
                labels_per_second=rate,
                seconds_left=(left / rate) if rate > 0 else None,
                file_index=file_index,
                nonce=self.nonce.index if self.nonce else None,
            )
        )

    # -- files ---------------------------------------------------------------------------------

    def resume_partial(self, partial: Path, first: int, labels_in_file: int) -> int:
        """Return how many labels of an interrupted partial file can be kept (truncating the rest)."""
        if not partial.exists():
            return 0
        done = min(partial.stat().st_size // LABEL_SIZE, labels_in_file)
        if done:
            # the last kept label is recomputed: a torn write after a power loss restarts the file
            with partial.open("rb") as handle:
                handle.seek((done - 1) * LABEL_SIZE)
                stored = handle.read(LABEL_SIZE)
            labels, _ = compute_labels_with_nonce(
                self.provider, self.commitment, first + done - 1, 1, self.scrypt_n, bytes(32), LABEL_SIZE
            )
            if labels != stored:
                done = 0
        with partial.open("r+b") as handle:
            handle.truncate(done * LABEL_SIZE)
        return done

    def write_file(self, k: int) -> None:
        first, end = self.metadata.get_file_range(k)
        labels_in_file = end - first
        final = get_data_file_path(self.directory, k)
        partial = final.with_name(final.name + _PARTIAL_SUFFIX)
        done = self.resume_partial(partial, first, labels_in_file)
        self.labels_done += done
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND
        fd = os.open(partial, flags, 0o644)
        try:
            position = done
            while position < labels_in_file:
                count = min(self.batch, labels_in_file - position)
                labels = self.compute_batch(first + position, count, LABEL_SIZE)
                view = memoryview(labels)
                while view:
                    written = os.write(fd, view)
                    view = view[written:]
                position += count
                self.labels_done += count
                self.report(k)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(partial, final)
        _fsync_directory(self.directory)

    def search_beyond(self) -> None:
        """No label of the data is below the difficulty: keep searching past the end (not stored)."""
        position = max(self.metadata.last_position or 0, self.metadata.total_labels)
        while self.nonce is None:
            if position + BEYOND_BATCH_SIZE - 1 > (1 << 64) - 1:
                raise InitializationError("no VRF nonce below the difficulty in the whole u64 index space")
            self.metadata = attrs.evolve(self.metadata, last_position=position)
            write_metadata(self.directory, self.metadata)
            self.compute_batch(position, BEYOND_BATCH_SIZE, ENTIRE_LABEL_SIZE)
            self.report(None)
            position += BEYOND_BATCH_SIZE


def prepare_directory(root: Path, wanted: PostMetadata) -> PostMetadata:
    """Check or create the data directory's metadata and its zarr metadata; return the metadata in force.

    :raises MetadataMismatchError: when the directory already describes other data.
    :raises PostDataError: when existing metadata cannot be read.
    """
    root.mkdir(parents=True, exist_ok=True)
    try:
        existing: PostMetadata | None = read_metadata(root)
    except PostDataError:
        if (root / METADATA_FILE_NAME).exists():
            raise
        existing = None
    if existing is not None and not existing.is_same_data(wanted):
        raise MetadataMismatchError(
            f"{root / METADATA_FILE_NAME} describes other data (node id, commitment ATX, units, labels per "
            "unit or max file size differ); use another directory"
        )
    metadata = existing or wanted
    if existing is None:
        write_metadata(root, metadata)
    write_zarr_metadata(root, metadata)
    return metadata


def get_default_initializer() -> LabelInitializer:
    """Return the native initializer when the C module is built, else the pure-Python reference."""
    try:
        from spacemesh_core.post.native import NativeInitializer
    except ImportError:  # pragma: no cover - only without the native module
        from spacemesh_core.post.labels import ReferenceInitializer

        return ReferenceInitializer()
    return NativeInitializer()


def _verify_inputs(
    node_id: bytes,
    commitment_atx_id: bytes,
    num_units: int,
    labels_per_unit: int,
    scrypt_n: int,
    max_file_size: int,
) -> None:
    if len(node_id) != 32 or len(commitment_atx_id) != 32:
        raise LabelParameterError("node id and commitment ATX id must be 32 bytes")
    if num_units < 1 or labels_per_unit < 1:
        raise LabelParameterError(f"units and labels per unit must be >= 1, got {num_units}, {labels_per_unit}")
    if scrypt_n < 2 or not is_power_of_two(scrypt_n):
        raise LabelParameterError(f"scrypt N must be a power of two >= 2, got {scrypt_n}")
    if max_file_size < LABEL_SIZE or max_file_size % LABEL_SIZE:
        raise LabelParameterError(f"max file size must be a positive multiple of 16, got {max_file_size}")


def plan_initialization(
    node_id: bytes,
    commitment_atx_id: bytes,
    num_units: int,
    labels_per_unit: int,
    scrypt_n: int,
    max_file_size: int,
    from_file: int | None,
    to_file: int | None,
    batch_size: int | None,
    vrf_difficulty: bytes | None,
) -> tuple[PostMetadata, int, int]:
    """Check an initialization request; return the wanted metadata and the inclusive file range.

    :raises LabelParameterError: bad ids, sizes, N, batch size, VRF difficulty or file range.
    """
    _verify_inputs(node_id, commitment_atx_id, num_units, labels_per_unit, scrypt_n, max_file_size)
    if batch_size is not None and batch_size < 1:
        raise LabelParameterError(f"batch size must be >= 1, got {batch_size}")
    if vrf_difficulty is not None and len(vrf_difficulty) != ENTIRE_LABEL_SIZE:
        raise LabelParameterError(f"VRF difficulty must be {ENTIRE_LABEL_SIZE} bytes")
    wanted = PostMetadata(
        node_id=bytes(node_id),
        commitment_atx_id=bytes(commitment_atx_id),
        labels_per_unit=labels_per_unit,
        num_units=num_units,
        max_file_size=max_file_size,
    )
    first_file = 0 if from_file is None else from_file
    last_file = wanted.num_files - 1 if to_file is None else to_file
    if not 0 <= first_file <= last_file < wanted.num_files:
        raise LabelParameterError(f"file range {first_file}..{last_file} is not inside 0..{wanted.num_files - 1}")
    return wanted, first_file, last_file


def initialize(
    directory: str | os.PathLike[str],
    node_id: bytes,
    commitment_atx_id: bytes,
    num_units: int,
    labels_per_unit: int,
    scrypt_n: int,
    max_file_size: int = DEFAULT_MAX_FILE_SIZE,
    from_file: int | None = None,
    to_file: int | None = None,
    provider: LabelInitializer | None = None,
    progress: ProgressCallback | None = None,
    *,
    batch_size: int | None = None,
    vrf_difficulty: bytes | None = None,
) -> InitResult:
    """Initialize (or resume) PoST data in ``directory``.

    :param from_file: first file index to write (default 0).
    :param to_file: last file index to write, inclusive (default the last file).
    :param provider: the label backend (default: native C, else the reference).
    :param progress: called after every batch with an :class:`InitProgress`.
    :param batch_size: labels per batch (default: adaptive, about one second per batch).
    :param vrf_difficulty: override of the network rule ``compute_vrf_difficulty(total labels)``.
    :return: an :class:`InitResult` with the final metadata.
    :raises LabelParameterError: bad ids, sizes, N or file range.
    :raises MetadataMismatchError: the directory holds metadata of different data.
    :raises LabelMismatchError: the backend disagrees with the CPU cross-check.
    :raises InitializationError: other failures.
    """
    wanted, first_file, last_file = plan_initialization(
        node_id, commitment_atx_id, num_units, labels_per_unit, scrypt_n, max_file_size,
        from_file, to_file, batch_size, vrf_difficulty,
    )
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    _remove_stale_temp_files(root)
    metadata = prepare_directory(root, wanted)

    backend = provider or get_default_initializer()
    commitment = compute_commitment(node_id, commitment_atx_id)
    difficulty = vrf_difficulty or compute_vrf_difficulty(metadata.total_labels)
    files = range(first_file, last_file + 1)
    labels_total = sum(metadata.get_labels_in_file(k) for k in files)
    run = _Run(root, metadata, commitment, scrypt_n, backend, difficulty, progress, batch_size, labels_total)
    run.restore_nonce()

    written, skipped = [], []
    for k in files:
        final = get_data_file_path(root, k)
        if final.is_file() and final.stat().st_size == metadata.get_labels_in_file(k) * LABEL_SIZE:
            skipped.append(k)
            run.labels_done += metadata.get_labels_in_file(k)
            continue
        run.write_file(k)
        written.append(k)
    run.report(None)

    complete = all(get_data_file_path(root, k).is_file() for k in range(metadata.num_files))
    if run.nonce is None and complete:
        run.search_beyond()
    # the final metadata is a pure function of the data: the same bytes however the run was interrupted
    final_meta = attrs.evolve(
        run.metadata,
        nonce=run.nonce.index if run.nonce else None,
        nonce_value=run.nonce.value[:LABEL_SIZE] if run.nonce else None,
    )
    write_metadata(root, final_meta)
    return InitResult(
        metadata=final_meta,
        files_written=tuple(written),
        files_skipped=tuple(skipped),
        labels_computed=run.labels_computed,
        seconds=time.monotonic() - run.started,
    )


# --------------------------------------------------------------------------------------------
# Verifying stored data
# --------------------------------------------------------------------------------------------

#: labels recomputed together per sampled block (one SIMD batch)
VERIFY_BLOCK = 16


@attrs.frozen
class BadLabel:
    """A stored label that differs from its recomputed value."""

    file_index: int
    index: int


@attrs.frozen
class DataReport:
    """Result of :func:`verify_data`."""

    labels_checked: int
    bad_labels: tuple[BadLabel, ...]
    #: files absent or not of their exact size
    missing_files: tuple[int, ...]
    #: whether the recorded VRF nonce is below the difficulty (None: no nonce recorded)
    nonce_valid: bool | None

    @property
    def is_valid(self) -> bool:
        """No bad label, no missing file and no invalid nonce."""
        return not self.bad_labels and not self.missing_files and self.nonce_valid is not False


def verify_data(
    directory: str | os.PathLike[str],
    fraction: float,
    scrypt_n: int,
    provider: LabelInitializer | None = None,
    *,
    seed: int | None = None,
) -> DataReport:
    """Recompute a random sample (about ``fraction`` of each file, at least one block) of stored labels.

    Samples are aligned blocks of :data:`VERIFY_BLOCK` labels, so the native backend checks them in SIMD
    lanes; the first and the last block of every file are always checked. The recorded VRF nonce is
    recomputed too.

    :param fraction: share of labels to check, in (0, 1].
    :param seed: seed of the sample (None: a fresh random sample).
    :raises LabelParameterError: fraction outside (0, 1] or a bad N.
    :raises PostDataError: the directory has no valid metadata.
    """
    if not 0 < fraction <= 1:
        raise LabelParameterError(f"fraction must be in (0, 1], got {fraction}")
    if scrypt_n < 2 or not is_power_of_two(scrypt_n):
        raise LabelParameterError(f"scrypt N must be a power of two >= 2, got {scrypt_n}")
    root = Path(directory)
    meta = read_metadata(root)
    backend = provider or get_default_initializer()
    commitment = compute_commitment(meta.node_id, meta.commitment_atx_id)
    rng = random.Random(seed)
    bad: list[BadLabel] = []
    missing: list[int] = []
    checked = 0
    for k in range(meta.num_files):
        first, end = meta.get_file_range(k)
        path = get_data_file_path(root, k)
        if not path.is_file() or path.stat().st_size != (end - first) * LABEL_SIZE:
            missing.append(k)
            continue
        blocks = math.ceil((end - first) / VERIFY_BLOCK)
        wanted = min(blocks, max(1, math.ceil(fraction * blocks)))
        chosen = {0, blocks - 1} | set(rng.sample(range(blocks), wanted))
        with path.open("rb") as handle:
            for block in sorted(chosen):
                start = first + block * VERIFY_BLOCK
                count = min(VERIFY_BLOCK, end - start)
                handle.seek((start - first) * LABEL_SIZE)
                stored = handle.read(count * LABEL_SIZE)
                outputs = backend.compute_labels(commitment, start, count, scrypt_n)
                for j in range(count):
                    expected = outputs[j * ENTIRE_LABEL_SIZE : j * ENTIRE_LABEL_SIZE + LABEL_SIZE]
                    if stored[j * LABEL_SIZE : (j + 1) * LABEL_SIZE] != expected:
                        bad.append(BadLabel(k, start + j))
                checked += count
    nonce_valid: bool | None = None
    if meta.nonce is not None:
        value = backend.compute_labels(commitment, meta.nonce, 1, scrypt_n)
        nonce_valid = value < compute_vrf_difficulty(meta.total_labels) and (
            meta.nonce_value is None or value[:LABEL_SIZE] == meta.nonce_value
        )
    return DataReport(checked, tuple(bad), tuple(missing), nonce_valid)
