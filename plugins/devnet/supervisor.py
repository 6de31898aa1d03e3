"""Starts, watches and stops a local devnet: one PoET server and N node processes.

Every child runs in a process group of its own; stopping sends SIGTERM to each group, waits, then
SIGKILLs whatever is left, so no process outlives the devnet. Nodes are watched through their
``status.json`` files (written atomically by each node), never through their internals.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import tomli_w

NODE_STATUS_FILE = "status.json"
#: what a devnet writes at the top of its folder (node-<i>/ and <name>.log files come on top)
DEVNET_ENTRIES = ("poet", "poet.toml", "poet.log")


class DevnetError(RuntimeError):
    """The devnet could not be started or a process died."""


class DevnetDirectoryError(DevnetError):
    """The devnet folder holds an earlier devnet (and ``fresh`` was not asked for)."""


def get_devnet_entries(directory: Path) -> list[Path]:
    """Return what an earlier devnet left in ``directory``: node folders, PoET data, logs."""
    if not directory.is_dir():
        return []
    found = []
    for entry in sorted(directory.iterdir()):
        name = entry.name
        if (
            name in DEVNET_ENTRIES
            or (name.startswith("node-") and (entry.is_dir() or name.endswith(".log")))
        ):
            found.append(entry)
    return found


def prepare_devnet_directory(directory: Path, *, fresh: bool) -> None:
    """Make sure ``directory`` holds no earlier devnet, so that no state or status of an earlier
    run leaks into this one: with ``fresh`` its devnet entries are deleted, else it is refused.

    Files that are not a devnet's (anything but ``node-*``, ``poet*``) are left alone.

    :raises DevnetDirectoryError: when an earlier devnet is there and ``fresh`` is false.
    """
    entries = get_devnet_entries(directory)
    if not entries:
        return
    if not fresh:
        raise DevnetDirectoryError(
            f"{directory} holds an earlier devnet ({', '.join(e.name for e in entries[:4])}"
            f"{', ...' if len(entries) > 4 else ''}); pass --fresh to wipe it first, or choose another --dir"
        )
    for entry in entries:
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def get_free_port() -> int:
    """Return a TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def format_genesis(unix_seconds: float) -> str:
    """Return an RFC 3339 UTC timestamp with whole seconds."""
    return dt.datetime.fromtimestamp(int(unix_seconds), dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@attrs.define
class Child:
    """A supervised child process."""

    name: str
    process: subprocess.Popen[bytes]
    data_dir: Path
    log_path: Path

    def is_running(self) -> bool:
        return self.process.poll() is None


@attrs.frozen
class DevnetPlan:
    """What to start.

    :param nodes: number of node processes.
    :param layer_duration_s: seconds per layer.
    :param layers_per_epoch: layers per epoch (the devnet preset's by default).
    :param directory: where every child keeps its data and log.
    :param phase_shift_s: PoET round start offset in an epoch (shared by the PoET and the nodes).
    :param cycle_gap_s: gap between PoET rounds, when ATXs are proven and published.
    :param genesis_delay_s: seconds from now to genesis (time for the processes to come up).
    :param extra_flags: more ``section.key=value`` overrides for every node.
    :param fresh: delete an earlier devnet found in ``directory`` (else :meth:`Devnet.start` refuses it).
    """

    nodes: int
    layer_duration_s: float
    layers_per_epoch: int
    directory: Path
    phase_shift_s: float
    cycle_gap_s: float
    genesis_delay_s: float = 8.0
    extra_flags: tuple[str, ...] = ()
    fresh: bool = False


class Devnet:
    """A running devnet."""

    def __init__(self, plan: DevnetPlan, python: str = sys.executable) -> None:
        self.plan = plan
        self.python = python
        self.children: list[Child] = []
        self.bootnode_address = ""
        self.genesis = 0.0
        self.poet_url = ""
        #: when :meth:`start` ran: a status file older than this is an earlier run's and is not read
        self.started_at: float | None = None

    def _spawn(self, name: str, args: list[str], data_dir: Path) -> Child:
        data_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.plan.directory / f"{name}.log"
        log = log_path.open("ab")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        process = subprocess.Popen(
            [self.python, "-m", "spacemesh_core", *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env=env,
        )
        log.close()
        child = Child(name, process, data_dir, log_path)
        self.children.append(child)
        return child

    def start(self) -> None:
        """Start the PoET, the first node (the bootnode), then the others pointing at it.

        :raises DevnetDirectoryError: when ``directory`` holds an earlier devnet and ``fresh`` is false.
        :raises DevnetError: when a process dies or the bootnode does not report its address.
        """
        plan = self.plan
        prepare_devnet_directory(plan.directory, fresh=plan.fresh)
        plan.directory.mkdir(parents=True, exist_ok=True)
        self.started_at = time.time()
        self.genesis = time.time() + plan.genesis_delay_s
        epoch_s = plan.layers_per_epoch * plan.layer_duration_s
        poet_port = get_free_port()
        self.poet_url = f"http://127.0.0.1:{poet_port}"
        poet_dir = plan.directory / "poet"
        poet_config = plan.directory / "poet.toml"
        poet_config.write_text(
            tomli_w.dumps(
                {
                    "poet_server": {
                        "datadir": str(poet_dir),
                        "genesis": format_genesis(self.genesis),
                        "epoch_duration": epoch_s,
                        "phase_shift": plan.phase_shift_s,
                        "cycle_gap": plan.cycle_gap_s,
                        "listen": f"127.0.0.1:{poet_port}",
                        "pow_difficulty": 4,
                    }
                }
            )
        )
        self._spawn("poet", ["poet", "serve", "--config", str(poet_config)], poet_dir)
        bootnode = self._start_node(0, [])
        self.bootnode_address = self._wait_for_address(bootnode)
        for index in range(1, plan.nodes):
            self._start_node(index, [self.bootnode_address])

    def add_node(self, index: int) -> Child:
        """Start node ``index`` (a late joiner, or a node restarted after it died) pointing at the bootnode."""
        self.children = [c for c in self.children if c.name != f"node-{index}" or c.is_running()]
        if any(c.name == f"node-{index}" for c in self.children):
            raise DevnetError(f"node-{index} is running")
        return self._start_node(index, [self.bootnode_address])

    def kill_node(self, index: int) -> None:
        """SIGKILL node ``index`` and everything in its process group (a crash, not a stop)."""
        for child in self.children:
            if child.name == f"node-{index}" and child.is_running():
                _signal_group(child.process.pid, signal.SIGKILL)
                child.process.wait(10)
        self.children = [c for c in self.children if c.name != f"node-{index}"]

    def get_node_flags(self, index: int, bootnodes: list[str]) -> list[str]:
        """Return the ``--set`` overrides of node ``index``."""
        plan = self.plan
        flags = [
            f"node.data_dir={plan.directory / f'node-{index}'}",
            f"network.genesis_time={format_genesis(self.genesis)}",
            f"network.layer_duration_s={plan.layer_duration_s}",
            f"network.layers_per_epoch={plan.layers_per_epoch}",
            "p2p.listen=tcp://127.0.0.1:0",
            f"p2p.bootnodes={','.join(bootnodes)}",
            f"poet.servers={self.poet_url}",
            f"poet.phase_shift_s={plan.phase_shift_s}",
            f"poet.cycle_gap_s={plan.cycle_gap_s}",
            # different space per node, so that rewards show their proportionality
            f"smeshing.num_units={index + 1}",
            *plan.extra_flags,
        ]
        return flags

    def _start_node(self, index: int, bootnodes: list[str]) -> Child:
        args = ["node", "--preset", "devnet"]
        for flag in self.get_node_flags(index, bootnodes):
            args += ["--set", flag]
        return self._spawn(f"node-{index}", args, self.plan.directory / f"node-{index}")

    def _wait_for_address(self, child: Child, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = read_status(child.data_dir, self.started_at)
            if status and status.get("address"):
                return str(status["address"])
            if not child.is_running():
                raise DevnetError(f"{child.name} exited with {child.process.returncode}; see {child.log_path}")
            time.sleep(0.1)
        raise DevnetError(f"{child.name} did not report its address within {timeout} s")

    def get_statuses(self) -> dict[str, dict[str, Any] | None]:
        """Return the latest status of every node."""
        return {
            c.name: read_status(c.data_dir, self.started_at) for c in self.children if c.name.startswith("node-")
        }

    def get_dead_children(self) -> list[Child]:
        """Return the children that exited on their own."""
        return [c for c in self.children if not c.is_running()]

    def stop(self, timeout: float = 15.0) -> list[str]:
        """Stop every child (SIGTERM, then SIGKILL after ``timeout``); return those that needed SIGKILL."""
        for child in self.children:
            _signal_group(child.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        killed = []
        for child in self.children:
            remaining = max(deadline - time.monotonic(), 0.1)
            try:
                child.process.wait(remaining)
            except subprocess.TimeoutExpired:
                killed.append(child.name)
            # anything the child left in its group goes too
            _signal_group(child.process.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.process.wait(5)
        return killed

    def wait_for(self, predicate: Callable[[dict[str, dict[str, Any] | None]], bool], timeout: float) -> bool:
        """Poll node statuses until ``predicate`` holds; False on timeout.

        :raises DevnetError: when a child died.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            dead = self.get_dead_children()
            if dead:
                raise DevnetError(f"{dead[0].name} exited with {dead[0].process.returncode}; see {dead[0].log_path}")
            if predicate(self.get_statuses()):
                return True
            time.sleep(0.2)
        return False


def read_status(data_dir: Path, newer_than: float | None = None) -> dict[str, Any] | None:
    """Return a node's ``status.json`` or None when it is not there yet (or, with ``newer_than``, when
    it was written before that Unix time: an earlier run's)."""
    path = data_dir / NODE_STATUS_FILE
    try:
        if newer_than is not None and path.stat().st_mtime < newer_than:
            return None
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)
