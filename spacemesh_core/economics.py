"""Spacemesh emission: supply constants, the block-subsidy curve and the vault vesting schedule.

Follows ``spacemeshos/economics`` v0.1.4 (protocol spec §7.3-7.4). The subsidy curve is evaluated in
the same decimal arithmetic as the reference (``decimal.Context128``: 34 significant digits, round half
to even), one operation at a time in the reference's order, and converted to smidge by truncation.
Every layer's subsidy is the difference of two accumulated totals, so the sum over layers is exact.

``S(n) = TOTAL_SUBSIDY × (1 − e^(−λ(n+1)))`` for ``n`` layers after the effective genesis, with λ set
so that 450 M SMH (the ten-year target minus the vaulted amount) is issued after ten years plus the
genesis layer. ``subsidy(n) = S(n) − S(n−1)``.
"""

from __future__ import annotations

import decimal
from decimal import Decimal
from typing import Final

__all__ = [
    "CLIFF_RATIO",
    "EFFECTIVE_GENESIS_MAINNET",
    "FINAL_ISSUANCE_FRAC",
    "FINAL_LAYER",
    "HALF_LIFE",
    "LAMBDA",
    "LOG_TWO",
    "ONE_EPOCH",
    "ONE_SMESH",
    "ONE_YEAR",
    "SUBSIDY_CONTEXT",
    "TEN_YEAR_TARGET",
    "TOTAL_ISSUANCE",
    "TOTAL_SUBSIDY",
    "TOTAL_VAULTED",
    "VESTED_AT_CLIFF",
    "VEST_END",
    "VEST_LAYERS",
    "VEST_PER_LAYER",
    "VEST_START",
    "InvalidLayerError",
    "compute_accumulated_subsidy",
    "compute_accumulated_vest",
    "compute_layer_subsidy",
    "compute_subsidy_for_layer",
    "compute_vest_at_layer",
    "compute_unrounded_accumulated_subsidy",
]

# --- supply constants (smidge) -------------------------------------------------------------------

#: Smidge per SMH.
ONE_SMESH: Final = 1_000_000_000
#: Coins held by the genesis vaults (150 M SMH).
TOTAL_VAULTED: Final = ONE_SMESH * 150_000_000
#: Fraction of the vaulted coins vested at the cliff (none).
CLIFF_RATIO: Final = 0
#: Layers per mainnet epoch (two weeks of 5-minute layers).
ONE_EPOCH: Final = 4032
#: Layers in 365 days of 5-minute layers.
ONE_YEAR: Final = 105_120
#: First layer (after genesis) of the vesting period: one year.
VEST_START: Final = ONE_YEAR
#: Last layer of the vesting period: four years after genesis.
VEST_END: Final = 4 * ONE_YEAR
#: Layers over which the vaults vest (excluding the start layer, including the end layer).
VEST_LAYERS: Final = VEST_END - VEST_START
#: Coins vested at the cliff.
VESTED_AT_CLIFF: Final = CLIFF_RATIO * TOTAL_VAULTED
#: Coins vested per layer, rounded down; the shortfall vests in the last layer.
VEST_PER_LAYER: Final = (TOTAL_VAULTED - VESTED_AT_CLIFF) // VEST_LAYERS
#: Coins issued after ten years, vaults included (600 M SMH).
TEN_YEAR_TARGET: Final = ONE_SMESH * 600_000_000
#: Total supply cap (2.4 B SMH).
TOTAL_ISSUANCE: Final = ONE_SMESH * 2_400_000_000
#: Coins paid out as block subsidy over all time (2.25 B SMH, approached asymptotically).
TOTAL_SUBSIDY: Final = TOTAL_ISSUANCE - TOTAL_VAULTED
#: Mainnet's effective genesis layer: the last layer of epoch 1 (``2 × 4032 − 1``).
EFFECTIVE_GENESIS_MAINNET: Final = 2 * ONE_EPOCH - 1

_MAX_UINT32: Final = (1 << 32) - 1
_MASK64: Final = (1 << 64) - 1


class InvalidLayerError(ValueError):
    """A layer number outside the reference's range (negative, beyond uint32, before genesis)."""


# --- the decimal curve -----------------------------------------------------------------------------

#: The reference's decimal context: 34 significant digits, round half to even (IEEE decimal128).
SUBSIDY_CONTEXT: Final = decimal.Context(
    prec=34,
    rounding=decimal.ROUND_HALF_EVEN,
    Emax=6144,
    Emin=-6143,
    traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow],
)

_C = SUBSIDY_CONTEXT
_ONE_D: Final = Decimal(1)
_TOTAL_SUBSIDY_D: Final = Decimal(TOTAL_SUBSIDY)

#: ln 2 in the subsidy context.
LOG_TWO: Final = _C.ln(Decimal(2))
# Ten years plus the effective genesis layer itself.
_TEN_YEARS: Final = Decimal(10 * ONE_YEAR + 1)
# Fraction of the total subsidy still unissued after ten years: 1 - 450 M / 2.25 B.
_ISSUANCE_FRAC: Final = _C.subtract(_ONE_D, _C.divide(Decimal(TEN_YEAR_TARGET - TOTAL_VAULTED), _TOTAL_SUBSIDY_D))
#: Half-life of the remaining subsidy, in layers (about 3.27 M layers, 31 years).
HALF_LIFE: Final = _C.multiply(_C.minus(_TEN_YEARS), _C.divide(LOG_TWO, _C.ln(_ISSUANCE_FRAC)))
#: Decay constant λ per layer (ln 2 / half-life).
LAMBDA: Final = _C.divide(LOG_TWO, HALF_LIFE)
_NEG_LAMBDA: Final = _C.minus(LAMBDA)
#: Fraction of the total subsidy issued once only one smidge remains unissued.
FINAL_ISSUANCE_FRAC: Final = _C.divide(_C.subtract(_TOTAL_SUBSIDY_D, _ONE_D), _TOTAL_SUBSIDY_D)
#: Layer count (after effective genesis) at which that happens, as a decimal.
FINAL_LAYER: Final = _C.divide(_C.ln(_C.subtract(_ONE_D, FINAL_ISSUANCE_FRAC)), _NEG_LAMBDA)


def _check_uint32(layers: int, what: str) -> None:
    if not 0 <= layers <= _MAX_UINT32:
        raise InvalidLayerError(f"{what} must be in [0, 2**32): {layers}")


def compute_unrounded_accumulated_subsidy(layers_after_effective_genesis: int) -> Decimal:
    """``S(n)`` before truncation to smidge, as the reference's 34-digit decimal.

    ``n + 1`` wraps like the reference's uint32 (so ``n = 2**32 − 1`` counts zero layers).
    Raises :class:`InvalidLayerError` unless ``0 <= n < 2**32``.
    """
    _check_uint32(layers_after_effective_genesis, "layers after effective genesis")
    layer_count = Decimal((layers_after_effective_genesis + 1) & _MAX_UINT32)
    decay = _C.exp(_C.multiply(_NEG_LAMBDA, layer_count))
    return _C.multiply(_TOTAL_SUBSIDY_D, _C.subtract(_ONE_D, decay))


def compute_accumulated_subsidy(layers_after_effective_genesis: int) -> int:
    """Total subsidy (smidge) paid up to and including layer ``n`` after the effective genesis.

    ``TotalAccumulatedSubsidyAtLayer``: ``S(n)`` truncated to an integer.
    Raises :class:`InvalidLayerError` unless ``0 <= n < 2**32``.
    """
    return int(compute_unrounded_accumulated_subsidy(layers_after_effective_genesis))


def compute_layer_subsidy(layers_after_effective_genesis: int) -> int:
    """Subsidy (smidge) of layer ``n`` after the effective genesis: ``S(n) − S(n−1)`` (``S(−1) = 0``).

    ``TotalSubsidyAtLayer``. Raises :class:`InvalidLayerError` unless ``0 <= n < 2**32``.
    """
    current = compute_accumulated_subsidy(layers_after_effective_genesis)
    previous = 0
    if layers_after_effective_genesis > 0:
        previous = compute_accumulated_subsidy(layers_after_effective_genesis - 1)
    return (current - previous) & _MASK64


def compute_subsidy_for_layer(layer: int, effective_genesis: int = EFFECTIVE_GENESIS_MAINNET) -> int:
    """Subsidy (smidge) of absolute layer ``layer`` on a network whose effective genesis is given.

    The VM's rule: ``n = layer − effective_genesis`` (mainnet: ``layer − 8063``). Raises
    :class:`InvalidLayerError` for a layer before the effective genesis (the reference panics) or a
    difference beyond uint32.
    """
    if layer < effective_genesis or effective_genesis < 0:
        raise InvalidLayerError(f"layer {layer} is before the effective genesis {effective_genesis}")
    return compute_layer_subsidy(layer - effective_genesis)


# --- vault vesting ---------------------------------------------------------------------------------


def compute_accumulated_vest(layers_after_genesis: int) -> int:
    """Coins (smidge) vested in the vaults as of ``layers_after_genesis`` (``AccumulatedVestAtLayer``).

    0 before :data:`VEST_START`, everything from :data:`VEST_END` on, and in between the cliff amount
    plus :data:`VEST_PER_LAYER` per layer after the start. Raises :class:`InvalidLayerError` unless the
    layer is in ``[0, 2**32)``.
    """
    _check_uint32(layers_after_genesis, "layers after genesis")
    if layers_after_genesis < VEST_START:
        return 0
    if layers_after_genesis >= VEST_END:
        return TOTAL_VAULTED
    return VESTED_AT_CLIFF + VEST_PER_LAYER * (layers_after_genesis - VEST_START)


def compute_vest_at_layer(layers_after_genesis: int) -> int:
    """Coins (smidge) that vest in exactly this layer (``VestAtLayer``).

    The difference of :func:`compute_accumulated_vest` with the previous layer; 0 outside
    ``[VEST_START, VEST_END]``; the last layer also carries the rounding shortfall.
    Raises :class:`InvalidLayerError` unless the layer is in ``[0, 2**32)``.
    """
    _check_uint32(layers_after_genesis, "layers after genesis")
    if layers_after_genesis < VEST_START or layers_after_genesis > VEST_END:
        return 0
    previous = compute_accumulated_vest(layers_after_genesis - 1) if layers_after_genesis > 0 else 0
    return compute_accumulated_vest(layers_after_genesis) - previous
