"""Adapters between the PoST/PoET libraries and the ATX builder.

* :func:`create_prove_function` — the builder's PoST prover over a data directory;
* :func:`convert_round_proof` — a PoET round proof as the wire proof message and membership proof.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from spacemesh_core.activation.builder import ProveFunction
from spacemesh_core.poet.proof import MembershipProof
from spacemesh_core.poet.proof import PoetProof as CorePoetProof
from spacemesh_core.post.prover import PostProver, ProvingParams
from spacemesh_core.types.atx import MerkleProofV1, PostV1
from spacemesh_core.types.poet import MerkleProof, PoetProof, PoetProofMessage


def convert_round_proof(
    proof: CorePoetProof,
    statement: bytes,
    membership: MembershipProof,
    *,
    round_id: str,
    service_pubkey: bytes,
) -> tuple[PoetProofMessage, MerkleProofV1]:
    """Return the PoET proof message (zero signature: nodes do not check it) and the ATX membership proof."""
    message = PoetProofMessage(
        PoetProof(MerkleProof(proof.root, proof.proven_leaves, proof.proof_nodes), proof.leaves),
        bytes(service_pubkey),
        round_id,
        statement,
        bytes(64),
    )
    return message, MerkleProofV1(membership.nodes, membership.leaf_index)


def create_prove_function(
    directory: str | os.PathLike[str],
    params: ProvingParams,
    prover: PostProver | None = None,
    nonces: int = 64,
    **options: Any,
) -> ProveFunction:
    """Return a builder prove function over the PoST data in ``directory`` (native prover by default)."""
    if prover is None:
        from spacemesh_core.post.prover import create_native_prover

        prover = create_native_prover(threads=1)
    chosen = prover

    def prove(challenge: bytes, should_stop: Callable[[], bool]) -> PostV1:
        proof = chosen.generate_proof_from_dir(
            directory, challenge, params, nonces=nonces, should_stop=should_stop, **options
        )
        return PostV1(proof.nonce, proof.indices, proof.pow)

    return prove
