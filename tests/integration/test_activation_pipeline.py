"""The activation pipeline end to end: real PoST data, a real PoET server on loopback (short rounds),
the smeshing services of a node with two identities, the ATX handler accepting what the builders
publish, restarts at every phase, and the same key refused on the same data.

Devnet preset with shorter times: layers of 1 s, epochs of 4 s, PoET phase shift 2 s, cycle gap 1 s.
"""

from __future__ import annotations

import time
import types
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from spacemesh_core.activation.builder import PHASES, AtxBuilder, BuilderEvent, PostInfo
from spacemesh_core.activation.challenge import PoetTiming
from spacemesh_core.activation.handler import AtxHandler, AtxValidationConfig
from spacemesh_core.activation.post_setup import IdentityInUseError
from spacemesh_core.activation.testing import create_prove_function
from spacemesh_core.clock import LayerClock
from spacemesh_core.config import build_config
from spacemesh_core.crypto.signing import Signer
from spacemesh_core.genesis import compute_genesis_id, compute_golden_atx
from spacemesh_core.kernel.plugins import load_plugin_manager
from spacemesh_core.poet import native as poet_native
from spacemesh_core.post.initialize import initialize
from spacemesh_core.post.prover import ProvingParams
from spacemesh_core.storage.local import LocalStore
from spacemesh_core.storage.state import StateStore
from spacemesh_core.testing.waiting import wait_until
from spacemesh_core.types.atx import ActivationTxV1
from spacemesh_plugins.poet_builtin.config import build_config as build_poet_config
from spacemesh_plugins.poet_builtin.server import PoetServer
from spacemesh_plugins.smeshing.plugin import get_service_specs
from spacemesh_plugins.smeshing.service import PoetClientAdapter, SmeshingService

pytestmark = pytest.mark.skipif(not poet_native.is_native_available(), reason="native PoET module not built")

EPOCH_S, PHASE_SHIFT, CYCLE_GAP, GRACE = 4.0, 2.0, 1.0, 0.5
EASY_POW = "ff" * 32


def _genesis_text(when: float) -> str:
    return datetime.fromtimestamp(when, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
async def poet(tmp_path: Path) -> AsyncIterator[tuple[PoetServer, float]]:
    genesis = float(int(time.time()) + 2)  # whole seconds: the node config takes RFC 3339
    server = PoetServer(
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
    await server.start()
    try:
        yield server, genesis
    finally:
        await server.stop()


def _make_node(tmp_path: Path, poet_url: str, genesis: float, identities: str) -> Any:
    """A node as the smeshing services see it: config (devnet preset), clock, storage, bundle components."""
    plugins = load_plugin_manager(environ={})
    flags = [
        f"node.data_dir={tmp_path / 'node'}",
        f"network.genesis_time={_genesis_text(genesis)}",
        "network.layer_duration_s=1.0",
        "network.layers_per_epoch=4",
        f"poet.phase_shift_s={PHASE_SHIFT}",
        f"poet.cycle_gap_s={CYCLE_GAP}",
        f"poet.grace_period_s={GRACE}",
        f"poet.servers={poet_url}",
        "post.k1=48",
        f"post.pow_difficulty={EASY_POW}",
        f"smeshing.identities={identities}",
        "smeshing.proving_nonces=64",
        "smeshing.proving_threads=1",
        "smeshing.poet_poll_interval_s=0.1",
    ]
    config = build_config(plugins.get_config_schema(), preset="devnet", flags=flags, environ={})
    registries = plugins.get_registries()
    components = plugins.get_bundles().resolve(config.node.bundle, registries)
    data_dir = tmp_path / "node"
    return types.SimpleNamespace(
        config=config,
        registries=registries,
        components=components,
        data_dir=data_dir,
        clock=LayerClock(genesis, 1.0, 4),
        genesis_id=compute_genesis_id(config.network.genesis_time, config.network.genesis_extra_data),
        golden_atx=compute_golden_atx(config.network.genesis_time, config.network.genesis_extra_data),
        storage=types.SimpleNamespace(
            state=StateStore(data_dir / "state.sql"), local=LocalStore(data_dir / "local.sql")
        ),
        identity=None,
        bus=None,
        transport=None,
        status_providers={},
    )


async def test_two_identities_publish_valid_atxs_and_a_running_key_is_refused(
    tmp_path: Path, poet: tuple[PoetServer, float]
) -> None:
    server, genesis = poet
    node = _make_node(tmp_path, server.url, genesis, "local,second")
    specs = get_service_specs(node)
    assert [s.name for s in specs] == ["atx-handler", "smeshing-local", "smeshing-second"]
    services = [spec.factory(node) for spec in specs]
    for service in services:
        await service.start()
    try:
        # the same key on the same data, while it runs: refused at start
        duplicate = SmeshingService(node, "second")
        with pytest.raises(IdentityInUseError, match="already in use"):
            await duplicate.start()
        status = node.status_providers["smeshing"]
        await wait_until(lambda: status()["atxs_published"] >= 2, timeout=40, what="both identities' ATXs")
        state = node.storage.state
        ids = {s.signer.node_id for s in services[1:]}
        assert len(ids) == 2
        for node_id in ids:
            record = state.get_last_atx_of_node(node_id)
            assert record is not None and record.weight > 0 and record.tick_count > 0
            atx = ActivationTxV1.from_bytes(record.blob)
            assert atx.inner.challenge.is_initial() and atx.publish_epoch in (1, 2)  # 2 if setup missed round 0
        report = status()
        assert report["units"] == 2 and set(report["identities"]) == {"local", "second"}
        assert all(i["post_setup"]["state"] == "complete" for i in report["identities"].values())
    finally:
        for service in reversed(services):
            await service.stop()
        node.storage.state.close()
        node.storage.local.close()


class Killed(Exception):
    """The builder's process dies right after persisting a phase."""


async def test_builder_restarted_after_every_phase_with_a_real_poet(
    tmp_path: Path, poet: tuple[PoetServer, float]
) -> None:
    server, genesis = poet
    signer = Signer.from_seed(b"\x5a" * 32)
    golden = b"\x01" * 32
    metadata = initialize(tmp_path / "post", signer.node_id, golden, 1, 4096, 16, 16 * 4096).metadata
    assert metadata.nonce is not None
    clock = LayerClock(genesis, 1.0, 4)
    state = StateStore(tmp_path / "state.sql")
    local_path = tmp_path / "local.sql"
    genesis_id = b"\x07" * 20
    config = AtxValidationConfig(128, 4096, 1, 8, 16, k1=48, k2=37, k3=37, pow_difficulty=bytes.fromhex(EASY_POW))
    handler = AtxHandler(state, genesis_id, golden, clock, config)
    prove = create_prove_function(tmp_path / "post", ProvingParams(48, 37, bytes.fromhex(EASY_POW)), nonces=64)
    published: list[bytes] = []
    killed: list[str] = []

    async def publish(blob: bytes) -> None:
        await handler.process_atx(blob)  # raises if our ATX is invalid
        published.append(blob)

    async def kill(event: BuilderEvent) -> None:
        if event.phase not in killed:
            killed.append(event.phase)
            raise Killed(event.phase)

    while not published:
        assert len(killed) <= len(PHASES), killed
        local = LocalStore(local_path)
        builder = AtxBuilder(
            signer,
            local=local,
            state=state,
            clock=clock,
            timing=PoetTiming(PHASE_SHIFT, CYCLE_GAP, GRACE),
            genesis_id=genesis_id,
            golden_atx=golden,
            coinbase=bytes(24),
            post_info=PostInfo(1, 4096, golden, metadata.nonce),
            prove=prove,
            poet=PoetClientAdapter([server.url], signer, genesis_id, poll_interval_s=0.1),
            publish=publish,
            notify=kill,
        )
        try:
            await builder.build_next_atx()
        except Killed:
            pass
        finally:
            local.close()
    assert killed == list(PHASES)  # every phase was interrupted once, in order
    atx = ActivationTxV1.from_bytes(published[0])
    record = state.get_atx(atx.compute_id())
    assert record is not None and record.publish_epoch == 1 and record.tick_count > 0
    state.close()
