"""Fetch protocols over the memory transport: blobs checked against their ids, lists, opinions."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from spacemesh_core.crypto.hashes import compute_blake3
from spacemesh_core.sync.fetch import Fetcher, FetchError, FetchServer
from spacemesh_core.sync.wire import Hint, LayerData, LayerOpinion
from spacemesh_plugins.transport_memory.transport import MemoryNetwork, MemoryTransport


def compute_id(hint: Hint, blob: bytes) -> bytes:
    digest = compute_blake3(blob)
    return digest[:20] if hint in (Hint.BALLOT, Hint.BLOCK, Hint.PROPOSAL) else digest


class Peer:
    def __init__(self, network: MemoryNetwork, lying: bool = False) -> None:
        self.transport = MemoryTransport(network=network, peer_exchange=False)
        self.blobs: dict[tuple[Hint, bytes], bytes] = {}
        self.lying = lying
        self.server = FetchServer(
            self.get_blob,
            get_epoch_atx_ids=lambda epoch: [bytes([epoch]) * 32],
            get_layer_data=lambda layer: LayerData((bytes([layer]) * 20,), ()),
            get_layer_opinion=lambda layer: LayerOpinion(None, bytes([layer]) * 32),
            get_malicious_ids=lambda: [b"\x09" * 32] if lying else [],
        )

    def add(self, hint: Hint, blob: bytes) -> bytes:
        object_id = compute_id(hint, blob)
        self.blobs[(hint, object_id)] = blob
        return object_id

    def get_blob(self, hint: Hint, object_id: bytes) -> bytes | None:
        blob = self.blobs.get((hint, object_id))
        if blob is not None and self.lying:
            return blob + b"tampered"
        return blob


@pytest.fixture
async def trio() -> AsyncIterator[tuple[Peer, Peer, Peer]]:
    network = MemoryNetwork()
    me, honest, liar = Peer(network), Peer(network), Peer(network, lying=True)
    for peer in (me, honest, liar):
        peer.server.register(peer.transport)
        await peer.transport.start()
    await me.transport.connect(liar.transport.get_address())
    await me.transport.connect(honest.transport.get_address())
    yield me, honest, liar
    for peer in (me, honest, liar):
        await peer.transport.stop()


async def test_blobs_are_checked_against_their_ids(trio: tuple[Peer, Peer, Peer]) -> None:
    me, honest, liar = trio
    atx_ids = [honest.add(Hint.ATX, b"atx %d" % i) for i in range(150)]  # more than one batch
    ballot_id = honest.add(Hint.BALLOT, b"a ballot")
    for i in range(150):
        liar.add(Hint.ATX, b"atx %d" % i)
    fetcher = Fetcher(me.transport, compute_id)
    for _ in range(2):  # whichever peer is asked first, only honest bytes are accepted
        found = await fetcher.fetch_blobs(Hint.ATX, atx_ids)
        assert found == {i: b"atx %d" % n for n, i in enumerate(atx_ids)}
    assert await fetcher.fetch_blob(Hint.BALLOT, ballot_id) == b"a ballot"
    with pytest.raises(FetchError, match="no peer provided atx"):
        await fetcher.fetch_blob(Hint.ATX, b"\x07" * 32)


async def test_lists_and_opinions_are_merged(trio: tuple[Peer, Peer, Peer]) -> None:
    me, honest, liar = trio
    fetcher = Fetcher(me.transport, compute_id)
    assert await fetcher.get_epoch_atx_ids(3) == [b"\x03" * 32]
    assert (await fetcher.get_layer_data(5)).ballots == (b"\x05" * 20,)
    opinions = await fetcher.get_layer_opinions(6)
    assert set(opinions) == {honest.transport.peer_id, liar.transport.peer_id}
    assert all(o.state_hash == b"\x06" * 32 for o in opinions.values())
    assert await fetcher.get_malicious_ids() == [b"\x09" * 32]


async def test_malformed_requests_get_an_error_reply(trio: tuple[Peer, Peer, Peer]) -> None:
    from spacemesh_hooks.interfaces import TransportError

    me, honest, _ = trio
    with pytest.raises(TransportError):
        await me.transport.request(honest.transport.peer_id, "hs/1", b"\xff\xff\xff")
