"""Fetching hash-addressed objects from peers, and serving ours.

:class:`Fetcher` asks peers in turn (a peer that fails or lacks the object is skipped) and checks
that every returned blob hashes to what was asked before handing it on: a peer cannot make us
accept an object under a wrong id. :class:`FetchServer` answers from local storage.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

from spacemesh_core.codec.scale import ScaleError, decode, encode
from spacemesh_core.sync.wire import (
    MAX_HASHES_PER_REQUEST,
    PROTOCOL_EPOCH_ATXS,
    PROTOCOL_HASHES,
    PROTOCOL_LAYER_DATA,
    PROTOCOL_LAYER_OPINION,
    PROTOCOL_MALICIOUS,
    BlobItem,
    EpochRequest,
    HashItem,
    HashRequest,
    HashResponse,
    Hint,
    IdList,
    LayerData,
    LayerOpinion,
    LayerRequest,
    pad_id,
)
from spacemesh_hooks.interfaces import Transport, TransportError

log = logging.getLogger(__name__)

#: ``compute_id(hint, blob) -> id`` (20 or 32 bytes): how to check a blob is what was asked
IdFunction = Callable[[Hint, bytes], bytes]
#: ``get_blob(hint, id) -> bytes | None`` for the server side
BlobGetter = Callable[[Hint, bytes], bytes | None]


class FetchError(RuntimeError):
    """No peer could provide what was asked."""


class Fetcher:
    """Fetches objects from the transport's peers.

    :param compute_id: recomputes an object's id from its bytes for each hint.
    """

    def __init__(self, transport: Transport, compute_id: IdFunction, timeout: float = 10.0) -> None:
        self.transport = transport
        self.compute_id = compute_id
        self.timeout = timeout
        self._next_peer = 0

    def _get_peer_order(self, peers: Sequence[bytes] | None) -> list[bytes]:
        candidates = list(peers) if peers is not None else [p.peer_id for p in self.transport.get_peers()]
        if not candidates:
            return []
        start = self._next_peer % len(candidates)
        self._next_peer += 1
        return candidates[start:] + candidates[:start]  # spread load across peers

    async def fetch_blobs(
        self, hint: Hint, ids: Sequence[bytes], peers: Sequence[bytes] | None = None
    ) -> dict[bytes, bytes]:
        """Return ``{id: blob}`` for every id some peer could provide, each blob checked against its id."""
        wanted = {pad_id(i): i for i in ids}
        found: dict[bytes, bytes] = {}
        for peer in self._get_peer_order(peers):
            missing = [h for h, i in wanted.items() if i not in found]
            if not missing:
                break
            for start in range(0, len(missing), MAX_HASHES_PER_REQUEST):
                chunk = missing[start : start + MAX_HASHES_PER_REQUEST]
                request = HashRequest(tuple(HashItem(hint, h) for h in chunk))
                try:
                    raw = await self.transport.request(peer, PROTOCOL_HASHES, encode(request), self.timeout)
                    response = decode(HashResponse, raw)
                except (TransportError, ScaleError) as exc:
                    log.debug("peer %s failed %s: %s", peer.hex()[:12], PROTOCOL_HASHES, exc)
                    break
                for blob in response.blobs:
                    object_id = wanted.get(blob.hash)
                    if object_id is None:
                        continue  # not asked for
                    try:
                        actual = self.compute_id(hint, blob.data)
                    except (ScaleError, ValueError):
                        continue
                    if actual == object_id:
                        found[object_id] = blob.data
        return found

    async def fetch_blob(self, hint: Hint, object_id: bytes, peers: Sequence[bytes] | None = None) -> bytes:
        """Return one object.

        :raises FetchError: when no peer provided a blob matching ``object_id``.
        """
        found = await self.fetch_blobs(hint, [object_id], peers)
        if object_id not in found:
            raise FetchError(f"no peer provided {hint.name.lower()} {object_id.hex()[:16]}")
        return found[object_id]

    async def _ask(self, protocol: str, payload: bytes, peers: Sequence[bytes] | None) -> list[tuple[bytes, bytes]]:
        answers = []
        for peer in self._get_peer_order(peers):
            try:
                answers.append((peer, await self.transport.request(peer, protocol, payload, self.timeout)))
            except TransportError as exc:
                log.debug("peer %s failed %s: %s", peer.hex()[:12], protocol, exc)
        return answers

    async def get_epoch_atx_ids(self, epoch: int, peers: Sequence[bytes] | None = None) -> list[bytes]:
        """Return the union of the ATX ids peers report for ``epoch``."""
        ids: set[bytes] = set()
        for _, raw in await self._ask(PROTOCOL_EPOCH_ATXS, encode(EpochRequest(epoch)), peers):
            try:
                ids.update(decode(IdList, raw).ids)
            except ScaleError:
                continue
        return sorted(ids)

    async def get_layer_data(self, layer: int, peers: Sequence[bytes] | None = None) -> LayerData:
        """Return the union of the ballot and block ids peers report for ``layer``."""
        ballots: set[bytes] = set()
        blocks: set[bytes] = set()
        for _, raw in await self._ask(PROTOCOL_LAYER_DATA, encode(LayerRequest(layer)), peers):
            try:
                data = decode(LayerData, raw)
            except ScaleError:
                continue
            ballots.update(data.ballots)
            blocks.update(data.blocks)
        return LayerData(tuple(sorted(ballots)), tuple(sorted(blocks)))

    async def get_layer_opinions(self, layer: int, peers: Sequence[bytes] | None = None) -> dict[bytes, LayerOpinion]:
        """Return each answering peer's opinion of ``layer``."""
        opinions = {}
        for peer, raw in await self._ask(PROTOCOL_LAYER_OPINION, encode(LayerRequest(layer)), peers):
            try:
                opinions[peer] = decode(LayerOpinion, raw)
            except ScaleError:
                continue
        return opinions

    async def get_malicious_ids(self, peers: Sequence[bytes] | None = None) -> list[bytes]:
        """Return the union of the malicious identities peers report."""
        ids: set[bytes] = set()
        for _, raw in await self._ask(PROTOCOL_MALICIOUS, b"", peers):
            try:
                ids.update(decode(IdList, raw).ids)
            except ScaleError:
                continue
        return sorted(ids)


class FetchServer:
    """Answers the fetch protocols from local data.

    :param get_blob: returns the stored bytes of an object, or None.
    :param get_epoch_atx_ids: ATX ids published in an epoch.
    :param get_layer_data: ballot and block ids of a layer.
    :param get_layer_opinion: the applied block and state hash of a layer.
    :param get_malicious_ids: identities with malfeasance proofs.
    """

    def __init__(
        self,
        get_blob: BlobGetter,
        get_epoch_atx_ids: Callable[[int], list[bytes]],
        get_layer_data: Callable[[int], LayerData],
        get_layer_opinion: Callable[[int], LayerOpinion],
        get_malicious_ids: Callable[[], list[bytes]],
    ) -> None:
        self.get_blob = get_blob
        self.get_epoch_atx_ids = get_epoch_atx_ids
        self.get_layer_data = get_layer_data
        self.get_layer_opinion = get_layer_opinion
        self.get_malicious_ids = get_malicious_ids

    def register(self, transport: Transport) -> None:
        """Register every protocol handler on ``transport``."""
        handlers: dict[str, Callable[[bytes, bytes], Awaitable[bytes]]] = {
            PROTOCOL_HASHES: self.handle_hashes,
            PROTOCOL_EPOCH_ATXS: self.handle_epoch_atxs,
            PROTOCOL_LAYER_DATA: self.handle_layer_data,
            PROTOCOL_LAYER_OPINION: self.handle_layer_opinion,
            PROTOCOL_MALICIOUS: self.handle_malicious,
        }
        for protocol, handler in handlers.items():
            transport.register_handler(protocol, handler)

    async def handle_hashes(self, peer: bytes, data: bytes) -> bytes:
        """Answer ``hs/1``: the requested blobs we have (a malformed request raises: an error reply)."""
        request = decode(HashRequest, data)
        blobs = []
        for item in request.items:
            object_id = item.hash[:20] if item.hint in _ID20_HINTS else item.hash
            blob = self.get_blob(item.hint, object_id)
            if blob is not None:
                blobs.append(BlobItem(item.hash, blob))
        return encode(HashResponse(tuple(blobs)))

    async def handle_epoch_atxs(self, peer: bytes, data: bytes) -> bytes:
        """Answer ``ax/1``."""
        return encode(IdList(tuple(self.get_epoch_atx_ids(decode(EpochRequest, data).epoch))))

    async def handle_layer_data(self, peer: bytes, data: bytes) -> bytes:
        """Answer ``ld/1``."""
        return encode(self.get_layer_data(decode(LayerRequest, data).layer))

    async def handle_layer_opinion(self, peer: bytes, data: bytes) -> bytes:
        """Answer ``lp/2``."""
        return encode(self.get_layer_opinion(decode(LayerRequest, data).layer))

    async def handle_malicious(self, peer: bytes, data: bytes) -> bytes:
        """Answer ``ml/1``."""
        return encode(IdList(tuple(self.get_malicious_ids())))


#: objects whose ids are 20 bytes (padded to 32 on the wire)
_ID20_HINTS = frozenset({Hint.BALLOT, Hint.BLOCK, Hint.PROPOSAL, Hint.CERTIFICATE})
