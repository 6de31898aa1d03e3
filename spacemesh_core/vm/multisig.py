"""k-of-n multisig building blocks: state, spawn arguments, verification and gas (``genvm/templates/multisig``).

The built-in multisig and vesting templates subclass :class:`MultisigTemplateBase`; a third-party
template that wants k-of-n signatures can too. State and spawn arguments are
``{Required compact u8, PublicKeys [][32]byte (max 10)}``; a transaction carries ``Required``
signature parts ``{Ref compact u8, Sig [64]byte}`` after its arguments, with strictly increasing
``Ref`` below the number of keys, all covering ``genesis_id || raw without the parts``.
"""

from __future__ import annotations

from typing import Any

import attrs

from spacemesh_core.codec.scale import U8, List, ScaleError, ScaleReader, field
from spacemesh_core.crypto.address import MAX_MULTISIG_KEYS
from spacemesh_core.types.primitives import HASH32
from spacemesh_core.types.tx import METHOD_SPAWN, METHOD_SPEND, WalletSpendArguments
from spacemesh_core.vm.gas import (
    ACCOUNT_ACCESS,
    ACCOUNT_BALANCE_SIZE,
    ACCOUNT_HEADER_SIZE,
    EDVERIFY,
    LOAD,
    PUBLIC_KEY_SIZE,
    SPAWN,
    STORE,
    TX,
    UPDATE,
    compute_size_gas,
)
from spacemesh_core.vm.template import Host, InvalidSpawnArgumentsError, MalformedCallError, MethodSchema, Template
from spacemesh_core.vm.transaction import SignaturePart, is_valid_tx_signature

__all__ = [
    "MultisigSpawnArguments",
    "MultisigState",
    "MultisigTemplateBase",
    "compute_multisig_base_gas",
    "compute_multisig_exec_gas",
    "compute_multisig_load_gas",
    "compute_spend_exec_gas",
]


@attrs.frozen
class MultisigSpawnArguments:
    """Spawn arguments of multisig and vesting accounts."""

    required: int = field(U8)
    public_keys: tuple[bytes, ...] = field(List(HASH32, MAX_MULTISIG_KEYS))


@attrs.frozen
class MultisigState:
    """State of multisig and vesting accounts (same layout as the spawn arguments)."""

    required: int = field(U8)
    public_keys: tuple[bytes, ...] = field(List(HASH32, MAX_MULTISIG_KEYS))


def compute_spend_exec_gas() -> int:
    """Execution gas of a spend: access the destination, load its balance, update both accounts."""
    return (
        ACCOUNT_ACCESS
        + compute_size_gas(LOAD, ACCOUNT_BALANCE_SIZE)
        + compute_size_gas(UPDATE, ACCOUNT_HEADER_SIZE)
        + compute_size_gas(UPDATE, ACCOUNT_BALANCE_SIZE)
    )


def compute_multisig_base_gas(method: int, signatures: int) -> int:
    """Intrinsic gas: ``TX`` + one ``EDVERIFY`` per required signature (+ ``SPAWN`` for a spawn)."""
    gas = TX + EDVERIFY * signatures
    return gas + SPAWN if method == METHOD_SPAWN else gas


def compute_multisig_load_gas(keys: int) -> int:
    """Gas of loading an account holding ``keys`` public keys."""
    return ACCOUNT_ACCESS + compute_size_gas(LOAD, PUBLIC_KEY_SIZE * keys + ACCOUNT_HEADER_SIZE)


def compute_multisig_exec_gas(method: int, keys: int) -> int:
    """Execution gas: storing the new account for a spawn, :func:`compute_spend_exec_gas` for a spend."""
    if method == METHOD_SPAWN:
        return compute_size_gas(STORE, PUBLIC_KEY_SIZE * keys + ACCOUNT_HEADER_SIZE)
    return compute_spend_exec_gas()


class MultisigTemplateBase(Template):
    """A k-of-n template with spawn and spend; subclasses set ``address`` and ``name``."""

    state_type = MultisigState
    methods = {
        METHOD_SPAWN: MethodSchema(METHOD_SPAWN, "spawn", MultisigSpawnArguments),
        METHOD_SPEND: MethodSchema(METHOD_SPEND, "spend", WalletSpendArguments),
    }

    def create_state(self, spawn_args: Any) -> MultisigState:
        """Check ``0 < required <= len(keys)`` and return the state."""
        if spawn_args.required == 0:
            raise InvalidSpawnArgumentsError("number of required signatures must be larger than zero")
        if len(spawn_args.public_keys) < spawn_args.required:
            raise InvalidSpawnArgumentsError(f"multisig requires at least {spawn_args.required} keys")
        return MultisigState(spawn_args.required, tuple(spawn_args.public_keys))

    def get_max_spend(self, state: Any, method: int, args: Any) -> int:
        """The spent amount for a spend, 0 for a spawn."""
        if method == METHOD_SPEND:
            return int(args.amount)
        if method == METHOD_SPAWN:
            return 0
        raise KeyError(method)

    def get_base_gas(self, state: Any, method: int) -> int:
        """See :func:`compute_multisig_base_gas`."""
        return compute_multisig_base_gas(method, state.required)

    def get_load_gas(self, state: Any) -> int:
        """See :func:`compute_multisig_load_gas`."""
        return compute_multisig_load_gas(len(state.public_keys))

    def get_exec_gas(self, state: Any, method: int) -> int:
        """See :func:`compute_multisig_exec_gas`."""
        return compute_multisig_exec_gas(method, len(state.public_keys))

    def verify(self, state: Any, genesis_id: bytes, raw: bytes, reader: ScaleReader) -> bool:
        """Check ``required`` parts with strictly increasing key indices; all must verify."""
        start = reader.offset
        try:
            parts = [reader.read_struct(SignaturePart) for _ in range(state.required)]
        except ScaleError:
            return False
        used = reader.offset - start
        body = raw[: len(raw) - used]
        previous = -1
        for part in parts:
            if part.ref >= len(state.public_keys) or part.ref <= previous:
                return False
            previous = part.ref
        return all(is_valid_tx_signature(state.public_keys[part.ref], genesis_id, body, part.sig) for part in parts)

    def execute(self, host: Host, method: int, args: Any) -> None:
        """Spawn the account, or transfer ``args.amount`` to ``args.destination``."""
        if method == METHOD_SPAWN:
            host.spawn(args)
        elif method == METHOD_SPEND:
            host.transfer(args.destination, args.amount)
        else:
            raise MalformedCallError(f"unknown method {method}")
