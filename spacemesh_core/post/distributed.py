"""PoST initialization spread over a Dask cluster (``spacemesh post init --cluster ...``).

Design (one honest choice, documented in ``docs/backends.md``):

* **Shared filesystem.** Every worker must see the data directory under the same path (the same
  machine, or NFS/CephFS/... mounted identically everywhere). Workers write their files straight into
  it; nothing but small results crosses the network. The client checks this before any work starts:
  it writes a probe file and every worker must read it back, otherwise :class:`ClusterError` names the
  workers that cannot see the directory. A cluster without shared storage is not supported.
* **The unit of work is one** ``postdata_<k>.bin`` **file** (one zarr chunk). Worker task ``k`` runs the
  ordinary single-machine :func:`~spacemesh_core.post.initialize.initialize` for file ``k`` alone in a
  private staging directory ``<dir>/.dist-init/<k>/`` (same metadata, so the same labels and the same
  VRF difficulty) with the worker's best local backend, and returns the file's smallest VRF candidate.
  The staging run inherits the single-machine guarantees: atomic ``.partial`` files, resumption from
  the last whole label, and the candidate recorded in the staging metadata *before* the labels that
  produced it reach the disk.
* **The VRF nonce** is merged on the client: the smallest output over all files, the lowest index on a
  tie (exactly the single-machine rule). The client writes the merged nonce into
  ``postdata_metadata.json`` and only then moves the file into ``<dir>``, so every file in place is
  covered by the recorded nonce at every moment: an interrupted job loses nothing, and a rerun,
  distributed or not, ends with the same bytes (a plain rerun recomputes the staged files and leaves
  ``.dist-init/`` behind). Candidates beyond the data (only a one-file layout can produce them in a
  staging run) are ignored: the search past the end runs once, on the client, through the
  single-machine code, so ``LastPosition`` matches it.
* **Worker death.** Dask reschedules the task of a worker that dies on another worker; the new
  attempt resumes the dead worker's ``.partial`` file in the same staging directory (re-checking its
  last label), so at most one batch is recomputed. A worker that is cut off from the scheduler but
  still running is *not* stopped by Dask: with a flaky network, make sure such a process dies.
* **The result is byte-identical** to a single-machine run: the files are the same labels, and the
  final metadata is written by the same :func:`initialize` call over the complete directory.
* **Progress** of the whole job: workers send per-file counts as Dask events (``log_event``), the client
  sums them and calls ``progress`` with a :class:`ClusterProgress`.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import secrets
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import attrs

from spacemesh_core.post.initialize import (
    InitializationError,
    InitProgress,
    InitResult,
    LabelInitializer,
    get_default_initializer,
    initialize,
    plan_initialization,
    prepare_directory,
)
from spacemesh_core.post.labels import (
    ENTIRE_LABEL_SIZE,
    LABEL_SIZE,
    LabelParameterError,
    VrfNonce,
    compute_commitment,
    compute_vrf_difficulty,
)
from spacemesh_core.post.store import (
    METADATA_FILE_NAME,
    PostDataError,
    PostMetadata,
    get_data_file_path,
    read_metadata,
    write_metadata,
)

#: staging directories of running/interrupted distributed jobs, inside the data directory
STAGING_DIR_NAME = ".dist-init"
#: prefix of ``--cluster`` values that start a local cluster: ``local:W``
LOCAL_PREFIX = "local:"
#: retries of a file's task after an error (worker deaths are governed by Dask's
#: ``distributed.scheduler.allowed-failures``, default 3)
DEFAULT_ALLOWED_FAILURES = 3
_EVENT_TOPIC_PREFIX = "spacemesh-post-init-"

ProviderFactory = Callable[[], LabelInitializer]

__all__ = [
    "DEFAULT_ALLOWED_FAILURES",
    "LOCAL_PREFIX",
    "STAGING_DIR_NAME",
    "ClusterError",
    "ClusterProgress",
    "ClusterSpec",
    "DistributedInitResult",
    "FileOutcome",
    "create_local_initializer",
    "initialize_distributed",
    "is_dask_available",
    "open_cluster",
    "parse_cluster_spec",
]


class ClusterError(InitializationError):
    """The cluster is unusable: a bad ``--cluster`` value, Dask missing, no workers, or workers that
    cannot see the data directory."""


@attrs.frozen
class ClusterSpec:
    """A parsed ``--cluster`` value: a local cluster of ``local_workers`` processes, or a scheduler address."""

    address: str | None = None
    local_workers: int | None = None

    @property
    def is_local(self) -> bool:
        """Whether this asks for a local cluster started (and stopped) by the client."""
        return self.local_workers is not None


@attrs.frozen
class ClusterProgress(InitProgress):
    """Progress of the whole distributed job, with the worker that sent the latest report."""

    worker: str | None = None
    worker_pid: int | None = None
    #: labels of ``file_index`` done so far, and its size (None in the final report)
    file_labels_done: int | None = None
    file_labels_total: int | None = None


ClusterProgressCallback = Callable[[ClusterProgress], None]


@attrs.frozen
class DistributedInitResult(InitResult):
    """What :func:`initialize_distributed` did."""

    #: workers of the cluster when the job started
    workers: int = 0
    #: files whose task started more than once (a worker died or a task failed and was retried)
    files_redone: tuple[int, ...] = ()


@attrs.frozen
class FileOutcome:
    """What a worker reports for one file: its smallest VRF candidate (full 32-byte output) and work."""

    file_index: int
    nonce: VrfNonce | None
    labels_computed: int
    worker: str
    pid: int


def is_dask_available() -> bool:
    """Return whether ``dask.distributed`` can be imported (the optional extra ``dist``)."""
    try:
        import distributed  # noqa: F401
    except ImportError:
        return False
    return True


def parse_cluster_spec(value: str) -> ClusterSpec:
    """Parse ``local:W`` (W >= 1 worker processes here) or a scheduler address (``tcp://host:8786``,
    ``host:8786``, ``tls://...``).

    :raises ClusterError: an empty value or a bad worker count.
    """
    text = value.strip()
    if not text:
        raise ClusterError("--cluster needs a scheduler address or local:W")
    if text.startswith(LOCAL_PREFIX):
        count = text[len(LOCAL_PREFIX) :]
        if not count.isdigit() or int(count) < 1:
            raise ClusterError(f"--cluster {value!r}: local:W needs a worker count W >= 1")
        return ClusterSpec(local_workers=int(count))
    if "://" not in text:
        text = "tcp://" + text
    return ClusterSpec(address=text)


def create_local_initializer(threads: int | None = None) -> LabelInitializer:
    """Build the best label backend of the machine this runs on (a worker): native C with ``threads``
    threads (None: one per CPU) when built, else the pure-Python reference."""
    backend = get_default_initializer()
    if threads is not None and hasattr(backend, "threads"):
        backend.threads = threads
    return backend


def _require_dask() -> Any:
    try:
        import distributed
    except ImportError:
        raise ClusterError(
            "distributed initialization needs Dask: pip install 'spacemesh[dist]' (dask[distributed])"
        ) from None
    return distributed


@contextmanager
def open_cluster(
    spec: ClusterSpec | str, *, threads_per_worker: int = 1, connect_timeout: float = 30.0
) -> Iterator[Any]:
    """Yield a ``distributed.Client`` for ``spec``; a local cluster is started and stopped here.

    A local cluster runs ``W`` worker *processes* (``threads_per_worker`` Dask threads each) so that a
    worker can die alone; the labels themselves use the backend's own threads.

    :param connect_timeout: seconds to wait for a remote scheduler.
    :raises ClusterError: Dask is missing or the scheduler cannot be reached.
    """
    distributed = _require_dask()
    parsed = parse_cluster_spec(spec) if isinstance(spec, str) else spec
    if parsed.is_local:
        cluster = distributed.LocalCluster(
            n_workers=parsed.local_workers,
            threads_per_worker=threads_per_worker,
            processes=True,
            dashboard_address="127.0.0.1:0",  # the scheduler always serves HTTP: not on 8787
            silence_logs=logging.ERROR,
        )
        try:
            with distributed.Client(cluster) as client:
                yield client
        finally:
            cluster.close()
        return
    try:
        client = distributed.Client(parsed.address, timeout=f"{connect_timeout}s")
    except OSError as exc:
        raise ClusterError(f"cannot reach the Dask scheduler at {parsed.address}: {exc}") from None
    try:
        yield client
    finally:
        client.close()


# --------------------------------------------------------------------------------------------
# On the worker
# --------------------------------------------------------------------------------------------


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _get_staging_path(root: Path, k: int) -> Path:
    return root / STAGING_DIR_NAME / str(k)


def _read_staged_nonce(staging: Path, provider: LabelInitializer, commitment: bytes, scrypt_n: int) -> VrfNonce | None:
    """The candidate recorded in a staging directory's metadata, with its full output recomputed."""
    try:
        meta = read_metadata(staging)
    except PostDataError:
        return None
    if meta.nonce is None:
        return None
    value = provider.compute_labels(commitment, meta.nonce, 1, scrypt_n)
    if meta.nonce_value is not None and value[:LABEL_SIZE] != meta.nonce_value:
        raise InitializationError(f"{staging / METADATA_FILE_NAME}: NonceValue does not match label {meta.nonce}")
    return VrfNonce(meta.nonce, bytes(value[:ENTIRE_LABEL_SIZE]))


def _is_complete(path: Path, labels: int) -> bool:
    return path.is_file() and path.stat().st_size == labels * LABEL_SIZE


def _probe_directory(path: str, token: str) -> bool:
    """Runs on every worker: whether it reads ``token`` from the probe file ``path``."""
    try:
        return Path(path).read_text() == token
    except OSError:
        return False


def _log_event(topic: str, message: dict[str, Any]) -> None:
    try:
        from distributed import get_worker

        get_worker().log_event(topic, message)
    except (ImportError, ValueError):
        pass  # not inside a Dask worker (a direct call): no one to report to


def compute_file_on_worker(
    directory: str,
    k: int,
    node_id: bytes,
    commitment_atx_id: bytes,
    num_units: int,
    labels_per_unit: int,
    scrypt_n: int,
    max_file_size: int,
    provider_factory: ProviderFactory,
    batch_size: int | None,
    vrf_difficulty: bytes | None,
    topic: str,
) -> FileOutcome:
    """The Dask task of file ``k``: compute it in its staging directory ``<dir>/.dist-init/<k>/``.

    The client moves the finished file into ``<dir>`` once it has merged the returned candidate into
    the main metadata, so a file in place is always covered by the recorded nonce. Safe to run again
    after a crash at any point (a retry on another worker): a finished staged file is kept, a
    ``.partial`` one resumed.

    :raises InitializationError: and the other errors of :func:`initialize`.
    """
    root = Path(directory)
    worker = ""
    try:
        from distributed import get_worker

        worker = get_worker().address
    except (ImportError, ValueError):
        pass
    pid = os.getpid()
    _log_event(topic, {"kind": "started", "file": k, "pid": pid, "worker": worker})
    provider = provider_factory()
    commitment = compute_commitment(node_id, commitment_atx_id)
    staging = _get_staging_path(root, k)
    last_sent = [0.0]

    def report(progress: InitProgress) -> None:
        now = time.monotonic()
        if now - last_sent[0] >= 0.05 or progress.labels_done >= progress.labels_total:
            last_sent[0] = now
            _log_event(
                topic, {"kind": "progress", "file": k, "done": progress.labels_done, "pid": pid, "worker": worker}
            )

    result = initialize(
        staging,
        node_id,
        commitment_atx_id,
        num_units,
        labels_per_unit,
        scrypt_n,
        max_file_size,
        from_file=k,
        to_file=k,
        provider=provider,
        progress=report,
        batch_size=batch_size,
        vrf_difficulty=vrf_difficulty,
    )
    nonce = _read_staged_nonce(staging, provider, commitment, scrypt_n)
    return FileOutcome(k, nonce, result.labels_computed, worker, pid)


# --------------------------------------------------------------------------------------------
# On the client
# --------------------------------------------------------------------------------------------


def _is_better(candidate: VrfNonce | None, best: VrfNonce | None) -> bool:
    """The single-machine order: smaller output first, the lower index on equal outputs."""
    if candidate is None:
        return False
    return best is None or (candidate.value, candidate.index) < (best.value, best.index)


class _JobProgress:
    """Sums the per-file counts of the workers' events into whole-job :class:`ClusterProgress` reports."""

    def __init__(
        self, callback: ClusterProgressCallback | None, labels_total: int, already_done: int, file_sizes: dict[int, int]
    ) -> None:
        self.callback = callback
        self.file_sizes = file_sizes
        self.labels_total = labels_total
        self.already_done = already_done
        self.by_file: dict[int, int] = {}
        self.starts: dict[int, int] = {}
        self.nonce: int | None = None
        self.started = time.monotonic()
        self.lock = threading.Lock()

    def handle_event(self, event: Any) -> None:
        """Dask topic handler: ``event`` is ``(timestamp, message)``."""
        _, message = event
        if not isinstance(message, dict) or "file" not in message:
            return
        k = int(message["file"])
        with self.lock:
            if message.get("kind") == "started":
                self.starts[k] = self.starts.get(k, 0) + 1
                return
            self.by_file[k] = int(message.get("done", 0))
        self.emit(k, message.get("worker"), message.get("pid"))

    def set_file_done(self, k: int, labels: int) -> None:
        with self.lock:
            self.by_file[k] = labels

    def emit(self, file_index: int | None, worker: str | None = None, pid: int | None = None) -> None:
        if self.callback is None:
            return
        with self.lock:
            computed = sum(self.by_file.values())
            in_file = self.by_file.get(file_index) if file_index is not None else None
        elapsed = max(time.monotonic() - self.started, 1e-9)
        rate = computed / elapsed
        done = self.already_done + computed
        left = self.labels_total - done
        self.callback(
            ClusterProgress(
                labels_done=done,
                labels_total=self.labels_total,
                labels_per_second=rate,
                seconds_left=(left / rate) if rate > 0 else None,
                file_index=file_index,
                nonce=self.nonce,
                worker=worker,
                worker_pid=pid,
                file_labels_done=in_file,
                file_labels_total=self.file_sizes.get(file_index) if file_index is not None else None,
            )
        )


def _verify_workers_see(client: Any, root: Path) -> int:
    """Check that every worker reads a probe file written here; return the number of workers."""
    workers = client.scheduler_info().get("workers", {})
    if not workers:
        client.wait_for_workers(1, timeout=60)
        workers = client.scheduler_info().get("workers", {})
    staging = root / STAGING_DIR_NAME
    staging.mkdir(exist_ok=True)
    token = secrets.token_hex(16)
    probe = staging / f".probe-{token}"
    probe.write_text(token)
    try:
        seen = client.run(_probe_directory, str(probe.resolve()), token)
    finally:
        probe.unlink(missing_ok=True)
    blind = sorted(address for address, ok in seen.items() if not ok)
    if blind:
        raise ClusterError(
            f"workers {', '.join(blind)} cannot see {root.resolve()}: distributed initialization needs the "
            "data directory on a filesystem shared by the client and every worker, under the same path"
        )
    return len(seen)


def initialize_distributed(
    directory: str | os.PathLike[str],
    node_id: bytes,
    commitment_atx_id: bytes,
    num_units: int,
    labels_per_unit: int,
    scrypt_n: int,
    max_file_size: int,
    *,
    cluster: Any,
    from_file: int | None = None,
    to_file: int | None = None,
    provider_factory: ProviderFactory | None = None,
    local_provider: LabelInitializer | None = None,
    progress: ClusterProgressCallback | None = None,
    batch_size: int | None = None,
    vrf_difficulty: bytes | None = None,
    allowed_failures: int = DEFAULT_ALLOWED_FAILURES,
) -> DistributedInitResult:
    """Initialize (or resume) PoST data in ``directory`` with one Dask task per ``postdata_<k>.bin``.

    The outcome (files and metadata) is byte-identical to :func:`initialize` with the same arguments.

    :param cluster: a ``distributed.Client``, a :class:`ClusterSpec`, or a ``--cluster`` string
        (``local:W`` or a scheduler address).
    :param provider_factory: picklable callable run on each worker to build its label backend
        (default: :func:`create_local_initializer`, the worker's best backend; on a local cluster of W
        workers each gets ``cpu_count // W`` threads).
    :param local_provider: the client's backend for the final step (the nonce check and a search past
        the end of the data; default: this machine's best).
    :param progress: called on the client with :class:`ClusterProgress` reports of the whole job.
    :param allowed_failures: how often a file's task is retried after an error before the job gives up
        (the death of its worker is Dask's ``distributed.scheduler.allowed-failures``, default 3).
    :raises ClusterError: Dask missing, the cluster unreachable, or workers that cannot see ``directory``.
    :raises LabelParameterError, MetadataMismatchError, InitializationError: as :func:`initialize`.
    """
    wanted, first_file, last_file = plan_initialization(
        node_id, commitment_atx_id, num_units, labels_per_unit, scrypt_n, max_file_size,
        from_file, to_file, batch_size, vrf_difficulty,
    )
    if allowed_failures < 0:
        raise LabelParameterError(f"allowed failures must be >= 0, got {allowed_failures}")
    distributed = _require_dask()

    if isinstance(cluster, distributed.Client):
        return _run_job(
            cluster, directory, wanted, scrypt_n, first_file, last_file, provider_factory, local_provider,
            progress, batch_size, vrf_difficulty, allowed_failures,
        )
    spec = parse_cluster_spec(cluster) if isinstance(cluster, str) else cluster
    if provider_factory is None and spec.is_local:
        # W processes share this machine's CPUs
        threads = max(1, (os.cpu_count() or 1) // (spec.local_workers or 1))
        provider_factory = functools.partial(create_local_initializer, threads)
    with open_cluster(spec) as client:
        return _run_job(
            client, directory, wanted, scrypt_n, first_file, last_file, provider_factory, local_provider,
            progress, batch_size, vrf_difficulty, allowed_failures,
        )


def _run_job(
    client: Any,
    directory: str | os.PathLike[str],
    wanted: PostMetadata,
    scrypt_n: int,
    first_file: int,
    last_file: int,
    provider_factory: ProviderFactory | None,
    local_provider: LabelInitializer | None,
    progress: ClusterProgressCallback | None,
    batch_size: int | None,
    vrf_difficulty: bytes | None,
    allowed_failures: int,
) -> DistributedInitResult:
    distributed = _require_dask()
    started = time.monotonic()
    root = Path(directory)
    created = not root.exists()
    root.mkdir(parents=True, exist_ok=True)
    try:
        workers = _verify_workers_see(client, root)
        metadata = prepare_directory(root, wanted)
    except BaseException:
        # bad input or an unusable cluster changes nothing
        with contextlib.suppress(OSError):
            (root / STAGING_DIR_NAME).rmdir()
            if created:
                root.rmdir()
        raise
    local = local_provider or get_default_initializer()
    commitment = compute_commitment(metadata.node_id, metadata.commitment_atx_id)
    difficulty = vrf_difficulty or compute_vrf_difficulty(metadata.total_labels)

    def is_data_candidate(candidate: VrfNonce | None) -> bool:
        return candidate is not None and candidate.index < metadata.total_labels and candidate.value < difficulty

    # the candidate already on disk: the main metadata's (it covers every file in place)
    best: VrfNonce | None = None
    if metadata.nonce is not None:
        value = local.compute_labels(commitment, metadata.nonce, 1, scrypt_n)[:ENTIRE_LABEL_SIZE]
        if metadata.nonce_value is not None and value[:LABEL_SIZE] != metadata.nonce_value:
            raise InitializationError(
                f"{METADATA_FILE_NAME}: NonceValue does not match label {metadata.nonce} (metadata of other data?)"
            )
        if value < difficulty:
            best = VrfNonce(metadata.nonce, bytes(value))

    def adopt(candidate: VrfNonce | None) -> None:
        """Merge a candidate and persist it before its file is moved into place."""
        nonlocal best, metadata
        if not is_data_candidate(candidate) or not _is_better(candidate, best):
            return
        assert candidate is not None
        best = candidate
        metadata = attrs.evolve(metadata, nonce=candidate.index, nonce_value=candidate.value[:LABEL_SIZE])
        write_metadata(root, metadata)

    # staging directories of an interrupted job whose file is already in place were merged before the
    # move: drop them (the others are resumed by their file's task)
    for staging in sorted((root / STAGING_DIR_NAME).iterdir()):
        if not staging.is_dir() or not staging.name.isdigit():
            continue
        k = int(staging.name)
        if k >= metadata.num_files or _is_complete(get_data_file_path(root, k), metadata.get_labels_in_file(k)):
            shutil.rmtree(staging, ignore_errors=True)

    files = range(first_file, last_file + 1)
    pending = [k for k in files if not _is_complete(get_data_file_path(root, k), metadata.get_labels_in_file(k))]
    skipped = [k for k in files if k not in pending]
    labels_total = sum(metadata.get_labels_in_file(k) for k in files)
    job = _JobProgress(
        progress,
        labels_total,
        sum(metadata.get_labels_in_file(k) for k in skipped),
        {k: metadata.get_labels_in_file(k) for k in pending},
    )
    job.nonce = best.index if best else None
    topic = _EVENT_TOPIC_PREFIX + secrets.token_hex(8)
    factory = provider_factory or create_local_initializer
    computed = 0
    client.subscribe_topic(topic, job.handle_event)
    futures = []
    try:
        for k in pending:
            futures.append(
                client.submit(
                    compute_file_on_worker,
                    str(root.resolve()),
                    k,
                    metadata.node_id,
                    metadata.commitment_atx_id,
                    metadata.num_units,
                    metadata.labels_per_unit,
                    scrypt_n,
                    metadata.max_file_size,
                    factory,
                    batch_size,
                    vrf_difficulty,
                    topic,
                    key=f"post-init-file-{k}-{topic}",
                    pure=False,
                    retries=allowed_failures,
                )
            )
        for future in distributed.as_completed(futures):
            try:
                outcome: FileOutcome = future.result()
            except (distributed.KilledWorker, OSError) as exc:
                raise InitializationError(f"a postdata file could not be computed on the cluster: {exc}") from exc
            k = outcome.file_index
            adopt(outcome.nonce)
            job.nonce = best.index if best else None
            computed += outcome.labels_computed
            staging = _get_staging_path(root, k)
            os.replace(get_data_file_path(staging, k), get_data_file_path(root, k))
            _fsync_directory(root)
            shutil.rmtree(staging, ignore_errors=True)
            job.set_file_done(k, metadata.get_labels_in_file(k))
            job.emit(k, outcome.worker, outcome.pid)
    except BaseException:
        client.cancel(futures)
        raise
    finally:
        client.unsubscribe_topic(topic)
    with contextlib.suppress(OSError):
        (root / STAGING_DIR_NAME).rmdir()  # only when empty (another job's files stay)

    # The final metadata comes from the single-machine code over the complete directory: every file in
    # the range is skipped, the merged nonce is re-checked, and the search past the end runs if needed.
    final = initialize(
        root,
        metadata.node_id,
        metadata.commitment_atx_id,
        metadata.num_units,
        metadata.labels_per_unit,
        scrypt_n,
        metadata.max_file_size,
        from_file=first_file,
        to_file=last_file,
        provider=local,
        batch_size=batch_size,
        vrf_difficulty=vrf_difficulty,
    )
    job.nonce = final.metadata.nonce
    job.emit(None)
    return DistributedInitResult(
        metadata=final.metadata,
        files_written=tuple(pending),
        files_skipped=tuple(skipped),
        labels_computed=computed + final.labels_computed,
        seconds=time.monotonic() - started,
        workers=workers,
        files_redone=tuple(sorted(k for k, n in job.starts.items() if n > 1)),
    )

