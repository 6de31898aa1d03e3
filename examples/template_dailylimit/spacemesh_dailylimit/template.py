"""The daily-limit wallet template.

State ``{PublicKey [32], DailyLimit u64, Day u32, SpentToday u64}``; spawn ``{PublicKey, DailyLimit}``;
spend ``{Destination [24], Amount}`` signed by the key like a wallet. A spend fails (fee kept,
nonce advanced) when it would push the day's total above the limit; the count restarts on the
first spend of a new day (``layer // LAYERS_PER_DAY``).
"""

from __future__ import annotations

from typing import Any

import attrs

from spacemesh_core.codec.scale import U32, U64, ScaleReader, field
from spacemesh_core.crypto.address import compute_address_from_hash
from spacemesh_core.crypto.hashes import compute_blake3
from spacemesh_core.types.primitives import HASH32
from spacemesh_core.types.tx import METHOD_SPAWN, METHOD_SPEND, WalletSpendArguments
from spacemesh_core.vm.gas import (
    ACCOUNT_ACCESS,
    ACCOUNT_HEADER_SIZE,
    EDVERIFY,
    LOAD,
    SPAWN,
    STORE,
    TX,
    UPDATE,
    compute_size_gas,
)
from spacemesh_core.vm.multisig import compute_spend_exec_gas
from spacemesh_core.vm.template import ExecutionError, Host, MalformedCallError, MethodSchema, Template
from spacemesh_core.vm.transaction import is_valid_single_signature

#: Built-in templates use 23 zero bytes + a small id; a third party derives its address from a name.
DAILYLIMIT_TEMPLATE_ADDRESS = compute_address_from_hash(compute_blake3(b"spacemesh-example-template:dailylimit:v1"))
#: 24 hours of 5-minute layers.
LAYERS_PER_DAY = 288
#: Bytes of state beyond the public key: limit (8), day (4), spent today (8).
EXTRA_STATE_SIZE = 20


class DailyLimitExceededError(ExecutionError):
    """The spend would exceed the day's limit."""

    reason = "daily limit exceeded"


@attrs.frozen
class DailyLimitSpawnArguments:
    """The owner's key and the most it may spend per day."""

    public_key: bytes = field(HASH32)
    daily_limit: int = field(U64)


@attrs.frozen
class DailyLimitState:
    """The account state: key, limit and the running total of the current day."""

    public_key: bytes = field(HASH32)
    daily_limit: int = field(U64)
    day: int = field(U32)
    spent_today: int = field(U64)


class DailyLimitTemplate(Template):
    """A wallet with a daily spending limit."""

    address = DAILYLIMIT_TEMPLATE_ADDRESS
    name = "dailylimit"
    description = "wallet with a daily spending limit (example third-party template)"
    state_type = DailyLimitState
    methods = {
        METHOD_SPAWN: MethodSchema(METHOD_SPAWN, "spawn", DailyLimitSpawnArguments),
        METHOD_SPEND: MethodSchema(METHOD_SPEND, "spend", WalletSpendArguments),
    }

    def create_state(self, spawn_args: Any) -> DailyLimitState:
        """A fresh account has spent nothing."""
        return DailyLimitState(spawn_args.public_key, spawn_args.daily_limit, 0, 0)

    def get_max_spend(self, state: Any, method: int, args: Any) -> int:
        """The amount of a spend; 0 for a spawn."""
        return int(args.amount) if method == METHOD_SPEND else 0

    def get_base_gas(self, state: Any, method: int) -> int:
        """As a wallet: ``TX + EDVERIFY`` (+ ``SPAWN``)."""
        return TX + EDVERIFY + (SPAWN if method == METHOD_SPAWN else 0)

    def get_load_gas(self, state: Any) -> int:
        """Access plus loading key, extra state and the account header."""
        return ACCOUNT_ACCESS + compute_size_gas(LOAD, 32 + EXTRA_STATE_SIZE + ACCOUNT_HEADER_SIZE)

    def get_exec_gas(self, state: Any, method: int) -> int:
        """Storing the whole state for a spawn; a wallet spend plus updating the day's total."""
        if method == METHOD_SPAWN:
            return compute_size_gas(STORE, 32 + EXTRA_STATE_SIZE + ACCOUNT_HEADER_SIZE)
        return compute_spend_exec_gas() + compute_size_gas(UPDATE, EXTRA_STATE_SIZE)

    def verify(self, state: Any, genesis_id: bytes, raw: bytes, reader: ScaleReader) -> bool:
        """One ed25519 signature by the owner's key."""
        return is_valid_single_signature(state.public_key, genesis_id, raw, reader)

    def execute(self, host: Host, method: int, args: Any) -> None:
        """Spawn; or spend within the day's limit and record it."""
        if method == METHOD_SPAWN:
            host.spawn(args)
            return
        if method != METHOD_SPEND:
            raise MalformedCallError(f"unknown method {method}")
        state: DailyLimitState = host.state
        day = host.layer // LAYERS_PER_DAY
        spent = state.spent_today if state.day == day else 0
        if spent + args.amount > state.daily_limit:
            raise DailyLimitExceededError(f"{spent} already spent today, limit {state.daily_limit}")
        host.transfer(args.destination, args.amount)
        host.update_state(attrs.evolve(state, day=day, spent_today=spent + args.amount))
