"""The vesting template (``genvm/templates/vesting``): a multisig that can drain its vaults.

Method 17 ``drain vault {Vault [24], Destination [24], Amount}`` relays a spend to the vault
account, which checks that the vesting account owns it and that the amount has vested. A vesting
account also spawns its vaults (a spawn whose principal is not the new account).
"""

from __future__ import annotations

from typing import Any

import attrs

from spacemesh_core.codec.scale import U64, field
from spacemesh_core.crypto.address import VAULT_TEMPLATE_ADDRESS, VESTING_TEMPLATE_ADDRESS
from spacemesh_core.types.primitives import ADDRESS
from spacemesh_core.types.tx import METHOD_DRAIN_VAULT, METHOD_SPEND, WalletSpendArguments
from spacemesh_core.vm.gas import (
    ACCOUNT_ACCESS,
    ACCOUNT_BALANCE_SIZE,
    ACCOUNT_HEADER_SIZE,
    EDVERIFY,
    LOAD,
    TX,
    UPDATE,
    compute_size_gas,
)
from spacemesh_core.vm.multisig import MultisigTemplateBase
from spacemesh_core.vm.template import Host, MethodSchema

#: ``vault.VAULT_STATE_SIZE``: account header plus the vault's 56 bytes of state.
VAULT_STATE_SIZE = ACCOUNT_HEADER_SIZE + 56
#: ``vault.DRAINED_SIZE``.
DRAINED_SIZE = 8


@attrs.frozen
class DrainVaultArguments:
    """Drain ``amount`` from ``vault`` to ``destination``."""

    vault: bytes = field(ADDRESS)
    destination: bytes = field(ADDRESS)
    amount: int = field(U64)


class VestingTemplate(MultisigTemplateBase):
    """Multisig methods plus drain vault (17)."""

    address = VESTING_TEMPLATE_ADDRESS
    name = "vesting"
    description = "vesting multisig with drain vault (template 3)"
    methods = {
        **MultisigTemplateBase.methods,
        METHOD_DRAIN_VAULT: MethodSchema(METHOD_DRAIN_VAULT, "drain_vault", DrainVaultArguments),
    }

    def get_max_spend(self, state: Any, method: int, args: Any) -> int:
        """Draining spends the vault's coins, not the principal's: 0."""
        if method == METHOD_DRAIN_VAULT:
            return 0
        return super().get_max_spend(state, method, args)

    def get_base_gas(self, state: Any, method: int) -> int:
        """``TX + EDVERIFY × required`` for a drain; the multisig formula otherwise."""
        if method == METHOD_DRAIN_VAULT:
            return TX + EDVERIFY * state.required
        return super().get_base_gas(state, method)

    def get_exec_gas(self, state: Any, method: int) -> int:
        """A drain loads the vault state and updates the vault and the destination."""
        if method == METHOD_DRAIN_VAULT:
            return (
                ACCOUNT_ACCESS
                + compute_size_gas(LOAD, VAULT_STATE_SIZE)
                + compute_size_gas(UPDATE, ACCOUNT_HEADER_SIZE)
                + compute_size_gas(UPDATE, ACCOUNT_BALANCE_SIZE + DRAINED_SIZE)
            )
        return super().get_exec_gas(state, method)

    def execute(self, host: Host, method: int, args: Any) -> None:
        """Relay a spend to the vault for a drain; the multisig methods otherwise."""
        if method != METHOD_DRAIN_VAULT:
            super().execute(host, method, args)
            return
        spend = WalletSpendArguments(args.destination, args.amount)

        def call(remote: Host) -> None:
            remote.template.execute(remote, METHOD_SPEND, spend)

        host.relay(VAULT_TEMPLATE_ADDRESS, args.vault, call)
