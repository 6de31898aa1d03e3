"""The genvm gas model: constants and the max-gas formula (protocol.md §8.4, ``genvm/core/gas.go``).

A transaction's **max gas** is fixed before it runs::

    MaxGas = BaseGas(method) + TxDataGas(len(raw)) + FixedGas

``BaseGas`` is the template's per-method intrinsic cost (``TX`` plus one ``EDVERIFY`` per required
signature, plus ``SPAWN`` for spawns); ``TxDataGas`` charges ``TXDATA`` for every started 8 bytes
of the raw transaction; ``FixedGas`` is the principal's load gas plus the method's execution gas
(a self-spawn pays only the execution gas of the new account). The fee is ``MaxGas × gasPrice``,
charged in full before the method runs.

The VM's "intrinsic gas" check (``BaseGas + TxDataGas``) compares gas *units* with the balance, not
units times the price: a quirk of the reference reproduced here (see :mod:`spacemesh_core.vm.vm`).
"""

from __future__ import annotations

from typing import Final

#: Cost of storing transaction data in a block, per started 8 bytes.
TXDATA: Final = 128
#: Intrinsic cost of every transaction.
TX: Final = 20_000
#: Intrinsic cost of a spawn, on top of ``TX``.
SPAWN: Final = 30_000
#: Cost of storing new data, per started 8 bytes (precompiles charge it only for spawns).
STORE: Final = 5_000
#: Cost of updating mutable state (nonce, balance, template state), per started 8 bytes.
UPDATE: Final = 725
#: Cost of loading state, per started 8 bytes.
LOAD: Final = 182
#: Cost of accessing an account.
ACCOUNT_ACCESS: Final = 2_500
#: Cost of one ed25519 signature verification.
EDVERIFY: Final = 3_000

#: Sizes the templates' gas formulas use.
PUBLIC_KEY_SIZE: Final = 32
#: Balance (8), nonce (8) and template address (24), as the reference counts it (36).
ACCOUNT_HEADER_SIZE: Final = 36
ACCOUNT_BALANCE_SIZE: Final = 8

#: ``vm.DefaultConfig().GasLimit``: gas available to one block.
DEFAULT_BLOCK_GAS_LIMIT: Final = 100_000_000

#: Values are uint64 in the reference; arithmetic that wraps there is masked with this.
UINT64_MASK: Final = (1 << 64) - 1


def compute_size_gas(gas_per_word: int, size: int) -> int:
    """Return ``gas_per_word`` for every started 8 bytes of ``size`` (``core.SizeGas``).

    :raises ValueError: for a negative size.
    """
    if size < 0:
        raise ValueError(f"size must not be negative: {size}")
    return -(-size // 8) * gas_per_word


def compute_tx_data_gas(size: int) -> int:
    """Return the gas charged for ``size`` bytes of raw transaction (``core.TxDataGas``)."""
    return compute_size_gas(TXDATA, size)


def compute_intrinsic_gas(base_gas: int, raw_size: int) -> int:
    """Return the intrinsic gas of a transaction: ``base_gas + TxDataGas(raw_size)``."""
    return base_gas + compute_tx_data_gas(raw_size)


def compute_max_gas(base_gas: int, fixed_gas: int, raw_size: int) -> int:
    """Return the max gas of a transaction: intrinsic gas plus the template's fixed gas."""
    return compute_intrinsic_gas(base_gas, raw_size) + fixed_gas
