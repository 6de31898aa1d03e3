"""The daily-limit template passes the template conformance suite and enforces its limit."""

from __future__ import annotations

import random

import pytest
from nacl.bindings import crypto_sign_seed_keypair
from spacemesh_dailylimit.template import LAYERS_PER_DAY, DailyLimitSpawnArguments, DailyLimitTemplate

from spacemesh_core.testing.conformance.templates import AccountCase, TemplateConformance
from spacemesh_core.types.tx import METHOD_SPAWN, METHOD_SPEND, WalletSpendArguments
from spacemesh_core.vm.template import Template, TemplateRegistry
from spacemesh_core.vm.transaction import compute_ed25519_signature, encode_unsigned_transaction, sign_single
from spacemesh_core.vm.vm import VM, TxStatus

GENESIS_ID = b"\x11" * 20


def _public_key(seed: bytes) -> bytes:
    return bytes(crypto_sign_seed_keypair(seed)[0])


class TestDailyLimitConformance(TemplateConformance):
    @pytest.fixture
    def template(self) -> Template:
        return DailyLimitTemplate()

    def create_account(self, rng: random.Random) -> AccountCase:
        seed = rng.randbytes(32)
        return AccountCase(
            spawn_args=DailyLimitSpawnArguments(_public_key(seed), 10**9),
            sign=lambda unsigned, genesis_id: compute_ed25519_signature(seed, genesis_id, unsigned),
            spend_method=METHOD_SPEND,
            make_spend_args=WalletSpendArguments,
        )


def test_limit_per_day() -> None:
    template = DailyLimitTemplate()
    seed = b"\x01" * 32
    args = DailyLimitSpawnArguments(_public_key(seed), 1_000)
    principal = bytes(template.compute_principal(args))
    destination = bytes(4) + b"\x02" * 20
    vm = VM(TemplateRegistry([template]), genesis_id=GENESIS_ID, effective_genesis=1)
    vm.apply_genesis([(principal, 10**12)])

    def tx(method: int, nonce: int, payload: object, template_address: bytes | None = None) -> bytes:
        unsigned = encode_unsigned_transaction(principal, method, nonce, 1, payload, template_address)
        return sign_single(unsigned, seed, GENESIS_ID)

    vm.apply_layer(1, [tx(METHOD_SPAWN, 0, args, template.address)])
    result = vm.apply_layer(2, [tx(METHOD_SPEND, 1, WalletSpendArguments(destination, 600)),
                                tx(METHOD_SPEND, 2, WalletSpendArguments(destination, 600))])
    assert [r.status for r in result.executed] == [TxStatus.SUCCESS, TxStatus.FAILURE]
    assert result.executed[1].message.startswith("daily limit exceeded")
    assert vm.get_balance(destination) == 600
    result = vm.apply_layer(LAYERS_PER_DAY, [tx(METHOD_SPEND, 3, WalletSpendArguments(destination, 1_000))])
    assert result.executed[0].status is TxStatus.SUCCESS and vm.get_balance(destination) == 1_600
    vm.revert(2)  # undoing the new day restores yesterday's total
    assert template.load_state(vm.get_account(principal).state).spent_today == 600
