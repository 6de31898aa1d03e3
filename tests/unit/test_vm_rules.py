"""genvm rules: ineffective vs failed transactions, quirks, gas, rewards, state hash, revert, templates."""

from __future__ import annotations

from fractions import Fraction

import pytest

from spacemesh_core.codec.scale import encode
from spacemesh_core.crypto.address import VAULT_TEMPLATE_ADDRESS, VESTING_TEMPLATE_ADDRESS
from spacemesh_core.crypto.hashes import compute_blake3
from spacemesh_core.economics import compute_subsidy_for_layer
from spacemesh_core.types.tx import (
    METHOD_DRAIN_VAULT,
    METHOD_SPAWN,
    METHOD_SPEND,
    WalletSpawnArguments,
    WalletSpendArguments,
)
from spacemesh_core.vm.gas import UINT64_MASK
from spacemesh_core.vm.multisig import MultisigSpawnArguments
from spacemesh_core.vm.template import TemplateRegistry
from spacemesh_core.vm.transaction import (
    SignaturePart,
    compute_ed25519_signature,
    encode_signature_parts,
    encode_unsigned_transaction,
    sign_single,
)
from spacemesh_core.vm.vm import VM, CoinbaseReward, IneffectiveReason, LayerError, TxStatus
from spacemesh_plugins.account_template_multisig.template import MultisigTemplate
from spacemesh_plugins.account_template_vault.template import VaultSpawnArguments, VaultTemplate
from spacemesh_plugins.account_template_vesting.template import DrainVaultArguments, VestingTemplate
from spacemesh_plugins.account_template_wallet.template import WalletTemplate
from spacemesh_plugins.wallet_cli.keystore import compute_public_key

GENESIS_ID = bytes(range(20))
WALLET = WalletTemplate()
FUNDS = 10**12
SEEDS = [bytes([i]) * 32 for i in range(1, 6)]
KEYS = [compute_public_key(seed) for seed in SEEDS]
ADDRESSES = [bytes(WALLET.compute_principal(WalletSpawnArguments(key))) for key in KEYS]
OUTSIDER = bytes(4) + b"\x77" * 20


def make_vm(gas_limit: int = 100_000_000) -> VM:
    registry = TemplateRegistry([WALLET, MultisigTemplate(), VestingTemplate(), VaultTemplate()])
    return VM(registry, genesis_id=GENESIS_ID, effective_genesis=1, gas_limit=gas_limit)


def spawn_tx(i: int, nonce: int = 0, gas_price: int = 1) -> bytes:
    unsigned = encode_unsigned_transaction(
        ADDRESSES[i], METHOD_SPAWN, nonce, gas_price, WalletSpawnArguments(KEYS[i]), WALLET.address
    )
    return sign_single(unsigned, SEEDS[i], GENESIS_ID)


def spend_tx(i: int, to: bytes, amount: int, nonce: int, gas_price: int = 1) -> bytes:
    args = WalletSpendArguments(to, amount)
    unsigned = encode_unsigned_transaction(ADDRESSES[i], METHOD_SPEND, nonce, gas_price, args)
    return sign_single(unsigned, SEEDS[i], GENESIS_ID)


def spawned_vm(balances: tuple[int, ...] = (FUNDS, FUNDS), gas_limit: int = 100_000_000) -> VM:
    vm = make_vm(gas_limit)
    vm.apply_genesis([(ADDRESSES[i], balance) for i, balance in enumerate(balances)])
    result = vm.apply_layer(1, [spawn_tx(i) for i in range(len(balances))])
    assert all(r.status is TxStatus.SUCCESS for r in result.executed) and not result.ineffective
    return vm


def test_spend_success_fee_and_nonce() -> None:
    vm = spawned_vm()
    before = vm.get_balance(ADDRESSES[0])
    result = vm.apply_layer(2, [spend_tx(0, ADDRESSES[1], 500, 1, gas_price=2)])
    (executed,) = result.executed
    assert executed.status is TxStatus.SUCCESS and executed.fee == 2 * executed.header.max_gas
    assert executed.gas_consumed == executed.header.max_gas
    assert vm.get_balance(ADDRESSES[0]) == before - 500 - executed.fee
    assert vm.get_nonce(ADDRESSES[0]) == 2
    assert executed.touched == (ADDRESSES[0], ADDRESSES[1])
    assert result.fees == executed.fee


def test_zero_gas_price_is_ineffective_and_changes_nothing() -> None:
    vm = spawned_vm()
    before = vm.get_account(ADDRESSES[0])
    result = vm.apply_layer(2, [spend_tx(0, ADDRESSES[1], 5, 1, gas_price=0)])
    assert [i.reason for i in result.ineffective] == [IneffectiveReason.ZERO_GAS_PRICE]
    assert vm.get_account(ADDRESSES[0]) == before and result.changed == ()


def test_intrinsic_gas_is_compared_in_gas_units_not_coins() -> None:
    """Quirk: a balance covering BaseGas+TxDataGas units executes even if it cannot pay the fee."""
    vm = spawned_vm()
    drained_to = 30_000  # above the spend's intrinsic gas (23000 + 1920) but far below max_gas × 1000
    balance = vm.get_balance(ADDRESSES[0])
    vm.apply_layer(2, [spend_tx(0, OUTSIDER, balance - drained_to - 36_090, 1)])
    drained_to = vm.get_balance(ADDRESSES[0])  # the amount's encoding changes the fee slightly
    assert 25_000 < drained_to < 36_090
    result = vm.apply_layer(3, [spend_tx(0, ADDRESSES[1], 1, 2, gas_price=1000)])
    (executed,) = result.executed
    assert executed.status is TxStatus.FAILURE and "out of gas" in executed.message
    assert executed.fee == drained_to and vm.get_balance(ADDRESSES[0]) == 0
    assert vm.get_nonce(ADDRESSES[0]) == 3
    # now below the intrinsic gas: ineffective
    result = vm.apply_layer(4, [spend_tx(0, ADDRESSES[1], 1, 3)])
    assert [i.reason for i in result.ineffective] == [IneffectiveReason.INTRINSIC_GAS]


def test_fee_wraps_at_two_to_the_64_like_go() -> None:
    vm = spawned_vm()
    max_gas = vm.parse(spend_tx(0, ADDRESSES[1], 1, 1, gas_price=1 << 49)).header.max_gas
    price = (1 << 64) // max_gas + 1  # same compact size as 2**49: same max gas
    result = vm.apply_layer(2, [spend_tx(0, ADDRESSES[1], 1, 1, gas_price=price)])
    (executed,) = result.executed
    assert executed.fee == (max_gas * price) & UINT64_MASK < max_gas
    assert executed.status is TxStatus.SUCCESS


def test_block_gas_limit_makes_later_txs_ineffective() -> None:
    vm = spawned_vm(gas_limit=250_000)
    result = vm.apply_layer(2, [spend_tx(0, ADDRESSES[1], 1, n) for n in range(1, 10)])
    assert len(result.executed) == 6  # each layer has the full limit: 250000 // 36090 spends
    assert all(i.reason is IneffectiveReason.BLOCK_GAS_LIMIT for i in result.ineffective)
    assert len(result.ineffective) == 3


def test_nonce_rules_low_is_ineffective_gap_is_accepted() -> None:
    vm = spawned_vm()
    result = vm.apply_layer(2, [spend_tx(0, ADDRESSES[1], 1, 0), spend_tx(0, ADDRESSES[1], 1, 7)])
    assert [i.reason for i in result.ineffective] == [IneffectiveReason.NONCE_TOO_LOW]
    assert result.ineffective[0].header is not None
    assert vm.get_nonce(ADDRESSES[0]) == 8


def test_bad_signature_unless_pre_verified() -> None:
    vm = spawned_vm()
    tx = bytearray(spend_tx(0, ADDRESSES[1], 1, 1))
    tx[-5] ^= 0xFF
    result = vm.apply_layer(2, [bytes(tx)])
    assert [i.reason for i in result.ineffective] == [IneffectiveReason.INVALID_SIGNATURE]
    tx_id = compute_blake3(bytes(tx))
    result = vm.apply_layer(3, [bytes(tx)], verified={tx_id})
    assert result.executed[0].status is TxStatus.SUCCESS


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        (b"", "version"),
        (b"\x04" + bytes(40), "unsupported version"),
        (bytes(1025), "limit"),
        (b"\x00" + bytes(10), "principal"),
    ],
)
def test_malformed_txs_are_ineffective_with_a_reason(raw: bytes, needle: str) -> None:
    vm = spawned_vm()
    result = vm.apply_layer(2, [raw])
    (skipped,) = result.ineffective
    assert skipped.reason is IneffectiveReason.MALFORMED and needle in skipped.message


def test_unspawned_principal_cannot_spend() -> None:
    vm = make_vm()
    vm.apply_genesis([(ADDRESSES[0], FUNDS)])
    result = vm.apply_layer(1, [spend_tx(0, ADDRESSES[1], 1, 0)])
    assert "not spawned" in result.ineffective[0].message


def test_failed_spend_keeps_fee_and_advances_nonce_only() -> None:
    vm = spawned_vm()
    before = vm.get_balance(ADDRESSES[0])
    result = vm.apply_layer(2, [spend_tx(0, ADDRESSES[1], FUNDS * 5, 1)])
    (failed,) = result.executed
    assert failed.status is TxStatus.FAILURE and failed.message == "no balance"
    assert vm.get_balance(ADDRESSES[0]) == before - failed.fee
    assert vm.get_balance(ADDRESSES[1]) == FUNDS - 100_432
    assert vm.get_nonce(ADDRESSES[0]) == 2


def test_spawning_twice_fails() -> None:
    vm = spawned_vm()
    result = vm.apply_layer(2, [spawn_tx(0, nonce=1)])
    assert result.executed[0].message == "account already spawned"


def test_spend_to_self_only_costs_gas() -> None:
    vm = spawned_vm()
    before = vm.get_balance(ADDRESSES[0])
    result = vm.apply_layer(2, [spend_tx(0, ADDRESSES[0], 10, 1)])
    assert vm.get_balance(ADDRESSES[0]) == before - result.executed[0].fee


def test_rewards_split_by_weight_with_fees_and_burnt_remainder() -> None:
    vm = spawned_vm()
    coinbases = [bytes(4) + bytes([i]) * 20 for i in (1, 2, 3)]
    rewards = [CoinbaseReward(c, Fraction(w)) for c, w in zip(coinbases, (1, 1, 1), strict=True)]
    result = vm.apply_layer(5, [spend_tx(0, ADDRESSES[1], 1, 1)], rewards)
    subsidy = compute_subsidy_for_layer(5, 1)
    total = subsidy + result.fees
    assert result.subsidy == subsidy
    assert [r.total_reward for r in result.rewards] == [total // 3] * 3
    assert [r.layer_reward for r in result.rewards] == [subsidy // 3] * 3
    assert result.burnt == total - 3 * (total // 3)
    assert [vm.get_balance(c) for c in coinbases] == [total // 3] * 3


def test_state_hash_covers_changed_accounts_in_first_change_order() -> None:
    vm = spawned_vm()
    coinbase = bytes(4) + b"\x09" * 20
    result = vm.apply_layer(2, [spend_tx(1, ADDRESSES[0], 3, 1), spend_tx(0, OUTSIDER, 2, 1)],
                            [CoinbaseReward(coinbase, Fraction(1))])
    assert result.changed == (ADDRESSES[1], ADDRESSES[0], OUTSIDER, coinbase)
    encoded = [vm.get_account(address).to_bytes() for address in result.changed]
    assert result.state_hash == compute_blake3(*encoded) == vm.get_state_hash(2)
    assert all(vm.get_account(address).layer == 2 for address in result.changed)


def test_revert_and_reapply_is_deterministic() -> None:
    vm = spawned_vm()
    txs = [spend_tx(0, ADDRESSES[1], 10, 1), spend_tx(1, OUTSIDER, 20, 1)]
    first = vm.apply_layer(2, txs, [CoinbaseReward(OUTSIDER, Fraction(1))])
    assert vm.revert(1) == [2]
    assert vm.get_state_hash(2) == bytes(32) and vm.get_balance(OUTSIDER) == 0
    assert vm.get_nonce(ADDRESSES[0]) == 1
    again = vm.apply_layer(2, txs, [CoinbaseReward(OUTSIDER, Fraction(1))])
    assert again.state_hash == first.state_hash


def test_layer_order_is_enforced() -> None:
    vm = spawned_vm()
    with pytest.raises(LayerError):
        vm.apply_layer(1, [])
    with pytest.raises(LayerError):
        make_vm().apply_layer(0, [])


# --- multisig ------------------------------------------------------------------------------------


def multisig_tx(principal: bytes, method: int, nonce: int, args: object, refs: list[int],
                template: bytes | None = None) -> bytes:
    unsigned = encode_unsigned_transaction(principal, method, nonce, 1, args, template)
    parts = [SignaturePart(ref, compute_ed25519_signature(SEEDS[ref], GENESIS_ID, unsigned)) for ref in refs]
    return unsigned + b"".join(encode(part) for part in parts)


def test_multisig_two_of_three() -> None:
    template = MultisigTemplate()
    args = MultisigSpawnArguments(2, tuple(KEYS[:3]))
    principal = bytes(template.compute_principal(args))
    vm = make_vm()
    vm.apply_genesis([(principal, FUNDS)])
    result = vm.apply_layer(1, [multisig_tx(principal, METHOD_SPAWN, 0, args, [0, 2], template.address)])
    assert result.executed[0].status is TxStatus.SUCCESS
    tx_data_gas = 128 * -(-len(result.executed[0].raw) // 8)
    assert result.executed[0].header.max_gas == (20_000 + 2 * 3_000 + 30_000) + tx_data_gas + 5_000 * 17
    spend = WalletSpendArguments(OUTSIDER, 7)
    bad = [
        multisig_tx(principal, METHOD_SPEND, 1, spend, [2, 0]),  # not increasing
        multisig_tx(principal, METHOD_SPEND, 1, spend, [1, 1]),  # duplicate
        multisig_tx(principal, METHOD_SPEND, 1, spend, [1]),  # too few
        multisig_tx(principal, METHOD_SPEND, 1, spend, [0, 3]),  # not a member (ref 3 of 3 keys)
    ]
    result = vm.apply_layer(2, bad)
    assert [i.reason for i in result.ineffective] == [IneffectiveReason.INVALID_SIGNATURE] * 4
    result = vm.apply_layer(3, [multisig_tx(principal, METHOD_SPEND, 1, spend, [1, 2])])
    assert result.executed[0].status is TxStatus.SUCCESS and vm.get_balance(OUTSIDER) == 7
    sorted_parts = encode_signature_parts([SignaturePart(2, b"\x00" * 64), SignaturePart(1, b"\x01" * 64)])
    assert sorted_parts[0] == 1 << 2


def test_multisig_refuses_bad_spawn_arguments() -> None:
    template = MultisigTemplate()
    args = MultisigSpawnArguments(3, tuple(KEYS[:2]))
    principal = bytes(template.compute_principal(args))
    vm = make_vm()
    vm.apply_genesis([(principal, FUNDS)])
    result = vm.apply_layer(1, [multisig_tx(principal, METHOD_SPAWN, 0, args, [0, 1], template.address)])
    assert result.ineffective[0].reason is IneffectiveReason.MALFORMED
    assert "at least 3 keys" in result.ineffective[0].message


# --- vesting and vaults --------------------------------------------------------------------------


def test_vesting_spawns_and_drains_a_vault() -> None:
    vesting = VestingTemplate()
    args = MultisigSpawnArguments(1, (KEYS[0], KEYS[1]))
    owner = bytes(vesting.compute_principal(args))
    vault_args = VaultSpawnArguments(owner, 1_000_000, 0, 100, 200)
    vault = bytes(VaultTemplate().compute_principal(vault_args))
    vm = make_vm()
    vm.apply_genesis([(owner, FUNDS), (vault, 1_000_000)])
    result = vm.apply_layer(1, [
        multisig_tx(owner, METHOD_SPAWN, 0, args, [1], VESTING_TEMPLATE_ADDRESS),
        multisig_tx(owner, METHOD_SPAWN, 1, vault_args, [0], VAULT_TEMPLATE_ADDRESS),
    ])
    assert [r.status for r in result.executed] == [TxStatus.SUCCESS] * 2
    assert vm.get_account(vault).template == VAULT_TEMPLATE_ADDRESS
    # vault spawned by another account: principal load gas + the vault's (zero) exec gas
    tx_data_gas = 128 * -(-len(result.executed[1].raw) // 8)
    assert result.executed[1].header.max_gas == (20_000 + 3_000 + 30_000) + tx_data_gas + (2_500 + 182 * 13)

    def drain(nonce: int, amount: int, signer: int = 0, principal: bytes = owner) -> bytes:
        return multisig_tx(principal, METHOD_DRAIN_VAULT, nonce, DrainVaultArguments(vault, OUTSIDER, amount), [signer])

    result = vm.apply_layer(50, [drain(2, 1)])
    assert result.executed[0].message == "vault: amount not available"
    result = vm.apply_layer(150, [drain(3, 500_001)])
    assert result.executed[0].message == "vault: amount not available"
    result = vm.apply_layer(151, [drain(4, 500_000)])
    assert result.executed[0].status is TxStatus.SUCCESS
    assert result.executed[0].header.max_spend == 0
    assert vm.get_balance(OUTSIDER) == 500_000 and vm.get_balance(vault) == 500_000
    assert vm.get_account(vault).layer == 151  # the vault account is part of the layer's changes

    # a different vesting account does not own the vault
    other_args = MultisigSpawnArguments(1, (KEYS[0],))  # same signer, another (single-key) account
    other = bytes(vesting.compute_principal(other_args))
    spawned = vm.apply_layer(152, [multisig_tx(owner, METHOD_SPEND, 5, WalletSpendArguments(other, FUNDS // 10), [0])])
    assert spawned.executed[0].status is TxStatus.SUCCESS
    result = vm.apply_layer(153, [multisig_tx(other, METHOD_SPAWN, 0, other_args, [0], VESTING_TEMPLATE_ADDRESS)])
    assert result.executed[0].status is TxStatus.SUCCESS
    result = vm.apply_layer(300, [drain(1, 1, principal=other)])
    assert result.executed[0].message == "vault: not an owner"
    # draining a wallet (not a vault) is a template mismatch
    not_a_vault = DrainVaultArguments(owner, OUTSIDER, 1)
    result = vm.apply_layer(301, [multisig_tx(owner, METHOD_DRAIN_VAULT, 6, not_a_vault, [0])])
    assert "relay template mismatch" in result.executed[0].message
    # a vault never signs: its own transactions are ineffective
    # (the vault template reads no payload: arguments follow the method selector directly)
    raw = b"\x00" + vault + bytes([METHOD_SPEND << 2]) + encode(WalletSpendArguments(OUTSIDER, 1)) + bytes(64)
    result = vm.apply_layer(302, [raw])
    assert [i.reason for i in result.ineffective] == [IneffectiveReason.ZERO_GAS_PRICE]
