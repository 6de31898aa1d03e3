"""Remote proving 1:N with real processes: one node holds the keys of two identities whose PoST data
is proved by two ``spacemesh post serve`` processes (data made by ``spacemesh post init``); both
identities publish ATXs the node's own handler accepts. A third service, with data of an identity
the node does not hold, is refused with a clear reason and exits 1. A ``spacemesh node`` process with
a CurveZMQ post listener is SIGKILLed and restarted under a connected service, which reconnects by
itself; SIGTERM stops ``post serve`` promptly in the middle of a k2pow search.

Devnet preset with short times (as test_activation_pipeline): 1 s layers, 4 s epochs, a real PoET.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from spacemesh_core.config import build_config
from spacemesh_core.genesis import compute_golden_atx
from spacemesh_core.identity import load_or_create_identity
from spacemesh_core.kernel.plugins import load_plugin_manager
from spacemesh_core.poet import native as poet_native
from spacemesh_core.testing.waiting import wait_until
from spacemesh_core.types.atx import ActivationTxV1
from spacemesh_plugins.devnet.supervisor import read_status
from spacemesh_plugins.poet_builtin.config import build_config as build_poet_config
from spacemesh_plugins.poet_builtin.server import PoetServer
from spacemesh_plugins.smeshing.plugin import get_service_specs
from spacemesh_plugins.smeshing.remote import PostListener
from spacemesh_plugins.transport_zmq.curve import format_curve_key, get_curve_public_key, load_or_create_curve_key
from tests.support.remote_post import (
    EASY_POW,
    LABELS_PER_UNIT,
    SCRYPT_N,
    close_node,
    format_genesis,
    init_post_data,
    make_node,
)

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


# -- a node process restarted under a connected post service; SIGTERM while proving ------------------------


def poll_until(predicate: Callable[[], bool], timeout: float, what: str, watched: dict[str, Any]) -> None:
    """Poll ``predicate`` (every 0.1 s) until it holds; fail early when a watched process exited.

    :param watched: ``{name: (process, log path)}``.
    """
    deadline = time.monotonic() + timeout
    while not predicate():
        for name, (child, log) in watched.items():
            assert child.poll() is None, f"{name} exited with {child.returncode}:\n{Path(log).read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        time.sleep(0.1)


def test_a_restarted_node_gets_its_post_service_back_over_curve_and_the_identity_publishes(
    tmp_path: Path, processes: Processes, unused_tcp_port_factory: Callable[[], int]
) -> None:
    """A `spacemesh node` process (hosted PoET, one remote identity, CurveZMQ on the post listener with
    an allow-list) and one `spacemesh post serve` process on the one listener port; the node is
    SIGKILLed once the service is connected and started again: the service reconnects by itself and
    the identity publishes an ATX in the restarted node."""
    poet_port, listen_port = unused_tcp_port_factory(), unused_tcp_port_factory()
    data = tmp_path / "node"
    service_key_file = tmp_path / "service.key"
    service_public = get_curve_public_key(load_or_create_curve_key(service_key_file))
    genesis = format_genesis(float(int(time.time()) + 6))
    flags = [
        f"node.data_dir={data}",
        f"network.genesis_time={genesis}",
        "network.layer_duration_s=1.0",
        "network.layers_per_epoch=4",
        "post.k1=48",
        f"post.pow_difficulty={EASY_POW}",
        f"poet.phase_shift_s={PHASE_SHIFT}",
        f"poet.cycle_gap_s={CYCLE_GAP}",
        f"poet.grace_period_s={GRACE}",
        f"poet.servers=http://127.0.0.1:{poet_port}",
        "poet_server.enabled=true",
        f"poet_server.listen=127.0.0.1:{poet_port}",
        "poet_server.pow_difficulty=4",
        "smeshing.identities=",
        "smeshing.remote_identities=alice",
        f"smeshing.post_listen=tcp://127.0.0.1:{listen_port}",
        "smeshing.post_listen_curve=true",
        f"smeshing.post_service_keys={service_public.hex()}",
        "smeshing.post_service_timeout_s=3",
        "smeshing.poet_poll_interval_s=0.1",
    ]
    config = build_config(load_plugin_manager(environ={}).get_config_schema(), preset="devnet", flags=flags, environ={})
    golden = compute_golden_atx(config.network.genesis_time, config.network.genesis_extra_data)
    node_id = load_or_create_identity(data, "alice").node_id  # the node holds the key...
    init_post_data(tmp_path / "alice", node_id, golden)  # ...the service the data

    node_args = spacemesh("node", "--preset", "devnet", *[arg for flag in flags for arg in ("--set", flag)])
    node_log, serve_log = tmp_path / "node-1.log", tmp_path / "serve.log"
    node = processes.start(node_args, node_log)
    watched: dict[str, Any] = {"the node": (node, node_log)}

    def status() -> dict[str, Any]:
        return read_status(data) or {}

    def alice() -> dict[str, Any]:
        return dict((status().get("smeshing") or {}).get("identities", {}).get("alice") or {})

    poll_until(lambda: bool((status().get("post_listener") or {}).get("public_key")), 60, "the listener", watched)
    listener = status()["post_listener"]
    assert listener["curve"] is True and listener["endpoint"] == f"tcp://127.0.0.1:{listen_port}"
    assert listener["allowed_keys"] == [format_curve_key(service_public)]
    public_file = data / "post_listener" / "listener.pub"
    assert public_file.read_text().strip() == listener["public_key"]

    serve = processes.start(
        spacemesh(
            "post", "serve", "--dir", str(tmp_path / "alice"), "--node", f"tcp://127.0.0.1:{listen_port}",
            "--node-key", str(public_file), "--key", str(service_key_file), "--threads", "1", "--nonces", "64",
            "--scrypt-n", str(SCRYPT_N), "--name", "alice-box",
        ),
        serve_log,
    )  # fmt: skip
    watched["post serve"] = (serve, serve_log)

    def is_connected() -> bool:
        return alice().get("post_setup", {}).get("state") == "post_service_connected"

    poll_until(is_connected, 60, "the post service connected", watched)
    assert alice()["post_service"]["service_key"] == format_curve_key(service_public)

    # SIGKILL: no clean stop, nothing said to the service
    os.killpg(node.pid, signal.SIGKILL)
    node.wait(10)
    del watched["the node"]
    (data / "status.json").unlink()
    node_log = tmp_path / "node-2.log"
    node = processes.start(node_args, node_log)
    watched["the restarted node"] = (node, node_log)

    poll_until(is_connected, 60, "the post service reconnected to the restarted node", watched)
    poll_until(lambda: alice().get("atxs_published", 0) >= 1, 60, "an ATX of alice after the restart", watched)
    log = serve_log.read_text()
    assert log.count("connected: the node accepted this service") >= 2, log
    assert "the node accepted the proof" in log

    serve.send_signal(signal.SIGTERM)
    assert serve.wait(15) == 0, serve_log.read_text()
    node.send_signal(signal.SIGTERM)
    assert node.wait(30) == 0, node_log.read_text()[-3000:]


async def test_sigterm_while_proving_stops_post_serve_promptly(tmp_path: Path, processes: Processes) -> None:
    """A k2pow search that would take many minutes (light RandomX, a high difficulty) is stopped at once."""
    hard_pow = "0004" + "00" * 30  # ~16k RandomX hashes per nonce group: minutes of light-mode search
    node = make_node(
        tmp_path / "node",
        time.time(),
        [
            "smeshing.post_listen=tcp://127.0.0.1:0",
            "smeshing.remote_identities=alice",
            "smeshing.post_service_timeout_s=1",
            f"post.pow_difficulty={hard_pow}",
        ],
    )
    listener = PostListener(node)
    await listener.start()
    request: asyncio.Task[Any] | None = None
    try:
        node_id = load_or_create_identity(node.data_dir, "alice").node_id
        listener.add_identity(node_id, "alice")
        init_post_data(tmp_path / "alice", node_id, node.golden_atx)
        assert listener.endpoint is not None
        log = tmp_path / "serve.log"
        serve = processes.start(
            spacemesh(
                "post", "serve", "--dir", str(tmp_path / "alice"), "--node", listener.endpoint, "--threads", "1",
                "--nonces", "16", "--scrypt-n", str(SCRYPT_N),
            ),
            log,
        )  # fmt: skip
        await wait_until(lambda: listener.get_identity_status(node_id)["connected"], 60, "the service connected")
        request = asyncio.create_task(listener.request_proof(node_id, b"\x21" * 32))
        await wait_until(lambda: listener.get_identity_status(node_id)["proving"], 30, "the service proving")
        serve.send_signal(signal.SIGTERM)
        code = await wait_for_exit(serve, 10, "post serve stopped by SIGTERM during the k2pow search")
        assert code == 0, log.read_text()
        assert "proving challenge" in log.read_text() and "proof found" not in log.read_text()
        assert not request.done()  # no proof: the node still waits for one
    finally:
        if request is not None:
            request.cancel()
            await asyncio.gather(request, return_exceptions=True)
        await listener.stop()
        close_node(node)
