"""Remote proving 1:N with real processes: one node holds the keys of two identities whose PoST data
is proved by two ``spacemesh post serve`` processes (data made by ``spacemesh post init``); both
identities publish ATXs the node's own handler accepts. A third service, with data of an identity
the node does not hold, is refused with a clear reason and exits 1.

Devnet preset with short times (as test_activation_pipeline): 1 s layers, 4 s epochs, a real PoET.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from spacemesh_core.identity import load_or_create_identity
from spacemesh_core.poet import native as poet_native
from spacemesh_core.testing.waiting import wait_until
from spacemesh_core.types.atx import ActivationTxV1
from spacemesh_plugins.poet_builtin.config import build_config as build_poet_config
from spacemesh_plugins.poet_builtin.server import PoetServer
from spacemesh_plugins.smeshing.plugin import get_service_specs
from tests.support.remote_post import LABELS_PER_UNIT, SCRYPT_N, close_node, make_node

pytestmark = pytest.mark.skipif(not poet_native.is_native_available(), reason="native PoET module not built")

EPOCH_S, PHASE_SHIFT, CYCLE_GAP, GRACE = 4.0, 2.0, 1.0, 0.5


def spacemesh(*args: str) -> list[str]:
    return [sys.executable, "-m", "spacemesh_core", *args]


async def wait_for_exit(child: subprocess.Popen[bytes], timeout: float, what: str) -> int:
    """Await ``child``'s exit without blocking the event loop (the node runs on it); return its code."""
    await wait_until(lambda: child.poll() is not None, timeout=timeout, what=what)
    assert child.returncode is not None
    return child.returncode


class Processes:
    """Child processes in their own process groups, all killed at the end."""

    def __init__(self) -> None:
        self.children: list[subprocess.Popen[bytes]] = []

    def start(self, args: list[str], log: Path) -> subprocess.Popen[bytes]:
        with log.open("wb") as out:
            child = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        self.children.append(child)
        return child

    def kill_all(self) -> None:
        for child in self.children:
            if child.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.pid, signal.SIGKILL)
                child.wait(10)


@pytest.fixture
def processes() -> Iterator[Processes]:
    group = Processes()
    try:
        yield group
    finally:
        group.kill_all()


async def test_two_post_services_prove_for_one_node_and_a_stranger_is_refused(
    tmp_path: Path, processes: Processes
) -> None:
    genesis = float(int(time.time()) + 3)
    poet = PoetServer(
        build_poet_config(
            {
                "datadir": str(tmp_path / "poet"),
                "genesis": genesis,
                "epoch_duration": EPOCH_S,
                "phase_shift": PHASE_SHIFT,
                "cycle_gap": CYCLE_GAP,
                "listen": "127.0.0.1:0",
                "pow_difficulty": 4,
                "checkpoint_leaves": 1 << 16,
            }
        )
    )
    await poet.start()
    node = make_node(
        tmp_path / "node",
        genesis,
        [
            f"poet.phase_shift_s={PHASE_SHIFT}",
            f"poet.cycle_gap_s={CYCLE_GAP}",
            f"poet.grace_period_s={GRACE}",
            f"poet.servers={poet.url}",
            "smeshing.identities=",
            "smeshing.remote_identities=alice,bob",
            "smeshing.post_listen=tcp://127.0.0.1:0",
            "smeshing.post_service_timeout_s=3",
        ],
    )
    services: list[Any] = []
    try:
        # the node holds the keys; each identity's data is made elsewhere by `spacemesh post init`
        node_ids = {name: load_or_create_identity(node.data_dir, name).node_id for name in ("alice", "bob")}
        node_ids["carol"] = load_or_create_identity(tmp_path / "elsewhere", "carol").node_id  # not the node's
        inits = {
            name: processes.start(
                spacemesh(
                    "post", "init", "--dir", str(tmp_path / name), "--node-id", node_id.hex(),
                    "--commitment-atx", node.golden_atx.hex(), "--units", "1",
                    "--labels-per-unit", str(LABELS_PER_UNIT), "--scrypt-n", str(SCRYPT_N),
                    "--max-file-size", str(16 * LABELS_PER_UNIT), "--json",
                ),
                tmp_path / f"init-{name}.log",
            )
            for name, node_id in node_ids.items()
        }  # fmt: skip
        for name, child in inits.items():
            code = await wait_for_exit(child, 60, f"post init of {name}")
            assert code == 0, (tmp_path / f"init-{name}.log").read_text()

        specs = get_service_specs(node)
        assert [s.name for s in specs] == ["atx-handler", "post-listener", "smeshing-alice", "smeshing-bob"]
        for spec in specs:
            service = spec.factory(node)
            await service.start()
            services.append(service)
        status = node.status_providers["smeshing"]
        assert {i["post_setup"]["state"] for i in status()["identities"].values()} == {"waiting_for_post_service"}
        endpoint = node.post_listener.endpoint

        servers = {
            name: processes.start(
                spacemesh(
                    "post", "serve", "--dir", str(tmp_path / name), "--node", endpoint, "--threads", "1",
                    "--nonces", "64", "--scrypt-n", str(SCRYPT_N), "--name", name,
                ),
                tmp_path / f"serve-{name}.log",
            )
            for name in ("alice", "bob", "carol")
        }  # fmt: skip

        # the stranger is refused with a clear reason and exits 1; the node stored nothing of it
        assert await wait_for_exit(servers["carol"], 60, "the stranger's service refused") == 1
        carol_log = (tmp_path / "serve-carol.log").read_text()
        assert "the node refused this PoST data" in carol_log and "is not a remote identity of this node" in carol_log
        assert any(node_ids["carol"].hex() in r for r in node.post_listener.get_status()["rejections"])

        def connected() -> bool:
            return all(i["post_setup"]["state"] == "post_service_connected" for i in status()["identities"].values())

        await wait_until(connected, timeout=60, what="both post services connected")
        await wait_until(lambda: status()["atxs_published"] >= 2, timeout=60, what="an ATX of each identity")

        state = node.storage.state
        for name in ("alice", "bob"):
            record = state.get_last_atx_of_node(node_ids[name])
            assert record is not None and record.weight > 0 and record.tick_count > 0, name
            atx = ActivationTxV1.from_bytes(record.blob)
            assert atx.inner.challenge.is_initial() and atx.inner.num_units == 1
            assert record.commitment_atx_id == node.golden_atx
            assert status()["identities"][name]["post_service"]["proofs_accepted"] >= 2  # initial PoST + NIPoST
        assert state.get_last_atx_of_node(node_ids["carol"]) is None
        report = status()
        assert report["units"] == 2

        # SIGTERM: each service stops cleanly (exit 0) and says so
        for name in ("alice", "bob"):
            servers[name].send_signal(signal.SIGTERM)
        for name in ("alice", "bob"):
            code = await wait_for_exit(servers[name], 30, f"{name}'s service stopped")
            log = (tmp_path / f"serve-{name}.log").read_text()
            assert code == 0, log
            assert "connected: the node accepted this service" in log and "the node accepted the proof" in log
    finally:
        for service in reversed(services):
            await service.stop()
        close_node(node)
        await poet.stop()
