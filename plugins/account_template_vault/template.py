"""The vault template (``genvm/templates/vault``): linear vesting by layer, spent only by its owner.

State ``{Owner [24], TotalAmount, InitialUnlockAmount (stored, ignored), VestingStart,
VestingEnd}``. A vault never signs (``verify`` is False, its payload is not even read, so a
transaction from a vault is ineffective): its owner (a vesting account) drains it through a relay.
Spendable = balance − (total − vested(layer)), with ``vested`` 0 before the start, the total from
the end on, and ``total × (layer − start) / (end − start)`` (floored) in between.
"""

from __future__ import annotations

from typing import Any

import attrs

from spacemesh_core.codec.scale import U64, ScaleReader, field
from spacemesh_core.crypto.address import VAULT_TEMPLATE_ADDRESS
from spacemesh_core.types.primitives import ADDRESS, LAYER_ID
from spacemesh_core.types.tx import METHOD_SPAWN, METHOD_SPEND, TxPayload, WalletSpendArguments
from spacemesh_core.vm.template import (
    ExecutionError,
    Host,
    InvalidSpawnArgumentsError,
    MalformedCallError,
    MethodSchema,
    Template,
)


class VaultNotOwnerError(ExecutionError):
    """The principal is not the vault's owner."""

    reason = "vault: not an owner"


class VaultAmountNotAvailableError(ExecutionError):
    """The amount exceeds what has vested and is still held."""

    reason = "vault: amount not available"


class VaultMisconfiguredError(ExecutionError):
    """The balance is below the unvested amount."""

    reason = "vault: account is misconfigured"


@attrs.frozen
class VaultSpawnArguments:
    """Spawn arguments of a vault."""

    owner: bytes = field(ADDRESS)
    total_amount: int = field(U64)
    initial_unlock_amount: int = field(U64)
    vesting_start: int = field(LAYER_ID)
    vesting_end: int = field(LAYER_ID)


@attrs.frozen
class VaultState:
    """State of a vault (same fields as its spawn arguments)."""

    owner: bytes = field(ADDRESS)
    total_amount: int = field(U64)
    initial_unlock_amount: int = field(U64)
    vesting_start: int = field(LAYER_ID)
    vesting_end: int = field(LAYER_ID)


def compute_vested(state: VaultState, layer: int) -> int:
    """Return how much of ``state.total_amount`` has vested at ``layer``."""
    if layer < state.vesting_start:
        return 0
    if layer >= state.vesting_end:
        return state.total_amount
    return state.total_amount * (layer - state.vesting_start) // (state.vesting_end - state.vesting_start)


class VaultTemplate(Template):
    """Linear vesting vault; only ``spend`` relayed from the owner moves coins."""

    address = VAULT_TEMPLATE_ADDRESS
    name = "vault"
    description = "linear vesting vault drained by its owner (template 4)"
    state_type = VaultState
    methods = {
        METHOD_SPAWN: MethodSchema(METHOD_SPAWN, "spawn", VaultSpawnArguments),
        METHOD_SPEND: MethodSchema(METHOD_SPEND, "spend", WalletSpendArguments),
    }

    def parse_payload(self, method: int, reader: ScaleReader) -> TxPayload:
        """A vault reads no payload: zero nonce and zero gas price (so its transactions are ineffective)."""
        return TxPayload(0, 0)

    def create_state(self, spawn_args: Any) -> VaultState:
        """Check ``initial <= total`` and ``start <= end``."""
        if spawn_args.initial_unlock_amount > spawn_args.total_amount:
            raise InvalidSpawnArgumentsError(
                f"initial {spawn_args.initial_unlock_amount} should be less or equal to total"
                f" {spawn_args.total_amount}"
            )
        if spawn_args.vesting_end < spawn_args.vesting_start:
            raise InvalidSpawnArgumentsError(
                f"vesting end {spawn_args.vesting_end} should be at least equal to start {spawn_args.vesting_start}"
            )
        return VaultState(
            spawn_args.owner,
            spawn_args.total_amount,
            spawn_args.initial_unlock_amount,
            spawn_args.vesting_start,
            spawn_args.vesting_end,
        )

    def get_max_spend(self, state: Any, method: int, args: Any) -> int:
        """Always 0 (a vault never signs its own transactions)."""
        return 0

    def get_base_gas(self, state: Any, method: int) -> int:
        """0: the owner's transaction pays."""
        return 0

    def get_load_gas(self, state: Any) -> int:
        """0."""
        return 0

    def get_exec_gas(self, state: Any, method: int) -> int:
        """0."""
        return 0

    def verify(self, state: Any, genesis_id: bytes, raw: bytes, reader: ScaleReader) -> bool:
        """A vault never verifies."""
        return False

    def execute(self, host: Host, method: int, args: Any) -> None:
        """Spend vested coins to the destination, for the owner only."""
        if method != METHOD_SPEND:
            raise MalformedCallError(f"unknown method {method}")
        state: VaultState = host.state
        if host.principal != state.owner:
            raise VaultNotOwnerError()
        vested = compute_vested(state, host.layer)
        unvested = state.total_amount - vested
        if host.balance < unvested:
            raise VaultMisconfiguredError()
        if args.amount > host.balance - unvested:
            raise VaultAmountNotAvailableError()
        host.transfer(args.destination, args.amount)
