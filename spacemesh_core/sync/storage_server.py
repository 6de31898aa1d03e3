"""The fetch server of a node: answers every fetch protocol from its state database."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from spacemesh_core.storage.state import StateStore
from spacemesh_core.sync.fetch import FetchServer
from spacemesh_core.sync.wire import Hint, LayerData, LayerOpinion


def get_stored_blob(state: StateStore, hint: Hint, object_id: bytes) -> bytes | None:
    """Return the stored bytes of an object, or None (proposals are not kept, as in the reference).

    A certificate is looked up by the id of the block it certifies.
    """
    if hint is Hint.ATX:
        atx = state.get_atx(object_id)
        return atx.blob if atx else None
    if hint is Hint.BALLOT:
        ballot = state.get_ballot(object_id)
        return ballot.blob if ballot else None
    if hint is Hint.BLOCK:
        block = state.get_block(object_id)
        return block.blob if block else None
    if hint is Hint.TX:
        tx = state.get_transaction(object_id)
        return tx.blob if tx else None
    if hint is Hint.POET:
        proof = state.get_poet_proof(object_id)
        return proof[1] if proof else None
    if hint is Hint.MALFEASANCE:
        return state.get_malfeasance_proof(object_id)
    if hint is Hint.ACTIVE_SET:
        return state.get_active_set(object_id)
    if hint is Hint.CERTIFICATE:
        return get_stored_certificate(state, object_id)
    return None


def get_stored_certificate(state: StateStore, block_id: bytes) -> bytes | None:
    """Return the stored certificate of ``block_id`` (None: unknown block or not certified)."""
    block = state.get_block(block_id)
    if block is None:
        return None
    for certified, blob in state.get_certificates(block.layer):
        if certified == block_id:
            return blob
    return None


def create_fetch_server(
    state: StateStore, providers: Mapping[Hint, Callable[[Hint, bytes], bytes | None]] | None = None
) -> FetchServer:
    """Return a :class:`FetchServer` backed by ``state``.

    :param providers: per kind, a lookup for objects services keep in memory (proposals); it is
        consulted at request time, so services may add theirs after the server is registered.
    """
    extra = providers if providers is not None else {}

    def get_blob(hint: Hint, object_id: bytes) -> bytes | None:
        provider = extra.get(hint)
        if provider is not None:
            return provider(hint, object_id)
        return get_stored_blob(state, hint, object_id)

    def get_layer_data(layer: int) -> LayerData:
        return LayerData(
            tuple(b.id for b in state.get_ballots_in_layer(layer)),
            tuple(b.id for b in state.get_blocks_in_layer(layer)),
        )

    def get_layer_opinion(layer: int) -> LayerOpinion:
        record = state.get_layer(layer)
        return LayerOpinion(record.applied_block, record.state_hash)

    return FetchServer(
        get_blob,
        state.get_atx_ids_in_epoch,
        get_layer_data,
        get_layer_opinion,
        state.get_malicious_ids,
    )
