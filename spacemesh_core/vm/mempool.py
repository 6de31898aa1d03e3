"""The mempool ("conservative state"): pending transactions per account, checked against projections.

Rules (protocol.md §8.3, go-spacemesh ``txs/``), each refusal carrying a :class:`RejectReason`:

* a transaction must parse and verify against the latest applied state (the principal's template);
* its gas price must be positive;
* per principal, pending transactions form a gap-free nonce sequence starting at the account's
  next nonce; at most :attr:`Mempool.max_per_account` (100) of them;
* a transaction for a nonce already pending replaces it only with a strictly higher gas price
  (best fee per nonce); later ones that the new cost no longer covers are dropped;
* the **projected balance** — the balance minus ``max_spend + max_gas × gas_price`` of every
  pending transaction before it — must cover its own cost;
* the pool holds at most :attr:`Mempool.max_size` transactions; when full, a new one evicts the
  cheapest last-in-line transaction of another account only if it pays a strictly higher price.

After a layer is applied call :meth:`Mempool.update_from_state` to drop what was executed or is no
longer valid. :meth:`Mempool.get_block_candidates` picks transactions for a block in nonce order
per account, preferring higher gas prices across accounts, within a gas budget.
"""

from __future__ import annotations

import enum
import heapq
from collections.abc import Iterable

import attrs

from spacemesh_core.vm.transaction import ParsedTransaction, TransactionError
from spacemesh_core.vm.vm import VM, InvalidSignatureError

__all__ = ["MAX_TXS_PER_ACCOUNT", "Mempool", "MempoolEntry", "MempoolRejection", "RejectReason"]

#: The reference's limit of pending transactions per account.
MAX_TXS_PER_ACCOUNT = 100
#: Default bound of the whole pool.
DEFAULT_MAX_SIZE = 10_000


class RejectReason(enum.Enum):
    """Why the mempool refused (or dropped) a transaction."""

    MALFORMED = "malformed"
    INVALID_SIGNATURE = "invalid_signature"
    ZERO_GAS_PRICE = "zero_gas_price"
    DUPLICATE = "duplicate"
    NONCE_TOO_LOW = "nonce_too_low"
    NONCE_GAP = "nonce_gap"
    FEE_TOO_LOW = "fee_too_low"
    INSUFFICIENT_BALANCE = "insufficient_balance"
    ACCOUNT_LIMIT = "account_limit"
    POOL_FULL = "pool_full"
    EVICTED = "evicted"
    REPLACED = "replaced"
    EXECUTED = "executed"


class MempoolRejection(ValueError):
    """A transaction the mempool refuses; ``reason`` says why."""

    def __init__(self, reason: RejectReason, message: str) -> None:
        self.reason = reason
        super().__init__(f"{reason.value}: {message}")


@attrs.frozen
class MempoolEntry:
    """A pending transaction."""

    parsed: ParsedTransaction

    @property
    def tx_id(self) -> bytes:
        """The transaction id."""
        return self.parsed.tx_id

    @property
    def nonce(self) -> int:
        """The transaction nonce."""
        return self.parsed.header.nonce

    @property
    def gas_price(self) -> int:
        """The transaction gas price."""
        return self.parsed.header.gas_price

    @property
    def cost(self) -> int:
        """``max_spend + max_gas × gas_price``: what the principal can lose."""
        return self.parsed.header.get_max_cost()


class Mempool:
    """Pending transactions over a :class:`~spacemesh_core.vm.vm.VM`'s latest state."""

    def __init__(self, vm: VM, *, max_size: int = DEFAULT_MAX_SIZE, max_per_account: int = MAX_TXS_PER_ACCOUNT) -> None:
        """Create an empty pool bounded to ``max_size`` transactions, ``max_per_account`` per account."""
        if max_size < 1 or max_per_account < 1:
            raise ValueError("mempool bounds must be positive")
        self.vm = vm
        self.max_size = max_size
        self.max_per_account = max_per_account
        self._pending: dict[bytes, list[MempoolEntry]] = {}
        self._by_id: dict[bytes, MempoolEntry] = {}
        #: (tx id, reason) of transactions dropped after they were accepted, oldest first
        self.dropped: list[tuple[bytes, RejectReason]] = []

    # --- reads --------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._by_id)

    def __contains__(self, tx_id: object) -> bool:
        return isinstance(tx_id, bytes) and tx_id in self._by_id

    def get(self, tx_id: bytes) -> MempoolEntry | None:
        """Return the pending entry with ``tx_id``, or None."""
        return self._by_id.get(tx_id)

    def get_pending(self, address: bytes) -> list[MempoolEntry]:
        """Return the pending transactions of ``address`` in nonce order."""
        return list(self._pending.get(bytes(address), ()))

    def get_projection(self, address: bytes) -> tuple[int, int]:
        """Return ``(next nonce, balance)`` of ``address`` after all its pending transactions.

        The balance is conservative: every pending transaction is assumed to spend its max cost.
        """
        account = self.vm.get_account(address)
        pending = self._pending.get(bytes(address), [])
        spent = sum(entry.cost for entry in pending)
        return account.next_nonce + len(pending), max(account.balance - spent, 0)

    # --- writes -------------------------------------------------------------------------------

    def add(self, raw: bytes) -> MempoolEntry:
        """Validate ``raw`` and add it to the pool.

        :raises MempoolRejection: with the reason of the refusal (nothing changes then).
        """
        try:
            parsed = self.vm.validate(raw)
        except InvalidSignatureError as exc:
            raise MempoolRejection(RejectReason.INVALID_SIGNATURE, str(exc)) from None
        except TransactionError as exc:
            raise MempoolRejection(RejectReason.MALFORMED, str(exc)) from None
        header = parsed.header
        if parsed.tx_id in self._by_id:
            raise MempoolRejection(RejectReason.DUPLICATE, f"transaction {parsed.tx_id.hex()} is already pending")
        if header.gas_price == 0:
            raise MempoolRejection(RejectReason.ZERO_GAS_PRICE, "gas price must be positive")
        account = self.vm.get_account(header.principal)
        queue = self._pending.get(header.principal, [])
        expected = account.next_nonce + len(queue)
        if header.nonce < account.next_nonce:
            raise MempoolRejection(
                RejectReason.NONCE_TOO_LOW, f"nonce {header.nonce} is below the next nonce {account.next_nonce}"
            )
        if header.nonce > expected:
            raise MempoolRejection(
                RejectReason.NONCE_GAP, f"nonce {header.nonce} leaves a gap; the next pending nonce is {expected}"
            )
        entry = MempoolEntry(parsed)
        position = header.nonce - account.next_nonce
        if position < len(queue):
            replaced = queue[position]
            if entry.gas_price <= replaced.gas_price:
                raise MempoolRejection(
                    RejectReason.FEE_TOO_LOW,
                    f"nonce {header.nonce} is pending with gas price {replaced.gas_price};"
                    f" a replacement must pay more than that",
                )
        elif len(queue) >= self.max_per_account:
            raise MempoolRejection(
                RejectReason.ACCOUNT_LIMIT, f"account already has {self.max_per_account} pending transactions"
            )
        spent_before = sum(pending.cost for pending in queue[:position])
        available = account.balance - spent_before
        if entry.cost > available:
            raise MempoolRejection(
                RejectReason.INSUFFICIENT_BALANCE,
                f"projected balance {max(available, 0)} cannot cover max spend plus max fee {entry.cost}",
            )
        adds_one = position == len(queue)
        victim: MempoolEntry | None = None
        if adds_one and len(self._by_id) >= self.max_size:
            victim = self._find_eviction_victim(exclude=header.principal)
            if victim is None or victim.gas_price >= entry.gas_price:
                raise MempoolRejection(
                    RejectReason.POOL_FULL, f"the pool holds {self.max_size} transactions paying at least as much"
                )
        # Every check passed: mutate.
        if victim is not None:
            self._remove_tail(victim, RejectReason.EVICTED)
        queue = self._pending.setdefault(header.principal, queue)
        if position < len(queue):
            old = queue[position]
            del self._by_id[old.tx_id]
            self.dropped.append((old.tx_id, RejectReason.REPLACED))
            queue[position] = entry
            self._by_id[entry.tx_id] = entry
            self._trim_unaffordable(header.principal, account.balance)
        else:
            queue.append(entry)
            self._by_id[entry.tx_id] = entry
        return entry

    def remove(self, tx_ids: Iterable[bytes]) -> None:
        """Drop the given transactions and everything after them in their accounts' queues."""
        for tx_id in tx_ids:
            entry = self._by_id.get(tx_id)
            if entry is None:
                continue
            queue = self._pending[entry.parsed.header.principal]
            index = queue.index(entry)
            for dropped in queue[index:]:
                del self._by_id[dropped.tx_id]
            del queue[index:]
            if not queue:
                del self._pending[entry.parsed.header.principal]

    def update_from_state(self) -> None:
        """Re-check every queue against the latest state (after a layer is applied or reverted).

        Transactions below the new next nonce are dropped as executed; a queue that no longer
        starts at the next nonce, or whose projected balance no longer covers it, is cut.
        """
        for address in list(self._pending):
            account = self.vm.get_account(address)
            queue = self._pending[address]
            kept: list[MempoolEntry] = []
            for entry in queue:
                if entry.nonce < account.next_nonce:
                    self.dropped.append((entry.tx_id, RejectReason.EXECUTED))
                    del self._by_id[entry.tx_id]
                else:
                    kept.append(entry)
            if kept and kept[0].nonce != account.next_nonce:
                for entry in kept:
                    self.dropped.append((entry.tx_id, RejectReason.NONCE_GAP))
                    del self._by_id[entry.tx_id]
                kept = []
            self._pending[address] = kept
            self._trim_unaffordable(address, account.balance)

    def get_block_candidates(self, gas_limit: int | None = None) -> list[bytes]:
        """Return raw transactions for a block: per account in nonce order, best gas price first.

        Stops taking from an account when its next transaction does not fit the gas budget.
        """
        budget = self.vm.gas_limit if gas_limit is None else gas_limit
        heads: list[tuple[int, bytes, bytes, int]] = []
        for address, queue in self._pending.items():
            if queue:
                heads.append((-queue[0].gas_price, queue[0].tx_id, address, 0))
        heapq.heapify(heads)
        chosen: list[bytes] = []
        while heads:
            _, _, address, index = heapq.heappop(heads)
            entry = self._pending[address][index]
            if entry.parsed.header.max_gas > budget:
                continue
            budget -= entry.parsed.header.max_gas
            chosen.append(entry.parsed.raw)
            queue = self._pending[address]
            if index + 1 < len(queue):
                following = queue[index + 1]
                heapq.heappush(heads, (-following.gas_price, following.tx_id, address, index + 1))
        return chosen

    # --- internals ----------------------------------------------------------------------------

    def _find_eviction_victim(self, exclude: bytes) -> MempoolEntry | None:
        tails = [queue[-1] for address, queue in self._pending.items() if queue and address != exclude]
        return min(tails, key=lambda entry: (entry.gas_price, entry.tx_id), default=None)

    def _remove_tail(self, entry: MempoolEntry, reason: RejectReason) -> None:
        address = entry.parsed.header.principal
        queue = self._pending[address]
        queue.pop()
        del self._by_id[entry.tx_id]
        self.dropped.append((entry.tx_id, reason))
        if not queue:
            del self._pending[address]

    def _trim_unaffordable(self, address: bytes, balance: int) -> None:
        queue = self._pending.get(address, [])
        remaining = balance
        for index, entry in enumerate(queue):
            if entry.cost > remaining:
                for dropped in queue[index:]:
                    self.dropped.append((dropped.tx_id, RejectReason.INSUFFICIENT_BALANCE))
                    del self._by_id[dropped.tx_id]
                del queue[index:]
                break
            remaining -= entry.cost
        if not queue:
            self._pending.pop(address, None)
