"""The syncer: brings a node's ATXs, malfeasance proofs and layer contents in step with its peers.

States follow the reference: ``not_synced`` → ``gossip_sync`` (caught up; listening to gossip for a
while so nothing in flight is missed) → ``synced``; a node that falls more than
``out_of_sync_layers`` behind the clock goes back to ``not_synced``. Fetched objects are handed to
processors (the ATX handler, the ballot handler, ...) which validate and store them; the syncer
never stores anything itself, so nothing unvalidated can enter the state through it.

Block certificates travel with layer contents: after a layer's blocks, the syncer asks for the
certificate of each of them (``hs/1`` with hint ``CERTIFICATE`` and the block id). A layer whose
blocks end up without a stored certificate (no peer had one yet, or every one offered was rejected)
is asked again in the following rounds while it is at most ``certificate_retry_layers`` old.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Awaitable, Callable

import attrs

from spacemesh_core.clock import LayerClock
from spacemesh_core.sync.fetch import Fetcher
from spacemesh_core.sync.wire import Hint

log = logging.getLogger(__name__)

#: ``process(blob) -> None``: validate and store a fetched object; raise to reject it
Processor = Callable[[bytes], Awaitable[None]]


class SyncState(enum.Enum):
    """How far the node is from the network."""

    NOT_SYNCED = "not_synced"
    GOSSIP_SYNC = "gossip_sync"
    SYNCED = "synced"


@attrs.define
class SyncProgress:
    """What the syncer has done so far."""

    atx_epoch: int = -1
    layer: int = -1
    fetched: int = 0
    rejected: int = 0
    malicious: int = 0


class Syncer:
    """Pulls what the node lacks from its peers.

    :param fetcher: fetches from peers.
    :param clock: tells the current layer and epoch.
    :param processors: per object kind, how to validate and store a fetched blob.
    :param has_object: whether an object (kind, id) is already stored (so it is not fetched again).
    :param gossip_sync_layers: layers to stay in ``gossip_sync`` before ``synced``.
    :param out_of_sync_layers: lag beyond which the node is ``not_synced`` again.
    :param max_layers_per_round: layers one round fetches at most (the rest in later rounds).
    :param max_epochs_per_round: past epochs of ATXs one round looks at, counting back from now.
    :param certificate_retry_layers: how many layers back a missing block certificate is asked again.
    :param on_state: called with the new state whenever it changes.
    :param alone: the node is alone by configuration (no bootnodes: a one-node devnet, the first
        node of a network): without peers its view is the network's. A node that is not alone and
        has no peers has no one to catch up with and makes no progress (it is never synced then).
    """

    def __init__(
        self,
        fetcher: Fetcher,
        clock: LayerClock,
        processors: dict[Hint, Processor],
        has_object: Callable[[Hint, bytes], bool],
        *,
        gossip_sync_layers: int = 1,
        out_of_sync_layers: int = 36,
        max_layers_per_round: int = 200,
        max_epochs_per_round: int = 100,
        certificate_retry_layers: int = 10,
        on_state: Callable[[SyncState], Awaitable[None] | None] | None = None,
        alone: bool = False,
    ) -> None:
        self.alone = alone
        self.fetcher = fetcher
        self.clock = clock
        self.processors = processors
        self.has_object = has_object
        self.gossip_sync_layers = gossip_sync_layers
        self.out_of_sync_layers = out_of_sync_layers
        self.on_state = on_state
        #: bounds on one round's work, so a far-behind node makes progress round by round
        self.max_layers_per_round = max_layers_per_round
        self.max_epochs_per_round = max_epochs_per_round
        self.certificate_retry_layers = certificate_retry_layers
        #: layer -> its block ids, for layers whose blocks have no stored certificate yet
        self.uncertified: dict[int, tuple[bytes, ...]] = {}
        self.state = SyncState.NOT_SYNCED
        self.progress = SyncProgress()
        self._caught_up_at: int | None = None

    async def _set_state(self, state: SyncState) -> None:
        if state is self.state:
            return
        log.info("sync state %s -> %s", self.state.value, state.value)
        self.state = state
        if self.on_state is not None:
            result = self.on_state(state)
            if result is not None:
                await result

    async def _process(self, hint: Hint, ids: list[bytes]) -> None:
        missing = [i for i in ids if not self.has_object(hint, i)]
        if not missing:
            return
        processor = self.processors.get(hint)
        if processor is None:
            return
        found = await self.fetcher.fetch_blobs(hint, missing)
        for object_id in missing:  # deterministic order
            blob = found.get(object_id)
            if blob is None:
                continue
            try:
                await processor(blob)
                self.progress.fetched += 1
            except Exception as exc:  # an invalid object from a peer: rejected, sync goes on
                self.progress.rejected += 1
                log.info("fetched %s %s rejected: %s", hint.name.lower(), object_id.hex()[:12], exc)

    async def sync_atxs(self) -> None:
        """Fetch the ATXs of every epoch up to the current one."""
        current_epoch = self.clock.get_current_epoch()
        first = max(self.progress.atx_epoch, 0, current_epoch - self.max_epochs_per_round)
        for epoch in range(first, current_epoch + 1):
            await self._process(Hint.ATX, await self.fetcher.get_epoch_atx_ids(epoch))
            # the current epoch keeps growing: only past epochs count as done
            if epoch < current_epoch:
                self.progress.atx_epoch = epoch + 1

    async def sync_malfeasance(self) -> None:
        """Fetch proofs against identities we do not yet know to be malicious."""
        ids = await self.fetcher.get_malicious_ids()
        before = self.progress.fetched
        await self._process(Hint.MALFEASANCE, ids)
        self.progress.malicious += self.progress.fetched - before

    async def sync_layers(self) -> None:
        """Fetch ballots and blocks of every layer before the current one."""
        last_complete = min(self.clock.get_current_layer() - 1, self.progress.layer + self.max_layers_per_round)
        for layer in range(self.progress.layer + 1, last_complete + 1):
            data = await self.fetcher.get_layer_data(layer)
            await self._process(Hint.BALLOT, list(data.ballots))
            await self._process(Hint.BLOCK, list(data.blocks))
            if data.blocks:
                self.uncertified[layer] = tuple(data.blocks)
            self.progress.layer = layer
        await self.sync_certificates()

    async def sync_certificates(self) -> None:
        """Fetch the certificates of synced layers' blocks that have none stored yet.

        Layers older than ``certificate_retry_layers`` before the current one are given up (their
        blocks' validity is the tortoise's business by then).
        """
        if Hint.CERTIFICATE not in self.processors:
            self.uncertified.clear()
            return
        oldest = self.clock.get_current_layer() - self.certificate_retry_layers
        for layer in sorted(self.uncertified):
            blocks = self.uncertified.pop(layer)
            if layer < oldest or any(self.has_object(Hint.CERTIFICATE, b) for b in blocks):
                continue
            await self._process(Hint.CERTIFICATE, list(blocks))
            if not any(self.has_object(Hint.CERTIFICATE, b) for b in blocks):
                self.uncertified[layer] = blocks

    async def sync_once(self) -> SyncState:
        """Run one round (ATXs, malfeasance, layers) and update the state.

        A node without peers that is alone by configuration (``alone``: a lone devnet node, the
        first node of a network) counts as caught up: its view is the network's. One that expects
        peers (it has bootnodes) but reaches none learns nothing, so it does not progress.
        """
        if self.clock.get_current_layer() - self.progress.layer > self.out_of_sync_layers:
            await self._set_state(SyncState.NOT_SYNCED)
            self._caught_up_at = None
        if not self.fetcher.transport.get_peers():
            if not self.alone:
                return self.state
            self.progress.layer = max(self.progress.layer, self.clock.get_current_layer() - 1)
            self.progress.atx_epoch = max(self.progress.atx_epoch, self.clock.get_current_epoch())
        else:
            await self.sync_atxs()
            await self.sync_malfeasance()
            await self.sync_layers()
        current = self.clock.get_current_layer()
        if self.progress.layer >= current - 1:
            if self._caught_up_at is None:
                self._caught_up_at = current
            if current - self._caught_up_at >= self.gossip_sync_layers:
                await self._set_state(SyncState.SYNCED)
            elif self.state is SyncState.NOT_SYNCED:
                await self._set_state(SyncState.GOSSIP_SYNC)
        return self.state
