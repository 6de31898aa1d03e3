"""Property tests of the VM: supply conservation across apply and revert, no negative balance or
backwards nonce under hostile transactions, ineffective transactions change nothing."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from spacemesh_core.types.tx import METHOD_SPAWN, METHOD_SPEND, WalletSpawnArguments, WalletSpendArguments
from spacemesh_core.vm.template import TemplateRegistry
from spacemesh_core.vm.transaction import encode_unsigned_transaction, sign_single
from spacemesh_core.vm.vm import VM, CoinbaseReward
from spacemesh_plugins.account_template_multisig.template import MultisigTemplate
from spacemesh_plugins.account_template_wallet.template import WalletTemplate
from spacemesh_plugins.wallet_cli.keystore import compute_public_key

GENESIS_ID = b"\x42" * 20
WALLET = WalletTemplate()
SEEDS = [bytes([i]) * 32 for i in range(10, 14)]
KEYS = [compute_public_key(seed) for seed in SEEDS]
ADDRESSES = [bytes(WALLET.compute_principal(WalletSpawnArguments(key))) for key in KEYS]
COINBASE = bytes(4) + b"\xcb" * 20
PROPERTY_SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def make_vm(balances: list[int]) -> VM:
    """Genesis balances, then layer 1 spawns the first three wallets (those that can pay)."""
    vm = VM(TemplateRegistry([WALLET, MultisigTemplate()]), genesis_id=GENESIS_ID, effective_genesis=1)
    vm.apply_genesis(list(zip(ADDRESSES, balances, strict=False)))
    vm.apply_layer(1, [build_tx("spawn", i, i, 0, 0, 1) for i in range(3)])
    return vm


def build_tx(kind: str, sender: int, receiver: int, amount: int, nonce: int, gas_price: int) -> bytes:
    """A transaction from a menu of honest and hostile shapes."""
    principal = ADDRESSES[sender]
    if kind == "spawn":
        unsigned = encode_unsigned_transaction(
            principal, METHOD_SPAWN, nonce, gas_price, WalletSpawnArguments(KEYS[sender]), WALLET.address
        )
    else:
        unsigned = encode_unsigned_transaction(
            principal, METHOD_SPEND, nonce, gas_price, WalletSpendArguments(ADDRESSES[receiver], amount)
        )
    signer = SEEDS[receiver] if kind == "forged" else SEEDS[sender]
    raw = sign_single(unsigned, signer, GENESIS_ID)
    if kind == "truncated":
        return raw[: len(raw) // 2]
    if kind == "trailing":
        return raw + b"\x00"
    if kind == "foreign_spawn":  # spawn somebody else's key from this principal
        unsigned = encode_unsigned_transaction(
            principal, METHOD_SPAWN, nonce, gas_price, WalletSpawnArguments(KEYS[receiver]), WALLET.address
        )
        return sign_single(unsigned, SEEDS[sender], GENESIS_ID)
    return raw


tx_strategy = st.builds(
    build_tx,
    kind=st.sampled_from(["spawn", "spend", "spend", "spend", "forged", "truncated", "trailing", "foreign_spawn"]),
    sender=st.integers(0, len(SEEDS) - 1),
    receiver=st.integers(0, len(SEEDS) - 1),
    amount=st.one_of(st.integers(0, 10**6), st.integers(0, 2**64 - 1)),
    nonce=st.one_of(st.integers(0, 4), st.integers(0, 2**64 - 1)),
    gas_price=st.one_of(st.integers(0, 3), st.integers(0, 2**64 - 1)),
)
layers_strategy = st.lists(
    st.tuples(st.lists(tx_strategy, max_size=8), st.lists(st.integers(1, 5), max_size=3)), min_size=1, max_size=4
)
balances_strategy = st.lists(
    st.one_of(st.integers(0, 10**6), st.integers(10**6, 10**12)), min_size=len(SEEDS), max_size=len(SEEDS)
)


def snapshot(vm: VM) -> dict[bytes, tuple[int, int, bytes | None, bytes]]:
    return {a.address: (a.balance, a.next_nonce, a.template, a.state) for a in vm.store.iter_accounts()}


@PROPERTY_SETTINGS
@given(balances=balances_strategy, layers=layers_strategy)
def test_supply_conserved_and_revert_restores(balances: list[int], layers: list[tuple[list[bytes], list[int]]]) -> None:
    vm = make_vm(balances)
    history = [snapshot(vm)]
    for offset, (txs, weights) in enumerate(layers):
        before = vm.store.get_total_balance()
        rewards = [CoinbaseReward(COINBASE, Fraction(w, 3)) for w in weights]
        result = vm.apply_layer(2 + offset, txs, rewards)
        event(f"executed txs in a layer: {min(len(result.executed), 3)}+")
        credited = sum(reward.total_reward for reward in result.rewards)
        assert credited + result.burnt == result.subsidy + result.fees
        # fees leave the payers and come back through the rewards; only the burnt rounding is lost
        expected = before + result.subsidy - result.burnt if rewards else before - result.fees
        assert vm.store.get_total_balance() == expected
        history.append(snapshot(vm))
    for index in range(len(layers) - 1, -1, -1):
        vm.revert(1 + index)
        assert snapshot(vm) == history[index]
    vm.revert(0)
    assert vm.store.get_total_balance() == sum(balances)


@PROPERTY_SETTINGS
@given(balances=balances_strategy, layers=layers_strategy)
def test_no_negative_balance_no_backwards_nonce(
    balances: list[int], layers: list[tuple[list[bytes], list[int]]]
) -> None:
    vm = make_vm(balances)
    nonces = {address: 0 for address in ADDRESSES}
    for offset, (txs, _) in enumerate(layers):
        vm.apply_layer(2 + offset, txs)
        for account in vm.store.iter_accounts():
            assert 0 <= account.balance < 2**64
            # Only the reference's uint64 wrap (a tx with nonce 2**64-1) may take it back, to 0.
            assert account.next_nonce >= nonces.get(account.address, 0) or account.next_nonce == 0
            nonces[account.address] = account.next_nonce
            account.to_bytes()  # still encodes within the SCALE limits


@PROPERTY_SETTINGS
@given(balances=balances_strategy, setup=st.lists(tx_strategy, max_size=6), tx=tx_strategy)
def test_an_ineffective_transaction_changes_nothing(balances: list[int], setup: list[bytes], tx: bytes) -> None:
    vm = make_vm(balances)
    vm.apply_layer(2, setup)
    before = snapshot(vm)
    result = vm.apply_layer(3, [tx])
    if result.ineffective:
        assert not result.executed and result.changed == () and result.fees == 0
        assert snapshot(vm) == before
    else:
        (executed,) = result.executed
        assert executed.fee > 0 or executed.header.gas_price * executed.header.max_gas % 2**64 == 0


def test_a_transaction_with_the_largest_nonce_wraps_the_next_nonce_to_zero() -> None:
    vm = make_vm([10**9, 10**9, 10**9, 0])
    result = vm.apply_layer(2, [build_tx("spend", 0, 1, 5, 2**64 - 1, 1)])
    assert len(result.executed) == 1
    account = vm.store.get(ADDRESSES[0])
    assert account.next_nonce == 0
    account.to_bytes()
