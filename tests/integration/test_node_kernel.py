"""A node assembled from the installed plugins starts, ticks layers on the bus and stops cleanly."""

from __future__ import annotations

import asyncio

from spacemesh_core.clock import VirtualTime, parse_genesis_time
from spacemesh_core.config import build_config
from spacemesh_core.kernel.plugins import load_plugin_manager
from spacemesh_core.kernel_events import LayerTicked
from spacemesh_core.node import Node


async def test_node_ticks_layers_on_virtual_time() -> None:
    plugins = load_plugin_manager(environ={})
    config = build_config(plugins.get_config_schema(), preset="devnet", environ={})
    genesis = parse_genesis_time(config.network.genesis_time)
    time_source = VirtualTime(genesis + 0.5)
    node = Node(config, plugins, time_source)
    assert node.components == node.bundles.resolve("devnet", node.registries)
    await node.start()
    assert node.bus is not None and node.services is not None
    observer = await node.bus.subscribe([LayerTicked])
    ticks = []
    for _ in range(3):
        await time_source.advance(config.network.layer_duration_s)
        ticks.append(await observer.get(timeout=5))
    assert [t.layer for t in ticks[-2:]] == [ticks[-2].layer, ticks[-2].layer + 1]
    assert all(t.epoch == t.layer // config.network.layers_per_epoch for t in ticks)
    assert await node.stop() == []
    observer.close()
    await asyncio.sleep(0)
