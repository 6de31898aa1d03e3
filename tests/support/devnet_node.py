"""A small real devnet (PoET process + node processes, devnet preset) whose nodes tests talk to over HTTP.

Readiness is awaited by polling each node's ``status.json`` and API (with deadlines, never fixed
sleeps); :meth:`DevnetNodes.stop` stops every process group and reports what had to be killed.
"""

from __future__ import annotations

import functools
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from spacemesh_core.config import build_config
from spacemesh_core.genesis import compute_genesis_id
from spacemesh_core.kernel.plugins import load_plugin_manager
from spacemesh_plugins.devnet.supervisor import Devnet, DevnetPlan, format_genesis, read_status
from tests.support.services import is_process_alive

V1 = "/spacemesh.v1."
V2 = "/spacemesh.v2alpha1."


def call_api(base: str, path: str, body: Any = None, *, method: str = "POST", timeout: float = 30) -> tuple[int, Any]:
    """Send one request to a node API at ``base``; return ``(status, decoded JSON or text)``."""
    data = json.dumps(body if body is not None else {}).encode() if method == "POST" else None
    request = urllib.request.Request(base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, payload = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, payload = exc.code, exc.read()
    try:
        return status, json.loads(payload)
    except ValueError:
        return status, payload.decode(errors="replace")


class DevnetNodes:
    """Starts a devnet of ``nodes`` node processes with ``layer_duration_s`` layers (PoET timing scaled
    as ``spacemesh devnet`` does) and ``extra_flags`` for every node.

    :param directory: where the processes keep their data and logs.
    """

    def __init__(self, directory: Path, *, nodes: int = 1, layer_duration_s: float = 4.0,
                 extra_flags: tuple[str, ...] = (), genesis_delay_s: float = 8.0) -> None:
        self.config = build_config(load_plugin_manager(environ={}).get_config_schema(), preset="devnet", environ={})
        scale = layer_duration_s / self.config.network.layer_duration_s
        self.plan = DevnetPlan(
            nodes=nodes,
            layer_duration_s=layer_duration_s,
            layers_per_epoch=self.config.network.layers_per_epoch,
            directory=directory,
            phase_shift_s=self.config.poet.phase_shift_s * scale,
            cycle_gap_s=self.config.poet.cycle_gap_s * scale,
            genesis_delay_s=genesis_delay_s,
            extra_flags=extra_flags,
        )
        self.devnet = Devnet(self.plan)
        self.genesis_id = b""

    def start(self, timeout: float = 60.0) -> None:
        """Start the processes and wait until every node's API answers."""
        self.devnet.start()
        genesis = format_genesis(self.devnet.genesis)
        self.genesis_id = compute_genesis_id(genesis, self.config.network.genesis_extra_data)
        for index in range(self.plan.nodes):
            self.wait_for(f"node-{index}'s API", functools.partial(self._is_api_up, index), timeout)

    def _is_api_up(self, index: int) -> bool:
        urls = (read_status(self.get_data_dir(index)) or {}).get("api") or {}
        if not urls.get("private") or not urls.get("public"):
            return False
        try:
            return call_api(urls["public"], V2 + "NodeService/Status", timeout=5)[0] == 200
        except OSError:
            return False

    def get_data_dir(self, index: int = 0) -> Path:
        """Return the data folder of node ``index``."""
        return self.plan.directory / f"node-{index}"

    def get_urls(self, index: int = 0) -> dict[str, str]:
        """Return ``{"public": url, "private": url}`` of node ``index``'s API listeners."""
        status = read_status(self.get_data_dir(index))
        assert status is not None and status.get("api"), f"node-{index} reported no API"
        return dict(status["api"])

    def call(self, path: str, body: Any = None, *, private: bool = False, index: int = 0,
             method: str = "POST") -> tuple[int, Any]:
        """Call node ``index``'s public (or private) API."""
        return call_api(self.get_urls(index)["private" if private else "public"], path, body, method=method)

    def get_layer(self) -> float:
        """Return the current layer as a fraction (from the genesis time and the layer duration)."""
        return (time.time() - self.devnet.genesis) / self.plan.layer_duration_s

    def wait_for(self, what: str, predicate: Callable[[], bool], timeout: float) -> None:
        """Poll ``predicate`` until it holds. :raises AssertionError: on timeout or when a process died."""
        deadline = time.monotonic() + timeout
        while True:
            dead = self.devnet.get_dead_children()
            assert not dead, f"{dead[0].name} exited with {dead[0].process.returncode}; see {dead[0].log_path}"
            if predicate():
                return
            assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what} (layer " \
                                                f"{self.get_layer():.1f}); logs in {self.plan.directory}"
            time.sleep(0.2)

    def stop(self) -> list[str]:
        """Stop every process; return those that needed SIGKILL. :raises AssertionError: one survived."""
        killed = self.devnet.stop()
        for child in self.devnet.children:
            assert not is_process_alive(child.process.pid), f"{child.name} survived the stop"
        return killed
