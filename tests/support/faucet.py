"""Transactions of the devnet faucet wallet (its key is public by design)."""

from __future__ import annotations

from spacemesh_core.config.presets import DEVNET_FAUCET_ADDRESS, DEVNET_FAUCET_SEED
from spacemesh_core.crypto.address import WALLET_TEMPLATE_ADDRESS
from spacemesh_core.crypto.signing import Signer
from spacemesh_core.types.tx import METHOD_SPAWN, METHOD_SPEND, WalletSpawnArguments, WalletSpendArguments
from spacemesh_core.vm.transaction import encode_unsigned_transaction, sign_single


def make_faucet_txs(genesis_id: bytes, destination: bytes, amount: int) -> list[bytes]:
    """The faucet wallet's self-spawn (nonce 0) and a spend (nonce 1), signed."""
    public_key = Signer.from_seed(DEVNET_FAUCET_SEED).public_key
    principal = bytes(DEVNET_FAUCET_ADDRESS)
    spawn = encode_unsigned_transaction(
        principal, METHOD_SPAWN, 0, 1, WalletSpawnArguments(public_key), WALLET_TEMPLATE_ADDRESS
    )
    spend = encode_unsigned_transaction(principal, METHOD_SPEND, 1, 1, WalletSpendArguments(destination, amount))
    return [sign_single(spawn, DEVNET_FAUCET_SEED, genesis_id), sign_single(spend, DEVNET_FAUCET_SEED, genesis_id)]
