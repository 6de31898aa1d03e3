"""Remote proving (1:N smeshing), in-process: the node's post listener, the post service, the CLI.

The node side runs on a small fake node (devnet labels, easy k2pow); a post service is either a
hand-driven :class:`~spacemesh_plugins.smeshing.post_service.NodeLink` (to send exactly the requests
a test needs) or a real :class:`~spacemesh_plugins.smeshing.post_service.PostService`. CurveZMQ on
the link (keys, wrong keys, the allow-list) is tested in test_post_listener_curve.py.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import attrs
import pytest
import zmq
import zmq.asyncio
from click.testing import CliRunner

from spacemesh_core.activation.post_setup import IdentityInUseError, PostDataLock
from spacemesh_core.bus import RemoteError
from spacemesh_core.cli import cli
from spacemesh_core.config.schema import ConfigError
from spacemesh_core.crypto.signing import Signer
from spacemesh_core.identity import load_or_create_identity
from spacemesh_core.post.prover import ProvingParams, ProvingStoppedError, StopFlag, create_native_prover
from spacemesh_core.post.store import get_data_file_path, read_metadata, write_metadata
from spacemesh_core.post.verify import InvalidProofError, verify_vrf_nonce
from spacemesh_core.testing.waiting import wait_until
from spacemesh_core.types.atx import PostV1
from spacemesh_plugins.smeshing.events import (
    PostProofAnswered,
    PostProofFailed,
    PostProofGenerated,
    PostProofRequested,
    PostServiceAccepted,
    PostServiceAnnounced,
    PostServiceHeartbeatAnswered,
    PostServiceHeartbeatSent,
    PostServiceRejected,
)
from spacemesh_plugins.smeshing.plugin import get_service_specs
from spacemesh_plugins.smeshing.post_service import (
    NodeLink,
    PostService,
    PostServiceError,
    PostServiceRejectedError,
    create_remote_proving_registry,
    load_post_data,
)
from spacemesh_plugins.smeshing.remote import (
    PostListener,
    PostListenerError,
    RemoteProveFunction,
    RemoteSmeshingService,
    parse_post_listen,
)
from tests.support.remote_post import EASY_POW, SCRYPT_N, close_node, init_post_data, make_node

PARAMS = ProvingParams(48, 37, bytes.fromhex(EASY_POW))


# -- configuration ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "expected"),
    [
        ("tcp://127.0.0.1:0", ("127.0.0.1", 0)),
        ("tcp://127.0.0.1:9000", ("127.0.0.1", 9000)),
        ("tcp://localhost:9000", ("127.0.0.1", 9000)),
        ("tcp://127.0.0.2:65535", ("127.0.0.2", 65535)),
    ],
)
def test_parse_post_listen_accepts_loopback(endpoint: str, expected: tuple[str, int]) -> None:
    assert parse_post_listen(endpoint) == expected


@pytest.mark.parametrize(
    ("endpoint", "message"),
    [
        ("tcp://0.0.0.0:9000", "not a loopback address"),
        ("tcp://192.168.1.5:9000", "not a loopback address"),
        ("tcp://example.org:9000", "not a loopback address"),
        ("127.0.0.1:9000", "must look like"),
        ("ipc:///tmp/x", "must look like"),
        ("tcp://127.0.0.1", "must look like"),
        ("tcp://127.0.0.1:70000", "above 65535"),
        ("tcp://[::1]:9000", "must look like"),
    ],
)
def test_parse_post_listen_refuses_other_endpoints(endpoint: str, message: str) -> None:
    with pytest.raises(PostListenerError, match=message):
        parse_post_listen(endpoint)


def test_service_specs_of_remote_identities(tmp_path: Path) -> None:
    base = ["poet.servers=http://127.0.0.1:1", "smeshing.identities=local,alice"]
    node = make_node(
        tmp_path, time.time(), [*base, "smeshing.remote_identities=alice,bob", "smeshing.post_listen=tcp://127.0.0.1:0"]
    )
    try:
        specs = {spec.name: spec for spec in get_service_specs(node)}
        assert list(specs) == ["atx-handler", "post-listener", "smeshing-local", "smeshing-alice", "smeshing-bob"]
        assert specs["smeshing-bob"].depends_on == ("atx-handler", "post-listener")
        assert isinstance(specs["smeshing-alice"].factory(node), RemoteSmeshingService)  # remote wins
        assert not isinstance(specs["smeshing-local"].factory(node), RemoteSmeshingService)
    finally:
        close_node(node)
    node = make_node(tmp_path / "b", time.time(), [*base, "smeshing.remote_identities=alice"])
    try:
        with pytest.raises(ConfigError, match="needs smeshing.post_listen"):
            get_service_specs(node)
    finally:
        close_node(node)
    node = make_node(tmp_path / "c", time.time(), [*base, "smeshing.post_listen=tcp://10.0.0.1:7000"])
    try:
        with pytest.raises(ConfigError, match="not a loopback address"):
            get_service_specs(node)
    finally:
        close_node(node)
    # a coinbase of another network (or no address at all) is refused at start, before any PoST work
    for coinbase in ("sm1qqqqqqqjc8t7f0d5ekmaelmt5yxz8nd7d4wnnpgfj9mx0", "not-an-address"):
        node = make_node(tmp_path / "d", time.time(), [*base, f"smeshing.coinbase={coinbase}"])
        try:
            with pytest.raises(ConfigError, match="smeshing.coinbase: .* is not an address of this network"):
                get_service_specs(node)
        finally:
            close_node(node)
    from spacemesh_core.crypto.address import compute_wallet_principal

    valid = compute_wallet_principal(bytes(32)).to_string(node.config.network.hrp)
    node = make_node(tmp_path / "e", time.time(), [*base, f"smeshing.coinbase={valid}"])
    try:
        assert "smeshing-local" in {spec.name for spec in get_service_specs(node)}
    finally:
        close_node(node)


# -- the listener, driven by hand ---------------------------------------------------------------------


class Harness:
    """A started post listener with one remote identity (``alice``) and her PoST data."""

    def __init__(self, node: Any, listener: PostListener, signer: Signer, post_dir: Path) -> None:
        self.node = node
        self.listener = listener
        self.signer = signer
        self.node_id = signer.node_id
        self.post_dir = post_dir
        self.metadata = read_metadata(post_dir)
        self.link = NodeLink(self.endpoint, create_remote_proving_registry(), "test-service")
        self.link.open()

    @property
    def endpoint(self) -> str:
        assert self.listener.endpoint is not None
        return self.listener.endpoint

    def announcement(self, **changes: Any) -> PostServiceAnnounced:
        meta = self.metadata
        assert meta.nonce is not None
        fields: dict[str, Any] = {
            "node_id": self.node_id,
            "commitment_atx_id": meta.commitment_atx_id,
            "num_units": meta.num_units,
            "labels_per_unit": meta.labels_per_unit,
            "max_file_size": meta.max_file_size,
            "vrf_nonce": meta.nonce,
            "scrypt_n": SCRYPT_N,
            "service": "test-service",
        }
        fields.update(changes)
        return PostServiceAnnounced(**fields)

    async def request(self, event: Any) -> Any:
        return await self.link.request(event, 10)


async def start_listener(tmp_path: Path, flags: tuple[str, ...] = ()) -> Harness:
    node = make_node(
        tmp_path / "node",
        time.time(),
        ["smeshing.post_listen=tcp://127.0.0.1:0", "smeshing.remote_identities=alice", *flags],
    )
    signer = load_or_create_identity(node.data_dir, "alice")
    init_post_data(tmp_path / "alice", signer.node_id, node.golden_atx)
    listener = PostListener(node)
    await listener.start()
    listener.add_identity(signer.node_id, "alice")
    return Harness(node, listener, signer, tmp_path / "alice")


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    h = await start_listener(tmp_path)
    try:
        yield h
    finally:
        await h.link.close()
        await h.listener.stop()
        close_node(h.node)


async def test_listener_binds_and_reports_its_endpoint(harness: Harness) -> None:
    assert harness.endpoint.startswith("tcp://127.0.0.1:") and not harness.endpoint.endswith(":0")
    status = harness.node.status_providers["post_listener"]()
    assert status["endpoint"] == harness.endpoint
    assert (status["curve"], status["public_key"], status["allowed_keys"]) == (False, None, [])
    assert status["identities"]["alice"]["connected"] is False
    assert harness.node.post_listener is harness.listener


async def test_listener_refuses_a_port_in_use(tmp_path: Path, harness: Harness) -> None:
    port = int(harness.endpoint.rsplit(":", 1)[1])
    node = make_node(tmp_path / "other", time.time(), [f"smeshing.post_listen=tcp://127.0.0.1:{port}"])
    try:
        with pytest.raises(PostListenerError, match="cannot listen for post services"):
            await PostListener(node).start()
    finally:
        close_node(node)


def _find_invalid_vrf_nonce(harness: Harness) -> int:
    """Return a label index whose label is not below the VRF difficulty (most are: 511 in 512)."""
    meta = harness.metadata
    for candidate in range(100):
        try:
            verify_vrf_nonce(candidate, meta.node_id, meta.commitment_atx_id, meta.num_units, meta.labels_per_unit, 16)
        except InvalidProofError:
            return candidate
    raise AssertionError("no invalid VRF nonce among the first 100 labels")


@pytest.mark.parametrize(
    ("changes", "reason", "permanent"),
    [
        ({"node_id": b"\x09" * 32}, "is not a remote identity of this node", True),
        ({"scrypt_n": 8192}, "scrypt N 8192 differs from the node's [post] scrypt_n 16", True),
        ({"labels_per_unit": 2048}, "2048 labels per unit differ", True),
        ({"num_units": 0}, "0 units are outside", True),
        ({"vrf_nonce": "invalid"}, "does not verify", True),
        ({"commitment_atx_id": b"\x07" * 32}, "is not known to the node (yet)", False),
        ({"node_id": b"\x01" * 5}, "must be 32 bytes", True),
        ({"max_file_size": 17}, "bad metadata", True),
    ],
)
async def test_listener_refuses_mismatched_data_with_a_reason(
    harness: Harness, changes: dict[str, Any], reason: str, permanent: bool
) -> None:
    if changes.get("vrf_nonce") == "invalid":
        changes = {"vrf_nonce": _find_invalid_vrf_nonce(harness)}
    reply = await harness.request(harness.announcement(**changes))
    assert isinstance(reply, PostServiceRejected)
    assert reason in reply.reason
    assert (reply.retry_after_s == 0) is permanent
    status = harness.listener.get_status()
    assert status["rejections"] and reply.reason in status["rejections"][-1]
    assert status["identities"]["alice"]["connected"] is False


async def test_listener_answers_malformed_and_foreign_requests_with_errors(harness: Harness) -> None:
    # a request that is not one of the listener's: an error reply, nothing changes
    with pytest.raises(RemoteError, match="is not a request of the post listener"):
        await harness.request(PostProofRequested(harness.node_id, "x", bytes(32)))
    # raw garbage and a body of the wrong shape: error replies (or nothing), the listener goes on
    ctx = zmq.asyncio.Context.instance()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(harness.endpoint)
    try:
        errors = harness.listener.errors
        # not link frames: dropped and counted, no answer
        await sock.send_multipart([b"", b"smeshing.post_service_announced\x00", b"\xa0", b"\xff\xff"])
        await sock.send_multipart([b"Q", b"x" * 17, b"smeshing.post_service_announced\x00", b"\xa0", b"\xa0"])
        await sock.send_multipart([b"E", b"smeshing.post_service_announced\x00", b"\xa0", b"\xa0"])
        await wait_until(lambda: harness.listener.errors == errors + 3, what="malformed frames counted")
        # a request whose envelope is garbage: an error reply with the request id
        await sock.send_multipart([b"Q", b"\x07", b"smeshing.post_service_announced\x00", b"\xa0", b"\xff\xff"])
        assert await sock.poll(5000)
        reply = await sock.recv_multipart()
        assert reply[:2] == [b"R", b"\x07"] and reply[2].startswith(b"\x01error")
    finally:
        sock.close()
    reply = await harness.request(PostServiceHeartbeatSent(harness.node_id, "no-such-session", b""))
    assert isinstance(reply, PostServiceHeartbeatAnswered) and not reply.session_valid
    reply = await harness.request(PostProofGenerated(harness.node_id, "no-such-session", "r", 1, b"\x00" * 8, 1))
    assert isinstance(reply, PostProofAnswered) and not reply.accepted
    assert harness.listener.get_status()["identities"]["alice"]["connected"] is False
    assert harness.node.storage.state.get_last_atx_of_node(harness.node_id) is None


async def test_a_proof_is_verified_before_the_builder_gets_it(harness: Harness) -> None:
    accepted = await harness.request(harness.announcement())
    assert isinstance(accepted, PostServiceAccepted)
    assert (accepted.k1, accepted.k2, accepted.pow_difficulty) == (48, 37, bytes.fromhex(EASY_POW))
    assert harness.listener.get_identity_status(harness.node_id)["connected"]
    reply = await harness.request(PostServiceHeartbeatSent(harness.node_id, accepted.session, b""))
    assert isinstance(reply, PostServiceHeartbeatAnswered) and reply.session_valid
    challenge = bytes(range(32))
    task = asyncio.create_task(harness.listener.request_proof(harness.node_id, challenge))
    try:
        # the request is pushed on the connection that announced
        request = await asyncio.wait_for(harness.link.get_event(), 10)
        assert isinstance(request, PostProofRequested)
        assert (request.node_id, request.challenge) == (harness.node_id, challenge)
        session, rid = accepted.session, request.request_id

        proof = create_native_prover(threads=1).generate_proof_from_dir(harness.post_dir, challenge, PARAMS, nonces=64)
        bad_cases = [
            (
                PostProofGenerated(harness.node_id, session, rid, proof.nonce, b"\x00" * len(proof.indices), proof.pow),
                "invalid proof",
            ),
            (
                PostProofGenerated(harness.node_id, session, rid, proof.nonce, proof.indices[:-1], proof.pow),
                "invalid proof",
            ),
            (PostProofGenerated(harness.node_id, session, rid, 2**40, proof.indices, proof.pow), "invalid proof"),
            (
                PostProofGenerated(harness.node_id, session, "other", proof.nonce, proof.indices, proof.pow),
                "no pending request",
            ),
            (
                PostProofGenerated(harness.node_id, "stale", rid, proof.nonce, proof.indices, proof.pow),
                "unknown session",
            ),
        ]
        for bad, reason in bad_cases:
            reply = await harness.request(bad)
            assert isinstance(reply, PostProofAnswered) and not reply.accepted and reason in reply.reason
            assert not task.done()
        # a failure report is acknowledged and the request stays pending
        reply = await harness.request(PostProofFailed(harness.node_id, session, rid, "disk on fire"))
        assert isinstance(reply, PostProofAnswered) and reply.accepted and not task.done()

        reply = await harness.request(
            PostProofGenerated(harness.node_id, session, rid, proof.nonce, proof.indices, proof.pow)
        )
        assert isinstance(reply, PostProofAnswered) and reply.accepted, reply
        assert await asyncio.wait_for(task, 5) == PostV1(proof.nonce, proof.indices, proof.pow)
        assert harness.listener.get_identity_status(harness.node_id)["proofs_accepted"] == 1
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_heartbeats_keep_a_session_and_silence_ends_it(tmp_path: Path) -> None:
    h = await start_listener(tmp_path, ("smeshing.post_service_timeout_s=0.5",))
    try:
        first = await h.request(h.announcement(service="first"))
        assert isinstance(first, PostServiceAccepted)
        # a second service for the same identity waits while the first one is alive
        second = await h.request(h.announcement(service="second"))
        assert isinstance(second, PostServiceRejected) and second.retry_after_s > 0
        assert "(first) is already connected" in second.reason
        for _ in range(3):
            reply = await h.request(PostServiceHeartbeatSent(h.node_id, first.session, b""))
            assert isinstance(reply, PostServiceHeartbeatAnswered) and reply.session_valid
        # silence: the session is dropped, then the second service is accepted
        await wait_until(lambda: not h.listener.get_identity_status(h.node_id)["connected"], what="session expiry")
        reply = await h.request(PostServiceHeartbeatSent(h.node_id, first.session, b""))
        assert isinstance(reply, PostServiceHeartbeatAnswered) and not reply.session_valid
        second = await h.request(h.announcement(service="second"))
        assert isinstance(second, PostServiceAccepted) and second.session != first.session
        # other data for the same identity is refused once data was accepted
        other = tmp_path / "other"
        init_post_data(other, h.node_id, h.node.golden_atx, units=2)
        meta = read_metadata(other)
        assert meta.nonce is not None
        reply = await h.request(h.announcement(num_units=2, vrf_nonce=meta.nonce, max_file_size=meta.max_file_size))
        assert (
            isinstance(reply, PostServiceRejected) and "differs from the data a post service announced" in reply.reason
        )
    finally:
        await h.link.close()
        await h.listener.stop()
        close_node(h.node)


async def test_blocking_prove_function_stops_on_request(harness: Harness) -> None:
    prove = RemoteProveFunction(harness.listener, harness.node_id, asyncio.get_running_loop())
    flag = StopFlag()
    work = asyncio.create_task(asyncio.to_thread(prove, bytes(32), flag))
    await wait_until(lambda: bool(harness.listener.identities[harness.node_id].pending), what="pending request")
    flag.set()
    with pytest.raises(ProvingStoppedError):
        await work
    await wait_until(lambda: not harness.listener.identities[harness.node_id].pending, what="request withdrawn")


# -- the post service ------------------------------------------------------------------------------


def test_load_post_data_refuses_unusable_data(tmp_path: Path) -> None:
    signer = Signer.from_seed(b"\x11" * 32)
    meta = init_post_data(tmp_path / "d", signer.node_id, b"\x02" * 32, units=2)
    assert load_post_data(tmp_path / "d", SCRYPT_N) == meta
    with pytest.raises(PostServiceError, match="does not verify with scrypt N 32"):
        load_post_data(tmp_path / "d", 32)
    get_data_file_path(tmp_path / "d", 1).write_bytes(b"\x00" * 16)
    with pytest.raises(PostServiceError, match="incomplete: 1 of 2 files"):
        load_post_data(tmp_path / "d", SCRYPT_N)
    init_post_data(tmp_path / "d", signer.node_id, b"\x02" * 32, units=2)  # rewrites the short file
    assert load_post_data(tmp_path / "d", SCRYPT_N) == meta
    write_metadata(tmp_path / "d", attrs.evolve(meta, nonce=None))
    with pytest.raises(PostServiceError, match="no VRF nonce"):
        load_post_data(tmp_path / "d", SCRYPT_N)
    with pytest.raises(PostServiceError, match="postdata_metadata.json"):
        load_post_data(tmp_path, SCRYPT_N)


async def test_post_service_proves_ignores_other_ids_and_reconnects_after_a_node_restart(harness: Harness) -> None:
    listener, node_id = harness.listener, harness.node_id
    service = PostService(
        harness.post_dir,
        harness.endpoint,
        create_native_prover(threads=1),
        scrypt_n=SCRYPT_N,
        nonces=64,
        name="svc",
        request_timeout_s=2.0,
        retry_interval_s=0.05,
    )
    stop = asyncio.Event()
    runner = asyncio.create_task(service.run(stop))
    try:
        await wait_until(lambda: listener.get_identity_status(node_id)["connected"], what="the service connected")
        # the data directory is locked while the service runs
        with pytest.raises(IdentityInUseError):
            PostDataLock(harness.post_dir, node_id).acquire()
        session = listener.identities[node_id].session
        assert session is not None
        assert listener.send_event(session, PostProofRequested(b"\x05" * 32, "not-yours", bytes(32)))
        await wait_until(lambda: service.requests_ignored >= 1, what="a request for another id ignored")
        challenge = b"\x42" * 32
        post = await asyncio.wait_for(listener.request_proof(node_id, challenge), 20)
        await wait_until(lambda: service.proofs_accepted == 1, what="the service saw its proof accepted")
        # the node restarts on the same port: the service notices and announces again
        port = int(harness.endpoint.rsplit(":", 1)[1])
        await listener.stop()
        restarted = PostListener(harness.node)
        restarted.port = port
        await restarted.start()
        harness.listener = restarted
        restarted.add_identity(node_id, "alice")
        await wait_until(lambda: restarted.get_identity_status(node_id)["connected"], timeout=20, what="reconnection")
        assert service.sessions == 2
        # the restarted node asks again for the same challenge: the kept proof is sent at once
        again = await asyncio.wait_for(restarted.request_proof(node_id, challenge), 20)
        assert again == post
        await wait_until(lambda: service.proofs_accepted == 2, what="the kept proof accepted")
        assert service.proofs_found == 1  # sent again, not proven again
    finally:
        stop.set()
        await asyncio.wait_for(runner, 10)
    assert not service.lock.is_held
    PostDataLock(harness.post_dir, node_id).acquire()  # released


async def test_post_service_stops_on_a_permanent_refusal(tmp_path: Path, harness: Harness) -> None:
    stranger = Signer.from_seed(b"\x33" * 32)
    init_post_data(tmp_path / "stranger", stranger.node_id, harness.node.golden_atx)
    service = PostService(
        tmp_path / "stranger", harness.endpoint, create_native_prover(threads=1), scrypt_n=SCRYPT_N, nonces=64
    )
    with pytest.raises(PostServiceRejectedError, match="is not a remote identity of this node"):
        await asyncio.wait_for(service.run(asyncio.Event()), 10)
    assert not service.lock.is_held


# -- the command line ------------------------------------------------------------------------------


def test_serve_command_refuses_bad_arguments_and_data(tmp_path: Path) -> None:
    runner = CliRunner()
    signer = Signer.from_seed(b"\x44" * 32)
    init_post_data(tmp_path / "d", signer.node_id, b"\x02" * 32)
    ok_node = "tcp://127.0.0.1:1"
    result = runner.invoke(cli, ["post", "serve", "--dir", str(tmp_path / "d"), "--node", "127.0.0.1:1"])
    assert result.exit_code == 2 and "tcp://HOST:PORT" in result.output
    result = runner.invoke(
        cli, ["post", "serve", "--dir", str(tmp_path / "d"), "--node", ok_node, "--nonces", "20", "--scrypt-n", "16"]
    )
    assert result.exit_code == 2 and "multiple of 16" in result.output
    result = runner.invoke(cli, ["post", "serve", "--dir", str(tmp_path / "d"), "--node", ok_node])
    assert result.exit_code == 2 and "does not verify with scrypt N 8192" in result.output
    result = runner.invoke(cli, ["post", "serve", "--dir", str(tmp_path), "--node", ok_node, "--scrypt-n", "16"])
    assert result.exit_code == 2 and "postdata_metadata.json" in result.output
    result = runner.invoke(
        cli, ["post", "serve", "--dir", str(tmp_path / "d"), "--node", ok_node, "--scrypt-n", "16", "--prover", "gpu9"]
    )
    assert result.exit_code == 2 and "gpu9" in result.output


async def test_post_service_waits_for_an_absent_node_and_stops_at_once(tmp_path: Path, unused_tcp_port: int) -> None:
    signer = Signer.from_seed(b"\x55" * 32)
    init_post_data(tmp_path / "d", signer.node_id, b"\x02" * 32)
    service = PostService(
        tmp_path / "d",
        f"tcp://127.0.0.1:{unused_tcp_port}",
        create_native_prover(threads=1),
        scrypt_n=SCRYPT_N,
        nonces=64,
        request_timeout_s=60.0,
    )
    stop = asyncio.Event()
    runner = asyncio.create_task(service.run(stop))
    await wait_until(lambda: service.lock.is_held, what="the service started")
    assert not runner.done() and service.sessions == 0  # no node: it keeps announcing
    stop.set()
    await asyncio.wait_for(runner, 5)  # not after the 60 s request timeout
    assert not service.lock.is_held
