"""Ballot eligibility: slots per epoch, the VRF layer mapping, epoch data, ballot weight, active sets.

protocol.md §3:

* an ATX of weight ``w`` declared with an active set of total weight ``W`` earns
  ``slots = max(1, w · LayerAvgSize · LayersPerEpoch // max(minActiveWeight, W))`` eligibilities
  (:func:`compute_slots`, in the reference's uint64 arithmetic);
* eligibility ``j`` is the VRF proof of ``SCALE{Voting, beacon, epoch, vrfNonce, j}``; it falls in
  layer ``firstLayer(epoch) + LE_u64(proof[0:8]) mod LayersPerEpoch`` (:func:`compute_eligible_layer`);
* the first ballot of an epoch (the reference ballot) carries ``EpochData{ActiveSetHash, Beacon,
  EligibilityCount}``; later ballots point at it (:func:`get_epoch_data`);
* a ballot weighs ``ATX.weight / slots × len(EligibilityProofs)`` (:func:`compute_ballot_weight`);
* the honest active set is built from *graded* ATXs (:func:`compute_atx_grade`,
  :func:`compute_active_set`).

:func:`verify_ballot_eligibility` checks a ballot's proofs as ``proposals/eligibility_validator.go``
does. Everything here is a pure function of its arguments.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from fractions import Fraction
from typing import Final

import attrs

from spacemesh_core.crypto.hashes import compute_blake3
from spacemesh_core.crypto.signing import Signer
from spacemesh_core.crypto.vrf import get_vrf_layer_offset, is_valid_vrf_proof
from spacemesh_core.determinism.fixed import Fixed
from spacemesh_core.types.ballot import Ballot, EpochData, VotingEligibility
from spacemesh_core.types.primitives import BEACON_SIZE, EMPTY_BALLOT_ID
from spacemesh_core.types.vrf_messages import BallotVrfMessage

__all__ = [
    "ATX_GRADE_DELAY",
    "GOOD_ATX_PERCENT",
    "AtxGrade",
    "AtxInfo",
    "EligibilityConfig",
    "EligibilityError",
    "MAINNET_ELIGIBILITY",
    "compute_active_set",
    "compute_active_set_hash",
    "compute_active_set_weight",
    "compute_atx_grade",
    "compute_ballot_vrf_message",
    "compute_ballot_weight",
    "compute_ballot_weight_fixed",
    "compute_eligibilities",
    "compute_eligible_layer",
    "compute_slots",
    "get_epoch_data",
    "get_epoch_of_layer",
    "verify_ballot_eligibility",
]

_M64: Final = (1 << 64) - 1
_M32: Final = (1 << 32) - 1

#: δ for ATX grading on mainnet (``ATXGradeDelay``), seconds.
ATX_GRADE_DELAY: Final = 30 * 60.0
#: The graded active set is used only when more than this percentage of the epoch's ATXs are good.
GOOD_ATX_PERCENT: Final = 90


class EligibilityError(ValueError):
    """A ballot's eligibility (epoch data, counters, VRF proofs or layers) is invalid."""


@attrs.frozen
class EligibilityConfig:
    """Parameters of ballot eligibility (mainnet values by default)."""

    layers_per_epoch: int = 4032
    layer_avg_size: int = 50  # expected eligibility slots per layer
    min_active_weight: int = 1_000_000


MAINNET_ELIGIBILITY: Final = EligibilityConfig()


@attrs.frozen
class AtxInfo:
    """What consensus needs to know about an ATX (the reference's ``atxsdata`` entry).

    ``publish_epoch`` is the epoch the ATX was published in; it gives eligibility in the next one
    (:attr:`target_epoch`). ``weight = effective NumUnits × TickCount``; ``received`` is the local
    arrival time in seconds (used for grading).
    """

    atx_id: bytes
    node_id: bytes
    publish_epoch: int
    weight: int
    num_units: int = 1
    vrf_nonce: int = 0
    base_tick_height: int = 0
    tick_height: int = 1
    received: float = 0.0

    @property
    def target_epoch(self) -> int:
        """Return the epoch this ATX gives eligibility in (publish epoch + 1)."""
        return self.publish_epoch + 1


def get_epoch_of_layer(layer: int, layers_per_epoch: int) -> int:
    """Return the epoch of ``layer``."""
    if layers_per_epoch <= 0:
        raise ValueError("layers_per_epoch must be positive")
    return layer // layers_per_epoch


# ---------------------------------------------------------------------------------------------
# Slots, VRF layer mapping, weights
# ---------------------------------------------------------------------------------------------


def compute_slots(atx_weight: int, active_set_weight: int, config: EligibilityConfig = MAINNET_ELIGIBILITY) -> int:
    """Number of eligibility slots an ATX earns in its target epoch (``GetNumEligibleSlots``).

    ``max(1, weight · LayerAvgSize · LayersPerEpoch // max(minActiveWeight, activeSetWeight))``; the
    product wraps at 2^64 and the result is truncated to uint32 exactly as in the reference (both only
    matter for absurd weights). Raises :class:`EligibilityError` for a zero active set weight and
    ValueError for negative inputs.
    """
    if atx_weight < 0 or active_set_weight < 0:
        raise ValueError("weights are unsigned")
    if active_set_weight == 0:
        raise EligibilityError("zero total weight of the active set")
    product = (atx_weight * config.layer_avg_size * config.layers_per_epoch) & _M64
    slots = product // max(config.min_active_weight, active_set_weight)
    return (slots or 1) & _M32


def compute_ballot_vrf_message(beacon: bytes, epoch: int, vrf_nonce: int, counter: int) -> bytes:
    """Return the bytes VRF-signed for ballot eligibility ``counter`` of ``epoch``."""
    return BallotVrfMessage(beacon=bytes(beacon), epoch=epoch, nonce=vrf_nonce, counter=counter).to_bytes()


def compute_eligible_layer(proof: bytes, epoch: int, layers_per_epoch: int) -> int:
    """Return the layer an eligibility proof falls in: ``first(epoch) + LE_u64(proof[:8]) mod L``."""
    return epoch * layers_per_epoch + get_vrf_layer_offset(proof, layers_per_epoch)


def compute_eligibilities(
    signer: Signer,
    beacon: bytes,
    epoch: int,
    vrf_nonce: int,
    slots: int,
    layers_per_epoch: int,
) -> dict[int, list[VotingEligibility]]:
    """Compute all of an identity's eligibilities in ``epoch``, grouped by layer.

    Returns ``{layer: [VotingEligibility(j, proof), ...]}`` with counters increasing within a layer,
    ready to put in the ballot of that layer.
    """
    by_layer: dict[int, list[VotingEligibility]] = {}
    for j in range(slots):
        proof = signer.compute_vrf_proof(compute_ballot_vrf_message(beacon, epoch, vrf_nonce, j))
        layer = compute_eligible_layer(proof, epoch, layers_per_epoch)
        by_layer.setdefault(layer, []).append(VotingEligibility(j, proof))
    return by_layer


def compute_ballot_weight(atx_weight: int, slots: int, proof_count: int) -> Fraction:
    """Return the exact ballot weight ``atx_weight / slots × proof_count`` (rewards, tortoise).

    Raises :class:`EligibilityError` for zero slots.
    """
    if slots <= 0:
        raise EligibilityError("an ATX has at least one slot")
    return Fraction(atx_weight, slots) * proof_count


def compute_ballot_weight_fixed(atx_weight: int, slots: int, proof_count: int) -> Fixed:
    """Ballot weight in the reference's fixed-point form ``DivUint64(weight, slots) · proofs``.

    This is the value the beacon-from-ballots fallback tallies.
    """
    if slots <= 0:
        raise EligibilityError("an ATX has at least one slot")
    return Fixed.div_uint64(atx_weight, slots).mul(Fixed.from_int(proof_count))


# ---------------------------------------------------------------------------------------------
# Active sets and grading
# ---------------------------------------------------------------------------------------------


def compute_active_set_hash(atx_ids: Iterable[bytes]) -> bytes:
    """Return ``blake3(concat(sorted ATX ids))``, the ``ActiveSetHash`` in epoch data."""
    return compute_blake3(*sorted(bytes(atx_id) for atx_id in atx_ids))


def compute_active_set_weight(atx_ids: Iterable[bytes], atxs: Mapping[bytes, AtxInfo]) -> int:
    """Return the total weight of an active set; raises KeyError for an unknown ATX."""
    return sum(atxs[bytes(atx_id)].weight for atx_id in atx_ids)


class AtxGrade(enum.IntEnum):
    """How trustworthy an ATX is for the active set of its target epoch (``miner`` grading)."""

    EVIL = 0
    ACCEPTABLE = 1
    GOOD = 2


def compute_atx_grade(
    atx_received: float,
    epoch_start: float,
    malfeasance_received: float | None = None,
    delta: float = ATX_GRADE_DELAY,
) -> AtxGrade:
    """Grade an ATX for the active set of the epoch starting at ``epoch_start``.

    * GOOD: received before ``epoch_start − 4δ`` and no malfeasance proof received before ``epoch_start``;
    * ACCEPTABLE: received before ``epoch_start − 3δ`` and no proof received before ``epoch_start − δ``;
    * EVIL otherwise.

    ``malfeasance_received`` is when a proof against the smesher arrived (None: no proof).
    """
    proof_at = float("inf") if malfeasance_received is None else malfeasance_received
    if atx_received < epoch_start - 4 * delta and proof_at >= epoch_start:
        return AtxGrade.GOOD
    if atx_received < epoch_start - 3 * delta and proof_at >= epoch_start - delta:
        return AtxGrade.ACCEPTABLE
    return AtxGrade.EVIL


def compute_active_set(
    atxs: Sequence[AtxInfo],
    epoch_start: float,
    malfeasance_received: Mapping[bytes, float] | None = None,
    *,
    delta: float = ATX_GRADE_DELAY,
    trusted: Sequence[bytes] | None = None,
    first_block_active_set: Sequence[bytes] | None = None,
) -> list[bytes] | None:
    """Choose the active set (sorted ATX ids) a smesher declares for the epoch of ``atxs``.

    In order (protocol.md §3.4): (1) a ``trusted`` set from the bootstrap file; (2) the GOOD ATXs if
    they are more than 90 % of all the epoch's ATXs; (3) ``first_block_active_set`` (the union of the
    active sets of the ballots rewarded in the epoch's first block). Returns None when none applies
    (the caller retries later).
    """
    if trusted is not None:
        return sorted(bytes(atx_id) for atx_id in trusted)
    proofs = malfeasance_received or {}
    good = [
        atx.atx_id
        for atx in atxs
        if compute_atx_grade(atx.received, epoch_start, proofs.get(bytes(atx.node_id)), delta) is AtxGrade.GOOD
    ]
    if atxs and len(good) * 100 // len(atxs) > GOOD_ATX_PERCENT:
        return sorted(bytes(atx_id) for atx_id in good)
    if first_block_active_set is not None:
        return sorted(bytes(atx_id) for atx_id in first_block_active_set)
    return None


# ---------------------------------------------------------------------------------------------
# Ballot validation
# ---------------------------------------------------------------------------------------------


def get_epoch_data(ballot: Ballot, ref_ballot: Ballot | None = None) -> EpochData:
    """Return the epoch data governing ``ballot``: its own, or its reference ballot's.

    Raises :class:`EligibilityError` when a reference ballot lacks epoch data, a secondary ballot
    carries epoch data, or ``ref_ballot`` is missing, is not the one referenced, or belongs to another
    smesher, ATX or epoch.
    """
    inner = ballot.inner
    if inner.ref_ballot == EMPTY_BALLOT_ID:
        if inner.epoch_data is None:
            raise EligibilityError("a reference ballot must carry epoch data")
        return inner.epoch_data
    if inner.epoch_data is not None:
        raise EligibilityError("a secondary ballot must not carry epoch data")
    if ref_ballot is None:
        raise EligibilityError("the reference ballot is needed to validate a secondary ballot")
    if ref_ballot.compute_id() != inner.ref_ballot:
        raise EligibilityError("wrong reference ballot")
    if ref_ballot.smesher_id != ballot.smesher_id or ref_ballot.inner.atx_id != inner.atx_id:
        raise EligibilityError("the reference ballot belongs to another smesher or ATX")
    if ref_ballot.inner.epoch_data is None:
        raise EligibilityError("the reference ballot carries no epoch data")
    return ref_ballot.inner.epoch_data


def verify_ballot_eligibility(
    ballot: Ballot,
    atx: AtxInfo,
    *,
    ref_ballot: Ballot | None = None,
    active_set_weight: int | None = None,
    config: EligibilityConfig = MAINNET_ELIGIBILITY,
) -> EpochData:
    """Check a ballot's eligibility proofs; return its epoch data.

    Checks (``proposals/eligibility_validator.go``): the ATX belongs to the ballot's smesher and
    targets the ballot's epoch; for a reference ballot, the beacon is set and ``EligibilityCount``
    equals :func:`compute_slots` for ``active_set_weight`` (required then); at least one proof;
    counters strictly increasing and below the slot count; each VRF proof verifies over the ballot
    VRF message and maps to the ballot's layer.

    :raises EligibilityError: on any failure.
    """
    epoch = get_epoch_of_layer(ballot.layer, config.layers_per_epoch)
    if bytes(atx.node_id) != bytes(ballot.smesher_id):
        raise EligibilityError("the ballot's ATX belongs to another smesher")
    if atx.target_epoch != epoch:
        raise EligibilityError(f"the ATX targets epoch {atx.target_epoch}, the ballot is in epoch {epoch}")
    if bytes(atx.atx_id) != bytes(ballot.inner.atx_id):
        raise EligibilityError("the ballot names another ATX")
    data = get_epoch_data(ballot, ref_ballot)
    if ballot.inner.epoch_data is not None:
        if data.beacon == bytes(BEACON_SIZE):
            raise EligibilityError("the reference ballot has an empty beacon")
        if active_set_weight is None:
            raise EligibilityError("the active set weight is needed to validate a reference ballot")
        expected = compute_slots(atx.weight, active_set_weight, config)
        if data.eligibility_count != expected:
            raise EligibilityError(f"eligibility count {data.eligibility_count}, expected {expected}")
    proofs = ballot.eligibility_proofs
    if not proofs:
        raise EligibilityError("a ballot needs at least one eligibility proof")
    previous = -1
    for proof in proofs:
        if proof.j >= data.eligibility_count:
            raise EligibilityError(f"counter {proof.j} is not below the slot count {data.eligibility_count}")
        if proof.j <= previous:
            raise EligibilityError("eligibility counters are not strictly increasing")
        previous = proof.j
        message = compute_ballot_vrf_message(data.beacon, epoch, atx.vrf_nonce, proof.j)
        if not is_valid_vrf_proof(ballot.smesher_id, message, proof.sig):
            raise EligibilityError(f"invalid VRF proof for counter {proof.j}")
        layer = compute_eligible_layer(proof.sig, epoch, config.layers_per_epoch)
        if layer != ballot.layer:
            raise EligibilityError(f"counter {proof.j} is eligible in layer {layer}, not {ballot.layer}")
    return data
