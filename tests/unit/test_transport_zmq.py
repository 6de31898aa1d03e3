"""ZeroMQ transport specifics: CurveZMQ authentication, network ids, address parsing."""

from __future__ import annotations

import asyncio

import pytest
import zmq
from zmq.utils import z85

from spacemesh_core.testing.conformance.transport import Inbox, wait_until
from spacemesh_hooks.interfaces import TransportError
from spacemesh_plugins.transport_zmq.transport import ZmqTransport, format_address, parse_address


def test_address_parsing() -> None:
    key = bytes(range(32))
    assert parse_address(format_address(key, "tcp://127.0.0.1:5")) == (key, "tcp://127.0.0.1:5")
    for bad in ("tcp://127.0.0.1:5", "abcd@tcp://x:1", f"{key.hex()}@ipc://x", f"{'zz' * 32}@tcp://h:1"):
        with pytest.raises(TransportError):
            parse_address(bad)


async def test_peer_id_is_the_curve_key_and_impostors_cannot_link() -> None:
    secret = z85.decode(zmq.curve_keypair()[1])
    node = ZmqTransport(secret_key=secret, network_id="n")
    other = ZmqTransport(network_id="n")
    await node.start()
    await other.start()
    try:
        assert z85.encode(node.peer_id) == zmq.curve_public(z85.encode(secret))
        inbox = Inbox()
        node.register_gossip("t/1", inbox)
        other.register_gossip("t/1", Inbox())
        # dial node's endpoint while claiming a different server key: the Curve handshake fails
        impostor_key = z85.decode(zmq.curve_keypair()[0])
        endpoint = node.get_address().split("@", 1)[1]
        await other.connect(format_address(impostor_key, endpoint))
        await other.publish("t/1", b"should never arrive")
        await asyncio.sleep(0.5)
        assert inbox.seen == [] and node.get_peers() == []
    finally:
        await other.stop()
        await node.stop()


async def test_peers_of_another_network_are_refused() -> None:
    mainnet = ZmqTransport(network_id="mainnet")
    devnet = ZmqTransport(network_id="devnet")
    await mainnet.start()
    await devnet.start()
    try:
        inbox = Inbox()
        mainnet.register_gossip("t/1", inbox)
        devnet.register_gossip("t/1", Inbox())
        await devnet.connect(mainnet.get_address())
        await wait_until(lambda: mainnet.router.is_banned(devnet.peer_id), what="the foreign peer banned")
        await devnet.publish("t/1", b"cross-network")
        await asyncio.sleep(0.3)
        assert inbox.seen == []
    finally:
        await devnet.stop()
        await mainnet.stop()


async def test_a_restarted_peer_on_a_new_endpoint_is_relinked() -> None:
    secret = z85.decode(zmq.curve_keypair()[1])
    hub = ZmqTransport(network_id="n", peer_exchange=False)
    first = ZmqTransport(secret_key=secret, network_id="n", peer_exchange=False)
    inbox = Inbox()
    await hub.start()
    await first.start()
    try:
        hub.register_gossip("t/1", Inbox())
        await first.connect(hub.get_address())
        await wait_until(lambda: any(p.peer_id == first.peer_id for p in hub.get_peers()), what="the link")
        old_address = first.get_address()
        await first.stop()  # a crash: the hub still holds a link to the old endpoint
        again = ZmqTransport(secret_key=secret, network_id="n", peer_exchange=False)
        again.register_gossip("t/1", inbox)
        await again.start()
        try:
            assert again.get_address() != old_address
            await again.connect(hub.get_address())
            await wait_until(
                lambda: any(p.address == again.get_address() for p in hub.get_peers()), what="the new link"
            )
            await hub.publish("t/1", b"after the restart")
            await wait_until(lambda: inbox.get_payloads() == [b"after the restart"], what="delivery")
        finally:
            await again.stop()
    finally:
        await hub.stop()
