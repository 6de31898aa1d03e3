"""The dashboard wizard's helpers: check a folder for PoST data and measure this machine's label speed.

PoST setup itself belongs to the smeshing plugin (its control, ``node.smeshing``, drives it for the
smeshing routes); these helpers only inform the wizard's choice of folder and size.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from pathlib import Path
from typing import Any

from spacemesh_core.post.initialize import LabelInitializer


class PostFolderError(ValueError):
    """A folder that cannot hold PoST data (relative, or a file)."""


class PostWizard:
    """Folder checks and a label-speed probe for the node's configuration.

    :param node: the running node (config, components).
    """

    def __init__(self, node: Any) -> None:
        self.node = node

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

    def get_folder_info(self, path: str) -> dict[str, Any]:
        """Return whether ``path`` can hold PoST data: exists, writable, free bytes (of the nearest existing parent)."""
        folder = Path(path).expanduser()
        if not folder.is_absolute():
            raise PostFolderError("the folder must be an absolute path")
        probe = folder
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        if probe.exists() and not probe.is_dir():
            raise PostFolderError(f"{probe} is a file, not a folder")
        free = shutil.disk_usage(probe).free
        writable = probe.is_dir() and _is_writable(probe)
        has_data = (folder / "postdata_metadata.json").is_file()
        return {"path": str(folder), "exists": folder.is_dir(), "writable": writable, "freeBytes": free,
                "hasPostData": has_data, "unitBytes": self.get_unit_size()}

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


def _is_writable(folder: Path) -> bool:
    return os.access(folder, os.W_OK | os.X_OK)
