"""ECVRF-EDWARDS25519-SHA512-ELL2 (RFC 9381): vectors, backend agreement, tampering, helpers."""

from __future__ import annotations

import hashlib
import os
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spacemesh_core.crypto import edwards25519 as ed
from spacemesh_core.crypto import vrf
from spacemesh_core.testing.vectors import load_vectors

BACKENDS = ("sodium", "reference")


def _cases() -> list[dict]:
    cases = load_vectors("ecvrf")["cases"]
    assert cases, "ecvrf.json has no cases"
    return cases


@pytest.mark.parametrize("backend", BACKENDS)
def test_vectors_prove_with_intermediates(backend: str) -> None:
    cases = _cases()
    for case in cases:
        sk = bytes.fromhex(case["sk_hex"])
        alpha = bytes.fromhex(case["alpha_hex"])
        trace = vrf.compute_vrf_proof_trace(sk, alpha, backend=backend)
        assert trace.public_key.hex() == case["pk_hex"], case["name"]
        assert trace.h_point.hex() == case["H_hex"], case["name"]
        assert trace.k_scalar.to_bytes(32, "little").hex() == case["k_hex_le"], case["name"]
        assert trace.u_point.hex() == case["U_hex"], case["name"]
        assert trace.v_point.hex() == case["V_hex"], case["name"]
        assert trace.gamma.hex() == case["gamma_hex"], case["name"]
        assert trace.c_scalar.to_bytes(16, "little").hex() == case["c_hex_le16"], case["name"]
        assert trace.s_scalar.to_bytes(32, "little").hex() == case["s_hex_le32"], case["name"]
        assert trace.proof.hex() == case["pi_hex"], case["name"]
        assert trace.vrf_hash.hex() == case["beta_hex"], case["name"]
        # the 64-byte secret key form (seed || pk) gives the same proof
        assert vrf.compute_vrf_proof(sk + trace.public_key, alpha, backend=backend).hex() == case["pi_hex"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_vectors_verify_and_hash(backend: str) -> None:
    for case in _cases():
        pk = bytes.fromhex(case["pk_hex"])
        alpha = bytes.fromhex(case["alpha_hex"])
        pi = bytes.fromhex(case["pi_hex"])
        assert vrf.verify_vrf_proof(pk, alpha, pi, backend=backend).hex() == case["beta_hex"]
        assert vrf.compute_vrf_hash(pi, backend=backend).hex() == case["beta_hex"]
        # the draft-10 proof (challenge without the public key) must be rejected
        with pytest.raises(vrf.VrfError):
            vrf.verify_vrf_proof(pk, alpha, bytes.fromhex(case["contrast_draft10_pi_hex"]), backend=backend)
        assert not vrf.is_valid_vrf_proof(pk, alpha + b"x", pi)


def test_vectors_spacemesh_derived_values() -> None:
    for case in _cases():
        pi = bytes.fromhex(case["pi_hex"])
        derived = case["spacemesh_derived"]
        assert vrf.get_vrf_layer_offset(pi) == derived["ballot_layer_offset"]
        assert int(vrf.get_vrf_weak_coin(pi)) == derived["weak_coin_bit"]


# RFC 9380 appendix J.5.2 (edwards25519_XMD:SHA-512_ELL2_NU_): msg -> (u0, P.x, P.y), big-endian hex.
_H2C_NU_VECTORS = {
    b"": (
        "7f3e7fb9428103ad7f52db32f9df32505d7b427d894c5093f7a0f0374a30641d",
        "1ff2b70ecf862799e11b7ae744e3489aa058ce805dd323a936375a84695e76da",
        "222e314d04a4d5725e9f2aff9fb2a6b69ef375a1214eb19021ceab2d687f0f9b",
    ),
    b"abc": (
        "09cfa30ad79bd59456594a0f5d3a76f6b71c6787b04de98be5cd201a556e253b",
        "5f13cc69c891d86927eb37bd4afc6672360007c63f68a33ab423a3aa040fd2a8",
        "67732d50f9a26f73111dd1ed5dba225614e538599db58ba30aaea1f5c827fa42",
    ),
}


def test_hash_to_curve_rfc9380_vectors() -> None:
    dst = b"QUUX-V01-CS02-with-edwards25519_XMD:SHA-512_ELL2_NU_"
    for message, (u_hex, x_hex, y_hex) in _H2C_NU_VECTORS.items():
        u = int.from_bytes(vrf.compute_expand_message_xmd(message, dst, 48), "big") % ed.P
        assert u == int(u_hex, 16)
        x, y = int(x_hex, 16), int(y_hex, 16)
        expected = (y | ((x & 1) << 255)).to_bytes(32, "little")
        assert vrf.compute_hash_to_curve(message, dst) == expected


def test_expand_message_xmd_rfc9380_vectors() -> None:
    # RFC 9380 appendix K.3 (expand_message_xmd with SHA-512)
    dst = b"QUUX-V01-CS02-with-expander-SHA512-256"
    assert vrf.compute_expand_message_xmd(b"", dst, 0x20).hex() == (
        "6b9a7312411d92f921c6f68ca0b6380730a1a4d982c507211a90964c394179ba"
    )
    assert vrf.compute_expand_message_xmd(b"abc", dst, 0x20).hex() == (
        "0da749f12fbe5483eb066a5f595055679b976e93abe9be6f0f6318bce7aca8dc"
    )
    assert vrf.compute_expand_message_xmd(b"", dst, 0x80).hex() == (
        "41b037d1734a5f8df225dd8c7de38f851efdb45c372887be655212d07251b921b052b62eaed99b46f72f2ef4cc96bfaf"
        "254ebbbec091e1a3b9e4fb5e5b619d2e0c5414800a1d882b62bb5cd1778f098b8eb6cb399d5d9d18f5d5842cf5d13d7e"
        "b00a7cff859b605da678b318bd0e65ebff70bec88c753b159a805d2c89c55961"
    )


def test_elligator2_agrees_with_the_definition() -> None:
    """The single-exponentiation map equals RFC 9380 §6.7.1 written with two square roots."""
    j = 486662

    def g(x: int) -> int:
        return (x * x * x + j * x * x + x) % ed.P

    def is_square(v: int) -> bool:
        return v % ed.P == 0 or pow(v, (ed.P - 1) // 2, ed.P) == 1

    for seed in range(40):
        u = int.from_bytes(hashlib.sha512(bytes([seed])).digest(), "big") % ed.P
        s, t = vrf.compute_elligator2_curve25519(u)
        x1 = (-j * pow(1 + 2 * u * u, -1, ed.P)) % ed.P
        if is_square(g(x1)):
            assert s == x1 and t & 1 == 1
        else:
            assert s == (-x1 - j) % ed.P and t & 1 == 0
        assert t * t % ed.P == g(s)


@settings(max_examples=12, deadline=None)
@given(seed=st.binary(min_size=32, max_size=32), alpha=st.binary(max_size=64))
def test_random_round_trip_and_backend_agreement(seed: bytes, alpha: bytes) -> None:
    fast = vrf.compute_vrf_proof_trace(seed, alpha, backend="sodium")
    slow = vrf.compute_vrf_proof_trace(seed, alpha, backend="reference")
    assert fast == slow
    assert vrf.verify_vrf_proof(fast.public_key, alpha, fast.proof) == fast.vrf_hash
    assert vrf.compute_vrf_hash(fast.proof) == fast.vrf_hash
    assert len(fast.proof) == vrf.VRF_PROOF_SIZE and len(fast.vrf_hash) == vrf.VRF_HASH_SIZE


def test_tampered_proofs_rejected() -> None:
    seed = bytes(range(32))
    alpha = b"spacemesh"
    pk = vrf.get_vrf_public_key(seed)
    pi = vrf.compute_vrf_proof(seed, alpha)
    for index in range(0, vrf.VRF_PROOF_SIZE, 3):
        tampered = bytearray(pi)
        tampered[index] ^= 0x01
        for backend in BACKENDS:
            with pytest.raises(vrf.VrfError):
                vrf.verify_vrf_proof(pk, alpha, bytes(tampered), backend=backend)
    other_pk = vrf.get_vrf_public_key(bytes(32))
    with pytest.raises(vrf.VrfError):
        vrf.verify_vrf_proof(other_pk, alpha, pi)
    with pytest.raises(vrf.VrfError, match="80 bytes"):
        vrf.verify_vrf_proof(pk, alpha, pi[:-1])


def test_malformed_keys_and_proofs() -> None:
    seed = os.urandom(32)
    alpha = b"a"
    pk = vrf.get_vrf_public_key(seed)
    pi = vrf.compute_vrf_proof(seed, alpha)
    # s >= L is refused (s + L has the same value modulo L)
    s = int.from_bytes(pi[48:], "little")
    with pytest.raises(vrf.VrfError, match="non-canonical s"):
        vrf.verify_vrf_proof(pk, alpha, pi[:48] + (s + ed.L).to_bytes(32, "little"))
    # non-canonical Gamma encoding
    with pytest.raises(vrf.VrfError, match="Gamma"):
        vrf.verify_vrf_proof(pk, alpha, (ed.P + 1).to_bytes(32, "little") + pi[32:])
    # small-order and off-curve public keys
    for backend in BACKENDS:
        with pytest.raises(vrf.VrfError, match="small-order"):
            vrf.verify_vrf_proof(ed.IDENTITY_ENCODING, alpha, pi, backend=backend)
    off_curve = next(
        candidate
        for candidate in (i.to_bytes(32, "little") for i in range(2, 100))
        if not ed.REFERENCE_GROUP.is_on_curve(candidate)
    )
    with pytest.raises(vrf.VrfError, match="not a curve point"):
        vrf.verify_vrf_proof(off_curve, alpha, pi)
    with pytest.raises(vrf.VrfError, match="32 bytes"):
        vrf.verify_vrf_proof(pk[:31], alpha, pi)
    # secret-key shapes
    with pytest.raises(vrf.VrfError):
        vrf.compute_vrf_proof(seed[:31], alpha)
    with pytest.raises(vrf.VrfError, match="does not match"):
        vrf.compute_vrf_proof(seed + bytes(32), alpha)
    with pytest.raises(ValueError, match="backend"):
        vrf.compute_vrf_proof(seed, alpha, backend="gpu")


def test_torsion_gamma_agrees_between_backends() -> None:
    """A Gamma with a small-order component is decodable (the reference accepts any curve point);
    both backends must compute the same (failing) verification and the same hash."""
    seed = bytes(32)
    alpha = b"torsion"
    pk = vrf.get_vrf_public_key(seed)
    pi = vrf.compute_vrf_proof(seed, alpha)
    order_two = (ed.P - 1).to_bytes(32, "little")  # (0, -1)
    gamma_mixed = ed.SODIUM_GROUP.add(pi[:32], order_two)
    mixed = gamma_mixed + pi[32:]
    for backend in BACKENDS:
        with pytest.raises(vrf.VrfError, match="does not verify"):
            vrf.verify_vrf_proof(pk, alpha, mixed, backend=backend)
    # 8 * (Gamma + T) = 8 * Gamma: same hash
    assert vrf.compute_vrf_hash(mixed) == vrf.compute_vrf_hash(pi)
    assert vrf.compute_vrf_hash(mixed, backend="reference") == vrf.compute_vrf_hash(pi)


def test_group_backends_agree_on_any_points() -> None:
    """libsodium refuses torsion / identity cases; the sodium backend must still match the oracle."""
    identity = ed.IDENTITY_ENCODING
    order_two = (ed.P - 1).to_bytes(32, "little")
    prime_order = vrf.get_vrf_public_key(bytes(32))
    mixed = ed.SODIUM_GROUP.add(prime_order, order_two)  # prime-order part + torsion part
    non_canonical_identity = (ed.P + 1).to_bytes(32, "little")
    scalars = [0, 1, 7, 8, 9, ed.L, ed.L - 1, 8 * ed.L + 3, 2**200 + 12345]
    for point in (identity, order_two, prime_order, mixed, non_canonical_identity):
        for scalar in scalars:
            fast = ed.SODIUM_GROUP.multiply(scalar, point)
            assert fast == ed.REFERENCE_GROUP.multiply(scalar, point), (point.hex(), scalar)
        assert ed.SODIUM_GROUP.multiply_by_cofactor(point) == ed.REFERENCE_GROUP.multiply_by_cofactor(point)
        assert ed.SODIUM_GROUP.is_on_curve(point) and ed.REFERENCE_GROUP.is_on_curve(point)
    for scalar in scalars:
        assert ed.SODIUM_GROUP.multiply_base(scalar) == ed.REFERENCE_GROUP.multiply_base(scalar)
    assert ed.is_small_order_encoding(order_two) and ed.is_small_order_encoding(non_canonical_identity)
    assert not ed.is_small_order_encoding(mixed) and not ed.is_small_order_encoding(prime_order)
    assert ed.is_small_order_encoding(order_two, ed.REFERENCE_GROUP)
    assert not ed.is_canonical_encoding(non_canonical_identity)
    assert not ed.is_canonical_encoding((1 | 1 << 255).to_bytes(32, "little"))
    with pytest.raises(ed.PointDecodeError):
        ed.decode_point_strict(non_canonical_identity)
    assert ed.encode_point(ed.decode_point_lenient(non_canonical_identity)) == identity


def test_randomness_helpers() -> None:
    pi = bytes(range(80))
    word = int.from_bytes(pi[:8], "little")
    assert vrf.get_vrf_layer_offset(pi) == word % 4032
    assert vrf.get_vrf_layer_offset(pi, 10) == word % 10
    assert vrf.get_vrf_fraction56_numerator(pi) == word & (2**56 - 1)
    assert vrf.get_vrf_fraction56(pi) == Fraction(word & (2**56 - 1), 2**56)
    assert vrf.get_vrf_weak_coin(pi) is False
    assert vrf.get_vrf_weak_coin(b"\x01" + pi[1:]) is True
    assert vrf.get_vrf_beacon_value(pi) == b"\x00\x01\x02\x03"
    assert vrf.get_vrf_big_endian_int(pi) == int.from_bytes(pi, "big")
    # little-endian comparison is dominated by the last byte (the s scalar), not by Gamma
    low_gamma_high_s = bytes(79) + b"\x02"
    high_gamma_low_s = b"\xff" * 79 + b"\x01"
    assert vrf.compare_vrf_little_endian(low_gamma_high_s, high_gamma_low_s) == 1
    assert vrf.compare_vrf_little_endian(high_gamma_low_s, low_gamma_high_s) == -1
    assert vrf.compare_vrf_little_endian(pi, pi) == 0
    with pytest.raises(vrf.VrfError):
        vrf.get_vrf_layer_offset(pi[:8])
    with pytest.raises(ValueError):
        vrf.get_vrf_layer_offset(pi, 0)


def test_signer_vrf_matches_module() -> None:
    from spacemesh_core.crypto.signing import Signer

    signer = Signer.from_seed(hashlib.sha256(b"node").digest())
    alpha = b"\x01\x02"
    proof = signer.compute_vrf_proof(alpha)
    assert proof == vrf.compute_vrf_proof(signer.seed, alpha)
    assert vrf.is_valid_vrf_proof(signer.node_id, alpha, proof)
