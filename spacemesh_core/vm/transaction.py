"""Transactions: parsing and validating raw bytes against the templates, ids, signed bytes, building.

Layout (protocol.md §8.2, go-spacemesh ``genvm/vm.go`` ``parse``)::

    version (compact u8, 0) || principal[24] || method (compact u8)
    || template[24] (spawn only) || payload {nonce, gas price} (compact u64 each)
    || arguments (template SCALE) || signature(s)

* ``TxID = BLAKE3(raw)``; a raw transaction is at most :data:`MAX_TX_SIZE` (1024) bytes.
* The principal signs ``genesis_id(20) || raw without the signature`` (no domain byte).
* The principal's template (from its account; for an unspawned principal, the template named by a
  spawn) parses the payload; the *target* template of a spawn decodes its arguments.
* A spawn whose principal is the address of (template, arguments) is a **self-spawn**; any other
  spawn needs a spawned principal (e.g. a vesting account spawning a vault).

Parsing needs the principal's current account (its template): :func:`parse_transaction` takes it.
Every refusal raises a :class:`TransactionError` subclass with a ``reason`` code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, ClassVar

import attrs
from nacl import bindings as _sodium

from spacemesh_core.codec.scale import U8, ScaleError, ScaleReader, encode, field
from spacemesh_core.crypto.address import ADDRESS_SIZE, compute_principal
from spacemesh_core.crypto.signing import GENESIS_ID_SIZE, is_valid_ed25519_signature
from spacemesh_core.types.primitives import ED_SIGNATURE, ED_SIGNATURE_SIZE
from spacemesh_core.types.tx import (
    MAX_TX_SIZE,
    METHOD_DRAIN_VAULT,
    METHOD_SPAWN,
    METHOD_SPEND,
    TX_VERSION,
    TxEnvelope,
    TxPayload,
    compute_tx_id,
)
from spacemesh_core.vm.gas import compute_intrinsic_gas, compute_max_gas
from spacemesh_core.vm.state import Account
from spacemesh_core.vm.template import InvalidSpawnArgumentsError, Template, TemplateRegistry

__all__ = [
    "MAX_TX_SIZE",
    "METHOD_DRAIN_VAULT",
    "METHOD_SPAWN",
    "METHOD_SPEND",
    "InvalidArgumentsError",
    "InvalidSpawnError",
    "MalformedTransactionError",
    "ParsedTransaction",
    "PrincipalNotSpawnedError",
    "SignaturePart",
    "TransactionError",
    "TxHeader",
    "TxTooLargeError",
    "UnknownMethodError",
    "UnknownTemplateAddressError",
    "UnsupportedVersionError",
    "compute_ed25519_signature",
    "compute_signed_bytes",
    "compute_tx_id",
    "decode_signature_parts",
    "encode_signature_parts",
    "encode_unsigned_transaction",
    "get_principal",
    "is_valid_single_signature",
    "is_valid_tx_signature",
    "parse_transaction",
    "sign_single",
]


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------


class TransactionError(ValueError):
    """A raw transaction is refused before execution; ``reason`` is a short machine-readable code."""

    reason: ClassVar[str] = "invalid"


class TxTooLargeError(TransactionError):
    """Longer than :data:`MAX_TX_SIZE` bytes."""

    reason = "too_large"


class MalformedTransactionError(TransactionError):
    """Truncated or malformed envelope (version, principal, method, template, payload)."""

    reason = "malformed"


class UnsupportedVersionError(MalformedTransactionError):
    """A version other than 0."""

    reason = "unsupported_version"


class UnknownTemplateAddressError(TransactionError):
    """The spawn's template, or the principal's, is not registered."""

    reason = "unknown_template"


class UnknownMethodError(TransactionError):
    """The template has no such method."""

    reason = "unknown_method"


class PrincipalNotSpawnedError(TransactionError):
    """A call (or a spawn of another account) from a principal that has no template."""

    reason = "not_spawned"


class InvalidArgumentsError(TransactionError):
    """The method arguments do not decode."""

    reason = "invalid_arguments"


class InvalidSpawnError(TransactionError):
    """The template refuses the spawn arguments."""

    reason = "invalid_spawn"


class InvalidPrincipalStateError(TransactionError):
    """The principal's stored template state does not decode (a corrupted store)."""

    reason = "invalid_state"


# ---------------------------------------------------------------------------------------------
# Parsed transactions
# ---------------------------------------------------------------------------------------------


@attrs.frozen
class TxHeader:
    """What the VM and the mempool know of a transaction once parsed (``types.TxHeader``)."""

    principal: bytes
    template: bytes  # the principal's template, or the spawned template for a spawn
    method: int
    nonce: int
    gas_price: int
    max_gas: int
    max_spend: int

    def get_max_fee(self) -> int:
        """Return ``max_gas × gas_price``: the fee the transaction pays if it executes."""
        return self.max_gas * self.gas_price

    def get_max_cost(self) -> int:
        """Return the most the principal can lose: max spend plus max fee."""
        return self.max_spend + self.get_max_fee()


@attrs.frozen
class ParsedTransaction:
    """A parsed raw transaction with everything execution and verification need."""

    raw: bytes
    tx_id: bytes
    header: TxHeader
    args: Any
    principal_template: Template
    principal_state: Any
    target_template: Template
    is_self_spawn: bool
    base_gas: int
    fixed_gas: int
    #: offset of the first signature byte (right after the arguments)
    signature_offset: int

    def get_intrinsic_gas(self) -> int:
        """Return ``base_gas + TxDataGas(len(raw))`` (the VM compares it with the balance)."""
        return compute_intrinsic_gas(self.base_gas, len(self.raw))

    def verify(self, genesis_id: bytes) -> bool:
        """Return whether the signature(s) verify under the principal's template."""
        reader = ScaleReader(self.raw)
        reader.read_bytes(self.signature_offset)
        return bool(self.principal_template.verify(self.principal_state, genesis_id, self.raw, reader))


def get_principal(raw: bytes) -> bytes:
    """Return the principal address of ``raw`` (read before its account is loaded).

    :raises TxTooLargeError: / :raises MalformedTransactionError: for bad envelopes.
    """
    _check_raw(raw)
    reader = ScaleReader(raw)
    _read_version(reader)
    try:
        return reader.read_bytes(ADDRESS_SIZE)
    except ScaleError as exc:
        raise MalformedTransactionError(f"failed to decode principal: {exc}") from None


def _check_raw(raw: bytes) -> None:
    if not isinstance(raw, (bytes, bytearray, memoryview)):
        raise MalformedTransactionError(f"a raw transaction is bytes, got {type(raw).__name__}")
    if len(raw) > MAX_TX_SIZE:
        raise TxTooLargeError(f"tx size ({len(raw)}) > limit ({MAX_TX_SIZE})")


def _read_version(reader: ScaleReader) -> None:
    try:
        version = reader.read_compact(8)
    except ScaleError as exc:
        raise MalformedTransactionError(f"failed to decode version: {exc}") from None
    if version != TX_VERSION:
        raise UnsupportedVersionError(f"unsupported version {version}")


def parse_transaction(
    raw: bytes, templates: TemplateRegistry, account: Account | Callable[[bytes], Account]
) -> ParsedTransaction:
    """Parse ``raw`` against the registered ``templates`` and the principal's ``account``.

    ``account`` is the principal's current state, or a loader called with the principal address.
    Follows the reference's order of checks; computes the max gas and max spend.

    :raises TransactionError: (a subclass naming the problem) for anything the VM would refuse
        as unparseable: size, version, truncation, unknown template or method, an unspawned
        principal, undecodable arguments, spawn arguments the template refuses.
    """
    _check_raw(raw)
    raw = bytes(raw)
    reader = ScaleReader(raw)
    _read_version(reader)
    try:
        principal = reader.read_bytes(ADDRESS_SIZE)
        method = reader.read_compact(8)
    except ScaleError as exc:
        raise MalformedTransactionError(f"failed to decode principal or method: {exc}") from None
    principal_account = account(principal) if callable(account) else account
    if bytes(principal_account.address) != principal:
        raise ValueError("the account given is not the transaction's principal")

    principal_template: Template | None = None
    principal_state: Any = None
    if principal_account.template is not None:
        principal_template = templates.get(principal_account.template)
        if principal_template is None:
            raise UnknownTemplateAddressError(f"unknown template {principal_account.template.hex()}")
        try:
            principal_state = principal_template.load_state(principal_account.state)
        except ScaleError as exc:
            raise InvalidPrincipalStateError(f"malformed state of {principal.hex()}: {exc}") from None

    if method == METHOD_SPAWN:
        try:
            template_address = reader.read_bytes(ADDRESS_SIZE)
        except ScaleError as exc:
            raise MalformedTransactionError(f"failed to decode template address: {exc}") from None
        target_template = templates.get(template_address)
        if target_template is None:
            raise UnknownTemplateAddressError(f"unknown template {template_address.hex()}")
        # An unspawned principal can only self-spawn; the target template parses the payload.
        parsing_template = principal_template if principal_template is not None else target_template
    else:
        if principal_template is None:
            raise PrincipalNotSpawnedError(f"account {principal.hex()} is not spawned")
        target_template = principal_template
        parsing_template = principal_template

    try:
        payload = parsing_template.parse_payload(method, reader)
    except ScaleError as exc:
        raise MalformedTransactionError(f"failed to decode payload: {exc}") from None
    if target_template.get_method(method) is None:
        raise UnknownMethodError(f"unknown method {target_template.name} {method}")
    try:
        args = target_template.decode_args(method, reader)
    except ScaleError as exc:
        raise InvalidArgumentsError(f"failed to decode method arguments: {exc}") from None
    signature_offset = reader.offset

    fixed_gas = 0
    is_self_spawn = False
    if method == METHOD_SPAWN:
        if compute_principal(target_template.address, encode(args)) == principal:
            is_self_spawn = True
            try:
                principal_state = target_template.create_state(args)
            except InvalidSpawnArgumentsError as exc:
                raise InvalidSpawnError(str(exc)) from None
            principal_template = target_template
            fixed_gas += principal_template.get_exec_gas(principal_state, method)
        elif principal_template is None:
            raise PrincipalNotSpawnedError("account can't spawn until it is spawned itself")
        else:
            try:
                target_state = target_template.create_state(args)
            except InvalidSpawnArgumentsError as exc:
                raise InvalidSpawnError(str(exc)) from None
            fixed_gas += principal_template.get_load_gas(principal_state)
            fixed_gas += target_template.get_exec_gas(target_state, method)
    else:
        assert principal_template is not None
        fixed_gas += principal_template.get_load_gas(principal_state)
        fixed_gas += principal_template.get_exec_gas(principal_state, method)
    assert principal_template is not None
    base_gas = principal_template.get_base_gas(principal_state, method)
    try:
        max_spend = principal_template.get_max_spend(principal_state, method, args)
    except (KeyError, ValueError) as exc:
        raise UnknownMethodError(f"unknown method {principal_template.name} {method}: {exc}") from None
    header = TxHeader(
        principal=principal,
        template=bytes(target_template.address),
        method=method,
        nonce=payload.nonce,
        gas_price=payload.gas_price,
        max_gas=compute_max_gas(base_gas, fixed_gas, len(raw)),
        max_spend=max_spend,
    )
    return ParsedTransaction(
        raw=raw,
        tx_id=compute_tx_id(raw),
        header=header,
        args=args,
        principal_template=principal_template,
        principal_state=principal_state,
        target_template=target_template,
        is_self_spawn=is_self_spawn,
        base_gas=base_gas,
        fixed_gas=fixed_gas,
        signature_offset=signature_offset,
    )


# ---------------------------------------------------------------------------------------------
# Signatures
# ---------------------------------------------------------------------------------------------


def compute_signed_bytes(genesis_id: bytes, unsigned: bytes) -> bytes:
    """Return what a transaction signature covers: ``genesis_id || unsigned`` (``core.SigningBody``).

    :raises ValueError: for a genesis id that is not 20 bytes.
    """
    if len(genesis_id) != GENESIS_ID_SIZE:
        raise ValueError(f"a genesis id is {GENESIS_ID_SIZE} bytes, got {len(genesis_id)}")
    return bytes(genesis_id) + bytes(unsigned)


def is_valid_tx_signature(public_key: bytes, genesis_id: bytes, unsigned: bytes, signature: bytes) -> bool:
    """Return whether ``signature`` by ``public_key`` covers ``genesis_id || unsigned`` (Go ed25519 rules)."""
    if len(public_key) != 32 or len(signature) != ED_SIGNATURE_SIZE:
        return False
    return is_valid_ed25519_signature(public_key, compute_signed_bytes(genesis_id, unsigned), signature)


def compute_ed25519_signature(seed: bytes, genesis_id: bytes, unsigned: bytes) -> bytes:
    """Sign ``genesis_id || unsigned`` with the ed25519 key of the 32-byte ``seed``.

    :raises ValueError: for a seed that is not 32 bytes or a bad genesis id.
    """
    if len(seed) != 32:
        raise ValueError(f"an ed25519 seed is 32 bytes, got {len(seed)}")
    _, secret = _sodium.crypto_sign_seed_keypair(bytes(seed))
    signed = _sodium.crypto_sign(compute_signed_bytes(genesis_id, unsigned), secret)
    return bytes(signed[:ED_SIGNATURE_SIZE])


def sign_single(unsigned: bytes, seed: bytes, genesis_id: bytes) -> bytes:
    """Return ``unsigned`` followed by its single ed25519 signature (wallet-style templates).

    :raises TxTooLargeError: if the signed transaction exceeds the size limit.
    """
    raw = bytes(unsigned) + compute_ed25519_signature(seed, genesis_id, unsigned)
    _check_raw(raw)
    return raw


@attrs.frozen
class SignaturePart:
    """One multisig signature: the index of the key (``Ref``) and the signature."""

    ref: int = field(U8)
    sig: bytes = field(ED_SIGNATURE)


def encode_signature_parts(parts: Iterable[SignaturePart]) -> bytes:
    """Encode multisig signature parts, sorted by key index as the reference requires.

    :raises ValueError: when two parts name the same key.
    """
    ordered = sorted(parts, key=lambda part: part.ref)
    refs = [part.ref for part in ordered]
    if len(set(refs)) != len(refs):
        raise ValueError(f"duplicate signature parts for keys {refs}")
    return b"".join(encode(part) for part in ordered)


def decode_signature_parts(data: bytes, count: int) -> tuple[list[SignaturePart], int]:
    """Decode ``count`` signature parts from the start of ``data``; return them and the bytes used.

    :raises ScaleError: on truncated or malformed bytes.
    """
    reader = ScaleReader(data)
    parts = [reader.read_struct(SignaturePart) for _ in range(count)]
    return parts, reader.offset


# ---------------------------------------------------------------------------------------------
# Building
# ---------------------------------------------------------------------------------------------


def encode_unsigned_transaction(
    principal: bytes,
    method: int,
    nonce: int,
    gas_price: int,
    args: Any,
    template: bytes | None = None,
) -> bytes:
    """Return the unsigned bytes of a transaction (everything the signatures cover, minus the prefix).

    ``args`` is a SCALE attrs object (or already-encoded bytes); ``template`` is required exactly
    for spawns. :raises ValueError: / :raises ScaleError: on out-of-range fields.
    """
    body = bytes(args) if isinstance(args, (bytes, bytearray)) else encode(args)
    envelope = TxEnvelope(
        principal=bytes(principal),
        method=method,
        payload=TxPayload(nonce=nonce, gas_price=gas_price),
        body=body,
        template=bytes(template) if template is not None else None,
    )
    return envelope.to_bytes()


def is_valid_single_signature(public_key: bytes, genesis_id: bytes, raw: bytes, reader: ScaleReader) -> bool:
    """Verify a wallet-style transaction: one 64-byte signature after the arguments.

    The signature covers ``genesis_id || raw[:len(raw) - 64]`` (the reference's ``Verify``); bytes
    after the signature therefore make it fail. Returns False for anything malformed.
    """
    try:
        signature = reader.read_bytes(ED_SIGNATURE_SIZE)
    except ScaleError:
        return False
    return is_valid_tx_signature(public_key, genesis_id, raw[: len(raw) - ED_SIGNATURE_SIZE], signature)
