"""The VM: apply a layer's transactions and rewards with genvm's rules, revert layers.

Per transaction, in block order (protocol.md §8.3, go-spacemesh ``genvm/vm.go``), a transaction is
**ineffective** — skipped, no state change, no nonce change — when:

1. it does not parse (:class:`~spacemesh_core.vm.transaction.TransactionError`);
2. its gas price is 0;
3. the principal's balance is below the *intrinsic gas* ``BaseGas + TxDataGas`` — compared in gas
   units, not multiplied by the price (a reference quirk kept for consensus);
4. the block's remaining gas is below its max gas;
5. its signature does not verify (skipped for ids the caller marks pre-verified);
6. its nonce is below the principal's next nonce (a nonce *above* it is accepted: gaps are legal).

Otherwise it is **executed**: ``MaxGas × GasPrice`` is charged first (if the balance cannot pay it
the whole balance is taken and the transaction fails "out of gas"; the product wraps at 2^64 as in
Go), then the template runs the method. A failure (no balance, max spend exceeded, …) keeps the
fee, sets ``NextNonce = nonce + 1`` and discards every other change of the call.

After the transactions, ``subsidy(layer) + fees`` is split among the block's coinbases by weight
(``floor(total × w_i / Σw)``; the remainder is burnt) and credited. The layer's state hash is
BLAKE3 of the SCALE encodings of the accounts changed in the layer, in first-change order. The
store keeps every account version per layer, so :meth:`VM.revert` undoes layers exactly.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Collection, Iterable, Sequence
from fractions import Fraction
from typing import Any

import attrs

from spacemesh_core.codec.scale import ScaleError, encode
from spacemesh_core.crypto.address import compute_principal
from spacemesh_core.economics import EFFECTIVE_GENESIS_MAINNET, compute_subsidy_for_layer
from spacemesh_core.genesis import MAINNET_GENESIS_ID
from spacemesh_core.vm.gas import DEFAULT_BLOCK_GAS_LIMIT, UINT64_MASK
from spacemesh_core.vm.state import Account, AccountStore, LayerRecord, compute_state_hash
from spacemesh_core.vm.template import (
    AccountNotSpawnedError,
    AccountSpawnedError,
    ExecutionError,
    Host,
    InvalidSpawnArgumentsError,
    MalformedCallError,
    MaxGasError,
    MaxSpendError,
    NoBalanceError,
    OutOfGasError,
    Template,
    TemplateMismatchError,
    TemplateRegistry,
)
from spacemesh_core.vm.transaction import (
    ParsedTransaction,
    TransactionError,
    TxHeader,
    compute_tx_id,
    get_principal,
    parse_transaction,
)

__all__ = [
    "VM",
    "CoinbaseReward",
    "IneffectiveReason",
    "IneffectiveTx",
    "InvalidSignatureError",
    "LayerError",
    "LayerResult",
    "Reward",
    "TxResult",
    "TxStatus",
    "VMInternalError",
]


class LayerError(ValueError):
    """A layer cannot be applied: before the effective genesis or not after the last applied one."""


class VMInternalError(RuntimeError):
    """The state is inconsistent (a stored template state that does not decode): a bug, not bad input."""


class InvalidSignatureError(TransactionError):
    """The transaction's signature(s) do not verify."""

    reason = "invalid_signature"


@attrs.frozen
class CoinbaseReward:
    """A block's reward entry: pay ``weight`` (a positive fraction) of the layer total to ``coinbase``."""

    coinbase: bytes
    weight: Fraction
    smesher_id: bytes = bytes(32)

    def __attrs_post_init__(self) -> None:
        if len(self.coinbase) != 24:
            raise ValueError("a coinbase is a 24-byte address")
        if not isinstance(self.weight, Fraction) or self.weight <= 0:
            raise ValueError(f"a reward weight must be a positive Fraction, got {self.weight!r}")


@attrs.frozen
class Reward:
    """A credited reward: ``total_reward`` (subsidy share plus fee share) and its subsidy part."""

    layer: int
    coinbase: bytes
    smesher_id: bytes
    total_reward: int
    layer_reward: int


class TxStatus(enum.Enum):
    """Outcome of an executed transaction (both consume the fee and advance the nonce)."""

    SUCCESS = "success"
    FAILURE = "failure"


@attrs.frozen
class TxResult:
    """An executed transaction: status, the failure message, gas, fee and the accounts it touched."""

    tx_id: bytes
    raw: bytes
    header: TxHeader
    layer: int
    status: TxStatus
    message: str
    gas_consumed: int
    fee: int
    touched: tuple[bytes, ...]
    #: the decoded method arguments
    args: Any = None


class IneffectiveReason(enum.Enum):
    """Why a transaction was skipped without any state change."""

    MALFORMED = "malformed"
    ZERO_GAS_PRICE = "zero_gas_price"
    INTRINSIC_GAS = "intrinsic_gas_not_covered"
    BLOCK_GAS_LIMIT = "out_of_block_gas"
    INVALID_SIGNATURE = "invalid_signature"
    NONCE_TOO_LOW = "nonce_too_low"


@attrs.frozen
class IneffectiveTx:
    """A skipped transaction and why."""

    tx_id: bytes
    raw: bytes
    reason: IneffectiveReason
    message: str
    header: TxHeader | None = None


@attrs.frozen
class LayerResult:
    """What applying a layer did."""

    layer: int
    executed: tuple[TxResult, ...]
    ineffective: tuple[IneffectiveTx, ...]
    rewards: tuple[Reward, ...]
    subsidy: int
    fees: int
    burnt: int
    state_hash: bytes
    changed: tuple[bytes, ...]


# ---------------------------------------------------------------------------------------------
# Staging
# ---------------------------------------------------------------------------------------------


class _StagedAccounts:
    """The layer's working copy: reads fall through to the store; changes are kept in order."""

    __slots__ = ("_cache", "_changed", "_store", "_touched")

    def __init__(self, store: AccountStore) -> None:
        self._store = store
        self._cache: dict[bytes, Account] = {}
        self._changed: set[bytes] = set()
        self._touched: list[bytes] = []

    def get(self, address: bytes) -> Account:
        account = self._cache.get(address)
        if account is None:
            account = self._store.get(address)
            self._cache[address] = account
        return account.copy()

    def update(self, account: Account) -> None:
        address = bytes(account.address)
        if address not in self._changed:
            self._changed.add(address)
            self._touched.append(address)
        self._cache[address] = account.copy()

    def get_changed(self) -> list[Account]:
        return [self._cache[address].copy() for address in self._touched]


class _TxContext:
    """The :class:`~spacemesh_core.vm.template.Host` of one executing transaction."""

    def __init__(
        self,
        templates: TemplateRegistry,
        staged: _StagedAccounts,
        parsed: ParsedTransaction,
        account: Account,
        layer: int,
        genesis_id: bytes,
    ) -> None:
        self._templates = templates
        self._staged = staged
        self._header = parsed.header
        self._account = account
        self._layer = layer
        self._genesis_id = genesis_id
        self._template = parsed.principal_template
        self._state = parsed.principal_state
        self._args = parsed.args
        self._changed: dict[bytes, Account] = {}
        self._touched: list[bytes] = []
        self._transferred = 0
        self.consumed = 0
        self.fee = 0

    # --- Host -------------------------------------------------------------------------------

    @property
    def principal(self) -> bytes:
        return self._account.address

    @property
    def layer(self) -> int:
        return self._layer

    @property
    def genesis_id(self) -> bytes:
        return self._genesis_id

    @property
    def balance(self) -> int:
        return self._account.balance

    @property
    def template(self) -> Template:
        return self._template

    @property
    def state(self) -> Any:
        return self._state

    def spawn(self, args: Any) -> None:
        template_address = self._header.template
        account = self._load(compute_principal(template_address, encode(args)))
        if account.template is not None:
            raise AccountSpawnedError()
        template = self._templates.get(template_address)
        if template is None:
            raise VMInternalError("spawn is called with an unknown template")
        try:
            state = template.create_state(args)
        except InvalidSpawnArgumentsError as exc:
            raise MalformedCallError(str(exc)) from None
        account.state = template.encode_state(state)
        account.template = bytes(template_address)
        self._change(account)

    def transfer(self, to: bytes, amount: int) -> None:
        self._transfer(self._account, to, amount, self._header.max_spend)

    def relay(self, template_address: bytes, address: bytes, call: Callable[[Host], None]) -> None:
        account = self._load(address)
        if account.template is None:
            raise AccountNotSpawnedError()
        if account.template != bytes(template_address):
            raise TemplateMismatchError(f"{bytes(template_address).hex()} != {account.template.hex()}")
        template = self._templates.get(template_address)
        if template is None:
            raise VMInternalError("the template of a spawned account is not registered")
        try:
            state = template.load_state(account.state)
        except ScaleError as exc:
            raise VMInternalError(f"malformed state of {bytes(address).hex()}: {exc}") from None
        remote = _RemoteHost(self, account, template, state)
        call(remote)
        account.state = template.encode_state(remote.state)
        self._change(account)

    def update_state(self, state: Any) -> None:
        self._state = state
        self._account.state = self._template.encode_state(state)

    def consume(self, gas: int) -> None:
        price = self._header.gas_price
        amount = (gas * price) & UINT64_MASK
        error: ExecutionError | None = None
        if amount > self._account.balance:
            amount = self._account.balance
            error = OutOfGasError()
        elif self.consumed + gas > self._header.max_gas:
            gas = self._header.max_gas - self.consumed
            amount = (gas * price) & UINT64_MASK
            error = MaxGasError(str(self._header.max_gas))
        self.consumed += gas
        self.fee = (self.fee + amount) & UINT64_MASK
        self._account.balance -= amount
        if error is not None:
            raise error

    # --- internals ----------------------------------------------------------------------------

    def _transfer(self, source: Account, to: bytes, amount: int, limit: int) -> None:
        account = self._load(to)
        if amount > source.balance:
            raise NoBalanceError()
        if self._transferred + amount > limit:
            raise MaxSpendError(str(limit))
        if source.address == bytes(to):
            return  # a no-op: only gas is consumed
        self._transferred += amount
        source.balance -= amount
        account.balance += amount
        self._change(account)

    def _load(self, address: bytes) -> Account:
        address = bytes(address)
        if address == self._account.address:
            return self._account
        account = self._changed.get(address)
        return account if account is not None else self._staged.get(address)

    def _change(self, account: Account) -> None:
        if account.address == self._account.address:
            return
        if account.address not in self._changed:
            self._touched.append(account.address)
        self._changed[account.address] = account

    def execute(self) -> str:
        """Charge the fee and run the method; return the failure message ('' on success)."""
        try:
            self.consume(self._header.max_gas)
        except ExecutionError as exc:
            return str(exc)
        after_fee, state_after_fee = self._account.copy(), self._state
        try:
            self._template.execute(self, self._header.method, self._args)
        except ExecutionError as exc:
            # A failed call keeps only the fee: drop every other change.
            self._account, self._state = after_fee, state_after_fee
            self._changed.clear()
            self._touched.clear()
            return str(exc)
        return ""

    def apply(self) -> tuple[bytes, ...]:
        """Write the principal (nonce advanced) and the touched accounts to the staging area."""
        # The reference adds in uint64: a transaction with nonce 2**64-1 wraps the next
        # nonce to 0 rather than failing, and the state must stay encodable either way.
        self._account.next_nonce = (self._header.nonce + 1) & UINT64_MASK
        self._staged.update(self._account)
        for address in self._touched:
            self._staged.update(self._changed[address])
        return (self._account.address, *self._touched)


class _RemoteHost:
    """The host seen by a relayed call: the remote account's balance, template and state."""

    def __init__(self, context: _TxContext, account: Account, template: Template, state: Any) -> None:
        self._context = context
        self._account = account
        self._template = template
        self._state = state

    @property
    def principal(self) -> bytes:
        return self._context.principal

    @property
    def layer(self) -> int:
        return self._context.layer

    @property
    def genesis_id(self) -> bytes:
        return self._context.genesis_id

    @property
    def balance(self) -> int:
        return self._account.balance

    @property
    def template(self) -> Template:
        return self._template

    @property
    def state(self) -> Any:
        return self._state

    def update_state(self, state: Any) -> None:
        self._state = state

    def spawn(self, args: Any) -> None:
        self._context.spawn(args)

    def transfer(self, to: bytes, amount: int) -> None:
        self._context._transfer(self._account, to, amount, amount)

    def relay(self, template_address: bytes, address: bytes, call: Callable[[Host], None]) -> None:
        self._context.relay(template_address, address, call)

    def consume(self, gas: int) -> None:
        self._context.consume(gas)


# ---------------------------------------------------------------------------------------------
# The VM
# ---------------------------------------------------------------------------------------------


class VM:
    """Applies layers to an :class:`~spacemesh_core.vm.state.AccountStore` with genvm's rules."""

    def __init__(
        self,
        templates: TemplateRegistry,
        store: AccountStore | None = None,
        *,
        genesis_id: bytes = MAINNET_GENESIS_ID,
        gas_limit: int = DEFAULT_BLOCK_GAS_LIMIT,
        effective_genesis: int = EFFECTIVE_GENESIS_MAINNET,
    ) -> None:
        """Create a VM over ``store`` (a new in-memory store by default).

        :param genesis_id: the 20-byte prefix every transaction signature covers.
        :param gas_limit: gas available to one block.
        :param effective_genesis: first layer that can be applied; the subsidy counts from it.
        """
        if len(genesis_id) != 20:
            raise ValueError("a genesis id is 20 bytes")
        self.templates = templates
        self.store = store if store is not None else AccountStore()
        self.genesis_id = bytes(genesis_id)
        self.gas_limit = gas_limit
        self.effective_genesis = effective_genesis

    # --- reads --------------------------------------------------------------------------------

    def get_account(self, address: bytes) -> Account:
        """Return the latest state of ``address`` (an empty account when unknown)."""
        return self.store.get(address)

    def get_balance(self, address: bytes) -> int:
        """Return the latest balance of ``address``."""
        return self.store.get(address).balance

    def get_nonce(self, address: bytes) -> int:
        """Return the next nonce of ``address``."""
        return self.store.get(address).next_nonce

    def get_state_hash(self, layer: int | None = None) -> bytes:
        """Return the state hash of ``layer`` (latest applied when None; zeros when none)."""
        if layer is None:
            return self.store.get_latest_state_hash()
        return self.store.get_state_hash(layer) or bytes(32)

    def parse(self, raw: bytes) -> ParsedTransaction:
        """Parse ``raw`` against the latest state. :raises TransactionError: when it does not parse."""
        return parse_transaction(raw, self.templates, self.store.get)

    def validate(self, raw: bytes) -> ParsedTransaction:
        """Parse ``raw`` against the latest state and verify its signature.

        :raises TransactionError: when it does not parse; :class:`InvalidSignatureError` when the
            signature does not verify.
        """
        parsed = self.parse(raw)
        if not parsed.verify(self.genesis_id):
            raise InvalidSignatureError(f"transaction {parsed.tx_id.hex()} signature does not verify")
        return parsed

    # --- writes -------------------------------------------------------------------------------

    def apply_genesis(self, accounts: Iterable[tuple[bytes, int]]) -> None:
        """Credit genesis balances: ``(address, balance)`` pairs, stored at layer 0."""
        self.store.apply_genesis(Account(0, bytes(address), 0, balance) for address, balance in accounts)

    def apply_layer(
        self,
        layer: int,
        txs: Sequence[bytes],
        rewards: Sequence[CoinbaseReward] = (),
        *,
        verified: Collection[bytes] = (),
    ) -> LayerResult:
        """Apply ``txs`` (raw, in block order) then ``rewards`` as layer ``layer``.

        :param verified: ids of transactions whose signatures were already checked (the mempool's).
        :raises LayerError: for a layer before the effective genesis or not after the last one.
        :raises VMInternalError: when the stored state is inconsistent (nothing is written then).
        """
        if layer < self.effective_genesis:
            raise LayerError(f"applying layer {layer} before effective genesis {self.effective_genesis}")
        if layer <= self.store.last_layer:
            raise LayerError(f"layer {layer} is not after the last applied layer {self.store.last_layer}")
        staged = _StagedAccounts(self.store)
        executed: list[TxResult] = []
        ineffective: list[IneffectiveTx] = []
        fees = 0
        limit = self.gas_limit
        for raw in txs:
            raw = bytes(raw)
            tx_id = compute_tx_id(raw)
            try:
                account = staged.get(get_principal(raw))
                parsed = parse_transaction(raw, self.templates, account)
            except TransactionError as exc:
                ineffective.append(IneffectiveTx(tx_id, raw, IneffectiveReason.MALFORMED, str(exc)))
                continue
            header = parsed.header
            reason = self._get_ineffective_reason(parsed, account, limit, tx_id in verified)
            if reason is not None:
                kept = header if reason is IneffectiveReason.NONCE_TOO_LOW else None
                ineffective.append(IneffectiveTx(tx_id, raw, reason, reason.value, kept))
                continue
            context = _TxContext(self.templates, staged, parsed, account, layer, self.genesis_id)
            message = context.execute()
            touched = context.apply()
            fees = (fees + context.fee) & UINT64_MASK
            limit -= context.consumed
            executed.append(
                TxResult(
                    tx_id=tx_id,
                    raw=raw,
                    header=header,
                    layer=layer,
                    status=TxStatus.FAILURE if message else TxStatus.SUCCESS,
                    message=message,
                    gas_consumed=context.consumed,
                    fee=context.fee,
                    touched=touched,
                    args=parsed.args,
                )
            )
        credited, subsidy, burnt = self._add_rewards(layer, staged, fees, rewards)
        changed = staged.get_changed()
        for account in changed:
            account.layer = layer
        state_hash = compute_state_hash(changed)
        addresses = tuple(account.address for account in changed)
        record = LayerRecord(layer, addresses, state_hash, tuple(credited), tuple(executed))
        self.store.commit_layer(record, changed)
        return LayerResult(
            layer=layer,
            executed=tuple(executed),
            ineffective=tuple(ineffective),
            rewards=tuple(credited),
            subsidy=subsidy,
            fees=fees,
            burnt=burnt,
            state_hash=state_hash,
            changed=addresses,
        )

    def revert(self, layer: int) -> list[int]:
        """Undo every layer after ``layer`` (the tortoise changed its mind); return those layers."""
        return self.store.revert_to(layer)

    # --- internals ----------------------------------------------------------------------------

    def _get_ineffective_reason(
        self, parsed: ParsedTransaction, account: Account, limit: int, pre_verified: bool
    ) -> IneffectiveReason | None:
        header = parsed.header
        if header.gas_price == 0:
            return IneffectiveReason.ZERO_GAS_PRICE
        if account.balance < parsed.get_intrinsic_gas():
            return IneffectiveReason.INTRINSIC_GAS
        if limit < header.max_gas:
            return IneffectiveReason.BLOCK_GAS_LIMIT
        if not pre_verified and not parsed.verify(self.genesis_id):
            return IneffectiveReason.INVALID_SIGNATURE
        if account.next_nonce > header.nonce:
            return IneffectiveReason.NONCE_TOO_LOW
        return None

    def _add_rewards(
        self, layer: int, staged: _StagedAccounts, fees: int, rewards: Sequence[CoinbaseReward]
    ) -> tuple[list[Reward], int, int]:
        subsidy = compute_subsidy_for_layer(layer, self.effective_genesis)
        total = subsidy + fees
        total_weight = sum((reward.weight for reward in rewards), Fraction(0))
        credited: list[Reward] = []
        transferred = 0
        for entry in rewards:
            relative = entry.weight / total_weight
            total_reward = total * relative.numerator // relative.denominator
            layer_reward = subsidy * relative.numerator // relative.denominator
            if total_reward > UINT64_MASK:
                raise VMInternalError(f"total reward {total_reward} overflows uint64")
            account = staged.get(entry.coinbase)
            account.balance += total_reward
            staged.update(account)
            credited.append(Reward(layer, entry.coinbase, entry.smesher_id, total_reward, layer_reward))
            transferred += total_reward
        return credited, subsidy, total - transferred
