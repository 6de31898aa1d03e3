"""The sync service: runs the :class:`~spacemesh_core.sync.syncer.Syncer` once per layer.

Fetched objects go to the node's processors (``node.processors``: the ATX handler registers one for
ATXs, the mesh service for ballots, blocks and malfeasance proofs); nothing is stored unvalidated.
The state (not synced / gossip sync / synced) is in the node status under ``sync`` and gates the
mesh service's participation, as in the reference. Block certificates are asked for by the
block id (the mesh service's certifier verifies and stores them).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from spacemesh_core.kernel.services import cancel_task
from spacemesh_core.sync.storage_server import get_stored_certificate
from spacemesh_core.sync.syncer import Syncer, SyncState
from spacemesh_core.sync.wire import Hint

log = logging.getLogger(__name__)


class SyncService:
    """Keeps the node in step with its peers."""

    name = "sync"

    def __init__(self, node: Any) -> None:
        self.node = node
        state = node.storage.state
        self.syncer = Syncer(
            node.fetcher,
            node.clock,
            node.processors,
            lambda hint, object_id: _has_object(state, hint, object_id),
            out_of_sync_layers=max(node.config.network.layers_per_epoch, 6),
            alone=not node.config.p2p.bootnodes,
        )
        self._task: asyncio.Task[None] | None = None

    def is_synced(self) -> bool:
        """Return whether the node is synced (gossip-synced counts: it is listening to everything)."""
        return self.syncer.state is not SyncState.NOT_SYNCED

    def get_synced_layer(self) -> int:
        """Return the last layer whose contents the syncer has fetched (-1 before any)."""
        return self.syncer.progress.layer

    async def start(self) -> None:
        """Sync once now, then at the start of every layer."""
        self.node.status_providers["sync"] = lambda: self.syncer.state.value
        self.node.sync = self
        self._task = asyncio.create_task(self._run(), name="sync")

    async def stop(self) -> None:
        """Stop syncing."""
        await cancel_task(self._task)
        self._task = None

    async def _run(self) -> None:
        layer = max(self.node.clock.get_current_layer(), 0)
        while True:
            try:
                await self.syncer.sync_once()
            except Exception:  # a failing round is retried next layer; the node keeps running
                log.exception("sync round failed")
            layer = max(layer + 1, self.node.clock.get_current_layer())
            await self.node.clock.wait_for_layer(layer)


def _has_object(state: Any, hint: Hint, object_id: bytes) -> bool:
    if hint is Hint.ATX:
        return state.get_atx(object_id) is not None
    if hint is Hint.BALLOT:
        return state.get_ballot(object_id) is not None
    if hint is Hint.BLOCK:
        return state.get_block(object_id) is not None
    if hint is Hint.MALFEASANCE:
        return bool(state.is_malicious(object_id))
    if hint is Hint.CERTIFICATE:
        return get_stored_certificate(state, object_id) is not None
    return False
