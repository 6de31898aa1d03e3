"""Remote proving over CurveZMQ: the Curve key helpers, a Curve post listener (any address), the node
key a post service must know, the node's allow-list of service keys, and the ``post serve`` key options.

A post service with the wrong node key, or none, or a key the node does not allow, fails with a clear
error; one with the right keys connects, proves and has its key shown in the status.
"""

from __future__ import annotations

import asyncio
import os
import stat
import time
from pathlib import Path

import pytest
import zmq
from click.testing import CliRunner
from zmq.utils import z85

from spacemesh_core.cli import cli
from spacemesh_core.config.schema import ConfigError
from spacemesh_core.crypto.signing import Signer
from spacemesh_core.identity import load_or_create_identity
from spacemesh_core.post.prover import create_native_prover
from spacemesh_core.testing.waiting import wait_until
from spacemesh_plugins.smeshing.plugin import get_service_specs
from spacemesh_plugins.smeshing.post_service import (
    NodeHandshakeError,
    NodeKeyRefusedError,
    PostService,
)
from spacemesh_plugins.smeshing.remote import (
    PostListener,
    PostListenerError,
    get_post_listener_key_path,
    load_or_create_post_listener_key,
    parse_post_listen,
    parse_post_service_keys,
)
from spacemesh_plugins.transport_zmq.curve import (
    CurveKeyError,
    format_curve_key,
    get_curve_public_key,
    load_or_create_curve_key,
    parse_curve_key,
    read_curve_key,
)
from tests.support.remote_post import SCRYPT_N, close_node, init_post_data, make_node

SERVICE_SECRET = z85.decode(zmq.curve_keypair()[1])
SERVICE_PUBLIC = get_curve_public_key(SERVICE_SECRET)


# -- keys and configuration ------------------------------------------------------------------------


def test_curve_keys_parse_in_z85_and_hex_and_from_files(tmp_path: Path) -> None:
    text = format_curve_key(SERVICE_PUBLIC)
    assert len(text) == 40 and parse_curve_key(text) == SERVICE_PUBLIC
    assert parse_curve_key(f"  {SERVICE_PUBLIC.hex()}\n") == SERVICE_PUBLIC
    for bad in ("", "abc", "zz" * 32, text[:-1], text + "0", "é" * 40):
        with pytest.raises(CurveKeyError):
            parse_curve_key(bad)
    (tmp_path / "node.pub").write_text(text + "\n")
    assert read_curve_key(str(tmp_path / "node.pub")) == SERVICE_PUBLIC
    assert read_curve_key(text) == SERVICE_PUBLIC
    (tmp_path / "junk").write_text("not a key")
    with pytest.raises(CurveKeyError, match="does not hold a Curve key"):
        read_curve_key(str(tmp_path / "junk"))
    with pytest.raises(CurveKeyError, match="neither a Curve key"):
        read_curve_key(str(tmp_path / "absent"))


def test_curve_secret_key_files_are_created_once_private_and_checked(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "svc.key"
    key = load_or_create_curve_key(path)
    assert len(key) == 32 and load_or_create_curve_key(path) == key
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert z85.encode(get_curve_public_key(key)) == zmq.curve_public(z85.encode(key))
    path.write_text("00" * 31)
    with pytest.raises(CurveKeyError, match="32-byte hex Curve secret key"):
        load_or_create_curve_key(path)
    with pytest.raises(CurveKeyError):
        get_curve_public_key(b"\x01" * 31)
    # the node's post listener key pair: the secret key plus listener.pub with the public key
    secret = load_or_create_post_listener_key(tmp_path / "node")
    public_file = get_post_listener_key_path(tmp_path / "node").with_name("listener.pub")
    assert public_file.read_text().strip() == format_curve_key(get_curve_public_key(secret))
    public_file.write_text("stale")
    assert load_or_create_post_listener_key(tmp_path / "node") == secret
    assert read_curve_key(str(public_file)) == get_curve_public_key(secret)  # rewritten


@pytest.mark.parametrize(
    ("endpoint", "expected"),
    [
        ("tcp://0.0.0.0:9000", ("0.0.0.0", 9000)),
        ("tcp://192.168.1.5:9000", ("192.168.1.5", 9000)),
        ("tcp://localhost:0", ("127.0.0.1", 0)),
    ],
)
def test_a_curve_listener_may_bind_any_ipv4_address(endpoint: str, expected: tuple[str, int]) -> None:
    assert parse_post_listen(endpoint, curve=True) == expected
    if expected[0] != "127.0.0.1":
        with pytest.raises(PostListenerError, match="set \\[smeshing\\] post_listen_curve = true"):
            parse_post_listen(endpoint)


@pytest.mark.parametrize("endpoint", ["tcp://example.org:9000", "tcp://*:9000", "tcp://[::1]:9000"])
def test_a_curve_listener_needs_an_ipv4_address(endpoint: str) -> None:
    with pytest.raises(PostListenerError):
        parse_post_listen(endpoint, curve=True)


def test_post_service_keys_config_is_checked(tmp_path: Path) -> None:
    text = format_curve_key(SERVICE_PUBLIC)
    assert parse_post_service_keys([text, SERVICE_PUBLIC.hex()]) == frozenset({SERVICE_PUBLIC})
    with pytest.raises(PostListenerError, match="post_service_keys"):
        parse_post_service_keys(["nope"])
    base = [
        "poet.servers=http://127.0.0.1:1",
        "smeshing.identities=",
        "smeshing.remote_identities=alice",
        "smeshing.post_listen=tcp://0.0.0.0:0",
    ]
    cases = [
        ([], "not a loopback address"),
        (["smeshing.post_listen_curve=true", "smeshing.post_service_keys=bad"], "post_service_keys"),
        ([f"smeshing.post_service_keys={text}"], "needs smeshing.post_listen_curve"),
    ]
    for index, (flags, message) in enumerate(cases):
        node = make_node(tmp_path / str(index), time.time(), [*base, *flags])
        try:
            with pytest.raises(ConfigError, match=message):
                get_service_specs(node)
        finally:
            close_node(node)
    node = make_node(
        tmp_path / "ok", time.time(), [*base, "smeshing.post_listen_curve=true", f"smeshing.post_service_keys={text}"]
    )
    try:
        assert [spec.name for spec in get_service_specs(node)] == ["atx-handler", "post-listener", "smeshing-alice"]
    finally:
        close_node(node)
    node = make_node(tmp_path / "direct", time.time(), [*base, f"smeshing.post_service_keys={text}"])
    try:
        with pytest.raises(PostListenerError, match="needs post_listen_curve"):
            PostListener(node)
    finally:
        close_node(node)


# -- a Curve listener and real post services ------------------------------------------------------------


async def start_curve_listener(tmp_path: Path, *flags: str) -> tuple[PostListener, bytes, Path]:
    """Return a started Curve listener on every interface with remote identity alice, her node id and data."""
    node = make_node(
        tmp_path / "node",
        time.time(),
        [
            "smeshing.post_listen=tcp://0.0.0.0:0",
            "smeshing.post_listen_curve=true",
            "smeshing.remote_identities=alice",
            *flags,
        ],
    )
    signer = load_or_create_identity(node.data_dir, "alice")
    init_post_data(tmp_path / "alice", signer.node_id, node.golden_atx)
    listener = PostListener(node)
    await listener.start()
    listener.add_identity(signer.node_id, "alice")
    return listener, signer.node_id, tmp_path / "alice"


async def stop_listener(listener: PostListener) -> None:
    await listener.stop()
    close_node(listener.node)


def make_service(listener: PostListener, post_dir: Path, **options: object) -> PostService:
    assert listener.endpoint is not None
    port = listener.endpoint.rsplit(":", 1)[1]
    return PostService(
        post_dir,
        f"tcp://127.0.0.1:{port}",
        create_native_prover(threads=1),
        scrypt_n=SCRYPT_N,
        nonces=64,
        name="svc",
        request_timeout_s=1.0,
        retry_interval_s=0.05,
        **options,
    )


async def test_a_service_with_the_node_key_proves_over_curve(tmp_path: Path) -> None:
    listener, node_id, post_dir = await start_curve_listener(tmp_path)
    try:
        assert listener.endpoint is not None and listener.endpoint.startswith("tcp://0.0.0.0:")
        status = listener.get_status()
        assert status["curve"] is True and listener.public_key is not None
        assert status["public_key"] == format_curve_key(listener.public_key)
        public_file = get_post_listener_key_path(listener.node.data_dir).with_name("listener.pub")
        assert read_curve_key(str(public_file)) == listener.public_key
        service = make_service(listener, post_dir, node_key=listener.public_key, secret_key=SERVICE_SECRET)
        stop = asyncio.Event()
        runner = asyncio.create_task(service.run(stop))
        try:
            await wait_until(lambda: listener.get_identity_status(node_id)["connected"], what="connected over Curve")
            assert listener.get_identity_status(node_id)["service_key"] == format_curve_key(SERVICE_PUBLIC)
            post = await asyncio.wait_for(listener.request_proof(node_id, b"\x11" * 32), 20)
            assert post.indices
            await wait_until(lambda: service.proofs_accepted == 1, what="the proof accepted")
            assert service.link.handshakes >= 1 and service.link.handshake_failure is None
        finally:
            stop.set()
            await asyncio.wait_for(runner, 10)
    finally:
        await stop_listener(listener)


async def test_a_wrong_node_key_or_none_fails_with_a_clear_error(tmp_path: Path) -> None:
    listener, node_id, post_dir = await start_curve_listener(tmp_path)
    try:
        wrong = z85.decode(zmq.curve_keypair()[0])
        service = make_service(listener, post_dir, node_key=wrong)
        with pytest.raises(NodeHandshakeError, match="wrong --node-key"):
            await asyncio.wait_for(service.run(asyncio.Event()), 20)
        assert not service.lock.is_held and service.sessions == 0
        plain = make_service(listener, post_dir)
        with pytest.raises(NodeHandshakeError, match="pass its public key with --node-key"):
            await asyncio.wait_for(plain.run(asyncio.Event()), 20)
        assert not listener.get_identity_status(node_id)["connected"]
    finally:
        await stop_listener(listener)


async def test_the_allow_list_refuses_other_service_keys(tmp_path: Path) -> None:
    allowed = format_curve_key(SERVICE_PUBLIC)
    listener, node_id, post_dir = await start_curve_listener(tmp_path, f"smeshing.post_service_keys={allowed}")
    try:
        assert listener.get_status()["allowed_keys"] == [allowed]
        stranger_secret = z85.decode(zmq.curve_keypair()[1])
        stranger = make_service(listener, post_dir, node_key=listener.public_key, secret_key=stranger_secret)
        with pytest.raises(NodeKeyRefusedError, match="add it to the node's \\[smeshing\\] post_service_keys"):
            await asyncio.wait_for(stranger.run(asyncio.Event()), 20)
        stranger_text = format_curve_key(get_curve_public_key(stranger_secret))
        assert any(stranger_text in r for r in listener.get_status()["rejections"])
        assert not listener.get_identity_status(node_id)["connected"]
        # the listed key gets in
        service = make_service(listener, post_dir, node_key=listener.public_key, secret_key=SERVICE_SECRET)
        stop = asyncio.Event()
        runner = asyncio.create_task(service.run(stop))
        try:
            await wait_until(lambda: listener.get_identity_status(node_id)["connected"], what="allowed service")
        finally:
            stop.set()
            await asyncio.wait_for(runner, 10)
    finally:
        await stop_listener(listener)


# -- the command line ------------------------------------------------------------------------------


def test_serve_key_options(tmp_path: Path) -> None:
    runner = CliRunner()
    signer = Signer.from_seed(b"\x66" * 32)
    init_post_data(tmp_path / "d", signer.node_id, b"\x02" * 32)
    result = runner.invoke(cli, ["post", "serve", "--dir", str(tmp_path / "d"), "--node", "tcp://h:1", "--show-key"])
    assert result.exit_code == 0, result.output
    secret = load_or_create_curve_key(tmp_path / "d" / "post_service.key")
    assert parse_curve_key(result.output) == get_curve_public_key(secret)
    key_file = tmp_path / "elsewhere.key"
    serve = ["post", "serve", "--dir", str(tmp_path / "d"), "--node", "tcp://h:1"]
    result = runner.invoke(cli, [*serve, "--key", str(key_file), "--show-key"])
    assert result.exit_code == 0
    assert parse_curve_key(result.output) == get_curve_public_key(load_or_create_curve_key(key_file))
    result = runner.invoke(cli, [*serve, "--node-key", "x"])
    assert result.exit_code == 2 and "neither a Curve key" in result.output
    key_file.write_text("garbage")
    result = runner.invoke(
        cli,
        [
            "post", "serve", "--dir", str(tmp_path / "d"), "--node", "tcp://h:1", "--scrypt-n", "16",
            "--node-key", SERVICE_PUBLIC.hex(), "--key", str(key_file),
        ],
    )  # fmt: skip
    assert result.exit_code == 2 and "does not hold a 32-byte hex Curve secret key" in result.output
