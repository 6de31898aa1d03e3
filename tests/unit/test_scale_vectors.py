"""Known-answer vectors for the SCALE codec and the transaction envelope.

Kinds owned here: scale_and_tx.json ``compact``, ``compact_slice``, ``compact_decode_error``,
``wallet_golden``, ``mainnet_tx`` (and the SCALE spawn arguments of ``principal_derivation``);
poet.json ``certificate_scale``. Every case of each kind is exercised.
"""

from __future__ import annotations

import base64
from collections import Counter
from datetime import datetime
from typing import Any

import attrs
import pytest

from spacemesh_core.codec.scale import (
    U8,
    U64,
    Bytes,
    Compact,
    List,
    ScaleError,
    ScaleReader,
    decode,
    decode_compact,
    decode_value,
    encode,
    encode_compact,
    encode_value,
    field,
)
from spacemesh_core.testing.vectors import load_vectors
from spacemesh_core.types.poet import PoetCertificate, UnixTimestamp
from spacemesh_core.types.tx import (
    METHOD_SPEND,
    TxPayload,
    WalletSpawnArguments,
    WalletSpendArguments,
    compute_tx_id,
    get_tx_signed_bytes,
    parse_tx_envelope,
)


def _cases(name: str, kind: str) -> list[dict[str, Any]]:
    cases = [case for case in load_vectors(name)["cases"] if case["kind"] == kind]
    assert cases, f"{name} has no {kind} case"
    return cases


def _ids(cases: list[dict[str, Any]]) -> list[str]:
    return [f"{case['kind']}-{i}" for i, case in enumerate(cases)]


def _collect(name: str, kind: str) -> list[dict[str, Any]]:
    """Return the cases of ``kind`` for parametrization; none when the vector file is absent."""
    try:
        return _cases(name, kind)
    except pytest.skip.Exception:  # file absent: the parametrized tests report an empty set
        return []


def _scale_cases(kind: str) -> list[dict[str, Any]]:
    return _collect("scale_and_tx", kind)


# --- compact -------------------------------------------------------------------------------------

COMPACT = _scale_cases("compact")


@pytest.mark.parametrize("case", COMPACT, ids=_ids(COMPACT))
def test_compact_vector(case: dict[str, Any]) -> None:
    bits = case["type_bits"]
    expected = bytes.fromhex(case["encoded_hex"])
    assert encode_compact(case["value"], bits) == expected
    assert decode_compact(expected, bits) == case["value"]


COMPACT_SLICE = _scale_cases("compact_slice")


@pytest.mark.parametrize("case", COMPACT_SLICE, ids=_ids(COMPACT_SLICE))
def test_compact_slice_vector(case: dict[str, Any]) -> None:
    spec = List(Compact(case["type_bits"]), 1 << 20)  # go-scale's default element limit
    expected = bytes.fromhex(case["encoded_hex"])
    assert encode_value(spec, case["values"]) == expected
    assert decode_value(spec, expected) == tuple(case["values"])


COMPACT_DECODE_ERROR = _scale_cases("compact_decode_error")


@pytest.mark.parametrize("case", COMPACT_DECODE_ERROR, ids=_ids(COMPACT_DECODE_ERROR))
def test_compact_decode_error_vector(case: dict[str, Any]) -> None:
    data = bytes.fromhex(case["encoded_hex"])
    with pytest.raises(ScaleError):
        decode_compact(data, case["type_bits"])
    # Not a truncation artefact: the same bytes followed by plenty of padding are refused too.
    with pytest.raises(ScaleError):
        ScaleReader(data + bytes(16)).read_compact(case["type_bits"])


# --- wallet golden files -------------------------------------------------------------------------

WALLET_GOLDEN = _scale_cases("wallet_golden")


def _golden_object(case: dict[str, Any]) -> object:
    obj = case["object"]
    kind = case["type"]
    if kind == "SpawnArguments":
        return WalletSpawnArguments(bytes.fromhex(obj["PublicKey"].removeprefix("0x")))
    if kind == "SpendArguments":
        return WalletSpendArguments(bytes(obj["Destination"]), obj["Amount"])
    if kind in ("SpendPayload", "SpawnPayload"):
        return TxPayload(obj["Nonce"], obj["GasPrice"])
    raise AssertionError(f"unknown golden type {kind}")


@pytest.mark.parametrize("case", WALLET_GOLDEN, ids=_ids(WALLET_GOLDEN))
def test_wallet_golden_vector(case: dict[str, Any]) -> None:
    obj = _golden_object(case)
    expected = bytes.fromhex(case["encoded_hex"])
    assert encode(obj) == expected
    assert decode(type(obj), expected) == obj


# --- spawn arguments of the vesting / vault principal derivation ----------------------------------


@attrs.frozen
class _MultisigSpawnArguments:
    """Test-local declaration of the multisig/vesting spawn arguments (owned by the templates)."""

    required: int = field(U8)
    public_keys: tuple[bytes, ...] = field(List(Bytes(32), 10))


@attrs.frozen
class _VaultSpawnArguments:
    """Test-local declaration of the vault spawn arguments (owned by the templates)."""

    owner: bytes = field(Bytes(24))
    total_amount: int = field(U64)
    initial_unlock_amount: int = field(U64)
    vesting_start: int = field(Compact(32))
    vesting_end: int = field(Compact(32))


PRINCIPAL_DERIVATION = [case for case in _scale_cases("principal_derivation") if "vesting" in case]


@pytest.mark.parametrize("case", PRINCIPAL_DERIVATION, ids=_ids(PRINCIPAL_DERIVATION))
def test_spawn_arguments_scale_of_principal_derivation(case: dict[str, Any]) -> None:
    vesting = case["vesting"]
    args = _MultisigSpawnArguments(vesting["required"], tuple(bytes.fromhex(key) for key in vesting["public_keys_hex"]))
    assert encode(args).hex() == vesting["spawn_args_scale_hex"]
    vault = case["vault"]
    vault_args = _VaultSpawnArguments(
        bytes.fromhex(vault["owner_hex"]),
        vault["total_amount"],
        vault["initial_unlock_amount"],
        vault["vesting_start"],
        vault["vesting_end"],
    )
    assert encode(vault_args).hex() == vault["spawn_args_scale_hex"]
    assert decode(_VaultSpawnArguments, bytes.fromhex(vault["spawn_args_scale_hex"])) == vault_args


# --- mainnet transaction ---------------------------------------------------------------------------

MAINNET_TX = _scale_cases("mainnet_tx")


@pytest.mark.parametrize("case", MAINNET_TX, ids=_ids(MAINNET_TX))
def test_mainnet_tx_vector(case: dict[str, Any]) -> None:
    raw = bytes.fromhex(case["raw_hex"])
    assert base64.b64decode(case["raw_base64"]) == raw
    expected = case["expected"]

    assert compute_tx_id(raw).hex() == expected["tx_id_hex"]
    envelope = parse_tx_envelope(raw)
    assert envelope.version == 0
    assert envelope.principal.hex() == expected["principal_hex"]
    assert envelope.method == expected["method"] == METHOD_SPEND
    assert envelope.template is None  # a spend names no template; the account state holds it
    assert envelope.payload == TxPayload(expected["nonce"], expected["gas_price"])

    # The wallet template's part: spend arguments, then one ed25519 signature.
    reader = ScaleReader(envelope.body)
    args = reader.read_struct(WalletSpendArguments)
    assert args.destination.hex() == expected["destination_hex"]
    assert args.amount == expected["amount"] == expected["max_spend"]
    signature = reader.read_bytes(64)
    reader.expect_end()
    assert signature.hex() == expected["signature_hex"]

    assert envelope.to_bytes() == raw
    assert envelope.compute_id().hex() == expected["tx_id_hex"]
    assert get_tx_signed_bytes(raw) == raw[:-64]
    # The signature cannot be checked here: a spend carries no public key (the principal's wallet
    # state holds it), so that check belongs to the accounts/VM work.

    # Cross-check with the bech32 form when the address module is present.
    address = pytest.importorskip("spacemesh_core.crypto.address")
    assert address.parse_address(expected["principal"]) == envelope.principal
    assert address.parse_address(expected["template"]) == address.compute_template_address(1)


# --- PoET certificate --------------------------------------------------------------------------

CERTIFICATE = _collect("poet", "certificate_scale")


@pytest.mark.parametrize("case", CERTIFICATE, ids=_ids(CERTIFICATE))
def test_poet_certificate_vector(case: dict[str, Any]) -> None:
    data = bytes.fromhex(case["encoded_hex"])
    assert base64.b64decode(case["encoded_base64"]) == data
    cert = decode(PoetCertificate, data)
    assert cert.pubkey.hex() == case["pubkey_hex"]
    assert cert.expiration == UnixTimestamp(case["expiration_unix"])
    assert cert.expiration.to_datetime() == datetime.fromisoformat(case["expiration_rfc3339"])
    assert encode(cert) == data
    assert cert.get_signed_bytes() == data
    assert cert.is_expired(datetime.fromisoformat("2024-01-01T00:00:00+00:00"))
    assert not cert.is_expired(datetime.fromisoformat("1990-01-01T00:00:00+00:00"))
    # without an expiration the option byte is 0x00
    assert encode(PoetCertificate(cert.pubkey, None)) == data[:-5] + b"\x00"


# --- coverage of the owned kinds ------------------------------------------------------------------


def test_every_owned_vector_case_is_exercised() -> None:
    counts = Counter(case["kind"] for case in load_vectors("scale_and_tx")["cases"])
    assert counts["compact"] == len(COMPACT) > 0
    assert counts["compact_slice"] == len(COMPACT_SLICE) > 0
    assert counts["compact_decode_error"] == len(COMPACT_DECODE_ERROR) > 0
    assert counts["wallet_golden"] == len(WALLET_GOLDEN) > 0
    assert counts["mainnet_tx"] == len(MAINNET_TX) > 0
    poet_counts = Counter(case["kind"] for case in load_vectors("poet")["cases"])
    assert poet_counts["certificate_scale"] == len(CERTIFICATE) > 0
