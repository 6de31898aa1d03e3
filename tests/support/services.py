"""Services used by the service-lifecycle tests (imported by child processes too)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path


class RecordingService:
    """Appends start/stop records to a shared log; can fail or hang on request."""

    def __init__(self, name: str, log: list[str], fail_start: bool = False, hang_stop: bool = False) -> None:
        self.name = name
        self.log = log
        self.fail_start = fail_start
        self.hang_stop = hang_stop

    async def start(self) -> None:
        if self.fail_start:
            raise RuntimeError(f"{self.name} refuses to start")
        self.log.append(f"start {self.name}")

    async def stop(self) -> None:
        if self.hang_stop:
            await asyncio.sleep(3600)
        self.log.append(f"stop {self.name}")


class SpawningService:
    """Runs in a child process and itself spawns a grandchild, writing both pids to a file."""

    def __init__(self, pid_file: str) -> None:
        self.name = "spawner"
        self.pid_file = Path(pid_file)
        self.grandchild: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        import os

        self.grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
        self.pid_file.write_text(f"{os.getpid()} {self.grandchild.pid}")

    async def stop(self) -> None:
        # deliberately leaves the grandchild running: the process-group kill must reap it
        return None


def is_process_alive(pid: int) -> bool:
    """Return whether ``pid`` runs (a zombie counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0); look at its state
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"
