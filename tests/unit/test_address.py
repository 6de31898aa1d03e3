"""bech32 addresses, template addresses and principal derivation against the shared vectors."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spacemesh_core.codec.scale import encode_compact
from spacemesh_core.crypto import address as addr
from spacemesh_core.crypto import bech32
from spacemesh_core.testing.vectors import load_vectors


def _cases(kind: str) -> list[dict]:
    cases = [case for case in load_vectors("scale_and_tx")["cases"] if case["kind"] == kind]
    assert cases, f"no {kind} cases in scale_and_tx.json"
    return cases


def test_template_address_vectors() -> None:
    cases = _cases("template_address")
    assert {case["template"] for case in cases} == set(addr.TEMPLATE_ADDRESSES)
    for case in cases:
        template = addr.TEMPLATE_ADDRESSES[case["template"]]
        assert template.hex() == case["address_hex"]
        assert str(template) == case["address"]
        assert addr.parse_address(case["address"]) == template


def test_address_parse_vectors_in_reference_error_order() -> None:
    errors = {
        cls.kind: cls
        for cls in (
            addr.AddressDecodeError,
            addr.WrongAddressLengthError,
            addr.UnsupportedNetworkError,
            addr.MissingReservedSpaceError,
        )
    }
    cases = _cases("address_parse")
    for case in cases:
        if case["expected_error"] is None:
            parsed = addr.parse_address(case["input"], case["hrp"])
            assert parsed.hex() == case["address_hex"]
            assert parsed.to_string(case["hrp"]) == case["input"]
            assert addr.is_valid_address(case["input"], case["hrp"])
        else:
            with pytest.raises(errors[case["expected_error"]]) as info:
                addr.parse_address(case["input"], case["hrp"])
            assert info.value.kind == case["expected_error"]
            assert isinstance(info.value, addr.AddressError)
            assert not addr.is_valid_address(case["input"], case["hrp"])


def test_principal_derivation_vectors() -> None:
    for case in _cases("principal_derivation"):
        if "vesting" in case:
            vesting = case["vesting"]
            keys = [bytes.fromhex(key) for key in vesting["public_keys_hex"]]
            # the codec encodes the spawn arguments: {Required compact u8, PublicKeys [][32]byte}
            args = encode_compact(vesting["required"], 8) + encode_compact(len(keys), 32) + b"".join(keys)
            assert args.hex() == vesting["spawn_args_scale_hex"]
            assert addr.compute_multisig_spawn_args(vesting["required"], keys) == args
            principal = addr.compute_principal(bytes.fromhex(vesting["template_hex"]), args)
            assert principal.hex() == vesting["address_hex"]
            assert str(principal) == vesting["address"]
            assert (
                addr.compute_multisig_principal(vesting["required"], keys, addr.VESTING_TEMPLATE_ADDRESS) == principal
            )

            vault = case["vault"]
            vault_args = addr.compute_vault_spawn_args(
                bytes.fromhex(vault["owner_hex"]),
                vault["total_amount"],
                vault["initial_unlock_amount"],
                vault["vesting_start"],
                vault["vesting_end"],
            )
            assert vault_args.hex() == vault["spawn_args_scale_hex"]
            assert vault["owner_hex"] == vesting["address_hex"]  # the vault belongs to the vesting account
            principal = addr.compute_principal(bytes.fromhex(vault["template_hex"]), vault_args)
            assert principal.hex() == vault["address_hex"]
            assert str(principal) == vault["address"]
            assert (
                addr.compute_vault_principal(
                    bytes.fromhex(vault["owner_hex"]),
                    vault["total_amount"],
                    vault["initial_unlock_amount"],
                    vault["vesting_start"],
                    vault["vesting_end"],
                )
                == principal
            )
        else:
            principal = addr.compute_wallet_principal(bytes.fromhex(case["public_key_hex"]))
            assert principal.hex() == case["address_hex"]
            assert str(principal) == case["address"]


def test_genesis_accounts_round_trip() -> None:
    for case in _cases("genesis_accounts"):
        accounts = case["accounts"]
        assert len(accounts) == case["count"]
        assert sum(account["balance_smidge"] for account in accounts) == case["total_smidge"]
        for account in accounts:
            parsed = addr.parse_address(account["address"], addr.get_network_hrp(case["network"]))
            assert parsed.hex() == account["address_hex"]
            assert addr.Address(bytes.fromhex(account["address_hex"])).to_string() == account["address"]
            assert not parsed.is_empty()


@settings(max_examples=60, deadline=None)
@given(body=st.binary(min_size=20, max_size=20), network=st.sampled_from(sorted(addr.NETWORK_HRPS)))
def test_round_trip_any_address(body: bytes, network: str) -> None:
    hrp = addr.get_network_hrp(network)
    address = addr.Address(bytes(4) + body)
    text = address.to_string(hrp)
    assert text.startswith(hrp + "1")
    assert addr.parse_address(text, hrp) == address
    assert addr.parse_address(text.upper(), hrp) == address  # all upper case is valid bech32
    other = next(h for h in addr.NETWORK_HRPS.values() if h != hrp)
    with pytest.raises(addr.UnsupportedNetworkError):
        addr.parse_address(text, other)


@settings(max_examples=60, deadline=None)
@given(body=st.binary(min_size=20, max_size=20), position=st.integers(min_value=0, max_value=200))
def test_single_character_corruption_is_detected(body: bytes, position: int) -> None:
    text = addr.Address(bytes(4) + body).to_string()
    index = len("sm1") + position % (len(text) - len("sm1"))
    replacement = next(c for c in bech32.CHARSET if c != text[index])
    corrupted = text[:index] + replacement + text[index + 1 :]
    with pytest.raises(addr.AddressDecodeError):
        addr.parse_address(corrupted)


def test_address_type_and_errors() -> None:
    assert addr.Address().is_empty()
    assert addr.Address() == bytes(24)
    with pytest.raises(addr.WrongAddressLengthError):
        addr.Address(bytes(23))
    with pytest.raises(addr.AddressDecodeError):
        addr.parse_address("sm1QQQQqqqq")  # mixed case
    nonzero_reserved = addr.Address(b"\x01" + bytes(23)).to_string()
    with pytest.raises(addr.MissingReservedSpaceError):
        addr.parse_address(nonzero_reserved)
    bad_checksum = bech32.encode_bech32("sm", [0] * 39)[:-6] + "qqqqqq"
    with pytest.raises(addr.AddressDecodeError):
        addr.parse_address(bad_checksum)
    # a 40-group payload also regroups to 25 bytes; the reference accepts it (last byte ignored)
    forty = bech32.encode_bech32("sm", [0] * 8 + [1] * 32)
    assert addr.parse_address(forty) == bytes(4) + bytes(bech32.convert_bits([0] * 8 + [1] * 32, 5, 8, True))[4:24]
    assert addr.compute_address_from_hash(bytes(range(32))) == bytes(4) + bytes(range(12, 32))
    assert addr.compute_template_address(4) == addr.VAULT_TEMPLATE_ADDRESS
    with pytest.raises(ValueError):
        addr.compute_template_address(0)
    with pytest.raises(KeyError, match="unknown network"):
        addr.get_network_hrp("moon")
    with pytest.raises(ValueError):
        addr.compute_wallet_principal(bytes(31))
    with pytest.raises(ValueError):
        addr.compute_multisig_spawn_args(3, [bytes(32)] * 2)
    assert repr(addr.WALLET_TEMPLATE_ADDRESS).startswith("Address(")


def test_bech32_primitives() -> None:
    # BIP-173 valid test strings (bech32, constant 1)
    for valid in ("A12UEL5L", "a12uel5l", "abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw"):
        hrp, data = bech32.decode_bech32_no_limit(valid)
        assert bech32.encode_bech32(hrp, data) == valid.lower()
    # "a1lqfn3a" is a valid bech32m string (BIP-350); bech32m is not accepted here
    for invalid in (
        "a1lqfn3a",
        "pzry9x0s0muk",
        "1pzry9x0s0muk",
        "x1b4n0q5v",
        "li1dgmt3",
        "A1G7SGD8",
        "a12UEL5L",
        " 1nwldj5",
    ):
        with pytest.raises(bech32.Bech32Error):
            bech32.decode_bech32_no_limit(invalid)
    # the reference's decoder has no 90-character limit
    long = bech32.encode_bech32("sm", [1] * 120)
    assert bech32.decode_bech32_no_limit(long) == ("sm", [1] * 120)
    assert bech32.convert_bits(bech32.convert_bits(b"\xff\x01", 8, 5, True), 5, 8, False) == [255, 1]
    with pytest.raises(bech32.Bech32Error):
        bech32.convert_bits([31], 5, 8, False)  # five leftover bits, not padding
    with pytest.raises(bech32.Bech32Error):
        bech32.convert_bits([1], 0, 8, True)
    with pytest.raises(bech32.Bech32Error):
        bech32.encode_bech32("sm", [32])
    with pytest.raises(bech32.Bech32Error):
        bech32.encode_bech32("", [1])
