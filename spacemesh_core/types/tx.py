"""Transaction envelope: the wire parts of a raw transaction (protocol.md §8.2; genvm ``parse``).

::

    tx = version (compact u8, must be 0) || principal[24] || method (compact u8)
         || [template[24]  only if method == 0 (spawn)]
         || payload {nonce (compact u64), gasPrice (compact u64)}
         || method arguments (template-specific SCALE) || signature(s)

``TxID = blake3(raw)``; the principal signs ``genesisID(20) || raw without its signature``
(the prefix is added by :mod:`spacemesh_core.crypto.signing`; where the signature starts is the
template's business). A raw transaction is at most 1024 bytes. Executing transactions, gas and
templates belong to the VM; only the wire layouts of the wallet template's arguments (the
``genvm/templates/wallet`` golden files) are declared here.
"""

from __future__ import annotations

from typing import Final

import attrs

from spacemesh_core.codec.scale import U64, ScaleError, ScaleReader, encode, encode_compact, field
from spacemesh_core.crypto.hashes import compute_blake3
from spacemesh_core.types.primitives import ADDRESS, ADDRESS_SIZE, ED_SIGNATURE_SIZE, HASH32

#: ``core.TxSizeLimit``: the largest raw transaction accepted.
MAX_TX_SIZE: Final = 1024
#: The only transaction version.
TX_VERSION: Final = 0
#: Method selectors.
METHOD_SPAWN: Final = 0
METHOD_SPEND: Final = 16
METHOD_DRAIN_VAULT: Final = 17


@attrs.frozen
class TxPayload:
    """The template-independent payload: nonce and gas price (genvm ``core.Payload``)."""

    nonce: int = field(U64)
    gas_price: int = field(U64)


@attrs.frozen
class WalletSpawnArguments:
    """Wallet template spawn arguments: the owner's ed25519 public key."""

    public_key: bytes = field(HASH32)


@attrs.frozen
class WalletSpendArguments:
    """Wallet (and multisig) spend arguments: destination address and amount in smidge."""

    destination: bytes = field(ADDRESS)
    amount: int = field(U64)


def _check_address(value: bytes | None, name: str) -> None:
    if value is not None and (not isinstance(value, bytes) or len(value) != ADDRESS_SIZE):
        raise ValueError(f"{name} must be {ADDRESS_SIZE} bytes")


@attrs.frozen
class TxEnvelope:
    """The parsed template-independent parts of a raw transaction.

    ``body`` holds what follows the payload: the method arguments and the signature(s), which
    only the principal's template can split.
    """

    principal: bytes
    method: int
    payload: TxPayload
    body: bytes
    template: bytes | None = None  # present exactly when method == METHOD_SPAWN
    version: int = TX_VERSION

    def __attrs_post_init__(self) -> None:
        _check_address(self.principal, "principal")
        _check_address(self.template, "template")
        if (self.method == METHOD_SPAWN) != (self.template is not None):
            raise ValueError("a template address is present exactly in spawn transactions")

    def to_bytes(self) -> bytes:
        """Return the raw transaction bytes.

        :raises ScaleError: if a field is out of range or the result exceeds :data:`MAX_TX_SIZE`.
        """
        if self.version != TX_VERSION:
            raise ScaleError(f"unsupported transaction version {self.version}")
        out = bytearray()
        out += encode_u8(self.version)
        out += self.principal
        out += encode_u8(self.method)
        if self.template is not None:
            out += self.template
        out += encode(self.payload)
        out += self.body
        if len(out) > MAX_TX_SIZE:
            raise ScaleError(f"transaction of {len(out)} bytes exceeds {MAX_TX_SIZE}")
        return bytes(out)

    def compute_id(self) -> bytes:
        """Return the transaction id, ``blake3(raw)``."""
        return compute_tx_id(self.to_bytes())


def encode_u8(value: int) -> bytes:
    """Return ``value`` as a compact u8 (version and method selectors).

    :raises ScaleError: if ``value`` is not in ``[0, 255]``.
    """
    return encode_compact(value, 8)


def compute_tx_id(raw: bytes) -> bytes:
    """Return the transaction id of ``raw``: ``blake3(raw)`` (32 bytes)."""
    return compute_blake3(raw)


def parse_tx_envelope(raw: bytes) -> TxEnvelope:
    """Parse the template-independent parts of the raw transaction ``raw``.

    :raises ScaleError: if ``raw`` is longer than :data:`MAX_TX_SIZE`, truncated, has a version
        other than 0, or carries malformed compact integers.
    """
    if not isinstance(raw, (bytes, bytearray, memoryview)):
        raise ScaleError(f"expected bytes, got {type(raw).__name__}")
    if len(raw) > MAX_TX_SIZE:
        raise ScaleError(f"transaction of {len(raw)} bytes exceeds {MAX_TX_SIZE}")
    reader = ScaleReader(raw)
    version = reader.read_compact(8)
    if version != TX_VERSION:
        raise ScaleError(f"unsupported transaction version {version}")
    principal = reader.read_bytes(ADDRESS_SIZE)
    method = reader.read_compact(8)
    template = reader.read_bytes(ADDRESS_SIZE) if method == METHOD_SPAWN else None
    payload = reader.read_struct(TxPayload)
    body = reader.read_bytes(reader.remaining)
    return TxEnvelope(principal, method, payload, body, template, version)


def get_tx_signed_bytes(raw: bytes, signature_size: int = ED_SIGNATURE_SIZE) -> bytes:
    """Return ``raw`` without its trailing ``signature_size`` signature bytes (no genesis prefix).

    The default fits single-signature templates (wallet); multisig templates pass the size of
    their signature parts.

    :raises ScaleError: if ``raw`` is not longer than the signature.
    """
    if signature_size < 0 or len(raw) <= signature_size:
        raise ScaleError(f"transaction of {len(raw)} bytes cannot hold a {signature_size}-byte signature")
    return bytes(raw[: len(raw) - signature_size])
