"""How each kind of fetched object proves it is the one asked for: its id recomputed from its bytes."""

from __future__ import annotations

from spacemesh_core.codec.scale import Bytes, List, decode, decode_value
from spacemesh_core.crypto.hashes import compute_blake3
from spacemesh_core.sync.wire import Hint
from spacemesh_core.types.atx import ActivationTxV1
from spacemesh_core.types.ballot import Ballot
from spacemesh_core.types.block import Block, Certificate
from spacemesh_core.types.malfeasance import MalfeasanceProof
from spacemesh_core.types.poet import PoetProofMessage
from spacemesh_core.types.primitives import ATX_ID_SIZE
from spacemesh_core.types.tx import compute_tx_id

#: an active set travels as the SCALE list of its ATX ids
ACTIVE_SET_TYPE = List(Bytes(ATX_ID_SIZE), 1_000_000)


def get_accused_node_id(proof: MalfeasanceProof) -> bytes:
    """Return the identity a malfeasance proof accuses (the smesher of its evidence)."""
    evidence = proof.proof
    if hasattr(evidence, "messages"):
        return bytes(evidence.messages[0].smesher_id)
    atx = evidence.atx if hasattr(evidence, "atx") else evidence.atx1
    return bytes(atx.smesher_id)


def compute_object_id(hint: Hint, blob: bytes) -> bytes:
    """Return the id an object of kind ``hint`` with bytes ``blob`` is known by.

    :raises ScaleError: when the bytes are not an object of that kind.
    :raises ValueError: for a kind that has no id.
    """
    if hint is Hint.ATX:
        return decode(ActivationTxV1, blob).compute_id()
    if hint is Hint.BALLOT:
        return decode(Ballot, blob).compute_id()
    if hint is Hint.BLOCK:
        return decode(Block, blob).compute_id()
    if hint is Hint.TX:
        return compute_tx_id(blob)
    if hint is Hint.POET:
        return decode(PoetProofMessage, blob).compute_ref()
    if hint is Hint.MALFEASANCE:
        return get_accused_node_id(decode(MalfeasanceProof, blob))
    if hint is Hint.CERTIFICATE:
        # a certificate is asked for by the id of the block it certifies
        return bytes(decode(Certificate, blob).block_id)
    if hint is Hint.ACTIVE_SET:
        # the id of an active set is the ``ActiveSetHash`` of epoch data: blake3 of its sorted ids
        return compute_blake3(*sorted(bytes(i) for i in decode_value(ACTIVE_SET_TYPE, blob)))
    raise ValueError(f"objects of kind {hint.name} are not fetched by id")
