"""A real node (devnet preset, loopback listeners on free ports) running in a background thread for API tests."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, cast

from spacemesh_core.config import build_config
from spacemesh_core.kernel.plugins import load_plugin_manager
from spacemesh_core.node import Node


class ApiNode:
    """Starts a node in its own event-loop thread; ``call``/``get`` talk HTTP to its listeners.

    :param with_vm: make sure the node has a VM and a mempool (the mesh plugin provides them; without
        it a bare pair is attached).
    :param disabled: plugins not loaded (``SPACEMESH_DISABLE_PLUGINS``).
    """

    def __init__(
        self, data_dir: Path, *, with_vm: bool = False, flags: tuple[str, ...] = (), disabled: tuple[str, ...] = ()
    ) -> None:
        plugins = load_plugin_manager(environ={"SPACEMESH_DISABLE_PLUGINS": ",".join(disabled)} if disabled else {})
        now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.config = build_config(
            plugins.get_config_schema(),
            preset="devnet",
            flags=[f"node.data_dir={data_dir}", f"network.genesis_time={now}", "api.public_listener=127.0.0.1:0",
                   "api.private_listener=127.0.0.1:0", *flags],
            environ={},
        )
        #: typed loosely: tests attach what the lead's wiring will (vm, mempool) and read ``api``
        self.node: Any = cast(Any, Node(self.config, plugins))
        self.layer = 0
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True, name="api-node")
        self._thread.start()
        try:
            self.run(self.node.start(), timeout=60)
        except BaseException:
            self._stop_loop()
            raise
        if with_vm and self.node.vm is None:
            from spacemesh_core.vm.mempool import Mempool
            from spacemesh_core.vm.template import load_template_registry
            from spacemesh_core.vm.vm import VM

            self.node.vm = VM(load_template_registry(), genesis_id=self.node.genesis_id, effective_genesis=1)
            self.node.mempool = Mempool(self.node.vm)
        self.public = self.node.api.urls["public"]
        self.private = self.node.api.urls["private"]
        self.token = self.node.api.token

    def run(self, coro: Coroutine[Any, Any, Any], timeout: float = 30) -> Any:
        """Run ``coro`` on the node's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call(self, path: str, body: Any = None, *, private: bool = False, raw: bytes | None = None,
             headers: dict[str, str] | None = None, method: str = "POST", base: str | None = None) -> tuple[int, Any]:
        """Send a request; return ``(status, decoded JSON or text)``."""
        url = (base or (self.private if private else self.public)) + path
        data = raw if raw is not None else (json.dumps(body if body is not None else {}).encode()
                                            if method == "POST" else None)
        request = urllib.request.Request(url, data=data, method=method,
                                         headers={"Content-Type": "application/json", **(headers or {})})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, payload = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, payload = exc.code, exc.read()
        try:
            return status, json.loads(payload)
        except ValueError:
            return status, payload.decode(errors="replace")

    def apply_mempool_layer(self, rewards: list[Any] | None = None) -> Any:
        """Apply the mempool's block candidates (and ``rewards``) as the next layer, as a block would."""
        async def apply() -> Any:
            vm, mempool = self.node.vm, self.node.mempool
            self.layer = max(self.layer, vm.store.last_layer, vm.effective_genesis - 1) + 1
            result = vm.apply_layer(self.layer, mempool.get_block_candidates(), rewards or [])
            mempool.update_from_state()
            return result

        return self.run(apply())

    def _stop_loop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()

    def close(self) -> list[str]:
        """Stop the node and the loop; return the services that stopped uncleanly."""
        try:
            unclean: list[str] = self.run(self.node.stop(), timeout=60)
        finally:
            self._stop_loop()
        return unclean
