"""The syncer: a late node catches up through fetch, rejects invalid objects, and moves through states."""

from __future__ import annotations

from spacemesh_core.clock import LayerClock, VirtualTime
from spacemesh_core.crypto.hashes import compute_blake3
from spacemesh_core.sync.fetch import Fetcher, FetchServer
from spacemesh_core.sync.syncer import Syncer, SyncState
from spacemesh_core.sync.wire import Hint, LayerData, LayerOpinion
from spacemesh_plugins.transport_memory.transport import MemoryNetwork, MemoryTransport


def object_id(hint: Hint, blob: bytes) -> bytes:
    digest = compute_blake3(blob)
    return digest[:20] if hint in (Hint.BALLOT, Hint.BLOCK) else digest


async def test_a_late_node_catches_up_and_becomes_synced() -> None:
    network = MemoryNetwork()
    time_source = VirtualTime(0.0)
    clock = LayerClock(0.0, 10.0, 4, time_source)

    # the up-to-date peer: ATXs in epochs 0-2, two ballots per layer, one of them invalid
    atxs = {e: [b"atx %d/%d" % (e, i) for i in range(3)] for e in range(3)}
    ballots = {layer: [b"ballot %d" % layer, b"INVALID ballot %d" % layer] for layer in range(12)}
    blobs = {(Hint.ATX, object_id(Hint.ATX, b)): b for v in atxs.values() for b in v}
    blobs |= {(Hint.BALLOT, object_id(Hint.BALLOT, b)): b for v in ballots.values() for b in v}
    server = FetchServer(
        lambda hint, oid: blobs.get((hint, oid)),
        lambda epoch: [object_id(Hint.ATX, b) for b in atxs.get(epoch, [])],
        lambda layer: LayerData(tuple(object_id(Hint.BALLOT, b) for b in ballots.get(layer, [])), ()),
        lambda layer: LayerOpinion(None, None),
        lambda: [],
    )
    peer = MemoryTransport(network=network, peer_exchange=False)
    server.register(peer)
    late = MemoryTransport(network=network, peer_exchange=False)
    await peer.start()
    await late.start()
    await late.connect(peer.get_address())

    stored: dict[tuple[Hint, bytes], bytes] = {}

    def make_processor(hint: Hint):  # type: ignore[no-untyped-def]
        async def process(blob: bytes) -> None:
            if blob.startswith(b"INVALID"):
                raise ValueError("bad signature")
            stored[(hint, object_id(hint, blob))] = blob

        return process

    states: list[SyncState] = []
    syncer = Syncer(
        Fetcher(late, object_id),
        clock,
        {Hint.ATX: make_processor(Hint.ATX), Hint.BALLOT: make_processor(Hint.BALLOT)},
        lambda hint, oid: (hint, oid) in stored,
        gossip_sync_layers=1,
        on_state=states.append,
    )
    await time_source.advance_to(10.0 * 11 + 1)  # layer 11, epoch 2
    assert await syncer.sync_once() is SyncState.GOSSIP_SYNC
    assert len([k for k in stored if k[0] is Hint.ATX]) == 9
    assert {stored[k] for k in stored if k[0] is Hint.BALLOT} == {b"ballot %d" % n for n in range(11)}
    assert syncer.progress.rejected == 11 and syncer.progress.layer == 10
    fetched = syncer.progress.fetched
    assert await syncer.sync_once() is SyncState.GOSSIP_SYNC  # same layer: keep listening
    assert syncer.progress.fetched == fetched  # nothing is fetched twice
    await time_source.advance(10.0)
    assert await syncer.sync_once() is SyncState.SYNCED
    assert states == [SyncState.GOSSIP_SYNC, SyncState.SYNCED]
    await late.stop()
    await peer.stop()


def make_empty_server() -> FetchServer:
    return FetchServer(lambda hint, oid: None, lambda epoch: [], lambda layer: LayerData((), ()),
                       lambda layer: LayerOpinion(None, None), lambda: [])


async def test_falling_behind_makes_the_node_not_synced() -> None:
    network = MemoryNetwork()
    time_source = VirtualTime(0.0)
    clock = LayerClock(0.0, 1.0, 10, time_source)
    node = MemoryTransport(network=network, peer_exchange=False)
    peer = MemoryTransport(network=network, peer_exchange=False)
    make_empty_server().register(peer)
    await node.start()
    await peer.start()
    await node.connect(peer.get_address())
    syncer = Syncer(Fetcher(node, object_id), clock, {}, lambda hint, oid: False, out_of_sync_layers=5,
                    max_layers_per_round=3)
    await time_source.advance_to(2.5)
    assert await syncer.sync_once() is SyncState.GOSSIP_SYNC
    await time_source.advance_to(20.5)
    # 18 layers behind with at most 3 layers a round: not synced until the rounds catch up
    assert await syncer.sync_once() is SyncState.NOT_SYNCED
    rounds = 1
    while await syncer.sync_once() is SyncState.NOT_SYNCED:
        rounds += 1
    assert rounds == 5 and syncer.progress.layer == 19  # layers 2..19, three a round
    await node.stop()
    await peer.stop()


async def test_a_node_alone_by_configuration_is_caught_up_without_peers() -> None:
    time_source = VirtualTime(0.0)
    clock = LayerClock(0.0, 1.0, 10, time_source)
    alone = MemoryTransport(network=MemoryNetwork())
    await alone.start()
    syncer = Syncer(Fetcher(alone, object_id), clock, {}, lambda hint, oid: False, alone=True)
    await time_source.advance_to(10_000.5)
    assert await syncer.sync_once() is SyncState.GOSSIP_SYNC
    assert syncer.progress.layer == 9_999
    await time_source.advance_to(10_001.5)
    assert await syncer.sync_once() is SyncState.SYNCED
    await alone.stop()


async def test_a_node_that_expects_peers_and_has_none_is_not_synced() -> None:
    time_source = VirtualTime(0.0)
    clock = LayerClock(0.0, 1.0, 10, time_source)
    lost = MemoryTransport(network=MemoryNetwork())
    await lost.start()
    syncer = Syncer(Fetcher(lost, object_id), clock, {}, lambda hint, oid: False)
    for now in (0.5, 1.5, 2.5, 10_000.5, 10_001.5):  # at genesis, just after, and far after
        await time_source.advance_to(now)
        assert await syncer.sync_once() is SyncState.NOT_SYNCED
    assert syncer.progress.layer == -1  # nothing was learned, so nothing counts as caught up
    await lost.stop()


async def test_a_synced_node_that_loses_its_peers_falls_out_of_sync() -> None:
    network = MemoryNetwork()
    time_source = VirtualTime(0.0)
    clock = LayerClock(0.0, 1.0, 10, time_source)
    node = MemoryTransport(network=network, peer_exchange=False)
    peer = MemoryTransport(network=network, peer_exchange=False)
    make_empty_server().register(peer)
    await node.start()
    await peer.start()
    await node.connect(peer.get_address())
    syncer = Syncer(Fetcher(node, object_id), clock, {}, lambda hint, oid: False, out_of_sync_layers=5)
    await time_source.advance_to(2.5)
    await syncer.sync_once()
    await time_source.advance_to(3.5)
    assert await syncer.sync_once() is SyncState.SYNCED
    await peer.stop()
    assert not node.get_peers()
    await time_source.advance_to(20.5)
    assert await syncer.sync_once() is SyncState.NOT_SYNCED
    await node.stop()
