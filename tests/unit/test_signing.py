"""ed25519 signing with genesis prefix and domains; reference acceptance rules; batch verification."""

from __future__ import annotations

import hashlib
import os

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st
from nacl import bindings as sodium
from nacl import exceptions as nacl_exceptions

from spacemesh_core.crypto import edwards25519 as ed
from spacemesh_core.crypto import signing as sg
from spacemesh_core.testing.vectors import load_vectors

GENESIS_ID = bytes.fromhex("9eebff023abb17ccb775c602daade8ed708f0a50")


def _message_signed_by(seed: bytes, data: bytes) -> bytes:
    """Independent signer (OpenSSL through ``cryptography``)."""
    return Ed25519PrivateKey.from_private_bytes(seed).sign(data)


def test_domain_bytes_match_the_reference() -> None:
    assert {d.name: int(d) for d in sg.Domain} == {
        "ATX": 0,
        "PROPOSAL": 1,
        "BALLOT": 2,
        "HARE": 3,
        "POET": 4,
        "MARRIAGE": 5,
        "BEACON_FIRST_MSG": 10,
        "BEACON_FOLLOWUP_MSG": 11,
    }


def test_signed_bytes_layout_matches_genesis_vector() -> None:
    for case in load_vectors("scale_and_tx")["cases"]:
        if case["kind"] != "genesis" or "signature_prefix_example_hex" not in case:
            continue
        genesis_id = bytes.fromhex(case["genesis_id_hex"])
        for name, prefix_hex in case["signature_prefix_example_hex"].items():
            assert sg.compute_signed_bytes(genesis_id, sg.Domain[name], b"").hex() == prefix_hex
            assert sg.compute_signed_bytes(genesis_id, sg.Domain[name], b"xy") == bytes.fromhex(prefix_hex) + b"xy"


def test_rfc8032_test_1() -> None:
    seed = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
    signer = sg.Signer.from_seed(seed)
    assert signer.node_id.hex() == "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
    expected = bytes.fromhex(
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
    )
    assert sg.is_valid_ed25519_signature(signer.public_key, b"", expected)
    assert sg.is_valid_ed25519_signature_reference(signer.public_key, b"", expected)


@settings(max_examples=15, deadline=None)
@given(
    seed=st.binary(min_size=32, max_size=32),
    message=st.binary(max_size=200),
    domain=st.sampled_from(list(sg.Domain)),
)
def test_sign_matches_independent_implementation_and_verifies(seed: bytes, message: bytes, domain: sg.Domain) -> None:
    signer = sg.Signer.from_seed(seed)
    signature = signer.sign(domain, message, GENESIS_ID)
    assert signature == _message_signed_by(seed, GENESIS_ID + bytes([domain]) + message)
    sg.verify_signature(signer.node_id, domain, message, signature, GENESIS_ID)
    assert sg.is_valid_signature(signer.node_id, domain, message, signature, GENESIS_ID)
    assert sg.is_valid_ed25519_signature_reference(
        signer.public_key, sg.compute_signed_bytes(GENESIS_ID, domain, message), signature
    )
    other_domain = sg.Domain.POET if domain != sg.Domain.POET else sg.Domain.ATX
    assert not sg.is_valid_signature(signer.node_id, other_domain, message, signature, GENESIS_ID)
    assert not sg.is_valid_signature(signer.node_id, domain, message, signature, bytes(20))


@settings(max_examples=15, deadline=None)
@given(
    seed=st.binary(min_size=32, max_size=32),
    message=st.binary(max_size=64),
    flip=st.integers(min_value=0, max_value=64 * 8 - 1),
)
def test_tampered_signatures_fast_path_agrees_with_reference(seed: bytes, message: bytes, flip: int) -> None:
    signer = sg.Signer.from_seed(seed)
    signature = bytearray(signer.sign(sg.Domain.HARE, message, GENESIS_ID))
    signature[flip // 8] ^= 1 << (flip % 8)
    signed = sg.compute_signed_bytes(GENESIS_ID, sg.Domain.HARE, message)
    fast = sg.is_valid_ed25519_signature(signer.public_key, signed, bytes(signature))
    assert fast == sg.is_valid_ed25519_signature_reference(signer.public_key, signed, bytes(signature))
    assert not fast
    with pytest.raises(sg.SignatureError):
        sg.verify_signature(signer.node_id, sg.Domain.HARE, message, bytes(signature), GENESIS_ID)


def _edge_case_signatures() -> list[tuple[str, bytes, bytes, bytes, bool]]:
    """(name, public key, message, signature, valid under Go crypto/ed25519 rules)."""
    cases = []
    s = 123456789
    r_for_identity_key = ed.SODIUM_GROUP.multiply_base(s)
    sig = r_for_identity_key + s.to_bytes(32, "little")
    cases.append(("identity public key", ed.IDENTITY_ENCODING, b"m", sig, True))
    cases.append(("non-canonical identity key", (ed.P + 1).to_bytes(32, "little"), b"m", sig, True))
    order_two = (ed.P - 1).to_bytes(32, "little")
    k = int.from_bytes(hashlib.sha512(r_for_identity_key + order_two + b"m").digest(), "little") % ed.L
    # [S]B - [k]T equals R only when k is even
    cases.append(("order-two public key", order_two, b"m", sig, k % 2 == 0))
    # small-order R with an honest key: R = identity, S = k * a
    a = int.from_bytes(hashlib.sha256(b"a").digest(), "little") % ed.L
    public = ed.SODIUM_GROUP.multiply_base(a)
    r_bytes = ed.IDENTITY_ENCODING
    k = int.from_bytes(hashlib.sha512(r_bytes + public + b"m").digest(), "little") % ed.L
    cases.append(("identity R", public, b"m", r_bytes + (k * a % ed.L).to_bytes(32, "little"), True))
    # S >= L is always refused (S + L would otherwise verify)
    signer = sg.Signer.from_seed(bytes(32))
    good = sodium.crypto_sign(b"m", signer.private_key)[:64]
    s_plus_l = (int.from_bytes(good[32:], "little") + ed.L).to_bytes(32, "little")
    cases.append(("S + L", signer.public_key, b"m", good[:32] + s_plus_l, False))
    cases.append(("honest", signer.public_key, b"m", good, True))
    cases.append(("off-curve key", (2).to_bytes(32, "little"), b"m", good, False))
    cases.append(("short signature", signer.public_key, b"m", good[:63], False))
    return cases


def test_reference_acceptance_rules_on_edge_cases() -> None:
    for name, public_key, message, signature, expected in _edge_case_signatures():
        if len(signature) == 64:
            assert sg.is_valid_ed25519_signature_reference(public_key, message, signature) is expected, name
        else:
            assert not sg.is_valid_ed25519_signature_reference(public_key, message, signature), name
        assert sg.is_valid_ed25519_signature(public_key, message, signature) is expected, name


def test_libsodium_is_stricter_than_the_reference() -> None:
    """Documents why the fallback exists: libsodium rejects these reference-valid signatures."""
    for name, public_key, message, signature, expected in _edge_case_signatures():
        if not expected or name == "honest":
            continue
        with pytest.raises(nacl_exceptions.CryptoError):
            sodium.crypto_sign_open(signature + message, public_key)


def test_signer_constructors_and_errors() -> None:
    signer = sg.Signer.generate()
    assert len(signer.node_id) == 32 and signer.node_id == signer.public_key
    again = sg.Signer.from_private_key(signer.private_key)
    assert again.public_key == signer.public_key and again.seed == signer.seed
    assert signer.node_id.hex() in repr(signer) and signer.seed.hex() not in repr(signer)
    with pytest.raises(ValueError, match="do not match"):
        sg.Signer.from_private_key(signer.seed + bytes(32))
    with pytest.raises(ValueError, match="64 bytes"):
        sg.Signer.from_private_key(signer.seed)
    with pytest.raises(ValueError, match="32 bytes"):
        sg.Signer.from_seed(b"short")
    with pytest.raises(ValueError, match="genesis id"):
        signer.sign(sg.Domain.ATX, b"x", bytes(19))
    with pytest.raises(ValueError, match="domain"):
        signer.sign(7, b"x", GENESIS_ID)
    signature = signer.sign(sg.Domain.ATX, b"x", GENESIS_ID)
    assert signer.sign(0, b"x", GENESIS_ID) == signature  # plain ints of known domains are accepted
    with pytest.raises(sg.SignatureError, match="32 bytes"):
        sg.verify_signature(signer.node_id[:31], sg.Domain.ATX, b"x", signature, GENESIS_ID)
    with pytest.raises(sg.SignatureError, match="64 bytes"):
        sg.verify_signature(signer.node_id, sg.Domain.ATX, b"x", signature[:10], GENESIS_ID)
    assert not sg.is_valid_signature(signer.node_id[:31], sg.Domain.ATX, b"x", signature, GENESIS_ID)
    with pytest.raises(ValueError, match="genesis id"):
        sg.is_valid_signature(signer.node_id, sg.Domain.ATX, b"x", signature, b"")
    with pytest.raises(ValueError, match="32 bytes"):
        sg.is_valid_ed25519_signature(b"", b"x", signature)


def _batch(count: int) -> list[sg.SignedMessage]:
    items = []
    for index in range(count):
        signer = sg.Signer.from_seed(hashlib.sha256(index.to_bytes(4, "little")).digest())
        message = os.urandom(index % 50)
        domain = list(sg.Domain)[index % len(sg.Domain)]
        items.append(sg.SignedMessage(signer.node_id, domain, message, signer.sign(domain, message, GENESIS_ID)))
    return items


@pytest.mark.parametrize("method", sg.BATCH_METHODS)
def test_batch_methods_agree_with_single_verification(method: str) -> None:
    items = _batch(70)
    assert sg.get_invalid_signature_indices(items, GENESIS_ID, method=method) == []
    assert sg.is_valid_signature_batch(items, GENESIS_ID, method=method)
    sg.verify_signature_batch(items, GENESIS_ID, method=method)

    bad = list(items)
    bad[3] = sg.SignedMessage(bad[3].public_key, bad[3].domain, bad[3].message + b"!", bad[3].signature)
    bad[40] = sg.SignedMessage(bad[40].public_key, sg.Domain.POET, bad[40].message, bad[40].signature)
    bad[-1] = sg.SignedMessage(bad[-1].public_key[:31], bad[-1].domain, bad[-1].message, bad[-1].signature)
    if bad[40].domain == items[40].domain:
        bad[40] = sg.SignedMessage(bad[40].public_key, sg.Domain.ATX, bad[40].message, bad[40].signature)
    expected = [i for i, item in enumerate(bad) if not _is_valid_single(item)]
    assert expected == [3, 40, len(bad) - 1]
    assert sg.get_invalid_signature_indices(bad, GENESIS_ID, method=method) == expected
    assert not sg.is_valid_signature_batch(bad, GENESIS_ID, method=method)
    with pytest.raises(sg.BatchSignatureError) as info:
        sg.verify_signature_batch(bad, GENESIS_ID, method=method)
    assert info.value.invalid_indices == expected


def _is_valid_single(item: sg.SignedMessage) -> bool:
    return sg.is_valid_signature(item.public_key, item.domain, item.message, item.signature, GENESIS_ID)


@pytest.mark.parametrize("method", ["loop", "threads", "rlc"])
def test_batch_with_edge_case_signatures(method: str) -> None:
    """Torsion keys / small-order R make the RLC bail out; the answer must still be exact."""
    entries = [(pk, msg, sig) for _, pk, msg, sig, _ in _edge_case_signatures()]
    expected = [i for i, (_, _, _, _, valid) in enumerate(_edge_case_signatures()) if not valid]
    assert sg.get_invalid_ed25519_indices(entries, method=method) == expected
    valid_only = [entry for entry, case in zip(entries, _edge_case_signatures(), strict=True) if case[4]]
    assert sg.get_invalid_ed25519_indices(valid_only, method=method) == []


def test_batch_empty_and_unknown_method() -> None:
    assert sg.get_invalid_signature_indices([], GENESIS_ID) == []
    assert sg.is_valid_signature_batch([], GENESIS_ID, method="rlc")
    with pytest.raises(ValueError, match="method"):
        sg.get_invalid_signature_indices(_batch(1), GENESIS_ID, method="magic")
