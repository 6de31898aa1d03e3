"""Verification of PoET proofs and of membership proofs (what every node runs before using one).

A PoET proof is checked as poet ``verifier.Validate`` does, with a few stricter shape checks that
an honest prover always satisfies: the Fiat–Shamir ids are recomputed from the root and the leaf
count, the partial tree is walked to recompute the root and each opened leaf's left siblings, and
each opened leaf is recomputed as ``Lx(BE64(id) || left siblings)``.
"""

from __future__ import annotations

from collections.abc import Sequence

from spacemesh_core.poet.proof import MembershipProof, PoetProof
from spacemesh_core.poet.reference import (
    MAX_PROOF_NODES,
    MAX_PROVEN_LEAVES,
    NODE_SIZE,
    SECURITY_PARAM,
    MerkleProofFormatError,
    compute_fiat_shamir_ids,
    compute_label_hash,
    compute_label_input,
    compute_membership_node_hash,
    compute_statement,
    get_tree_height,
    make_poet_node_hasher,
    validate_partial_tree,
)


class PoetVerificationError(ValueError):
    """A PoET or membership proof that does not verify; subclasses say why."""


class ProofShapeError(PoetVerificationError):
    """Wrong sizes or counts: node sizes, number of opened leaves, limits, leaf count."""


class MerkleRootMismatchError(PoetVerificationError):
    """The proof nodes and opened leaves do not hash to the claimed root."""


class LabelMismatchError(PoetVerificationError):
    """An opened leaf is not the label its id and left siblings produce (the work was not done)."""


class MembershipProofError(PoetVerificationError):
    """A challenge is not proven to be in the membership tree with the given root."""


def _check_sizes(proof: PoetProof) -> None:
    if len(proof.root) != NODE_SIZE:
        raise ProofShapeError(f"root must be {NODE_SIZE} bytes, got {len(proof.root)}")
    if len(proof.proven_leaves) > MAX_PROVEN_LEAVES:
        raise ProofShapeError(f"{len(proof.proven_leaves)} proven leaves exceed the limit {MAX_PROVEN_LEAVES}")
    if len(proof.proof_nodes) > MAX_PROOF_NODES:
        raise ProofShapeError(f"{len(proof.proof_nodes)} proof nodes exceed the limit {MAX_PROOF_NODES}")
    for what, values in (("proven leaf", proof.proven_leaves), ("proof node", proof.proof_nodes)):
        for index, value in enumerate(values):
            if len(value) != NODE_SIZE:
                raise ProofShapeError(f"{what} {index} must be {NODE_SIZE} bytes, got {len(value)}")


def verify_poet_proof(
    proof: PoetProof,
    statement: bytes,
    *,
    security_param: int = SECURITY_PARAM,
    min_leaves: int = 1,
) -> None:
    """Check that ``proof`` is an honest proof of sequential work over ``statement``.

    :param security_param: number of leaves the proof must open (150 in the protocol); a proof of
        fewer leaves than that opens all of them.
    :param min_leaves: smallest acceptable leaf count; a node that wants the reference behaviour
        (which insists on exactly 150 opened leaves) passes ``min_leaves=150``.
    :raises ProofShapeError: sizes, counts or the implied tree height are wrong.
    :raises MerkleRootMismatchError: the nodes do not hash to the root.
    :raises LabelMismatchError: an opened leaf is not the label its position requires.
    """
    if len(statement) != NODE_SIZE:
        raise ProofShapeError(f"statement must be {NODE_SIZE} bytes, got {len(statement)}")
    _check_sizes(proof)
    if proof.leaves < max(1, min_leaves):
        raise ProofShapeError(f"the proof covers {proof.leaves} leaves, fewer than {max(1, min_leaves)}")
    expected_opened = min(security_param, proof.leaves)
    if len(proof.proven_leaves) != expected_opened:
        raise ProofShapeError(f"the proof opens {len(proof.proven_leaves)} leaves, {expected_opened} are required")
    ids = compute_fiat_shamir_ids(proof.root, proof.leaves, security_param)
    try:
        walk = validate_partial_tree(ids, proof.proven_leaves, proof.proof_nodes, make_poet_node_hasher(statement))
    except MerkleProofFormatError as exc:
        raise MerkleRootMismatchError(f"merkle proof not valid: {exc}") from None
    if walk.root != proof.root:
        raise MerkleRootMismatchError(
            f"merkle proof not valid: nodes hash to {walk.root.hex()}, the proof claims {proof.root.hex()}"
        )
    if walk.leaves_used != len(ids) or walk.nodes_used != len(proof.proof_nodes):
        raise ProofShapeError(
            f"the walk used {walk.leaves_used}/{len(ids)} leaves and "
            f"{walk.nodes_used}/{len(proof.proof_nodes)} proof nodes"
        )
    if walk.height != get_tree_height(proof.leaves):
        raise ProofShapeError(
            f"the proof describes a tree of height {walk.height}, {proof.leaves} leaves need "
            f"{get_tree_height(proof.leaves)}"
        )
    for leaf_id, label, snapshot in zip(ids, proof.proven_leaves, walk.parking_snapshots, strict=True):
        expected = compute_label_hash(statement, compute_label_input(leaf_id, snapshot))
        if expected != label:
            raise LabelMismatchError(
                f"label of leaf {leaf_id} incorrect - expected: {expected.hex()} actual: {label.hex()}"
            )


def is_valid_poet_proof(proof: PoetProof, statement: bytes, **kwargs: int) -> bool:
    """Return whether :func:`verify_poet_proof` accepts ``proof``."""
    try:
        verify_poet_proof(proof, statement, **kwargs)
    except PoetVerificationError:
        return False
    return True


def verify_membership_proof(challenge: bytes, proof: MembershipProof, root: bytes) -> None:
    """Check that ``challenge`` is leaf ``proof.leaf_index`` of the membership tree with ``root``.

    :raises MembershipProofError: bad sizes, or the path does not lead to ``root``.
    """
    if len(challenge) != NODE_SIZE or len(root) != NODE_SIZE:
        raise MembershipProofError(f"challenge and root must be {NODE_SIZE} bytes")
    if proof.leaf_index < 0:
        raise MembershipProofError(f"negative leaf index {proof.leaf_index}")
    if any(len(node) != NODE_SIZE for node in proof.nodes):
        raise MembershipProofError(f"membership nodes must be {NODE_SIZE} bytes")
    if proof.leaf_index >> len(proof.nodes):
        raise MembershipProofError(f"leaf index {proof.leaf_index} does not fit a tree of height {len(proof.nodes)}")
    walk = validate_partial_tree([proof.leaf_index], [challenge], proof.nodes, compute_membership_node_hash)
    if walk.root != root:
        raise MembershipProofError(
            f"membership path of leaf {proof.leaf_index} leads to {walk.root.hex()}, expected {root.hex()}"
        )


def verify_members_statement(members: Sequence[bytes], statement: bytes) -> None:
    """Check that the member list a PoET returned hashes to the statement its proof is over.

    :raises MembershipProofError: the members' root differs (or the list is malformed).
    """
    try:
        root = compute_statement(members)
    except ValueError as exc:
        raise MembershipProofError(f"bad member list: {exc}") from None
    if root != statement:
        raise MembershipProofError(f"members hash to {root.hex()}, not the statement {statement.hex()}")
