"""The node's own hot wallet, used by the dashboard's wallet page.

The dashboard runs in a browser without signing code, so the node signs for it. The wallet's key is
the node's smeshing identity key (``<data dir>/identities/local.key``), so the wallet's address is
the identity's wallet address — the coinbase its smeshers pay when none was chosen — and rewards
arrive where the page shows and spends them. Only the private listener (loopback, or
token-protected) can spend from it. A node created before this rule may hold a separate key in
``<data dir>/wallet/node_wallet.key`` (32-byte seed, hex); when present it stays the wallet's key so
that no coins become unreachable.
"""

from __future__ import annotations

import os
from pathlib import Path

from nacl.signing import SigningKey

from spacemesh_core.crypto.address import WALLET_TEMPLATE_ADDRESS, compute_wallet_principal
from spacemesh_core.identity import LOCAL_IDENTITY, IdentityError, get_key_path, load_or_create_identity
from spacemesh_core.types.tx import METHOD_SPAWN, METHOD_SPEND, WalletSpawnArguments, WalletSpendArguments
from spacemesh_core.vm.transaction import encode_unsigned_transaction, sign_single

WALLET_KEY_FILE = Path("wallet") / "node_wallet.key"


class WalletKeyError(ValueError):
    """The wallet key file exists but cannot be used."""


class NodeWallet:
    """A single-signature wallet account whose key the node keeps.

    :param data_dir: the node's data folder.
    :raises WalletKeyError: when the key file is malformed.
    """

    def __init__(self, data_dir: str | os.PathLike[str]) -> None:
        legacy = Path(data_dir) / WALLET_KEY_FILE
        if legacy.exists():
            self.path = legacy
            try:
                seed = bytes.fromhex(legacy.read_text().strip())
            except ValueError:
                raise WalletKeyError(f"{legacy} is not a hex seed") from None
            if len(seed) != 32:
                raise WalletKeyError(f"{legacy} must hold a 32-byte seed")
        else:
            self.path = get_key_path(Path(data_dir), LOCAL_IDENTITY)
            try:
                seed = load_or_create_identity(Path(data_dir)).private_key[:32]
            except IdentityError as exc:
                raise WalletKeyError(str(exc)) from None
        self._seed = seed
        self.public_key = bytes(SigningKey(seed).verify_key)
        #: the 24-byte wallet account address
        self.address = bytes(compute_wallet_principal(self.public_key))

    def compute_spawn(self, genesis_id: bytes, gas_price: int = 1) -> bytes:
        """Return the signed self-spawn transaction (nonce 0) of this wallet."""
        unsigned = encode_unsigned_transaction(
            self.address, METHOD_SPAWN, 0, gas_price, WalletSpawnArguments(self.public_key), WALLET_TEMPLATE_ADDRESS
        )
        return sign_single(unsigned, self._seed, genesis_id)

    def compute_spend(
        self, genesis_id: bytes, destination: bytes, amount: int, nonce: int, gas_price: int = 1
    ) -> bytes:
        """Return a signed spend of ``amount`` smidge to ``destination`` with ``nonce``."""
        unsigned = encode_unsigned_transaction(
            self.address, METHOD_SPEND, nonce, gas_price, WalletSpendArguments(destination, amount)
        )
        return sign_single(unsigned, self._seed, genesis_id)
