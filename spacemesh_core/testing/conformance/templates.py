"""Conformance suite for account templates (the ``account_template`` category).

A template author subclasses :class:`TemplateConformance` in a pytest module, provides the
``template`` fixture and implements :meth:`TemplateConformance.create_account`; every built-in and
third-party template then passes the same checks, run through the real VM::

    import pytest
    from spacemesh_core.testing.conformance.templates import AccountCase, TemplateConformance

    class TestMyTemplate(TemplateConformance):
        @pytest.fixture
        def template(self):
            return MyTemplate()

        def create_account(self, rng):
            seed = rng.randbytes(32)
            ...
            return AccountCase(spawn_args=..., sign=..., spend_method=16, make_spend_args=...)

``sign(unsigned, genesis_id)`` returns the signature bytes to append to ``unsigned``.
``make_spend_args(destination, amount)`` builds the arguments of a method that moves ``amount``
to ``destination`` (leave it None when the template has no such method). Set
``self_spawn = False`` on templates that cannot spawn themselves (e.g. a vault).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import attrs
import pytest

from spacemesh_core.codec.scale import ScaleReader, encode
from spacemesh_core.crypto.address import compute_principal
from spacemesh_core.types.tx import METHOD_SPAWN
from spacemesh_core.vm.gas import DEFAULT_BLOCK_GAS_LIMIT, compute_max_gas
from spacemesh_core.vm.template import Template, TemplateRegistry
from spacemesh_core.vm.transaction import encode_unsigned_transaction
from spacemesh_core.vm.vm import VM, IneffectiveReason, TxStatus

GENESIS_ID = bytes(range(20))
OTHER_GENESIS_ID = bytes(range(1, 21))
FUNDS = 10**15


@attrs.frozen
class AccountCase:
    """One account of the template under test, as the author builds it."""

    spawn_args: Any
    sign: Callable[[bytes, bytes], bytes]
    spend_method: int | None = None
    make_spend_args: Callable[[bytes, int], Any] | None = None


class TemplateConformance:
    """Checks every account template must pass; subclass it and provide the hooks named above."""

    #: whether accounts of the template spawn themselves (funded beforehand, as in genvm)
    self_spawn = True

    @pytest.fixture
    def template(self) -> Template:  # pragma: no cover - the author overrides it
        """The template under test."""
        raise NotImplementedError("provide a `template` fixture")

    @pytest.fixture
    def extra_templates(self) -> list[Template]:
        """Other templates the tests need registered (none by default)."""
        return []

    def create_account(self, rng: random.Random) -> AccountCase:  # pragma: no cover - author implements
        """Return a fresh account (spawn arguments and a signer) drawn from ``rng``."""
        raise NotImplementedError("implement create_account")

    # --- helpers ------------------------------------------------------------------------------

    def _make_vm(self, template: Template, extra: list[Template]) -> VM:
        return VM(TemplateRegistry([template, *extra]), genesis_id=GENESIS_ID, effective_genesis=1)

    def _sign(self, case: AccountCase, unsigned: bytes, genesis_id: bytes = GENESIS_ID) -> bytes:
        return unsigned + case.sign(unsigned, genesis_id)

    def _spawn_unsigned(self, template: Template, case: AccountCase, nonce: int = 0, gas_price: int = 1) -> bytes:
        principal = template.compute_principal(case.spawn_args)
        return encode_unsigned_transaction(principal, METHOD_SPAWN, nonce, gas_price, case.spawn_args, template.address)

    def _spawn_tx(self, template: Template, case: AccountCase, nonce: int = 0, gas_price: int = 1) -> bytes:
        return self._sign(case, self._spawn_unsigned(template, case, nonce, gas_price))

    def _spawned(self, template: Template, extra: list[Template], seed: int) -> tuple[VM, AccountCase, bytes]:
        if not self.self_spawn:
            pytest.skip("the template does not self-spawn")
        vm = self._make_vm(template, extra)
        case = self.create_account(random.Random(seed))
        principal = bytes(template.compute_principal(case.spawn_args))
        vm.apply_genesis([(principal, FUNDS)])
        result = vm.apply_layer(1, [self._spawn_tx(template, case)])
        assert [r.status for r in result.executed] == [TxStatus.SUCCESS], result
        return vm, case, principal

    # --- definition ---------------------------------------------------------------------------

    def test_definition_is_valid(self, template: Template) -> None:
        template.validate_definition()
        assert len(template.address) == 24
        assert template.name and template.get_method(METHOD_SPAWN) is not None
        registry = TemplateRegistry([template])
        assert registry.get(template.address) is template

    def test_state_round_trips(self, template: Template) -> None:
        for seed in range(3):
            case = self.create_account(random.Random(seed))
            state = template.create_state(case.spawn_args)
            encoded = template.encode_state(state)
            assert template.load_state(encoded) == state
            assert template.encode_state(template.load_state(encoded)) == encoded

    def test_principal_is_derived_from_template_and_args(self, template: Template) -> None:
        case = self.create_account(random.Random(7))
        expected = compute_principal(template.address, encode(case.spawn_args))
        assert template.compute_principal(case.spawn_args) == expected
        assert bytes(expected[:4]) == bytes(4)
        other = self.create_account(random.Random(8))
        assert template.compute_principal(other.spawn_args) != expected

    def test_gas_is_non_negative_and_fits_a_block(self, template: Template) -> None:
        case = self.create_account(random.Random(3))
        state = template.create_state(case.spawn_args)
        for selector in template.methods:
            for gas in (template.get_base_gas(state, selector), template.get_exec_gas(state, selector)):
                assert isinstance(gas, int) and 0 <= gas < DEFAULT_BLOCK_GAS_LIMIT
        assert 0 <= template.get_load_gas(state) < DEFAULT_BLOCK_GAS_LIMIT

    def test_verify_never_raises_on_garbage(self, template: Template) -> None:
        case = self.create_account(random.Random(4))
        state = template.create_state(case.spawn_args)
        rng = random.Random(5)
        for size in (0, 1, 63, 64, 65, 200):
            raw = rng.randbytes(size)
            assert template.verify(state, GENESIS_ID, raw, ScaleReader(raw)) is False

    # --- through the VM -----------------------------------------------------------------------

    def test_self_spawn_charges_max_gas_and_stores_state(
        self, template: Template, extra_templates: list[Template]
    ) -> None:
        vm, case, principal = self._spawned(template, extra_templates, 11)
        account = vm.get_account(principal)
        assert account.template == bytes(template.address)
        assert account.next_nonce == 1
        assert account.state == template.encode_state(template.create_state(case.spawn_args))
        result = vm.store.get_layer_record(1)
        assert result is not None
        executed = result.results[0]
        state = template.create_state(case.spawn_args)
        expected_max_gas = compute_max_gas(
            template.get_base_gas(state, METHOD_SPAWN), template.get_exec_gas(state, METHOD_SPAWN),
            len(executed.raw),
        )
        assert executed.header.max_gas == expected_max_gas
        assert executed.fee == expected_max_gas and account.balance == FUNDS - expected_max_gas

    def test_bad_signature_is_ineffective(self, template: Template, extra_templates: list[Template]) -> None:
        if not self.self_spawn:
            pytest.skip("the template does not self-spawn")
        vm = self._make_vm(template, extra_templates)
        case = self.create_account(random.Random(12))
        principal = bytes(template.compute_principal(case.spawn_args))
        vm.apply_genesis([(principal, FUNDS)])
        unsigned = self._spawn_unsigned(template, case)
        corrupted = bytearray(self._sign(case, unsigned))
        corrupted[-1] ^= 0x01
        wrong_network = unsigned + case.sign(unsigned, OTHER_GENESIS_ID)
        before = vm.get_account(principal)
        result = vm.apply_layer(1, [bytes(corrupted), wrong_network])
        assert [i.reason for i in result.ineffective] == [IneffectiveReason.INVALID_SIGNATURE] * 2
        assert vm.get_account(principal).balance == before.balance
        assert vm.get_account(principal).template is None

    def test_replay_is_ineffective(self, template: Template, extra_templates: list[Template]) -> None:
        vm, case, principal = self._spawned(template, extra_templates, 13)
        balance = vm.get_balance(principal)
        result = vm.apply_layer(2, [self._spawn_tx(template, case)])
        assert [i.reason for i in result.ineffective] == [IneffectiveReason.NONCE_TOO_LOW]
        assert vm.get_balance(principal) == balance

    def test_unknown_method_is_ineffective(self, template: Template, extra_templates: list[Template]) -> None:
        vm, case, principal = self._spawned(template, extra_templates, 14)
        unknown = next(selector for selector in range(1, 256) if selector not in template.methods)
        unsigned = encode_unsigned_transaction(principal, unknown, 1, 1, b"")
        result = vm.apply_layer(2, [self._sign(case, unsigned)])
        assert [i.reason for i in result.ineffective] == [IneffectiveReason.MALFORMED]

    def test_spend_moves_coins_and_overspend_fails_with_fee(
        self, template: Template, extra_templates: list[Template]
    ) -> None:
        vm, case, principal = self._spawned(template, extra_templates, 15)
        if case.make_spend_args is None or case.spend_method is None:
            pytest.skip("the template has no spend-like method")
        destination = bytes(4) + random.Random(16).randbytes(20)
        unsigned = encode_unsigned_transaction(
            principal, case.spend_method, 1, 1, case.make_spend_args(destination, 1000)
        )
        before = vm.get_balance(principal)
        result = vm.apply_layer(2, [self._sign(case, unsigned)])
        executed = result.executed[0]
        assert executed.status is TxStatus.SUCCESS, executed.message
        assert executed.header.max_spend == 1000
        assert vm.get_balance(destination) == 1000
        assert vm.get_balance(principal) == before - 1000 - executed.fee
        unsigned = encode_unsigned_transaction(
            principal, case.spend_method, 2, 1, case.make_spend_args(destination, FUNDS * 2)
        )
        before = vm.get_balance(principal)
        result = vm.apply_layer(3, [self._sign(case, unsigned)])
        failed = result.executed[0]
        assert failed.status is TxStatus.FAILURE
        assert vm.get_balance(principal) == before - failed.fee
        assert vm.get_nonce(principal) == 3 and vm.get_balance(destination) == 1000

    def test_revert_restores_the_state(self, template: Template, extra_templates: list[Template]) -> None:
        vm, case, principal = self._spawned(template, extra_templates, 17)
        vm.revert(0)
        account = vm.get_account(principal)
        assert (account.balance, account.next_nonce, account.template) == (FUNDS, 0, None)
        result = vm.apply_layer(1, [self._spawn_tx(template, case)])
        assert result.executed[0].status is TxStatus.SUCCESS
