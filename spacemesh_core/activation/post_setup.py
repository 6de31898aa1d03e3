"""PoST setup of one identity: states, initialization in a worker thread, and the data lock.

States (protocol.md §10.3): ``NOT_STARTED → INITIALIZING → COMPLETE``, or ``ERROR`` (with the
reason) or ``STOPPED`` (asked to stop before the data was complete; a later start resumes, as the
initializer keeps finished files and partial ones).

Running one identity twice on the same data ends in malfeasance (two ATXs per epoch, protocol.md
§11 pain point 4). :class:`PostDataLock` prevents it: an exclusive ``flock`` on
``<post dir>/smeshing.lock`` held while the identity runs, with the holder's node id, pid and host
written into the file for the error message. The operating system drops the lock when its holder
dies, so a lock file left by a crashed process is stale and simply taken over. The data's own
metadata also binds it to one node id: another identity is refused.
"""

from __future__ import annotations

import asyncio
import enum
import fcntl
import json
import os
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

from spacemesh_core.post.initialize import InitProgress, LabelInitializer, initialize
from spacemesh_core.post.store import (
    METADATA_FILE_NAME,
    MetadataMismatchError,
    PostDataError,
    PostMetadata,
    get_missing_files,
    read_metadata,
)

LOCK_FILE_NAME = "smeshing.lock"


class PostSetupError(RuntimeError):
    """PoST setup cannot run (bad parameters, data of another identity, I/O)."""


class IdentityInUseError(PostSetupError):
    """The identity's PoST data is already in use by a running smesher (this or another process)."""


class PostSetupState(enum.Enum):
    """Where the PoST setup of an identity stands."""

    NOT_STARTED = "not_started"
    INITIALIZING = "initializing"
    COMPLETE = "complete"
    STOPPED = "stopped"
    ERROR = "error"


@attrs.frozen
class PostSetupStatus:
    """A snapshot of the setup: state, labels written and the error message if any."""

    state: PostSetupState
    labels_done: int = 0
    labels_total: int = 0
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return JSON-ready data."""
        return {
            "state": self.state.value,
            "labels_done": self.labels_done,
            "labels_total": self.labels_total,
            "error": self.error,
        }


@attrs.frozen
class PostSetupOptions:
    """What to initialize: the identity's data layout and the network label parameters."""

    directory: Path = attrs.field(converter=Path)
    num_units: int
    labels_per_unit: int
    scrypt_n: int
    max_file_size: int


class PostDataLock:
    """An exclusive lock of a PoST directory for one node id (see the module doc)."""

    def __init__(self, directory: str | os.PathLike[str], node_id: bytes) -> None:
        self.path = Path(directory) / LOCK_FILE_NAME
        self.node_id = bytes(node_id)
        self._fd: int | None = None

    @property
    def is_held(self) -> bool:
        """Whether this object holds the lock."""
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock and record the holder.

        :raises IdentityInUseError: another holder (thread, process) has it; the message names it.
        """
        if self._fd is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise IdentityInUseError(
                f"the PoST data in {self.path.parent} is already in use ({self._describe_holder()}); "
                "running one identity twice would publish two ATXs per epoch (malfeasance)"
            ) from None
        # We hold it: any previous content is from a holder that died (a stale lock); replace it.
        record = {"node_id": self.node_id.hex(), "pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(record).encode(), 0)
        os.fsync(fd)
        self._fd = fd

    def _describe_holder(self) -> str:
        try:
            record = json.loads(self.path.read_text())
            return f"node id {record['node_id'][:12]}…, pid {record['pid']} on {record['host']}"
        except (OSError, ValueError, KeyError, TypeError):
            return "holder unknown"

    def release(self) -> None:
        """Release the lock (the file stays; its content is stale once unlocked)."""
        if self._fd is None:
            return
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None


class _StopRequested(Exception):
    """Raised from the progress callback to end initialization early."""


class PostSetup:
    """Prepares one identity's PoST data and reports its state.

    :param node_id: the identity.
    :param options: directory, units and label parameters.
    :param provider: the label initializer (the ``initializer`` category; default native/reference).
    :param on_progress: called (in the worker thread) with every :class:`InitProgress`.
    """

    def __init__(
        self,
        node_id: bytes,
        options: PostSetupOptions,
        provider: LabelInitializer | None = None,
        on_progress: Callable[[InitProgress], None] | None = None,
    ) -> None:
        self.node_id = bytes(node_id)
        self.options = options
        self.provider = provider
        self.on_progress = on_progress
        self.lock = PostDataLock(options.directory, node_id)
        self._status = PostSetupStatus(PostSetupState.NOT_STARTED)
        self._stop = threading.Event()
        self._guard = threading.Lock()

    def get_status(self) -> PostSetupStatus:
        """Return the current state and progress."""
        with self._guard:
            return self._status

    def _set_status(self, status: PostSetupStatus) -> None:
        with self._guard:
            self._status = status

    def get_metadata(self) -> PostMetadata | None:
        """Return the directory's metadata, or None before initialization wrote it."""
        try:
            return read_metadata(self.options.directory)
        except PostDataError:
            return None

    def get_commitment_atx_id(self) -> bytes | None:
        """Return the commitment ATX the existing data was made with, or None if there is no data yet."""
        metadata = self.get_metadata()
        return metadata.commitment_atx_id if metadata else None

    def is_complete(self) -> bool:
        """Return whether the data is fully initialized (every file present and a VRF nonce found)."""
        metadata = self.get_metadata()
        return bool(metadata and metadata.nonce is not None and not get_missing_files(self.options.directory, metadata))

    def check_identity(self) -> None:
        """Refuse data made for another node id.

        :raises PostSetupError: the directory's metadata names another identity.
        """
        metadata = self.get_metadata()
        if metadata is not None and metadata.node_id != self.node_id:
            raise PostSetupError(
                f"{self.options.directory / METADATA_FILE_NAME} belongs to node id {metadata.node_id.hex()[:12]}…, "
                f"not {self.node_id.hex()[:12]}…; use another directory"
            )

    async def run(self, commitment_atx_id: bytes) -> PostMetadata:
        """Lock the data, then initialize (or resume, or just check) it in a worker thread.

        The lock stays held after this returns (the identity is running); :meth:`close` releases it.

        :param commitment_atx_id: used only when no data exists yet (existing data keeps its own).
        :raises IdentityInUseError: the data is locked by another running smesher.
        :raises PostSetupError: data of another identity, or initialization failed (state ERROR).
        :raises asyncio.CancelledError: :meth:`stop` was called (state STOPPED).
        """
        self.lock.acquire()
        try:
            self.check_identity()
        except PostSetupError as exc:
            self._set_status(PostSetupStatus(PostSetupState.ERROR, error=str(exc)))
            raise
        commitment = self.get_commitment_atx_id() or commitment_atx_id
        opts = self.options
        total = opts.num_units * opts.labels_per_unit
        self._set_status(PostSetupStatus(PostSetupState.INITIALIZING, 0, total))
        self._stop.clear()

        def report(progress: InitProgress) -> None:
            self._set_status(PostSetupStatus(PostSetupState.INITIALIZING, progress.labels_done, progress.labels_total))
            if self.on_progress is not None:
                self.on_progress(progress)
            if self._stop.is_set():
                raise _StopRequested

        try:
            result = await asyncio.to_thread(
                initialize,
                opts.directory,
                self.node_id,
                commitment,
                opts.num_units,
                opts.labels_per_unit,
                opts.scrypt_n,
                opts.max_file_size,
                provider=self.provider,
                progress=report,
            )
        except Exception as exc:
            if self._stop.is_set():  # our _StopRequested, possibly wrapped by the initializer
                self._set_status(PostSetupStatus(PostSetupState.STOPPED, error="stopped before completion"))
                raise asyncio.CancelledError from None
            if isinstance(exc, MetadataMismatchError):
                message = str(exc)
            else:
                message = f"PoST initialization failed: {type(exc).__name__}: {exc}"
            self._set_status(PostSetupStatus(PostSetupState.ERROR, error=message))
            raise PostSetupError(message) from exc
        self._set_status(PostSetupStatus(PostSetupState.COMPLETE, total, total))
        return result.metadata

    def stop(self) -> None:
        """Ask a running initialization to stop after its current batch."""
        self._stop.set()

    def close(self) -> None:
        """Release the data lock."""
        self.lock.release()
