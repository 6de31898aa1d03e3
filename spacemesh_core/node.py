"""A node: configuration, plugins, the bus, the clock and the services of the chosen bundle."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from spacemesh_core.bus import Broker, BusClient
from spacemesh_core.clock import LayerClock, TimeSource, parse_genesis_time
from spacemesh_core.config import Config
from spacemesh_core.config.genesis import resolve_genesis_time
from spacemesh_core.crypto.signing import Signer
from spacemesh_core.fsutil import write_file_atomic
from spacemesh_core.genesis import compute_genesis_id, compute_golden_atx
from spacemesh_core.identity import load_or_create_identity, load_or_create_p2p_key
from spacemesh_core.kernel.plugins import PluginManager
from spacemesh_core.kernel.registry import Implementation
from spacemesh_core.kernel.services import LoopLagMonitor, ServiceManager, ServiceSpec, cancel_task
from spacemesh_core.kernel_events import LayerTicked, LoopLagDetected, ServiceStarted, ServiceStopped
from spacemesh_core.sync.fetch import Fetcher
from spacemesh_core.sync.ids import compute_object_id
from spacemesh_core.sync.storage_server import create_fetch_server
from spacemesh_core.sync.wire import Hint

log = logging.getLogger(__name__)


class ClockTicker:
    """Publishes :class:`LayerTicked` at the start of every layer."""

    name = "clock"

    def __init__(self, clock: LayerClock, bus: BusClient) -> None:
        self.clock = clock
        self.bus = bus
        self.last_layer: int | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start ticking from the current layer."""
        self._task = asyncio.create_task(self._run(), name="clock-ticker")

    async def stop(self) -> None:
        """Stop ticking."""
        await cancel_task(self._task)
        self._task = None

    async def _run(self) -> None:
        layer = max(self.clock.get_current_layer(), 0)
        while True:
            layer = max(await self.clock.wait_for_layer(layer), layer)
            self.last_layer = layer
            await self.bus.publish(LayerTicked(layer=layer, epoch=self.clock.get_epoch(layer)))
            layer += 1


STATUS_FILE = "status.json"


class StatusWriter:
    """Keeps ``<data>/status.json`` current: at start and at every layer tick (atomic writes).

    Tools (``spacemesh devnet``, monitoring) read it without talking to the node. Services add
    their own fields through ``node.status_providers``.
    """

    name = "status"

    def __init__(self, node: Node) -> None:
        self.node = node
        self._task: asyncio.Task[None] | None = None

    def write(self) -> None:
        """Write the current status now."""
        write_file_atomic(self.node.data_dir / STATUS_FILE, json.dumps(self.node.get_status()).encode())

    async def start(self) -> None:
        """Write the status, then again after every layer tick."""
        self.write()
        assert self.node.bus is not None
        subscription = await self.node.bus.subscribe([LayerTicked])

        async def run() -> None:
            try:
                while True:
                    await subscription.get()
                    self.write()
            finally:
                subscription.close()

        self._task = asyncio.create_task(run(), name="status-writer")

    async def stop(self) -> None:
        """Stop updating (the last status stays on disk, marked stopped)."""
        await cancel_task(self._task)
        self._task = None
        self.node.stopping = True
        self.write()


class Node:
    """Assembles and runs one node.

    :param config: the validated configuration (``node.bundle`` picks the implementations).
    :param plugins: the loaded plugin manager.
    :param time_source: wall clock by default; a :class:`~spacemesh_core.clock.VirtualTime` in tests.
    """

    def __init__(self, config: Config, plugins: PluginManager, time_source: TimeSource | None = None) -> None:
        # network.genesis_time = "auto": the time of the first start, kept in the data dir
        config = resolve_genesis_time(
            config, Path(config.node.data_dir).expanduser(), time_source.now() if time_source else None
        )
        self.config = config
        self.plugins = plugins
        self.registries = plugins.get_registries()
        self.bundles = plugins.get_bundles()
        #: the implementation chosen for each category by the bundle
        self.components: dict[str, Implementation] = self.bundles.resolve(config.node.bundle, self.registries)
        self.events = plugins.get_event_registry()
        self.clock = LayerClock(
            parse_genesis_time(config.network.genesis_time),
            config.network.layer_duration_s,
            config.network.layers_per_epoch,
            time_source,
        )
        self.broker = Broker(
            self.events,
            max_message_bytes=config.bus.max_message_bytes,
            state_hwm=config.bus.state_high_water_mark,
            telemetry_hwm=config.bus.telemetry_high_water_mark,
        )
        self.genesis_id: bytes = compute_genesis_id(config.network.genesis_time, config.network.genesis_extra_data)
        self.golden_atx: bytes = compute_golden_atx(config.network.genesis_time, config.network.genesis_extra_data)
        self.data_dir = Path(config.node.data_dir).expanduser()
        #: the node's own smeshing identity (``identities/local.key``), loaded at start
        self.identity: Signer | None = None
        #: the state storage chosen by the bundle, opened at start
        self.storage: Any = None
        #: the transport chosen by the bundle (gossip and fetch), built at start
        self.transport: Any = None
        #: fetches objects from peers, checking each against its id
        self.fetcher: Fetcher | None = None
        #: objects services hold in memory and serve by hash (``hs/1``), by kind
        self.blob_providers: dict[Hint, Callable[[Hint, bytes], bytes | None]] = {}
        #: the mesh service (proposals, hare, tortoise, execution) when the bundle runs one
        self.mesh: Any = None
        #: the sync service when the bundle runs one
        self.sync: Any = None
        #: starts/stops smeshing and reports PoST setup (``spacemesh_hooks.interfaces.SmeshingControl``)
        self.smeshing: Any = None
        #: the mempool and VM of the mesh service (None without one)
        self.mempool: Any = None
        self.vm: Any = None
        #: ``await publish_transaction(raw)``: store and gossip a transaction the mempool accepted
        self.publish_transaction: Callable[[bytes], Awaitable[None]] | None = None
        #: how services validate and store objects fetched by sync, by kind (raise to reject)
        self.processors: dict[Hint, Callable[[bytes], Awaitable[None]]] = {}
        #: extra status fields by name: each callable returns JSON-ready data (see StatusWriter)
        self.status_providers: dict[str, Callable[[], Any]] = {}
        self.stopping = False
        self.bus: BusClient | None = None
        self.lag_monitor: LoopLagMonitor | None = None
        self.services: ServiceManager | None = None

    def is_synced(self) -> bool:
        """Return whether the node may take part in consensus (always, without a sync service)."""
        return self.sync is None or bool(self.sync.is_synced())

    def get_status(self) -> dict[str, Any]:
        """Return the node's status as JSON-ready data (identity, time, peers, and providers' fields)."""
        layer = self.clock.get_current_layer()
        status: dict[str, Any] = {
            "node_id": self.identity.node_id.hex() if self.identity else None,
            "address": self.transport.get_address() if self.transport is not None else None,
            "layer": layer,
            "epoch": self.clock.get_epoch(layer),
            "peers": len(self.transport.get_peers()) if self.transport is not None else 0,
            "stopping": self.stopping,
        }
        for name, provider in self.status_providers.items():
            try:
                status[name] = provider()
            except Exception as exc:  # a broken provider must not hide the rest
                status[name] = {"error": str(exc)}
        return status

    def get_service_specs(self) -> list[ServiceSpec]:
        """Return the kernel's services plus every plugin's ``spacemesh_node_services``."""
        specs = [ServiceSpec("clock", lambda node: ClockTicker(node.clock, node.bus))]
        if self.transport is not None:
            specs.append(ServiceSpec("transport", lambda node: node.transport))
        for result in self.plugins.pm.hook.spacemesh_node_services(node=self):
            specs.extend(result)
        # the status writer starts last and so stops first: its final status still sees every service
        specs.append(ServiceSpec("status", StatusWriter, after=tuple(spec.name for spec in specs)))
        return specs

    async def start(self) -> None:
        """Open the identity and storage, start the bus, the lag monitor and every service."""
        self.identity = load_or_create_identity(self.data_dir)
        if "state_storage" in self.components:
            self.storage = self.components["state_storage"].factory(self.config, data_dir=self.data_dir)
        if "transport" in self.components:
            self.transport = self.components["transport"].factory(
                self.config,
                secret_key=load_or_create_p2p_key(self.data_dir),
                network_id=self.genesis_id.hex(),
            )
            self.fetcher = Fetcher(self.transport, compute_object_id)
            if self.storage is not None:
                create_fetch_server(self.storage.state, self.blob_providers).register(self.transport)
        address = self.broker.start()
        self.bus = BusClient(address, self.events, "node", context=self.broker.context)
        bus = self.bus

        async def on_lag(lag: float) -> None:
            await bus.publish(LoopLagDetected(lag_s=lag))

        self.lag_monitor = LoopLagMonitor(self.config.node.loop_lag_warning_s, on_lag=on_lag)
        await self.lag_monitor.start()

        async def on_event(what: str, name: str, detail: Any) -> None:
            if what == "started":
                await bus.publish(ServiceStarted(name=name, placement=str(detail)))
            else:
                await bus.publish(ServiceStopped(name=name, clean=bool(detail)))

        self.services = ServiceManager(self.get_service_specs(), self, on_event)
        try:
            await self.services.start()
        except BaseException:
            await self._stop_kernel()
            raise

    async def stop(self) -> list[str]:
        """Stop services in reverse order, then the kernel; return services that stopped uncleanly."""
        unclean = await self.services.stop() if self.services is not None else []
        await self._stop_kernel()
        return unclean

    async def _stop_kernel(self) -> None:
        if self.lag_monitor is not None:
            await self.lag_monitor.stop()
        if self.bus is not None:
            await self.bus.close()
        self.broker.stop()
        if self.storage is not None:
            self.storage.close()
            self.storage = None
