"""The built-in account templates pass the template conformance suite."""

from __future__ import annotations

import random

import pytest

from spacemesh_core.crypto.address import MAX_MULTISIG_KEYS
from spacemesh_core.testing.conformance.templates import AccountCase, TemplateConformance
from spacemesh_core.types.tx import METHOD_SPEND, WalletSpawnArguments, WalletSpendArguments
from spacemesh_core.vm.multisig import MultisigSpawnArguments
from spacemesh_core.vm.template import Template
from spacemesh_core.vm.transaction import SignaturePart, compute_ed25519_signature, encode_signature_parts
from spacemesh_plugins.account_template_multisig.template import MultisigTemplate
from spacemesh_plugins.account_template_vault.template import VaultSpawnArguments, VaultTemplate
from spacemesh_plugins.account_template_vesting.template import VestingTemplate
from spacemesh_plugins.account_template_wallet.template import WalletTemplate
from spacemesh_plugins.wallet_cli.keystore import compute_public_key


def _spend_args(destination: bytes, amount: int) -> WalletSpendArguments:
    return WalletSpendArguments(destination, amount)


class TestWalletTemplate(TemplateConformance):
    @pytest.fixture
    def template(self) -> Template:
        return WalletTemplate()

    def create_account(self, rng: random.Random) -> AccountCase:
        seed = rng.randbytes(32)
        return AccountCase(
            spawn_args=WalletSpawnArguments(compute_public_key(seed)),
            sign=lambda unsigned, genesis_id: compute_ed25519_signature(seed, genesis_id, unsigned),
            spend_method=METHOD_SPEND,
            make_spend_args=_spend_args,
        )


def _multisig_case(rng: random.Random, keys: int, required: int) -> AccountCase:
    seeds = [rng.randbytes(32) for _ in range(keys)]
    signers = sorted(rng.sample(range(keys), required))

    def sign(unsigned: bytes, genesis_id: bytes) -> bytes:
        parts = [SignaturePart(ref, compute_ed25519_signature(seeds[ref], genesis_id, unsigned)) for ref in signers]
        return encode_signature_parts(parts)

    return AccountCase(
        spawn_args=MultisigSpawnArguments(required, tuple(compute_public_key(seed) for seed in seeds)),
        sign=sign,
        spend_method=METHOD_SPEND,
        make_spend_args=_spend_args,
    )


class TestMultisigTemplate(TemplateConformance):
    @pytest.fixture
    def template(self) -> Template:
        return MultisigTemplate()

    def create_account(self, rng: random.Random) -> AccountCase:
        keys = rng.randint(1, MAX_MULTISIG_KEYS)
        return _multisig_case(rng, keys, rng.randint(1, keys))


class TestVestingTemplate(TemplateConformance):
    @pytest.fixture
    def template(self) -> Template:
        return VestingTemplate()

    def create_account(self, rng: random.Random) -> AccountCase:
        return _multisig_case(rng, 3, 2)


class TestVaultTemplate(TemplateConformance):
    """A vault never signs and never spawns itself: the suite runs its definition checks."""

    self_spawn = False

    @pytest.fixture
    def template(self) -> Template:
        return VaultTemplate()

    def create_account(self, rng: random.Random) -> AccountCase:
        owner = bytes(4) + rng.randbytes(20)
        start = rng.randint(0, 1000)
        return AccountCase(
            spawn_args=VaultSpawnArguments(owner, 10**12, 10**11, start, start + rng.randint(0, 1000)),
            sign=lambda unsigned, genesis_id: b"",
        )
