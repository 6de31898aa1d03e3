"""The NIPoST challenge of an ATX: the PoET timetable of a publish epoch, the positioning ATX, the challenge.

Timing (protocol.md §2.1) for an ATX with publish epoch ``P``:

* the PoET round it registers in starts at ``start(P-1) + phase_shift`` (registrations close then);
* the registration window opens ``grace_period`` before that;
* the round's sequential work ends at ``round_start + epoch_duration - cycle_gap``;
* the builder gives up fetching a proof at ``end(P) - cycle_gap`` and publishing at ``end(P)``.
"""

from __future__ import annotations

import attrs

from spacemesh_core.clock import LayerClock
from spacemesh_core.storage.state import AtxRecord, StateStore
from spacemesh_core.types.atx import NIPostChallengeV1, PostV1
from spacemesh_core.types.primitives import EMPTY_ATX_ID


class ChallengeError(ValueError):
    """The inputs cannot form a valid NIPoST challenge (e.g. an initial ATX without an initial PoST)."""


@attrs.frozen
class PoetTiming:
    """The PoET round parameters of the network (``[poet]`` config section), in seconds."""

    phase_shift_s: float
    cycle_gap_s: float
    grace_period_s: float

    def __attrs_post_init__(self) -> None:
        if self.phase_shift_s < 0 or self.cycle_gap_s < 0 or self.grace_period_s < 0:
            raise ValueError("PoET phase shift, cycle gap and grace period must not be negative")


@attrs.frozen
class EpochSchedule:
    """The deadlines of the ATX pipeline for one publish epoch (Unix seconds)."""

    publish_epoch: int
    window_opens: float  # the builder builds its challenge and registers from here on
    round_start: float  # registration deadline: the PoET round closes its member list
    round_end: float  # the round's proof is due
    proof_deadline: float  # the builder stops waiting for PoET proofs
    publish_deadline: float  # end of the publish epoch: the challenge expires

    def is_registration_open(self, now: float) -> bool:
        """Return whether a registration for this epoch's round can still be made at ``now``."""
        return now < self.round_start


def compute_epoch_schedule(clock: LayerClock, timing: PoetTiming, publish_epoch: int) -> EpochSchedule:
    """Return the timetable of the ATX for ``publish_epoch`` (≥ 1).

    :raises ValueError: for a publish epoch below 1 (epoch 0 has no PoET round before it).
    """
    if publish_epoch < 1:
        raise ValueError(f"the first publish epoch is 1, got {publish_epoch}")
    epoch_s = clock.layers_per_epoch * clock.layer_duration_s
    previous_start = clock.get_layer_start(clock.get_first_layer(publish_epoch - 1))
    round_start = previous_start + timing.phase_shift_s
    publish_end = clock.get_layer_start(clock.get_first_layer(publish_epoch + 1))
    return EpochSchedule(
        publish_epoch=publish_epoch,
        window_opens=round_start - timing.grace_period_s,
        round_start=round_start,
        round_end=round_start + epoch_s - timing.cycle_gap_s,
        proof_deadline=publish_end - timing.cycle_gap_s,
        publish_deadline=publish_end,
    )


def get_next_publish_epoch(clock: LayerClock, timing: PoetTiming, now: float, min_epoch: int = 1) -> int:
    """Return the first publish epoch ≥ ``min_epoch`` whose PoET round still accepts registrations at ``now``."""
    epoch = max(1, min_epoch)
    while not compute_epoch_schedule(clock, timing, epoch).is_registration_open(now):
        epoch += 1
    return epoch


@attrs.frozen
class PositioningChoice:
    """The positioning ATX picked for a challenge and the tick height it brings."""

    atx_id: bytes
    tick_height: int


def select_positioning_atx(
    state: StateStore, publish_epoch: int, golden_atx: bytes, own_previous: AtxRecord | None = None
) -> PositioningChoice:
    """Pick the positioning ATX of a challenge for ``publish_epoch``.

    The ATX with the highest tick height published before ``publish_epoch`` among the stored
    (hence fully validated) ATXs of honest identities; the identity's own previous ATX when that is
    at least as high; the golden ATX when nothing is known.
    """
    best = state.get_highest_tick_atx(publish_epoch)
    own_is_usable = own_previous is not None and own_previous.publish_epoch < publish_epoch
    if own_previous is not None and own_is_usable and (best is None or own_previous.tick_height >= best.tick_height):
        return PositioningChoice(own_previous.id, own_previous.tick_height)
    if best is None:
        return PositioningChoice(golden_atx, 0)
    return PositioningChoice(best.id, best.tick_height)


@attrs.frozen
class PreviousAtx:
    """What a challenge needs of the identity's previous ATX."""

    atx_id: bytes
    publish_epoch: int
    sequence: int


def build_nipost_challenge(
    publish_epoch: int,
    positioning_atx_id: bytes,
    previous: PreviousAtx | None,
    *,
    commitment_atx_id: bytes | None = None,
    initial_post: PostV1 | None = None,
) -> NIPostChallengeV1:
    """Return the NIPoST challenge of the identity's next ATX.

    An initial challenge (``previous`` None) carries sequence 0, the commitment ATX and the initial
    PoST; a later one links to ``previous`` with the next sequence number.

    :raises ChallengeError: an initial challenge without commitment or initial PoST, a later one with
        them, or a previous ATX that is not older than ``publish_epoch``.
    """
    if len(positioning_atx_id) != 32 or positioning_atx_id == EMPTY_ATX_ID:
        raise ChallengeError("the positioning ATX must be a non-empty 32-byte id")
    if previous is None:
        if commitment_atx_id is None or initial_post is None:
            raise ChallengeError("an initial challenge needs a commitment ATX and an initial PoST")
        return NIPostChallengeV1(publish_epoch, 0, EMPTY_ATX_ID, positioning_atx_id, commitment_atx_id, initial_post)
    if commitment_atx_id is not None or initial_post is not None:
        raise ChallengeError("only the initial challenge carries a commitment ATX and an initial PoST")
    if previous.publish_epoch >= publish_epoch:
        raise ChallengeError(
            f"the previous ATX (epoch {previous.publish_epoch}) must be older than publish epoch {publish_epoch}"
        )
    return NIPostChallengeV1(publish_epoch, previous.sequence + 1, previous.atx_id, positioning_atx_id, None, None)
