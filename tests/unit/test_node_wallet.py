"""The dashboard's wallet is the identity's wallet: the default coinbase pays where the page can spend."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from spacemesh_core.crypto.address import compute_wallet_principal
from spacemesh_core.identity import load_or_create_identity
from spacemesh_plugins.api_http.wallet import WALLET_KEY_FILE, NodeWallet, WalletKeyError


def test_the_wallet_key_is_the_local_identity_key(tmp_path: Path) -> None:
    wallet = NodeWallet(tmp_path)  # creates the identity when the node has none yet
    identity = load_or_create_identity(tmp_path)
    assert wallet.public_key == identity.public_key
    assert wallet.address == bytes(compute_wallet_principal(identity.node_id))  # the smeshers' default coinbase
    assert NodeWallet(tmp_path).address == wallet.address  # stable across restarts
    assert not (tmp_path / WALLET_KEY_FILE).exists()


def test_a_legacy_wallet_key_stays_the_wallet_key(tmp_path: Path) -> None:
    seed = os.urandom(32)
    (tmp_path / WALLET_KEY_FILE).parent.mkdir(parents=True)
    (tmp_path / WALLET_KEY_FILE).write_text(seed.hex())
    wallet = NodeWallet(tmp_path)
    assert wallet.path == tmp_path / WALLET_KEY_FILE
    assert wallet.address != bytes(compute_wallet_principal(load_or_create_identity(tmp_path).node_id))
    (tmp_path / WALLET_KEY_FILE).write_text("zz")
    with pytest.raises(WalletKeyError, match="not a hex seed"):
        NodeWallet(tmp_path)


def test_a_broken_identity_key_is_a_wallet_key_error(tmp_path: Path) -> None:
    (tmp_path / "identities").mkdir()
    (tmp_path / "identities" / "local.key").write_text("not hex")
    with pytest.raises(WalletKeyError, match="local.key"):
        NodeWallet(tmp_path)
