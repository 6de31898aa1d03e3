"""Real multi-process devnets on loopback: a PoET and node processes with real PoST data, ZeroMQ
transport, hare, tortoise, the VM and rewards; a node killed and restarted, a late joiner, a
misbehaving peer; and the ``spacemesh devnet`` command's summary and clean stop."""

from __future__ import annotations

import base64
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from spacemesh_core.config import build_config
from spacemesh_core.crypto.address import compute_wallet_principal
from spacemesh_core.genesis import compute_genesis_id
from spacemesh_core.kernel.plugins import load_plugin_manager
from spacemesh_core.testing.waiting import wait_until
from spacemesh_hooks.interfaces import ValidationResult
from spacemesh_plugins.devnet.supervisor import Devnet, DevnetPlan, format_genesis, read_status
from spacemesh_plugins.mesh.beacon_service import compute_fallback_beacon
from spacemesh_plugins.transport_zmq.transport import ZmqTransport
from tests.support.faucet import make_faucet_txs
from tests.support.services import is_process_alive

pytestmark = pytest.mark.slow

LAYER_S = 4.0


def make_plan(directory: Path, nodes: int) -> DevnetPlan:
    config = build_config(load_plugin_manager(environ={}).get_config_schema(), preset="devnet", environ={})
    return DevnetPlan(
        nodes=nodes,
        layer_duration_s=LAYER_S,
        layers_per_epoch=config.network.layers_per_epoch,
        directory=directory,
        phase_shift_s=config.poet.phase_shift_s,
        cycle_gap_s=config.poet.cycle_gap_s,
    )


def get_layer_start(devnet: Devnet, layer: int) -> float:
    return devnet.genesis + layer * LAYER_S


def wait_for_layer(devnet: Devnet, layer: float) -> None:
    deadline = get_layer_start(devnet, 0) + layer * LAYER_S
    while time.time() < deadline:
        dead = devnet.get_dead_children()
        assert not dead, f"{dead[0].name} died; see {dead[0].log_path}"
        time.sleep(0.2)


def get_mesh(status: dict[str, Any] | None) -> dict[str, Any]:
    return (status or {}).get("mesh") or {}


def read_table(data_dir: Path, query: str) -> list[tuple[Any, ...]]:
    """Read a node's state database while it runs (read-only, WAL readers do not block it)."""
    conn = sqlite3.connect(f"file:{data_dir / 'state.sql'}?mode=ro", uri=True)
    try:
        return conn.execute(query).fetchall()
    finally:
        conn.close()


async def send_invalid_gossip(devnet: Devnet, target_address: str) -> bytes:
    """Act as a peer that sends malformed and invalid messages; return its peer id."""
    config = build_config(load_plugin_manager(environ={}).get_config_schema(), preset="devnet", environ={})
    genesis_id = compute_genesis_id(format_genesis(devnet.genesis), config.network.genesis_extra_data)
    evil = ZmqTransport(network_id=genesis_id.hex(), peer_exchange=False)

    async def accept(peer: bytes, data: bytes) -> ValidationResult:
        return ValidationResult.ACCEPT

    for topic in ("pp1", "ax1", "tx1", "/h/3.0"):
        evil.register_gossip(topic, accept)
    await evil.start()
    try:
        await evil.connect(target_address)
        await wait_until(lambda: bool(evil.get_peers()), what="the evil peer connected")
        for i in range(12):
            await evil.publish("ax1", b"\x00not an atx %d" % i)
            await evil.publish("pp1", os.urandom(200) + bytes([i]))
        # stay connected until the node has dealt with us (closing would drop queued messages)
        log = devnet.plan.directory / "node-0.log"
        banned = f"peer {evil.peer_id.hex()[:12]} banned"
        await wait_until(lambda: banned in log.read_text(), timeout=60, what="the node banning the bad peer")
        return evil.peer_id
    finally:
        await evil.stop()


async def submit_transaction(status: dict[str, Any] | None, raw: bytes) -> bytes:
    """Submit ``raw`` through a node's public API; return the transaction id."""
    assert status is not None and status.get("api", {}).get("public"), status
    url = f"{status['api']['public']}/spacemesh.v2alpha1.TransactionService/SubmitTransaction"
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, json={"transaction": base64.b64encode(raw).decode()}) as response,
    ):
        body = await response.json()
        assert response.status == 200, body
        return base64.b64decode(body["txId"])


async def test_devnet_agrees_survives_a_crash_takes_a_late_joiner_and_drops_a_bad_peer(tmp_path: Path) -> None:
    devnet = Devnet(make_plan(tmp_path, 4))
    devnet.start()
    destination = bytes(compute_wallet_principal(b"\x05" * 32))
    try:
        wait_for_layer(devnet, 12.2)
        config = build_config(load_plugin_manager(environ={}).get_config_schema(), preset="devnet", environ={})
        genesis_id = compute_genesis_id(format_genesis(devnet.genesis), config.network.genesis_extra_data)
        spawn, spend = make_faucet_txs(genesis_id, destination, 4321)
        tx_ids = [await submit_transaction(devnet.get_statuses()["node-1"], spawn)]
        wait_for_layer(devnet, 15.5)  # mid-layer, in the first epoch with consensus (layers 12-17)
        devnet.kill_node(2)
        tx_ids.append(await submit_transaction(devnet.get_statuses()["node-3"], spend))
        statuses = devnet.get_statuses()
        bootnode = statuses["node-0"]
        assert bootnode is not None and bootnode["address"]
        evil_id = await send_invalid_gossip(devnet, bootnode["address"])
        wait_for_layer(devnet, 17.2)
        devnet.add_node(2)  # restart after the crash: same data folder, same keys
        devnet.add_node(4)  # a late joiner: new data folder, nothing but the bootnode
        wait_for_layer(devnet, 31.5)
        statuses = devnet.get_statuses()
    finally:
        killed = devnet.stop()
    assert killed == []
    for child in devnet.children:
        assert not is_process_alive(child.process.pid), f"{child.name} survived the stop"

    originals = [statuses[f"node-{i}"] for i in range(4)]
    for index, status in enumerate(originals):
        assert status is not None, f"node-{index} reported no status"
        assert status["smeshing"]["atxs_published"] >= 2, f"node-{index} published too few ATXs"
    reference = get_mesh(originals[0])["state_hashes"]
    consensus_layers = [layer for layer in reference if int(layer) >= 12]
    assert len(consensus_layers) >= 14
    # the nodes that ran throughout agree on every layer they applied
    for name in ("node-1", "node-3"):
        assert get_mesh(statuses[name])["state_hashes"] == reference, f"{name} disagrees"
    # the restarted and the late node agree on every layer the tortoise has decided everywhere
    # (a layer above that may still be on a node's own hare output; the tortoise settles it)
    decided = min(get_mesh(s)["verified"] for s in statuses.values())
    for name in ("node-2", "node-4"):
        hashes = get_mesh(statuses[name])["state_hashes"]
        common = [layer for layer in set(hashes) & set(reference) if int(layer) <= decided]
        assert len(common) >= 8, f"{name} applied too few decided layers: {sorted(hashes)}"
        assert all(hashes[layer] == reference[layer] for layer in common), f"{name} disagrees"
    # the restarted node lost nothing: it holds every layer applied before the crash, and after
    restarted = get_mesh(statuses["node-2"])["state_hashes"]
    assert {layer for layer in reference if int(layer) <= 14} <= set(restarted)
    assert max(map(int, restarted)) >= 29
    mesh = get_mesh(originals[0])
    assert mesh["layers_with_block"] >= 0.6 * mesh["layers_applied"], "hare gave a block in most layers"
    # rewards follow space: node i committed i + 1 units
    per_unit = [get_mesh(s)["rewards"] / (i + 1) for i, s in enumerate(originals)]
    mean = sum(per_unit) / len(per_unit)
    assert all(abs(p - mean) / mean < 0.5 for p in per_unit), per_unit
    # the beacon protocol ran in epochs 2-4: every node stored the same beacons for epochs 3-5 (a
    # restarted or late node holds those it ran or adopted from ballots), none of them a fallback value
    beacons = [dict(read_table(tmp_path / f"node-{i}", "SELECT epoch, beacon FROM beacons")) for i in range(5)]
    for epoch in (3, 4, 5):
        assert all(epoch in beacons[i] for i in (0, 1, 3)), f"epoch {epoch}: {beacons}"
        assert len({b[epoch] for b in beacons if epoch in b}) == 1, f"epoch {epoch}: {beacons}"
        assert beacons[0][epoch] != compute_fallback_beacon(genesis_id, epoch)
    # the misbehaving peer's messages left nothing behind
    atx_blobs = read_table(tmp_path / "node-0", "SELECT blob FROM atxs")
    assert not any(b"not an atx" in blob for (blob,) in atx_blobs)
    log = (tmp_path / "node-0.log").read_text()
    assert f"peer {evil_id.hex()[:12]} banned" in log, "the misbehaving peer was not disconnected"
    # the wallet transactions submitted to two nodes were applied on every node
    for index in range(5):
        rows = read_table(tmp_path / f"node-{index}", "SELECT id, result FROM transactions")
        results = dict(rows)
        assert all(results.get(tx_id) == 1 for tx_id in tx_ids), f"node-{index}: {rows}"
        balance = read_table(
            tmp_path / f"node-{index}",
            f"SELECT balance FROM accounts WHERE address = x'{destination.hex()}' ORDER BY layer DESC LIMIT 1",
        )
        assert balance == [(4321,)], f"node-{index}"


def test_devnet_command_prints_a_summary_and_leaves_no_process(tmp_path: Path) -> None:
    directory = tmp_path / "net"
    command = [sys.executable, "-m", "spacemesh_core", "devnet", "--nodes", "2", "--layers", "3",
               "--layer-duration", "2", "--dir", str(directory), "--json"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(done.stdout)
    assert set(summary) == {"layers_applied", "nodes", "transactions_applied"}
    assert [set(n) >= {"id", "units", "atxs_published", "rewards", "state_hashes"} for n in summary["nodes"]] == [
        True, True
    ]
    assert [n["units"] for n in summary["nodes"]] == [1, 2]
    for name in ("node-0", "node-1"):
        status = read_status(directory / name)
        assert status is not None and status["stopping"] is True

    # Ctrl-C stops a running devnet cleanly too
    directory = tmp_path / "interrupted"
    command[command.index("--dir") + 1] = str(directory)
    interrupted = subprocess.Popen([*command[:-1]], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                   start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not all(
        read_status(directory / n) and not read_status(directory / n)["stopping"]  # type: ignore[index]
        for n in ("node-0", "node-1")
    ):
        time.sleep(0.2)
    pids = _get_descendants(interrupted.pid)
    assert len(pids) >= 3  # the PoET and two nodes
    os.kill(interrupted.pid, signal.SIGINT)
    assert interrupted.wait(60) == 0
    for pid in pids:
        assert not is_process_alive(pid), f"process {pid} outlived the devnet"


def _get_descendants(pid: int) -> list[int]:
    """Return the pids of every process started (directly or not) by ``pid``."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (FileNotFoundError, ProcessLookupError):
                continue
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found
