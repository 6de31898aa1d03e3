"""Account addresses: 24 bytes (4 reserved zero bytes + 20), shown as bech32 with a network HRP.

Parsing reproduces go-spacemesh ``types.StringToAddress`` including its check order:
bech32 decoding → 25 bytes after the 5→8-bit regrouping with padding → HRP → reserved zero bytes.
Each failure raises its own :class:`AddressError` subclass whose ``kind`` is the reference's error
text ("bech32 decode", "wrong address length", "unsupported network", "missing reserved space").

Template addresses are 23 zero bytes and the template number; the address of an account
(its "principal") is derived from its template and SCALE-encoded spawn arguments (spec §8).
"""

from __future__ import annotations

from typing import ClassVar

from spacemesh_core.codec.scale import encode_compact
from spacemesh_core.crypto.bech32 import Bech32Error, convert_bits, decode_bech32_no_limit, encode_bech32
from spacemesh_core.crypto.hashes import compute_blake3

ADDRESS_SIZE = 24
#: Leading bytes reserved (zero) in every address.
RESERVED_SIZE = 4

MAINNET_HRP = "sm"
TESTNET_HRP = "stest"
#: HRP of this project's local devnets (not used by any public network).
DEVNET_HRP = "smdev"
#: Network name -> bech32 human-readable part.
NETWORK_HRPS: dict[str, str] = {"mainnet": MAINNET_HRP, "testnet": TESTNET_HRP, "devnet": DEVNET_HRP}


class AddressError(ValueError):
    """An address string or byte string is invalid."""

    kind: ClassVar[str] = "invalid address"


class AddressDecodeError(AddressError):
    """The string is not valid bech32."""

    kind = "bech32 decode"


class WrongAddressLengthError(AddressError):
    """The decoded payload does not have the size of an address."""

    kind = "wrong address length"


class UnsupportedNetworkError(AddressError):
    """The HRP is not the one of the network being used."""

    kind = "unsupported network"


class MissingReservedSpaceError(AddressError):
    """The four leading reserved bytes are not zero."""

    kind = "missing reserved space"


class Address(bytes):
    """A 24-byte account address (a ``bytes`` subclass, so it SCALE-encodes as a fixed array)."""

    __slots__ = ()

    def __new__(cls, value: bytes = bytes(ADDRESS_SIZE)) -> Address:
        """Wrap 24 bytes; raises :class:`WrongAddressLengthError` for any other length."""
        if len(value) != ADDRESS_SIZE:
            raise WrongAddressLengthError(f"an address is {ADDRESS_SIZE} bytes, got {len(value)}")
        return super().__new__(cls, value)

    @classmethod
    def from_string(cls, text: str, hrp: str = MAINNET_HRP) -> Address:
        """Parse a bech32 address for the network whose HRP is ``hrp`` (see :func:`parse_address`)."""
        return parse_address(text, hrp)

    def to_string(self, hrp: str = MAINNET_HRP) -> str:
        """Return the bech32 form under ``hrp`` (default mainnet ``sm``)."""
        return encode_bech32(hrp, convert_bits(self, 8, 5, pad=True))

    def is_empty(self) -> bool:
        """Return whether the 20 non-reserved bytes are all zero (the reference's ``IsEmpty``)."""
        return not any(self[RESERVED_SIZE:])

    def __str__(self) -> str:
        return self.to_string()

    def __repr__(self) -> str:
        return f"Address({bytes(self).hex()})"


def parse_address(text: str, hrp: str = MAINNET_HRP) -> Address:
    """Parse a bech32 address, checking it belongs to the network with human-readable part ``hrp``.

    Raises (in this order) :class:`AddressDecodeError`, :class:`WrongAddressLengthError`,
    :class:`UnsupportedNetworkError`, :class:`MissingReservedSpaceError`.
    """
    try:
        decoded_hrp, data = decode_bech32_no_limit(text)
        payload = convert_bits(data, 5, 8, pad=True)
    except Bech32Error as exc:
        raise AddressDecodeError(f"error decoding bech32: {exc}") from None
    # Regrouping 39 five-bit groups with padding yields the 24 bytes plus one padding byte.
    if len(payload) != ADDRESS_SIZE + 1:
        raise WrongAddressLengthError(f"expected {ADDRESS_SIZE} bytes, got {len(data)} groups")
    if decoded_hrp != hrp:
        raise UnsupportedNetworkError(f"wrong network id: expected {hrp!r}, got {decoded_hrp!r}")
    if any(payload[:RESERVED_SIZE]):
        raise MissingReservedSpaceError(f"expected the first {RESERVED_SIZE} bytes of the address to be 0")
    return Address(bytes(payload[:ADDRESS_SIZE]))


def is_valid_address(text: str, hrp: str = MAINNET_HRP) -> bool:
    """Return whether ``text`` parses as an address of the network with HRP ``hrp``."""
    try:
        parse_address(text, hrp)
    except AddressError:
        return False
    return True


def get_network_hrp(network: str) -> str:
    """Return the HRP of a network name (``mainnet``, ``testnet``, ``devnet``); KeyError otherwise."""
    try:
        return NETWORK_HRPS[network]
    except KeyError:
        raise KeyError(f"unknown network {network!r}; known: {sorted(NETWORK_HRPS)}") from None


def compute_address_from_hash(digest: bytes) -> Address:
    """Return 4 zero bytes followed by the last 20 bytes of ``digest`` (the reference's ``GenerateAddress``).

    A shorter ``digest`` is copied right after the reserved bytes and zero-padded on the right.
    """
    body = bytes(digest[-(ADDRESS_SIZE - RESERVED_SIZE) :]) if digest else b""
    return Address(bytes(RESERVED_SIZE) + body.ljust(ADDRESS_SIZE - RESERVED_SIZE, b"\x00"))


def compute_template_address(template_id: int) -> Address:
    """Return the address of the built-in template number ``template_id`` (23 zero bytes + id)."""
    if not 0 < template_id < 256:
        raise ValueError("a built-in template id is between 1 and 255")
    return Address(bytes(ADDRESS_SIZE - 1) + bytes([template_id]))


WALLET_TEMPLATE_ADDRESS = compute_template_address(1)
MULTISIG_TEMPLATE_ADDRESS = compute_template_address(2)
VESTING_TEMPLATE_ADDRESS = compute_template_address(3)
VAULT_TEMPLATE_ADDRESS = compute_template_address(4)
#: Template name -> template address.
TEMPLATE_ADDRESSES: dict[str, Address] = {
    "wallet": WALLET_TEMPLATE_ADDRESS,
    "multisig": MULTISIG_TEMPLATE_ADDRESS,
    "vesting": VESTING_TEMPLATE_ADDRESS,
    "vault": VAULT_TEMPLATE_ADDRESS,
}


def compute_principal(template: bytes, spawn_args_scale: bytes) -> Address:
    """Return the address of an account: ``0^4 || BLAKE3(template(24) || SCALE(spawn args))[12:32]``.

    ``spawn_args_scale`` is the SCALE encoding of the template's spawn arguments.
    Raises :class:`WrongAddressLengthError` when ``template`` is not 24 bytes.
    """
    return compute_address_from_hash(compute_blake3(bytes(Address(template)), bytes(spawn_args_scale)))


def compute_wallet_principal(public_key: bytes) -> Address:
    """Return the wallet address of an ed25519 ``public_key`` (spawn args ``{PublicKey [32]byte}``)."""
    if len(public_key) != 32:
        raise ValueError(f"a wallet public key is 32 bytes, got {len(public_key)}")
    # SCALE of a fixed 32-byte array is the bytes themselves.
    return compute_principal(WALLET_TEMPLATE_ADDRESS, bytes(public_key))


#: The reference's limit on multisig / vesting keys.
MAX_MULTISIG_KEYS = 10


def compute_multisig_spawn_args(required: int, public_keys: list[bytes] | tuple[bytes, ...]) -> bytes:
    """SCALE of multisig / vesting spawn arguments ``{Required compact u8, PublicKeys [][32]byte}``.

    Raises ValueError for a bad key size, more than 10 keys, or ``required`` outside 1..len(keys).
    """
    keys = [bytes(key) for key in public_keys]
    if any(len(key) != 32 for key in keys):
        raise ValueError("multisig public keys are 32 bytes each")
    if len(keys) > MAX_MULTISIG_KEYS:
        raise ValueError(f"at most {MAX_MULTISIG_KEYS} multisig keys")
    if not 0 < required <= len(keys):
        raise ValueError("required signatures must be between 1 and the number of keys")
    return encode_compact(required, 8) + encode_compact(len(keys), 32) + b"".join(keys)


def compute_multisig_principal(
    required: int, public_keys: list[bytes] | tuple[bytes, ...], template: bytes = MULTISIG_TEMPLATE_ADDRESS
) -> Address:
    """Address of a multisig account (or a vesting one with ``template=VESTING_TEMPLATE_ADDRESS``)."""
    return compute_principal(template, compute_multisig_spawn_args(required, public_keys))


def compute_vault_spawn_args(
    owner: bytes, total_amount: int, initial_unlock_amount: int, vesting_start: int, vesting_end: int
) -> bytes:
    """SCALE of vault spawn arguments ``{Owner [24], TotalAmount, InitialUnlockAmount (compact u64),
    VestingStart, VestingEnd (compact u32 layers)}``. Raises ValueError / ScaleError on bad values."""
    return (
        bytes(Address(owner))
        + encode_compact(total_amount, 64)
        + encode_compact(initial_unlock_amount, 64)
        + encode_compact(vesting_start, 32)
        + encode_compact(vesting_end, 32)
    )


def compute_vault_principal(
    owner: bytes, total_amount: int, initial_unlock_amount: int, vesting_start: int, vesting_end: int
) -> Address:
    """Address of a vault account spawned with the given arguments."""
    args = compute_vault_spawn_args(owner, total_amount, initial_unlock_amount, vesting_start, vesting_end)
    return compute_principal(VAULT_TEMPLATE_ADDRESS, args)
