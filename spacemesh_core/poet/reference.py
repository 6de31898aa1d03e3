"""PoET proof of sequential work: the pure-Python reference (the oracle for the native prover).

It follows spec post-poet.md §6 and reads like it:

* label hash ``Lx(data)``: ``h = SHA256(x || data)`` then 399 more ``h = SHA256(h)``;
* leaf ``i`` = ``Lx(BE64(i) || left siblings)``, where the left siblings are the nodes *parked* in
  the incremental Merkle tree just before leaf ``i`` is added (height 0 upward, empty heights
  skipped) — leaf ``i`` depends on every leaf before it, which makes the work sequential;
* internal node = ``SHA256(x || left || right)``; where a subtree is missing, 32 zero bytes stand
  in for it at every height;
* Fiat–Shamir picks ``T = 150`` leaf ids from the root; the proof holds those leaves in ascending
  order and the sibling nodes a verifier needs, in the order it consumes them;
* the statement ``x`` is the root of the round's membership tree (BLAKE3 nodes with a ``0x01``
  prefix, members' 32-byte challenges as raw leaves, sorted by node id).

The tree helpers take the node hash as a parameter so that the same code serves the PoET tree,
the membership tree and the public merkle-tree test vectors (plain ``SHA256(left || right)``).
"""

from __future__ import annotations

import hashlib
from bisect import bisect_left
from collections.abc import Callable, Sequence
from itertools import pairwise

import attrs

from spacemesh_core.codec.scale import encode_compact
from spacemesh_core.crypto.hashes import compute_blake3, compute_sha256
from spacemesh_core.poet.proof import MembershipProof, PoetProof
from spacemesh_core.poet.ripemd256 import compute_ripemd256

#: Number of nested SHA-256 calls per label (poet ``LabelHashNestingDepth``).
LABEL_HASH_NESTING_DEPTH = 400
#: Number of leaves a non-interactive proof opens (poet ``shared.T``).
SECURITY_PARAM = 150
#: Size of every tree node and label.
NODE_SIZE = 32
#: The padding value used for a missing subtree, at every height.
ZERO_NODE = bytes(NODE_SIZE)
#: Reference limits on a ``MerkleProof`` (``scale:"max=..."``).
MAX_PROVEN_LEAVES = 150
MAX_PROOF_NODES = 5400
#: Prefix byte of a membership-tree node hash.
MEMBERSHIP_NODE_PREFIX = b"\x01"

#: ``hash_node(left, right) -> parent``
HashNode = Callable[[bytes, bytes], bytes]


class MerkleProofFormatError(ValueError):
    """Inputs to partial-tree validation that cannot describe a proof (unsorted ids, size mismatch)."""


# --------------------------------------------------------------------------------------------
# Hash functions
# --------------------------------------------------------------------------------------------


def compute_label_hash(statement: bytes, data: bytes, nesting_depth: int = LABEL_HASH_NESTING_DEPTH) -> bytes:
    """Return ``Lx(data)``: SHA-256 of ``statement || data``, re-hashed until ``nesting_depth`` calls."""
    digest = hashlib.sha256(statement + data).digest()
    for _ in range(nesting_depth - 1):
        digest = hashlib.sha256(digest).digest()
    return digest


def compute_node_hash(statement: bytes, left: bytes, right: bytes) -> bytes:
    """Return the PoET tree node ``SHA256(statement || left || right)``."""
    return compute_sha256(statement, left, right)


def make_poet_node_hasher(statement: bytes) -> HashNode:
    """Return ``hash_node(left, right)`` for the PoET tree of ``statement``."""

    def hash_node(left: bytes, right: bytes) -> bytes:
        return hashlib.sha256(statement + left + right).digest()

    return hash_node


def compute_membership_node_hash(left: bytes, right: bytes) -> bytes:
    """Return the membership-tree node ``BLAKE3(0x01 || left || right)``."""
    return compute_blake3(MEMBERSHIP_NODE_PREFIX, left, right)


def compute_label_input(leaf_id: int, left_siblings: Sequence[bytes | None]) -> bytes:
    """Return the data a leaf label hashes: ``BE64(leaf_id)`` then the non-empty left siblings.

    :param left_siblings: from height 0 upward; ``None`` or ``b""`` marks a height without one.
    :raises ValueError: ``leaf_id`` outside the unsigned 64-bit range.
    """
    if not 0 <= leaf_id < 1 << 64:
        raise ValueError(f"leaf id {leaf_id} is outside the unsigned 64-bit range")
    return leaf_id.to_bytes(8, "big") + b"".join(s for s in left_siblings if s)


def compute_fiat_shamir_ids(challenge: bytes, num_leaves: int, security_param: int = SECURITY_PARAM) -> list[int]:
    """Return the sorted leaf ids a proof must open (poet ``shared.FiatShamir``).

    ``id_k = BE64(SHA256(challenge || BE32(k))[:8]) mod num_leaves`` for ``k = 0, 1, ...`` until
    ``security_param`` distinct ids are collected; every id when ``security_param > num_leaves``.

    :raises ValueError: ``num_leaves`` not positive.
    """
    if num_leaves <= 0:
        raise ValueError(f"the number of leaves must be positive, got {num_leaves}")
    if security_param > num_leaves:
        return list(range(num_leaves))
    chosen: set[int] = set()
    counter = 0
    while len(chosen) < security_param:
        digest = hashlib.sha256(challenge + counter.to_bytes(4, "big")).digest()
        chosen.add(int.from_bytes(digest[:8], "big") % num_leaves)
        counter += 1
    return sorted(chosen)


def is_leading_zero_bits(data: bytes, bits: int) -> bool:
    """Return whether the first ``bits`` bits of ``data`` (most significant bit first) are all zero."""
    if bits < 0 or len(data) * 8 < bits:
        return False
    whole, rest = divmod(bits, 8)
    if any(data[:whole]):
        return False
    return rest == 0 or data[whole] >> (8 - rest) == 0


def compute_pow_hash(pow_challenge: bytes, node_id: bytes, poet_challenge: bytes, nonce: int) -> bytes:
    """Return ``RIPEMD-256(pow_challenge || node_id || poet_challenge || LE64(nonce))``."""
    return compute_ripemd256(pow_challenge + node_id + poet_challenge + nonce.to_bytes(8, "little"))


def find_pow_nonce(pow_challenge: bytes, node_id: bytes, poet_challenge: bytes, difficulty: int, start: int = 0) -> int:
    """Return the smallest nonce ``>= start`` whose PoW hash has ``difficulty`` leading zero bits.

    Pure Python (about 10 000 hashes per second): fine for the small difficulties of tests and
    devnets; :func:`spacemesh_core.poet.native.find_pow_nonce` is the fast path.
    """
    prefix = pow_challenge + node_id + poet_challenge
    nonce = start
    while not is_leading_zero_bits(compute_ripemd256(prefix + nonce.to_bytes(8, "little")), difficulty):
        nonce += 1
    return nonce


# --------------------------------------------------------------------------------------------
# Trees
# --------------------------------------------------------------------------------------------


class IncrementalMerkleTree:
    """The incremental Merkle tree of spacemeshos/merkle-tree: leaves appended one at a time.

    It keeps one *parked* node per height: the root of a complete subtree still waiting for its
    right sibling. There is a parked node at height ``h`` exactly when bit ``h`` of the leaf count
    is set.
    """

    def __init__(self, hash_node: HashNode) -> None:
        self._hash_node = hash_node
        self._parked: list[bytes | None] = []
        self.leaf_count = 0

    @classmethod
    def from_parked_nodes(
        cls, hash_node: HashNode, leaf_count: int, parked: Sequence[bytes | None]
    ) -> IncrementalMerkleTree:
        """Rebuild a tree from a saved state: its leaf count and parked nodes (height 0 upward).

        :raises ValueError: the parked nodes do not match the bits of ``leaf_count``.
        """
        nodes = list(parked) + [None] * max(0, leaf_count.bit_length() - len(parked))
        for height, node in enumerate(nodes):
            if ((leaf_count >> height) & 1) != (node is not None):
                raise ValueError(f"parked node at height {height} does not match leaf count {leaf_count}")
        tree = cls(hash_node)
        tree._parked = nodes[: leaf_count.bit_length()]
        tree.leaf_count = leaf_count
        return tree

    def get_parked_nodes(self) -> list[bytes | None]:
        """Return the parked nodes from height 0 upward (``None`` where a height has none)."""
        return list(self._parked)

    def add_leaf(self, value: bytes) -> None:
        """Append a leaf, combining it with parked left siblings as far up as they go."""
        carry = value
        height = 0
        while height < len(self._parked) and self._parked[height] is not None:
            left = self._parked[height]
            assert left is not None
            carry = self._hash_node(left, carry)
            self._parked[height] = None
            height += 1
        if height == len(self._parked):
            self._parked.append(carry)
        else:
            self._parked[height] = carry
        self.leaf_count += 1

    def get_root(self) -> bytes:
        """Return the root, padding missing right subtrees with zero nodes (merkle-tree ``RootAndProof``).

        :raises ValueError: the tree has no leaves.
        """
        if not self._parked:
            raise ValueError("an empty tree has no root")
        carry: bytes | None = None
        top = len(self._parked) - 1
        for height, parked in enumerate(self._parked):
            if height == top and carry is None:
                assert parked is not None
                return parked
            if parked is not None and carry is not None:
                carry = self._hash_node(parked, carry)
            elif parked is not None:
                carry = self._hash_node(parked, ZERO_NODE)
            elif carry is not None:
                carry = self._hash_node(carry, ZERO_NODE)
        assert carry is not None
        return carry


def compute_parent_layer(layer: Sequence[bytes], hash_node: HashNode) -> list[bytes]:
    """Return the layer above ``layer``: pairs hashed, a last odd node hashed with a zero node."""
    parents = []
    for index in range(0, len(layer), 2):
        right = layer[index + 1] if index + 1 < len(layer) else ZERO_NODE
        parents.append(hash_node(layer[index], right))
    return parents


def compute_layers(leaves: Sequence[bytes], hash_node: HashNode) -> list[list[bytes]]:
    """Return every layer of the tree over ``leaves``, leaves first, the one-node root layer last.

    :raises ValueError: no leaves.
    """
    if not leaves:
        raise ValueError("a tree needs at least one leaf")
    layers = [list(leaves)]
    while len(layers[-1]) > 1:
        layers.append(compute_parent_layer(layers[-1], hash_node))
    return layers


def compute_merkle_root(leaves: Sequence[bytes], hash_node: HashNode) -> bytes:
    """Return the root of the tree over ``leaves`` (zero-node padding at every height)."""
    return compute_layers(leaves, hash_node)[-1][0]


def compute_proof_nodes(layers: Sequence[Sequence[bytes]], proven_ids: Sequence[int]) -> list[bytes]:
    """Return the proof nodes for ``proven_ids`` in the order a verifier consumes them.

    The verifier climbs from the lowest proven leaf; at each height it needs the sibling. A sibling
    holding further proven leaves is rebuilt from them (its own nodes come first), any other
    sibling is the next proof node. That is a post-order walk: for a node whose proven leaves lie
    in one child only, the nodes of that child come first and then the other child's value.

    :param layers: every layer of the tree (``layers[h][i]``), as :func:`compute_layers` returns;
        a position past the end of a layer is a zero node.
    :raises ValueError: an id outside the tree, or no ids.
    """
    ids = sorted(set(proven_ids))
    width = len(layers[0])
    if not ids:
        raise ValueError("at least one leaf must be proven")
    if ids[0] < 0 or ids[-1] >= width:
        raise ValueError(f"proven leaf ids must lie in [0, {width})")
    nodes: list[bytes] = []

    def get_node(height: int, index: int) -> bytes:
        layer = layers[height]
        return bytes(layer[index]) if index < len(layer) else ZERO_NODE

    def walk(height: int, index: int, lo: int, hi: int) -> None:
        # ids[lo:hi] are the proven leaves under node (height, index); there is at least one.
        if height == 0:
            return
        boundary = (2 * index + 1) << (height - 1)  # first leaf of the right child
        split = bisect_left(ids, boundary, lo, hi)
        if lo < split < hi:
            walk(height - 1, 2 * index, lo, split)
            walk(height - 1, 2 * index + 1, split, hi)
        elif split == hi:
            walk(height - 1, 2 * index, lo, hi)
            nodes.append(get_node(height - 1, 2 * index + 1))
        else:
            walk(height - 1, 2 * index + 1, lo, hi)
            nodes.append(get_node(height - 1, 2 * index))

    walk(len(layers) - 1, 0, 0, len(ids))
    return nodes


@attrs.frozen
class PartialTreeResult:
    """What :func:`validate_partial_tree` recomputed from a partial tree."""

    #: the recomputed root
    root: bytes
    #: height the walk reached (the tree height the proof implies)
    height: int
    #: per proven leaf, from height 0 up: its left sibling on the path, or ``None`` (a left child)
    parking_snapshots: list[list[bytes | None]]
    #: how many proven leaves and proof nodes the walk consumed
    leaves_used: int
    nodes_used: int


def validate_partial_tree(
    leaf_indices: Sequence[int],
    leaves: Sequence[bytes],
    proof_nodes: Sequence[bytes],
    hash_node: HashNode,
) -> PartialTreeResult:
    """Recompute the root of a partial tree (merkle-tree ``ValidatePartialTreeWithParkingSnapshots``).

    Starting from the lowest proven leaf, climb: at each height the sibling is rebuilt from the next
    proven leaf when it contains that leaf, otherwise it is the next proof node. The top-level walk
    ends when the proof nodes run out. Along the way each proven leaf's left siblings are recorded
    (its *parking snapshot*), which is what its label was computed from.

    :raises MerkleProofFormatError: lengths differ, no leaves, unsorted or duplicate indices, or the
        proof nodes run out inside a subtree that a proven leaf needs.
    """
    if len(leaf_indices) != len(leaves):
        raise MerkleProofFormatError(
            f"number of leaves ({len(leaves)}) must equal number of indices ({len(leaf_indices)})"
        )
    if not leaves:
        raise MerkleProofFormatError("at least one leaf is required for validation")
    if any(b <= a for a, b in pairwise(leaf_indices)):
        raise MerkleProofFormatError("leaf indices must be strictly increasing")
    state = {"leaf": 0, "node": 0}

    def climb(stop_height: int | None) -> tuple[bytes, int, list[list[bytes | None]]]:
        position = leaf_indices[state["leaf"]]
        value = bytes(leaves[state["leaf"]])
        state["leaf"] += 1
        height = 0
        snapshots: list[list[bytes | None]] = [[]]
        while stop_height is None or height < stop_height:
            sibling_position = position ^ 1
            sub_snapshots: list[list[bytes | None]] = []
            next_leaf = leaf_indices[state["leaf"]] if state["leaf"] < len(leaf_indices) else None
            if next_leaf is not None and next_leaf >> height == sibling_position:
                sibling, _, sub_snapshots = climb(height)
            elif state["node"] < len(proof_nodes):
                sibling = bytes(proof_nodes[state["node"]])
                state["node"] += 1
            elif stop_height is None:
                break
            else:
                raise MerkleProofFormatError("proof nodes ran out inside a proven subtree")
            if position & 1:
                left, right = sibling, value
                for snapshot in snapshots:
                    snapshot.append(sibling)
            else:
                left, right = value, sibling
                for snapshot in snapshots:
                    snapshot.append(None)
                for snapshot in sub_snapshots:
                    snapshot.append(value)
                snapshots.extend(sub_snapshots)
            value = hash_node(left, right)
            position >>= 1
            height += 1
        return value, height, snapshots

    root, height, snapshots = climb(None)
    return PartialTreeResult(root, height, snapshots, state["leaf"], state["node"])


# --------------------------------------------------------------------------------------------
# The prover
# --------------------------------------------------------------------------------------------


def get_tree_height(num_leaves: int) -> int:
    """Return the root height of a tree with ``num_leaves`` leaves (``ceil(log2(n))``)."""
    if num_leaves <= 0:
        raise ValueError(f"the number of leaves must be positive, got {num_leaves}")
    return (num_leaves - 1).bit_length()


def compute_poet_leaves(statement: bytes, num_leaves: int) -> tuple[list[bytes], IncrementalMerkleTree]:
    """Compute the first ``num_leaves`` labels sequentially; return them and the tree holding them."""
    tree = IncrementalMerkleTree(make_poet_node_hasher(statement))
    leaves = []
    for leaf_id in range(num_leaves):
        label = compute_label_hash(statement, compute_label_input(leaf_id, tree.get_parked_nodes()))
        tree.add_leaf(label)
        leaves.append(label)
    return leaves, tree


def compute_poet_proof_from_layers(
    statement: bytes,
    layers: Sequence[Sequence[bytes]],
    security_param: int = SECURITY_PARAM,
) -> PoetProof:
    """Build the non-interactive proof from a finished tree's layers (leaves first, root last).

    Shared by the reference and the native prover: the layer computation differs, the opening
    does not.
    """
    num_leaves = len(layers[0])
    root = bytes(layers[-1][0])
    ids = compute_fiat_shamir_ids(root, num_leaves, security_param)
    return PoetProof(
        root=root,
        proven_leaves=tuple(bytes(layers[0][i]) for i in ids),
        proof_nodes=tuple(compute_proof_nodes(layers, ids)),
        leaves=num_leaves,
    )


def generate_poet_proof(statement: bytes, num_leaves: int, security_param: int = SECURITY_PARAM) -> PoetProof:
    """Run the sequential work for ``num_leaves`` leaves in Python and return the proof.

    :raises ValueError: ``statement`` not 32 bytes or ``num_leaves`` not positive.
    """
    if len(statement) != NODE_SIZE:
        raise ValueError(f"the statement must be {NODE_SIZE} bytes, got {len(statement)}")
    if num_leaves <= 0:
        raise ValueError(f"the number of leaves must be positive, got {num_leaves}")
    leaves, tree = compute_poet_leaves(statement, num_leaves)
    layers = compute_layers(leaves, make_poet_node_hasher(statement))
    # Two independent root computations (incremental carry rule, full layers) must agree.
    assert layers[-1][0] == tree.get_root()
    return compute_poet_proof_from_layers(statement, layers, security_param)


# --------------------------------------------------------------------------------------------
# Membership tree and the proof reference
# --------------------------------------------------------------------------------------------


def _check_members(members: Sequence[bytes]) -> None:
    if not members:
        raise ValueError("a membership tree needs at least one member")
    for member in members:
        if len(member) != NODE_SIZE:
            raise ValueError(f"a member challenge must be {NODE_SIZE} bytes, got {len(member)}")


def compute_statement(members: Sequence[bytes]) -> bytes:
    """Return the PoET statement: the root of the membership tree over the members' challenges.

    :param members: the 32-byte challenges in the round's order (sorted by submitter node id).
    :raises ValueError: no members, or a challenge that is not 32 bytes.
    """
    _check_members(members)
    return compute_merkle_root(members, compute_membership_node_hash)


def generate_membership_proof(members: Sequence[bytes], leaf_index: int) -> MembershipProof:
    """Return the proof that ``members[leaf_index]`` is in the membership tree.

    :raises ValueError: bad members or an index outside them.
    """
    _check_members(members)
    if not 0 <= leaf_index < len(members):
        raise ValueError(f"leaf index {leaf_index} is outside the {len(members)} members")
    layers = compute_layers(members, compute_membership_node_hash)
    return MembershipProof(leaf_index=leaf_index, nodes=tuple(compute_proof_nodes(layers, [leaf_index])))


def encode_merkle_proof_scale(proof: PoetProof) -> bytes:
    """Return ``SCALE(MerkleProof)``: root, proven leaves and proof nodes as compact-length byte slices."""
    parts = [encode_compact(len(proof.root)), proof.root, encode_compact(len(proof.proven_leaves))]
    for leaf in proof.proven_leaves:
        parts += [encode_compact(len(leaf)), leaf]
    parts.append(encode_compact(len(proof.proof_nodes)))
    for node in proof.proof_nodes:
        parts += [encode_compact(len(node)), node]
    return b"".join(parts)


def compute_poet_proof_ref(proof: PoetProof) -> bytes:
    """Return the PoET proof reference (the PoST challenge): BLAKE3 of ``SCALE(PoetProof)``.

    ``SCALE(PoetProof) = SCALE(MerkleProof) || Compact64(leaf count)`` (go-spacemesh ``PoetProof.Ref``).
    """
    return compute_blake3(encode_merkle_proof_scale(proof), encode_compact(proof.leaves))
