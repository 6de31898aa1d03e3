"""A node whose clock is far past genesis with nothing stored (a late start, an old genesis) keeps
its event loop free: the tortoise catches up in bounded steps, status answers, and it stops cleanly.
A node that expects peers and reaches none is not synced and does not run its tortoise ahead.
An ``"auto"`` genesis is the first start's time, kept in the data dir."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

from spacemesh_core.clock import VirtualTime, parse_genesis_time
from spacemesh_core.config import build_config
from spacemesh_core.config.genesis import GENESIS_TIME_FILE
from spacemesh_core.kernel.plugins import load_plugin_manager
from spacemesh_core.node import Node
from spacemesh_plugins.mesh.service import TALLY_STEP_LAYERS

FAR_LAYER = 10**6


def make_node(data_dir: Path, *flags: str, start_layer: float = FAR_LAYER + 0.5) -> tuple[Node, VirtualTime]:
    plugins = load_plugin_manager(environ={})
    config = build_config(
        plugins.get_config_schema(), preset="devnet", flags=[f"node.data_dir={data_dir}", "node.bundle=sim", *flags],
        environ={},
    )
    text = config.network.genesis_time
    genesis = parse_genesis_time("2026-01-01T00:00:00Z" if text == "auto" else text)
    time_source = VirtualTime(genesis + start_layer * config.network.layer_duration_s)
    return Node(config, plugins, time_source), time_source


async def test_a_lone_node_far_behind_the_clock_keeps_its_loop_free(tmp_path: Path) -> None:
    node, time_source = make_node(tmp_path / "alone")
    await node.start()
    try:
        mesh = node.mesh
        seen: list[int] = []
        catching_up = True

        async def probe() -> None:  # runs whenever the loop is free: records the tortoise's progress
            while catching_up:
                seen.append(mesh.tortoise.last)
                await asyncio.sleep(0)

        task = asyncio.create_task(probe())
        # past the end of layer FAR_LAYER: the layer task tallies the tortoise up to it
        await time_source.advance(node.config.network.layer_duration_s)
        for _ in range(200_000):
            if mesh.tortoise.last >= FAR_LAYER:
                break
            status = node.get_status()  # the node answers while it catches up
            assert status["layer"] >= FAR_LAYER
            await asyncio.sleep(0)
        catching_up = False
        await task
        assert mesh.tortoise.last >= FAR_LAYER
        steps = sorted(set(seen))
        # the loop ran between steps, and no step added more than TALLY_STEP_LAYERS layers
        assert len(steps) > FAR_LAYER // TALLY_STEP_LAYERS // 2
        assert all(b - a <= TALLY_STEP_LAYERS for a, b in itertools.pairwise(steps))
        assert node.get_status()["sync"] == "synced"  # alone by configuration (no bootnodes)
    finally:
        assert await node.stop() == []


async def test_a_node_without_its_peers_is_not_synced_and_waits(tmp_path: Path) -> None:
    bootnode = "00" * 32 + "@memory://nowhere"
    node, time_source = make_node(tmp_path / "lost", f"p2p.bootnodes={bootnode}")
    await node.start()
    try:
        for _ in range(5):
            await time_source.advance(node.config.network.layer_duration_s)
        status = node.get_status()
        assert status["peers"] == 0
        assert status["sync"] == "not_synced"
        # nothing fetched: the tortoise stays at genesis instead of running over a million empty layers
        assert node.mesh.tortoise.last == node.mesh.effective_genesis
    finally:
        assert await node.stop() == []


async def test_an_auto_genesis_is_the_first_start_and_is_kept(tmp_path: Path) -> None:
    data_dir = tmp_path / "auto"
    node, time_source = make_node(data_dir, "network.genesis_time=auto")
    first_genesis = node.config.network.genesis_time
    assert parse_genesis_time(first_genesis) == int(time_source.now())
    assert (data_dir / GENESIS_TIME_FILE).read_text().strip() == first_genesis
    await node.start()
    try:
        await time_source.advance(3 * node.config.network.layer_duration_s)
        assert 0 <= node.get_status()["layer"] <= 3
    finally:
        assert await node.stop() == []
    again, _ = make_node(data_dir, "network.genesis_time=auto", start_layer=FAR_LAYER)
    assert again.config.network.genesis_time == first_genesis
    assert again.genesis_id == node.genesis_id
