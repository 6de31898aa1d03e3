"""Account state and an in-memory account store with per-layer journaling (protocol.md §8.2).

An account is ``{Layer, Address, NextNonce, Balance, TemplateAddress?, State}`` (go-spacemesh
``types.Account``, SCALE-encoded in that order; the state hash of a layer hashes these encodings).
An address can hold coins before it is spawned (a "stub": no template, empty state).

:class:`AccountStore` keeps every version of every account, tagged with the layer that wrote it,
so reverting to a layer drops the versions written after it (the reference's
``accounts.Revert``). It also keeps the per-layer state hash, rewards and transaction results.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Protocol

import attrs

from spacemesh_core.codec.scale import U64, ByteSlice, Option, encode, field
from spacemesh_core.crypto.hashes import compute_blake3
from spacemesh_core.types.primitives import ADDRESS, ADDRESS_SIZE, LAYER_ID

#: ``scale:"max=10000"`` on ``Account.State``.
MAX_ACCOUNT_STATE_SIZE = 10_000


class StateError(ValueError):
    """An operation on the account store is invalid (wrong layer order, bad account)."""


@attrs.define(slots=True)
class Account:
    """One account version. Mutable for the VM's staging; the store hands out copies."""

    layer: int = field(LAYER_ID)
    address: bytes = field(ADDRESS)
    next_nonce: int = field(U64, default=0)
    balance: int = field(U64, default=0)
    template: bytes | None = field(Option(ADDRESS), default=None)
    state: bytes = field(ByteSlice(MAX_ACCOUNT_STATE_SIZE), default=b"")

    def copy(self) -> Account:
        """Return an independent copy."""
        return Account(self.layer, self.address, self.next_nonce, self.balance, self.template, self.state)

    def is_spawned(self) -> bool:
        """Return whether the account has a template (it can send transactions)."""
        return self.template is not None

    def to_bytes(self) -> bytes:
        """Return the SCALE encoding (the bytes the layer state hash covers)."""
        return encode(self)


def create_empty_account(address: bytes) -> Account:
    """Return the state of an address never seen: no coins, nonce 0, not spawned.

    :raises StateError: if ``address`` is not 24 bytes.
    """
    if len(address) != ADDRESS_SIZE:
        raise StateError(f"an address is {ADDRESS_SIZE} bytes, got {len(address)}")
    return Account(0, bytes(address))


def compute_state_hash(accounts: Iterable[Account]) -> bytes:
    """Return the layer state hash: BLAKE3 of the concatenated SCALE encodings of ``accounts``.

    The reference hashes the accounts changed in a layer, in the order they were first changed.
    """
    return compute_blake3(*(account.to_bytes() for account in accounts))


class AccountLoader(Protocol):
    """Anything that returns the latest state of an address (an empty account when unknown)."""

    def get(self, address: bytes) -> Account:
        """Return a copy of the latest state of ``address``."""
        ...


@attrs.frozen
class LayerRecord:
    """What applying one layer stored: changed addresses, state hash and the VM's results."""

    layer: int
    changed: tuple[bytes, ...]
    state_hash: bytes
    rewards: tuple[Any, ...] = ()
    results: tuple[Any, ...] = ()


class AccountStore:
    """In-memory account versions, journaled per layer so layers can be reverted.

    Layers are committed in increasing order; :meth:`revert_to` drops everything after a layer.
    Genesis accounts live at layer 0 and are never reverted.
    """

    def __init__(self) -> None:
        """Start empty (no accounts, no applied layer)."""
        self._versions: dict[bytes, list[Account]] = {}
        self._layers: dict[int, LayerRecord] = {}
        self._last_layer = 0

    # --- reads -------------------------------------------------------------------------------

    def get(self, address: bytes) -> Account:
        """Return a copy of the latest state of ``address`` (an empty account when unknown)."""
        versions = self._versions.get(bytes(address))
        if not versions:
            return create_empty_account(address)
        return versions[-1].copy()

    def get_at_layer(self, address: bytes, layer: int) -> Account:
        """Return a copy of the state of ``address`` as of the end of ``layer``."""
        for version in reversed(self._versions.get(bytes(address), ())):
            if version.layer <= layer:
                return version.copy()
        return create_empty_account(address)

    def has(self, address: bytes) -> bool:
        """Return whether ``address`` has any stored version."""
        return bool(self._versions.get(bytes(address)))

    def iter_accounts(self) -> Iterator[Account]:
        """Yield a copy of the latest version of every known account."""
        for versions in self._versions.values():
            if versions:
                yield versions[-1].copy()

    def get_total_balance(self) -> int:
        """Return the sum of all latest balances (the circulating supply)."""
        return sum(versions[-1].balance for versions in self._versions.values() if versions)

    @property
    def last_layer(self) -> int:
        """Return the last layer committed (0 before any)."""
        return self._last_layer

    def get_layer_record(self, layer: int) -> LayerRecord | None:
        """Return what layer ``layer`` stored, or None when it was not applied (or was reverted)."""
        return self._layers.get(layer)

    def get_state_hash(self, layer: int) -> bytes | None:
        """Return the state hash of ``layer``, or None when it was not applied."""
        record = self._layers.get(layer)
        return record.state_hash if record else None

    def get_latest_state_hash(self) -> bytes:
        """Return the state hash of the latest applied layer (32 zero bytes before any)."""
        if not self._layers:
            return bytes(32)
        return self._layers[max(self._layers)].state_hash

    def iter_layer_records(self) -> Iterator[LayerRecord]:
        """Yield the stored layer records in layer order."""
        for layer in sorted(self._layers):
            yield self._layers[layer]

    # --- writes ------------------------------------------------------------------------------

    def apply_genesis(self, accounts: Iterable[Account]) -> None:
        """Store genesis accounts at layer 0.

        :raises StateError: once a layer has been committed, or for a duplicate address.
        """
        if self._layers:
            raise StateError("genesis accounts must be stored before any layer")
        for account in accounts:
            address = bytes(account.address)
            if address in self._versions:
                raise StateError(f"duplicate genesis account {address.hex()}")
            stored = account.copy()
            stored.layer = 0
            self._versions[address] = [stored]

    def commit_layer(self, record: LayerRecord, accounts: Iterable[Account]) -> None:
        """Store the accounts changed by layer ``record.layer`` (their ``layer`` already set).

        :raises StateError: if the layer is not after the last committed one.
        """
        layer = record.layer
        if layer <= self._last_layer:
            raise StateError(f"layer {layer} is not after the last applied layer {self._last_layer}")
        for account in accounts:
            if account.layer != layer:
                raise StateError(f"account version of layer {account.layer} committed with layer {layer}")
            self._versions.setdefault(bytes(account.address), []).append(account.copy())
        self._layers[layer] = record
        self._last_layer = layer

    def revert_to(self, layer: int) -> list[int]:
        """Drop every version written after ``layer``; return the reverted layers (ascending)."""
        reverted = sorted(applied for applied in self._layers if applied > layer)
        for applied in reverted:
            record = self._layers.pop(applied)
            for address in record.changed:
                versions = self._versions[address]
                while versions and versions[-1].layer > layer:
                    versions.pop()
                if not versions:
                    del self._versions[address]
        if layer < self._last_layer:
            self._last_layer = max(layer, 0)
        return reverted
