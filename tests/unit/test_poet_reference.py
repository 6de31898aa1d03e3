"""The pure-Python PoET reference against every poet.json vector, plus verification and encodings."""

from __future__ import annotations

import hashlib
import json
import os

import click
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from spacemesh_core.poet.certificate import (
    Certificate,
    CertificateExpiredError,
    CertificateNodeMismatchError,
    CertificateSignatureError,
    verify_certificate,
)
from spacemesh_core.poet.proof import MembershipProof, PoetProof, ProofFormatError, RoundProof
from spacemesh_core.poet.reference import (
    ZERO_NODE,
    IncrementalMerkleTree,
    MerkleProofFormatError,
    compute_fiat_shamir_ids,
    compute_label_hash,
    compute_label_input,
    compute_layers,
    compute_membership_node_hash,
    compute_merkle_root,
    compute_node_hash,
    compute_poet_proof_ref,
    compute_pow_hash,
    compute_proof_nodes,
    compute_statement,
    encode_merkle_proof_scale,
    find_pow_nonce,
    generate_membership_proof,
    generate_poet_proof,
    get_tree_height,
    is_leading_zero_bits,
    make_poet_node_hasher,
    validate_partial_tree,
)
from spacemesh_core.poet.ripemd256 import compute_ripemd256
from spacemesh_core.poet.verify import (
    LabelMismatchError,
    MembershipProofError,
    MerkleRootMismatchError,
    ProofShapeError,
    is_valid_poet_proof,
    verify_members_statement,
    verify_membership_proof,
    verify_poet_proof,
)
from spacemesh_core.testing.vectors import load_vectors


def _cases(kind: str) -> list[dict]:
    cases = [c for c in load_vectors("poet")["cases"] if c["kind"] == kind]
    assert cases, f"no {kind} vectors"
    return cases


def _plain_sha(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(left + right).digest()


def _merkle_test_leaf(index: int) -> bytes:
    # spacemeshos/merkle-tree tests: leaf i = LE64(i) || 24 zero bytes
    return index.to_bytes(8, "little") + bytes(24)


def test_every_vector_kind_is_covered() -> None:
    kinds = {c["kind"] for c in load_vectors("poet")["cases"]}
    covered = {
        "label_hash", "merkle_node_hash", "label_input", "certificate_scale", "leading_zero_bits",
        "fiat_shamir_count", "merkle_root", "merkle_proof", "merkle_validate", "parked_nodes",
    }  # fmt: skip
    assert kinds <= covered, f"uncovered vector kinds: {kinds - covered}"


@pytest.mark.parametrize("case", _cases("label_hash"), ids=lambda c: c["name"])
def test_label_hash_vector(case: dict) -> None:
    challenge = bytes.fromhex(case["challenge_hex"])
    data = bytes.fromhex(case["data_hex"])
    assert challenge == case["challenge_ascii"].encode()
    assert compute_label_hash(challenge, data, case["nesting_depth"]).hex() == case["expected_hex"]


@pytest.mark.parametrize("case", _cases("merkle_node_hash"), ids=lambda c: c["name"])
def test_merkle_node_hash_vector(case: dict) -> None:
    node = compute_node_hash(
        case["challenge_ascii"].encode(), case["left_ascii"].encode(), case["right_ascii"].encode()
    )
    assert node.hex() == case["expected_hex"]
    hasher = make_poet_node_hasher(case["challenge_ascii"].encode())
    assert hasher(case["left_ascii"].encode(), case["right_ascii"].encode()) == node


@pytest.mark.parametrize("case", _cases("label_input"), ids=lambda c: f"id{c['label_id']}")
def test_label_input_vector(case: dict) -> None:
    siblings = [bytes.fromhex(s) for s in case["left_siblings_hex"]]
    assert compute_label_input(case["label_id"], siblings).hex() == case["expected_hash_input_hex"]


def test_label_input_rejects_out_of_range_id() -> None:
    with pytest.raises(ValueError, match="64-bit"):
        compute_label_input(1 << 64, [])


@pytest.mark.parametrize("case", _cases("certificate_scale"), ids=lambda c: c["name"])
def test_certificate_scale_vector(case: dict) -> None:
    import base64

    encoded = bytes.fromhex(case["encoded_hex"])
    assert base64.b64decode(case["encoded_base64"]) == encoded
    certificate = Certificate.decode(encoded)
    assert certificate.pubkey.hex() == case["pubkey_hex"]
    assert certificate.expiration == case["expiration_unix"]
    assert certificate.encode() == encoded


@pytest.mark.parametrize("case", _cases("leading_zero_bits"), ids=lambda c: f"{c['data_hex']}-{c['bits']}")
def test_leading_zero_bits_vector(case: dict) -> None:
    assert is_leading_zero_bits(bytes.fromhex(case["data_hex"]), case["bits"]) is case["expected"]


@pytest.mark.parametrize(
    "case", _cases("fiat_shamir_count"), ids=lambda c: f"n{c['space_size']}-t{c['security_param']}"
)
def test_fiat_shamir_vector(case: dict) -> None:
    ids = compute_fiat_shamir_ids(case["challenge_ascii"].encode(), case["space_size"], case["security_param"])
    assert len(ids) == case["expected_count"]
    assert ids == case["model_ids_sorted"]


@pytest.mark.parametrize("case", _cases("merkle_root"), ids=lambda c: f"n{c['num_leaves']}")
def test_merkle_root_vector(case: dict) -> None:
    leaves = [_merkle_test_leaf(i) for i in range(case["num_leaves"])]
    assert compute_merkle_root(leaves, _plain_sha).hex() == case["expected_root_hex"]
    tree = IncrementalMerkleTree(_plain_sha)
    for leaf in leaves:
        tree.add_leaf(leaf)
    assert tree.get_root().hex() == case["expected_root_hex"]


@pytest.mark.parametrize(
    "case", _cases("merkle_proof"), ids=lambda c: f"n{c['num_leaves']}-{'_'.join(map(str, c['proven_leaves']))}"
)
def test_merkle_proof_vector(case: dict) -> None:
    leaves = [_merkle_test_leaf(i) for i in range(case["num_leaves"])]
    layers = compute_layers(leaves, _plain_sha)
    nodes = compute_proof_nodes(layers, case["proven_leaves"])
    expected = case.get("expected_proof_nodes_hex") or case["model_proof_nodes_hex"]
    assert [n.hex() for n in nodes] == expected
    for prefix, node in zip(case.get("expected_proof_node_prefixes", []), nodes, strict=False):
        assert node.hex().startswith(prefix)
    walk = validate_partial_tree(case["proven_leaves"], [leaves[i] for i in case["proven_leaves"]], nodes, _plain_sha)
    assert walk.root.hex() == case["expected_root_hex"]
    assert walk.height == get_tree_height(case["num_leaves"])
    assert (walk.leaves_used, walk.nodes_used) == (len(case["proven_leaves"]), len(nodes))
    if "expected_parking_snapshots_hex" in case:
        got = [[n.hex() if n else None for n in snap] for snap in walk.parking_snapshots]
        assert got == case["expected_parking_snapshots_hex"]


@pytest.mark.parametrize("case", _cases("merkle_validate"), ids=lambda c: c["name"])
def test_merkle_validate_vector(case: dict) -> None:
    walk = validate_partial_tree(
        case["proven_leaves"],
        [bytes.fromhex(x) for x in case["leaves_hex"]],
        [bytes.fromhex(x) for x in case["proof_nodes_hex"]],
        _plain_sha,
    )
    assert walk.root.hex() == case["expected_root_hex"]


@pytest.mark.parametrize("case", _cases("parked_nodes"), ids=lambda c: c["name"])
def test_parked_nodes_vector(case: dict) -> None:
    tree = IncrementalMerkleTree(_plain_sha)
    for leaf_hex, expected in zip(case["leaves_hex"], case["expected_parked_after_each_leaf_hex"], strict=True):
        tree.add_leaf(bytes.fromhex(leaf_hex))
        assert [p.hex() if p else "" for p in tree.get_parked_nodes()] == expected


# --- RIPEMD-256 and the registration proof of work ----------------------------------------------

# Published test vectors of the RIPEMD-256 designers (Bosselaers' RIPEMD page).
RIPEMD256_VECTORS = [
    (b"", "02ba4c4e5f8ecd1877fc52d64d30e37a2d9774fb1e5d026380ae0168e3c5522d"),
    (b"a", "f9333e45d857f5d90a91bab70a1eba0cfb1be4b0783c9acfcd883a9134692925"),
    (b"abc", "afbd6e228b9d8cbbcef5ca2d03e6dba10ac0bc7dcbe4680e1e42d2e975459b65"),
    (b"message digest", "87e971759a1ce47a514d5c914c392c9018c7c46bc14465554afcdf54a5070c0e"),
    (b"abcdefghijklmnopqrstuvwxyz", "649d3034751ea216776bf9a18acc81bc7896118a5197968782dd1fd97d8d5133"),
    (
        b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
        "3843045583aac6c8c8d9128573e7a9809afb2a0f34ccc36ea9e72f16f6368e3f",
    ),
    (
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
        "5740a408ac16b720b84424ae931cbb1fe363d1d0bf4017f1a89f7ea6de77a0b8",
    ),
    (b"1234567890" * 8, "06fdcc7a409548aaf91368c06a6275b553e3f099bf0ea4edfd6778df89a890dd"),
]


@pytest.mark.parametrize(("message", "expected"), RIPEMD256_VECTORS, ids=lambda v: str(v)[:12])
def test_ripemd256_published_vectors(message: bytes, expected: str) -> None:
    assert compute_ripemd256(message).hex() == expected


def test_pow_nonce_search_and_check() -> None:
    pow_challenge, node_id, challenge = b"\x01" * 32, b"\x02" * 32, b"\x03" * 32
    nonce = find_pow_nonce(pow_challenge, node_id, challenge, 8)
    digest = compute_pow_hash(pow_challenge, node_id, challenge, nonce)
    assert digest == compute_ripemd256(pow_challenge + node_id + challenge + nonce.to_bytes(8, "little"))
    assert is_leading_zero_bits(digest, 8)
    for smaller in range(nonce):
        assert not is_leading_zero_bits(compute_pow_hash(pow_challenge, node_id, challenge, smaller), 8)


# --- the prover and the verifier --------------------------------------------------------------


@pytest.mark.parametrize("num_leaves", [1, 2, 3, 5, 8, 13, 150, 151, 257])
def test_generated_proof_verifies(num_leaves: int) -> None:
    statement = hashlib.sha256(b"statement %d" % num_leaves).digest()
    proof = generate_poet_proof(statement, num_leaves)
    assert proof.leaves == num_leaves
    assert len(proof.proven_leaves) == min(150, num_leaves)
    verify_poet_proof(proof, statement)
    # The proof is the Merkle opening of the Fiat-Shamir leaves of the real tree.
    ids = compute_fiat_shamir_ids(proof.root, num_leaves)
    walk = validate_partial_tree(ids, proof.proven_leaves, proof.proof_nodes, make_poet_node_hasher(statement))
    assert walk.root == proof.root


def test_leaves_depend_on_left_siblings() -> None:
    statement = bytes(range(32))
    proof = generate_poet_proof(statement, 4)
    leaves = proof.proven_leaves  # all four leaves are opened
    hasher = make_poet_node_hasher(statement)
    assert leaves[0] == compute_label_hash(statement, (0).to_bytes(8, "big"))
    assert leaves[1] == compute_label_hash(statement, (1).to_bytes(8, "big") + leaves[0])
    assert leaves[2] == compute_label_hash(statement, (2).to_bytes(8, "big") + hasher(leaves[0], leaves[1]))
    assert leaves[3] == compute_label_hash(statement, (3).to_bytes(8, "big") + leaves[2] + hasher(leaves[0], leaves[1]))
    assert proof.root == hasher(hasher(leaves[0], leaves[1]), hasher(leaves[2], leaves[3]))


def test_padding_root_of_five_leaves() -> None:
    # Spec example: 5 leaves -> root = H(A, H(H(l4, Z), Z)), A = root of l0..l3.
    leaves = [bytes([i]) * 32 for i in range(5)]
    a_root = compute_merkle_root(leaves[:4], _plain_sha)
    expected = _plain_sha(a_root, _plain_sha(_plain_sha(leaves[4], ZERO_NODE), ZERO_NODE))
    assert compute_merkle_root(leaves, _plain_sha) == expected


@pytest.fixture(scope="module")
def proof_300() -> tuple[PoetProof, bytes]:
    statement = hashlib.sha256(b"tamper").digest()
    return generate_poet_proof(statement, 300), statement


def _replace(values: tuple[bytes, ...], index: int, value: bytes) -> tuple[bytes, ...]:
    return (*values[:index], value, *values[index + 1 :])


def test_tampered_proven_leaf_is_rejected(proof_300: tuple[PoetProof, bytes]) -> None:
    proof, statement = proof_300
    bad = PoetProof(proof.root, _replace(proof.proven_leaves, 7, bytes(32)), proof.proof_nodes, proof.leaves)
    with pytest.raises(MerkleRootMismatchError):
        verify_poet_proof(bad, statement)


def test_tampered_proof_node_is_rejected(proof_300: tuple[PoetProof, bytes]) -> None:
    proof, statement = proof_300
    flipped = bytes([proof.proof_nodes[3][0] ^ 1]) + proof.proof_nodes[3][1:]
    bad = PoetProof(proof.root, proof.proven_leaves, _replace(proof.proof_nodes, 3, flipped), proof.leaves)
    with pytest.raises(MerkleRootMismatchError):
        verify_poet_proof(bad, statement)


def test_wrong_statement_is_rejected(proof_300: tuple[PoetProof, bytes]) -> None:
    proof, _ = proof_300
    with pytest.raises((LabelMismatchError, MerkleRootMismatchError)):
        verify_poet_proof(proof, bytes(32))


def test_inflated_leaf_count_is_rejected(proof_300: tuple[PoetProof, bytes]) -> None:
    proof, statement = proof_300
    bad = PoetProof(proof.root, proof.proven_leaves, proof.proof_nodes, proof.leaves * 4)
    with pytest.raises((ProofShapeError, MerkleRootMismatchError, LabelMismatchError)):
        verify_poet_proof(bad, statement)
    assert not is_valid_poet_proof(bad, statement)


def test_label_mismatch_with_consistent_tree() -> None:
    # A "prover" that skips the work: random leaves, but a correct Merkle tree over them.
    statement = hashlib.sha256(b"lazy").digest()
    hasher = make_poet_node_hasher(statement)
    leaves = [hashlib.sha256(b"%d" % i).digest() for i in range(40)]
    layers = compute_layers(leaves, hasher)
    ids = compute_fiat_shamir_ids(layers[-1][0], 40)
    fake = PoetProof(layers[-1][0], [leaves[i] for i in ids], compute_proof_nodes(layers, ids), 40)
    with pytest.raises(LabelMismatchError):
        verify_poet_proof(fake, statement)


def test_shape_errors(proof_300: tuple[PoetProof, bytes]) -> None:
    proof, statement = proof_300
    with pytest.raises(ProofShapeError):
        verify_poet_proof(PoetProof(proof.root, proof.proven_leaves[:-1], proof.proof_nodes, proof.leaves), statement)
    with pytest.raises(ProofShapeError):
        verify_poet_proof(PoetProof(proof.root[:31], proof.proven_leaves, proof.proof_nodes, proof.leaves), statement)
    # An extra node makes the walk climb past the root.
    with pytest.raises(MerkleRootMismatchError):
        verify_poet_proof(
            PoetProof(proof.root, proof.proven_leaves, (*proof.proof_nodes, bytes(32)), proof.leaves), statement
        )
    with pytest.raises(ProofShapeError):
        verify_poet_proof(proof, statement, min_leaves=301)
    with pytest.raises(ProofShapeError):
        verify_poet_proof(proof, statement[:16])


def test_partial_tree_format_errors() -> None:
    with pytest.raises(MerkleProofFormatError):
        validate_partial_tree([1, 0], [b"a" * 32, b"b" * 32], [], _plain_sha)
    with pytest.raises(MerkleProofFormatError):
        validate_partial_tree([0], [], [], _plain_sha)
    with pytest.raises(MerkleProofFormatError):
        # leaf 1 is the one node; the subtree of leaf 2 would need leaf 3's value, which is missing
        validate_partial_tree([0, 2], [b"a" * 32, b"b" * 32], [b"c" * 32], _plain_sha)
    # The top-level walk simply ends when the nodes run out (the reference's rule); leaf 2 is unused.
    walk = validate_partial_tree([0, 2], [b"a" * 32, b"b" * 32], [], _plain_sha)
    assert (walk.root, walk.height, walk.leaves_used, walk.nodes_used) == (b"a" * 32, 0, 1, 0)


# --- membership tree, statement and proof reference ---------------------------------------------


@pytest.mark.parametrize("count", [1, 2, 3, 7, 16, 33])
def test_membership_proofs(count: int) -> None:
    members = [hashlib.sha256(b"member %d" % i).digest() for i in range(count)]
    statement = compute_statement(members)
    verify_members_statement(members, statement)
    for index, member in enumerate(members):
        proof = generate_membership_proof(members, index)
        assert len(proof.nodes) == get_tree_height(count)
        verify_membership_proof(member, proof, statement)
        if count > 1:
            other = members[(index + 1) % count]
            with pytest.raises(MembershipProofError):
                verify_membership_proof(other, proof, statement)
            tampered = MembershipProof(proof.leaf_index, _replace(proof.nodes, 0, bytes(32)))
            if tampered.nodes != proof.nodes:
                with pytest.raises(MembershipProofError):
                    verify_membership_proof(member, tampered, statement)


def test_membership_tree_uses_blake3_with_prefix() -> None:
    from spacemesh_core.crypto.hashes import compute_blake3

    a, b = b"\x0a" * 32, b"\x0b" * 32
    assert compute_membership_node_hash(a, b) == compute_blake3(b"\x01" + a + b)
    assert compute_statement([a, b]) == compute_blake3(b"\x01" + a + b)
    assert compute_statement([a]) == a
    assert compute_statement([a, b, a]) == compute_blake3(
        b"\x01", compute_blake3(b"\x01" + a + b), compute_blake3(b"\x01" + a + bytes(32))
    )
    with pytest.raises(ValueError):
        compute_statement([])
    with pytest.raises(MembershipProofError):
        verify_members_statement([a, b], bytes(32))


def test_proof_reference_layout() -> None:
    from spacemesh_core.crypto.hashes import compute_blake3

    proof = PoetProof(b"\x11" * 32, [b"\x22" * 32, b"\x33" * 32], [b"\x44" * 32], 1_000_000)
    encoded = encode_merkle_proof_scale(proof)
    expected = (
        b"\x80"
        + b"\x11" * 32
        + b"\x08"
        + b"\x80"
        + b"\x22" * 32
        + b"\x80"
        + b"\x33" * 32
        + b"\x04"
        + b"\x80"
        + b"\x44" * 32
    )
    assert encoded == expected
    # 1_000_000 as a compact integer: four-byte mode, (v << 2) | 2 little endian.
    assert compute_poet_proof_ref(proof) == compute_blake3(expected + ((1_000_000 << 2) | 2).to_bytes(4, "little"))


# --- certificates ----------------------------------------------------------------------------


def test_certificate_verification() -> None:
    from spacemesh_core.crypto.signing import Signer

    certifier = Signer.from_seed(b"\x05" * 32)
    node = b"\x06" * 32
    data = Certificate(node, expiration=2_000_000_000).encode()
    from nacl.signing import SigningKey

    signature = SigningKey(b"\x05" * 32).sign(data).signature
    assert verify_certificate(data, signature, certifier.public_key, node, now=1_900_000_000).pubkey == node
    with pytest.raises(CertificateExpiredError):
        verify_certificate(data, signature, certifier.public_key, node, now=2_000_000_001)
    with pytest.raises(CertificateNodeMismatchError):
        verify_certificate(data, signature, certifier.public_key, b"\x07" * 32, now=0)
    with pytest.raises(CertificateSignatureError):
        verify_certificate(data, bytes(64), certifier.public_key, node, now=0)
    assert Certificate.decode(Certificate(node).encode()).expiration is None


# --- JSON forms and the CLI ------------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(
    root=st.binary(min_size=32, max_size=32),
    leaves=st.lists(st.binary(min_size=32, max_size=32), max_size=5),
    nodes=st.lists(st.binary(min_size=32, max_size=32), max_size=5),
    count=st.integers(min_value=1, max_value=2**64 - 1),
    members=st.lists(st.binary(min_size=32, max_size=32), max_size=4),
)
def test_json_forms_round_trip(root: bytes, leaves: list, nodes: list, count: int, members: list) -> None:
    proof = PoetProof(root, leaves, nodes, count)
    document = proof.to_json_dict()
    assert PoetProof.from_json_dict(json.loads(json.dumps(document))) == proof
    round_proof = RoundProof(proof, members, b"\x09" * 32)
    rest = json.loads(json.dumps(round_proof.to_rest_dict()))
    assert rest["proof"]["leaves"] == str(count)  # protojson writes uint64 as a string
    assert RoundProof.from_rest_dict(rest) == round_proof


def test_malformed_json_is_a_format_error() -> None:
    with pytest.raises(ProofFormatError):
        PoetProof.from_json_dict({"root": "zz", "leaves": 1, "proven_leaves": [], "proof_nodes": []})
    with pytest.raises(ProofFormatError):
        PoetProof.from_json_dict({"root": "00" * 32, "proven_leaves": [], "proof_nodes": []})
    with pytest.raises(ProofFormatError):
        PoetProof.from_json_dict({"root": "00" * 31, "leaves": 1, "proven_leaves": [], "proof_nodes": []})
    with pytest.raises(ProofFormatError):
        RoundProof.from_rest_dict({"proof": {"proof": {"root": "!!"}}})


def _poet_cli() -> click.Group:
    from spacemesh_plugins.poet_builtin.cli import get_poet_group

    return get_poet_group()


def test_cli_prove_verify_round_trip(tmp_path: os.PathLike) -> None:
    runner = CliRunner()
    statement = "ab" * 32
    result = runner.invoke(
        _poet_cli(), ["prove", "--statement", statement, "--leaves", "37", "--json", "--implementation", "reference"]
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert set(document) >= {"root", "leaves", "proven_ids", "proven_leaves", "proof_nodes"}
    assert document["leaves"] == 37
    assert document["proven_ids"] == list(range(37))
    assert PoetProof.from_json_dict(document) == generate_poet_proof(bytes.fromhex(statement), 37)

    path = tmp_path / "proof.json"  # type: ignore[operator]
    path.write_text(json.dumps(document))
    ok = runner.invoke(_poet_cli(), ["verify", "--proof", str(path)])
    assert ok.exit_code == 0, ok.output
    assert "valid" in ok.output

    document["proven_leaves"][5] = "00" * 32
    path.write_text(json.dumps(document))
    bad = runner.invoke(_poet_cli(), ["verify", "--proof", str(path)])
    assert bad.exit_code == 1
    assert "merkle proof not valid" in bad.output

    path.write_text("{}")
    assert runner.invoke(_poet_cli(), ["verify", "--proof", str(path), "--statement", statement]).exit_code == 1


def test_cli_prove_rejects_bad_statement() -> None:
    result = CliRunner().invoke(_poet_cli(), ["prove", "--statement", "abcd", "--leaves", "3"])
    assert result.exit_code == 2


def test_root_cli_has_the_poet_commands() -> None:
    root = pytest.importorskip("spacemesh_core.cli")
    result = CliRunner().invoke(root.cli, ["poet", "prove", "--statement", "01" * 32, "--leaves", "5", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["leaves"] == 5
    assert CliRunner().invoke(root.cli, ["poet", "serve", "--help"]).exit_code == 0
