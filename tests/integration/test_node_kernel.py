"""A node assembled from the installed plugins starts, ticks layers on the bus and stops cleanly."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from spacemesh_core.clock import VirtualTime, parse_genesis_time
from spacemesh_core.config import build_config
from spacemesh_core.kernel.plugins import load_plugin_manager
from spacemesh_core.kernel_events import LayerTicked
from spacemesh_core.node import Node
from spacemesh_core.testing.waiting import wait_until


async def test_node_ticks_layers_on_virtual_time(tmp_path: Path) -> None:
    plugins = load_plugin_manager(environ={})
    config = build_config(
        plugins.get_config_schema(), preset="devnet", flags=[f"node.data_dir={tmp_path}"], environ={}
    )
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
    assert node.identity is not None and (tmp_path / "identities" / "local.key").exists()
    assert node.storage is not None and node.storage.state.get_last_applied_layer() is None

    def read_status() -> dict:  # type: ignore[type-arg]
        return json.loads((tmp_path / "status.json").read_text())  # type: ignore[no-any-return]

    await wait_until(lambda: read_status()["layer"] >= ticks[-1].layer, what="the status of the last layer")
    status = read_status()
    assert status["node_id"] == node.identity.node_id.hex()
    assert status["address"] == node.transport.get_address() and status["stopping"] is False
    observer.close()
    assert await node.stop() == []
    assert (tmp_path / "state.sql").exists() and node.storage is None
    assert json.loads((tmp_path / "status.json").read_text())["stopping"] is True
    again = Node(config, plugins, time_source)
    await again.start()
    assert again.identity is not None and again.identity.node_id == node.identity.node_id  # same key after restart
    assert await again.stop() == []


async def test_stopping_a_node_with_a_subprocess_service_leaves_no_child(tmp_path: Path) -> None:
    import types

    from spacemesh_core.kernel.services import ServiceSpec, SubprocessService
    from spacemesh_hooks import hookimpl
    from tests.support.services import is_process_alive

    pid_file = tmp_path / "pids"
    plugin = types.ModuleType("spawning_plugin")

    @hookimpl
    def spacemesh_node_services(node: object) -> list[ServiceSpec]:
        target = "tests.support.services:SpawningService"
        return [
            ServiceSpec(
                "spawner",
                lambda node: SubprocessService("spawner", target, {"pid_file": str(pid_file)}),
                depends_on=("clock",),
                placement="subprocess",
            )
        ]

    plugin.spacemesh_node_services = spacemesh_node_services  # type: ignore[attr-defined]
    plugins = load_plugin_manager(environ={})
    plugins.register(plugin, "spawning_plugin")
    config = build_config(
        plugins.get_config_schema(), preset="devnet", flags=[f"node.data_dir={tmp_path}"], environ={}
    )
    node = Node(config, plugins)
    await node.start()
    try:
        assert node.services is not None
        running = node.services.running
        assert running[:2] == ["clock", "transport"] and running[-1] == "status" and "spawner" in running
        child, grandchild = map(int, pid_file.read_text().split())
        assert is_process_alive(child) and is_process_alive(grandchild)
    finally:
        assert await node.stop() == []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while (is_process_alive(child) or is_process_alive(grandchild)) and loop.time() < deadline:
        await asyncio.sleep(0.05)
    assert not is_process_alive(child) and not is_process_alive(grandchild)


async def test_two_nodes_connect_and_fetch_from_each_other(tmp_path: Path) -> None:
    from spacemesh_core.storage.state import AtxRecord
    from spacemesh_core.sync.wire import Hint

    plugins = load_plugin_manager(environ={})
    schema = plugins.get_config_schema()
    nodes = []
    for name in ("a", "b"):
        config = build_config(schema, preset="devnet", flags=[f"node.data_dir={tmp_path / name}"], environ={})
        node = Node(config, plugins)
        await node.start()
        nodes.append(node)
    a, b = nodes
    try:
        assert a.transport is not None and b.transport is not None and a.fetcher is not None
        await a.transport.connect(b.transport.get_address())
        await b.fetcher.transport.connect(a.transport.get_address())
        assert b.storage is not None
        b.storage.state.add_atx(AtxRecord(b"\x01" * 32, 2, b"\x02" * 32, 1, 1, 1, 0.0, b"not an atx"))
        assert await a.fetcher.get_epoch_atx_ids(2) == [b"\x01" * 32]
        # the blob does not decode as an ATX with that id, so it is refused
        assert await a.fetcher.fetch_blobs(Hint.ATX, [b"\x01" * 32]) == {}
    finally:
        for node in nodes:
            assert await node.stop() == []
