"""The wallet template (``genvm/templates/wallet``): state ``{PublicKey [32]}``, one signature.

Gas: spawn ``TX + EDVERIFY + SPAWN`` base and ``STORE`` for 68 bytes; spend ``TX + EDVERIFY`` base,
load 4 138, execute 7 032.
"""

from __future__ import annotations

from typing import Any

import attrs

from spacemesh_core.codec.scale import ScaleReader, field
from spacemesh_core.crypto.address import WALLET_TEMPLATE_ADDRESS
from spacemesh_core.types.primitives import HASH32
from spacemesh_core.types.tx import METHOD_SPAWN, METHOD_SPEND, WalletSpawnArguments, WalletSpendArguments
from spacemesh_core.vm.gas import (
    ACCOUNT_ACCESS,
    ACCOUNT_HEADER_SIZE,
    EDVERIFY,
    LOAD,
    PUBLIC_KEY_SIZE,
    SPAWN,
    STORE,
    TX,
    compute_size_gas,
)
from spacemesh_core.vm.multisig import compute_spend_exec_gas
from spacemesh_core.vm.template import Host, MalformedCallError, MethodSchema, Template
from spacemesh_core.vm.transaction import is_valid_single_signature


@attrs.frozen
class WalletState:
    """A wallet account's state: its owner's public key."""

    public_key: bytes = field(HASH32)


class WalletTemplate(Template):
    """Single-key account: ``spawn {PublicKey}`` and ``spend {Destination, Amount}``."""

    address = WALLET_TEMPLATE_ADDRESS
    name = "wallet"
    description = "single ed25519 key wallet (template 1)"
    state_type = WalletState
    methods = {
        METHOD_SPAWN: MethodSchema(METHOD_SPAWN, "spawn", WalletSpawnArguments),
        METHOD_SPEND: MethodSchema(METHOD_SPEND, "spend", WalletSpendArguments),
    }

    def create_state(self, spawn_args: Any) -> WalletState:
        """The state is the spawn public key."""
        return WalletState(spawn_args.public_key)

    def get_max_spend(self, state: Any, method: int, args: Any) -> int:
        """The amount of a spend; 0 for a spawn."""
        if method == METHOD_SPEND:
            return int(args.amount)
        if method == METHOD_SPAWN:
            return 0
        raise KeyError(method)

    def get_base_gas(self, state: Any, method: int) -> int:
        """``TX + EDVERIFY`` (+ ``SPAWN`` for a spawn)."""
        return TX + EDVERIFY + (SPAWN if method == METHOD_SPAWN else 0)

    def get_load_gas(self, state: Any) -> int:
        """Access plus loading the key and the account header (68 bytes)."""
        return ACCOUNT_ACCESS + compute_size_gas(LOAD, PUBLIC_KEY_SIZE + ACCOUNT_HEADER_SIZE)

    def get_exec_gas(self, state: Any, method: int) -> int:
        """Storing 68 bytes for a spawn; the spend formula otherwise."""
        if method == METHOD_SPAWN:
            return compute_size_gas(STORE, PUBLIC_KEY_SIZE + ACCOUNT_HEADER_SIZE)
        return compute_spend_exec_gas()

    def verify(self, state: Any, genesis_id: bytes, raw: bytes, reader: ScaleReader) -> bool:
        """One ed25519 signature by the account key."""
        return is_valid_single_signature(state.public_key, genesis_id, raw, reader)

    def execute(self, host: Host, method: int, args: Any) -> None:
        """Spawn, or transfer to the destination."""
        if method == METHOD_SPAWN:
            host.spawn(args)
        elif method == METHOD_SPEND:
            host.transfer(args.destination, args.amount)
        else:
            raise MalformedCallError(f"unknown method {method}")
