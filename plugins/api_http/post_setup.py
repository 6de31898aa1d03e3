"""PoST setup driven from the API when the node runs no smeshing plugin, and the wizard's helpers.

Where the smeshing plugin runs, its control (``node.smeshing``) owns PoST setup and the ATX builder
and the smeshing routes drive it. Without it this class gives the API real PoST initialization: it
runs :func:`spacemesh_core.post.initialize.initialize` with the bundle's initializer in a worker
thread and reports its progress. It does not build ATXs: :meth:`get_status` says so (``atxBuilder``).
The folder check and the speed probe serve the dashboard's wizard in either case.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import logging
import shutil
import threading
import time
from pathlib import Path
from typing import Any

from spacemesh_core.fsutil import write_file_atomic
from spacemesh_core.post.initialize import InitializationError, InitProgress, LabelInitializer, initialize
from spacemesh_core.post.labels import LabelParameterError
from spacemesh_core.post.store import PostDataError

log = logging.getLogger(__name__)

#: what the API remembers between runs about the chosen PoST folder and size
OPTIONS_FILE = "post_setup.json"


class PostSetupState(enum.Enum):
    """The states of go-spacemesh's PoST setup (PostSetupStatus.State)."""

    NOT_STARTED = "STATE_NOT_STARTED"
    IN_PROGRESS = "STATE_IN_PROGRESS"
    COMPLETE = "STATE_COMPLETE"
    STOPPED = "STATE_STOPPED"
    ERROR = "STATE_ERROR"


class PostSetupError(ValueError):
    """A request the PoST setup cannot honour (bad folder, bad size, already running)."""


class _StopRequested(Exception):
    pass


class LocalPostSetup:
    """PoST initialization for the node's own identity, with progress, stop and a speed probe.

    :param node: the running node (identity, config, components, golden ATX, data dir).
    """

    def __init__(self, node: Any) -> None:
        self.node = node
        self.state = PostSetupState.NOT_STARTED
        self.options: dict[str, Any] = {}
        self.labels_done = 0
        self.labels_total = 0
        self.labels_per_second = 0.0
        self.seconds_left: float | None = None
        self.error: str | None = None
        self.started_at: float | None = None
        self._stop = threading.Event()
        self._task: asyncio.Task[None] | None = None
        self._options_path = Path(node.data_dir) / "api" / OPTIONS_FILE
        with contextlib.suppress(OSError, ValueError):
            self.options = json.loads(self._options_path.read_text())

    # -- helpers -----------------------------------------------------------------------------

    def _get_initializer(self) -> LabelInitializer:
        item = self.node.components.get("initializer")
        if item is None:
            from spacemesh_core.post.initialize import get_default_initializer

            return get_default_initializer()
        provider: LabelInitializer = item.factory()
        return provider

    def get_unit_size(self) -> int:
        """Return the bytes of one space unit under the node's configuration."""
        return int(self.node.config.post.labels_per_unit) * 16

    def get_default_directory(self) -> Path:
        """Return the PoST folder proposed to a smesher: the one of the last start, else ``<data dir>/post``."""
        if self.options.get("dataDir"):
            return Path(str(self.options["dataDir"])).expanduser()
        return Path(self.node.data_dir).expanduser().resolve() / "post"

    def get_folder_info(self, path: str) -> dict[str, Any]:
        """Return whether ``path`` can hold PoST data: exists, writable, free bytes (of the nearest existing parent)."""
        folder = Path(path).expanduser()
        if not folder.is_absolute():
            raise PostSetupError("the folder must be an absolute path")
        probe = folder
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        if probe.exists() and not probe.is_dir():
            raise PostSetupError(f"{probe} is a file, not a folder")
        free = shutil.disk_usage(probe).free
        writable = probe.is_dir() and _is_writable(probe)
        has_data = (folder / "postdata_metadata.json").is_file()
        return {"path": str(folder), "exists": folder.is_dir(), "writable": writable, "freeBytes": free,
                "hasPostData": has_data, "unitBytes": self.get_unit_size()}

    # -- probing -----------------------------------------------------------------------------

    async def probe_speed(self, seconds: float = 0.3) -> dict[str, Any]:
        """Compute labels for about ``seconds`` with the bundle's initializer; return labels per second."""
        scrypt_n = int(self.node.config.post.scrypt_n)
        provider = self._get_initializer()

        def run() -> tuple[int, float]:
            count, done, started = 64, 0, time.perf_counter()
            while True:
                provider.compute_labels(bytes(32), done, count, scrypt_n)
                done += count
                elapsed = time.perf_counter() - started
                if elapsed >= seconds:
                    return done, elapsed
                count = min(count * 2, 1 << 20)

        done, elapsed = await asyncio.to_thread(run)
        rate = done / elapsed if elapsed > 0 else 0.0
        return {"labelsPerSecond": rate, "labels": done, "seconds": elapsed, "provider": getattr(provider, "name", "")}

    # -- the setup itself ----------------------------------------------------------------------

    def is_running(self) -> bool:
        """Return whether initialization is running now."""
        return self._task is not None and not self._task.done()

    async def start(self, directory: str, num_units: int, max_file_size: int | None = None) -> None:
        """Start (or resume) initializing ``num_units`` units in ``directory``.

        :raises PostSetupError: when it already runs, or the folder or size are not acceptable.
        """
        if self.is_running():
            raise PostSetupError("PoST setup is already running; stop it first")
        post = self.node.config.post
        if not post.min_num_units <= num_units <= post.max_num_units:
            raise PostSetupError(f"numUnits must be in {post.min_num_units}..{post.max_num_units}, got {num_units}")
        info = self.get_folder_info(directory)
        if not info["writable"]:
            raise PostSetupError(f"cannot write to {directory}")
        size = num_units * self.get_unit_size()
        if not info["hasPostData"] and size > info["freeBytes"]:
            raise PostSetupError(f"{size} bytes are needed but only {info['freeBytes']} are free there")
        if self.node.identity is None:
            raise PostSetupError("the node has no identity yet")
        file_size = int(max_file_size or post.max_file_size)
        self.options = {"dataDir": str(Path(directory).expanduser()), "numUnits": num_units, "maxFileSize": file_size}
        write_file_atomic(self._options_path, json.dumps(self.options).encode())
        self.state = PostSetupState.IN_PROGRESS
        self.error = None
        self.labels_done = 0
        self.labels_total = num_units * int(post.labels_per_unit)
        self.started_at = time.time()
        self._stop.clear()
        self._task = asyncio.create_task(self._run(), name="post-setup")

    async def _run(self) -> None:
        post = self.node.config.post
        provider = self._get_initializer()

        def on_progress(progress: InitProgress) -> None:
            self.labels_done = progress.labels_done
            self.labels_total = progress.labels_total
            self.labels_per_second = progress.labels_per_second
            self.seconds_left = progress.seconds_left
            if self._stop.is_set():
                raise _StopRequested()

        try:
            await asyncio.to_thread(
                initialize,
                self.options["dataDir"],
                self.node.identity.node_id,
                self.node.golden_atx,
                self.options["numUnits"],
                int(post.labels_per_unit),
                int(post.scrypt_n),
                self.options["maxFileSize"],
                provider=provider,
                progress=on_progress,
            )
        except _StopRequested:
            self.state = PostSetupState.STOPPED
        except (InitializationError, LabelParameterError, PostDataError, OSError) as exc:
            self.state = PostSetupState.ERROR
            self.error = str(exc)
            log.error("PoST setup failed: %s", exc)
        else:
            self.labels_done = self.labels_total
            self.seconds_left = 0.0
            self.state = PostSetupState.COMPLETE

    async def stop(self, delete_files: bool = False) -> None:
        """Stop initialization (the data stays resumable unless ``delete_files``)."""
        self._stop.set()
        if self._task is not None:
            with contextlib.suppress(Exception):
                await self._task
            self._task = None
        if delete_files and self.options.get("dataDir"):
            folder = Path(self.options["dataDir"])
            for path in list(folder.glob("postdata_*")) + list(folder.glob("zarr.json")):
                with contextlib.suppress(OSError):
                    path.unlink()
            self.state = PostSetupState.NOT_STARTED
            self.labels_done = 0

    def get_status(self) -> dict[str, Any]:
        """Return the setup status in the shape of go-spacemesh's ``PostSetupStatus`` (JSON names)."""
        return {
            "state": self.state.value,
            "numLabelsWritten": str(self.labels_done),
            "numLabelsTotal": str(self.labels_total),
            "labelsPerSecond": self.labels_per_second,
            "secondsLeft": self.seconds_left,
            "opts": dict(self.options),
            "error": self.error,
            "atxBuilder": "not running in this node (PoST initialization only)",
        }


def _is_writable(folder: Path) -> bool:
    import os

    return os.access(folder, os.W_OK | os.X_OK)
