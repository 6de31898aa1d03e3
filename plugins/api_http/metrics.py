"""Prometheus metrics of a node: gauges read from the node at scrape time, plus API request counters."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
SYNC_STATES = ("not_synced", "gossip_sync", "synced")


class NodeCollector(Collector):
    """Reads the node's layer, peers, sync state, bus counters and loop lag when scraped."""

    def __init__(self, node: Any) -> None:
        self.node = node

    def collect(self) -> Iterator[Any]:
        """Yield the metric families (part of prometheus_client's collector protocol)."""
        node = self.node
        layer = max(node.clock.get_current_layer(), 0)
        yield GaugeMetricFamily("spacemesh_layer_current", "the layer the clock is in", value=layer)
        epoch = node.clock.get_epoch(layer)
        yield GaugeMetricFamily("spacemesh_epoch_current", "the epoch the clock is in", value=epoch)
        if node.transport is not None:
            peers = len(node.transport.get_peers())
            yield GaugeMetricFamily("spacemesh_peers_connected", "connected peers", value=peers)
        storage = node.storage
        if storage is not None:
            applied = storage.state.get_last_applied_layer()
            if applied is not None:
                yield GaugeMetricFamily("spacemesh_layer_applied", "the last applied layer", value=applied)
        vm = getattr(node, "vm", None)
        if vm is not None:
            yield GaugeMetricFamily("spacemesh_vm_layer_applied", "the last layer the VM applied",
                                    value=vm.store.last_layer)
        mempool = getattr(node, "mempool", None)
        if mempool is not None:
            yield GaugeMetricFamily("spacemesh_mempool_transactions", "transactions in the mempool", value=len(mempool))
        from spacemesh_plugins.api_http.routes import get_syncer

        syncer = get_syncer(node)
        if syncer is not None:
            state = getattr(getattr(syncer, "state", None), "value", None)
            family = GaugeMetricFamily("spacemesh_sync_state", "1 for the syncer's current state", labels=["state"])
            for name in SYNC_STATES:
                family.add_metric([name], 1.0 if state == name else 0.0)
            yield family
        broker = getattr(node, "broker", None)
        if broker is not None:
            stats = broker.get_stats()
            dropped = CounterMetricFamily("spacemesh_bus_dropped", "telemetry events dropped by the bus",
                                          labels=["topic"])
            for topic, count in sorted(stats.dropped.items()):
                dropped.add_metric([topic], count)
            yield dropped
            rejected = CounterMetricFamily("spacemesh_bus_rejected", "malformed messages the bus rejected",
                                           labels=["reason"])
            for reason, count in sorted(stats.rejected.items()):
                rejected.add_metric([reason], count)
            yield rejected
            yield CounterMetricFamily("spacemesh_bus_forwarded", "events the bus forwarded", value=stats.forwarded)
        monitor = getattr(node, "lag_monitor", None)
        if monitor is not None:
            yield GaugeMetricFamily("spacemesh_loop_lag_max_seconds", "the longest event-loop stall seen",
                                    value=monitor.max_lag_s)
            yield CounterMetricFamily("spacemesh_loop_lag_events", "event-loop stalls over the warning threshold",
                                      value=monitor.lag_count)
        smeshing = getattr(node, "smeshing", None)
        if smeshing is not None:  # the node's smeshers (started from the config or the API)
            yield GaugeMetricFamily("spacemesh_post_setup_labels_written", "PoST labels written by the setup",
                                    value=int(smeshing.get_post_setup_status()["numLabelsWritten"]))
            yield GaugeMetricFamily("spacemesh_smeshing", "1 while PoST setup or an ATX builder is at work",
                                    value=int(bool(smeshing.is_smeshing())))


class NodeMetrics:
    """A registry of its own per node (tests run several nodes in one process)."""

    def __init__(self, node: Any) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(NodeCollector(node))
        self.requests = Counter("spacemesh_api_requests", "API requests by route and status",
                                ["route", "status"], registry=self.registry)

    def compute_exposition(self) -> bytes:
        """Return the text exposition format of every metric."""
        return generate_latest(self.registry)
