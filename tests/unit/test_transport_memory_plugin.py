"""The memory transport built through its plugin factory honours ``[p2p] bootnodes``."""

from __future__ import annotations

from spacemesh_core.config import build_config
from spacemesh_core.kernel.plugins import load_plugin_manager
from spacemesh_plugins.transport_memory.plugin import create_memory_transport
from spacemesh_plugins.transport_memory.transport import MemoryNetwork


async def test_bootnodes_of_the_memory_network_are_dialled_at_start() -> None:
    schema = load_plugin_manager(environ={}).get_config_schema()
    network = MemoryNetwork()
    first = create_memory_transport(build_config(schema, preset="devnet", environ={}), secret_key=b"a", network=network)
    await first.start()
    flags = [f"p2p.bootnodes=tcp://127.0.0.1:1,{first.get_address()}"]
    config = build_config(schema, preset="devnet", flags=flags, environ={})
    late = create_memory_transport(config, secret_key=b"b", network=network)
    assert late.bootnodes == [first.get_address()]  # a TCP bootnode cannot be on a memory network
    await late.start()
    try:
        assert [peer.peer_id for peer in late.get_peers()] == [first.peer_id]
        assert [peer.peer_id for peer in first.get_peers()] == [late.peer_id]
    finally:
        await late.stop()
        await first.stop()
