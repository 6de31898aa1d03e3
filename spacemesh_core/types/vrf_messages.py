"""The SCALE messages that VRF signatures are computed over (protocol.md §1.5).

* ballot / proposal eligibility: ``{Type=3, Beacon[4], Epoch, Nonce u64, Counter u32}``
  (``proposals/util.go``);
* hare round eligibility: ``{Type=2, Beacon[4], Round u32 (absolute), Layer}`` (``hare3/eligibility``);
* block certifier: the hare message with ``Round = 2^31 - 1`` (``blocks/certifier.go``);
* beacon proposal: ``{Type=1, Nonce u64, Epoch}`` (``beacon/message.go``);
* beacon weak coin: ``{Type=4, Nonce u64, Epoch, Round, Unit u32}`` (``beacon/weakcoin``).

``Type`` is the ``EligibilityType`` enum, a compact u16. Each class fixes its type: constructing
or decoding one with another type raises (a :class:`ScaleError` when decoding).
"""

# ruff: noqa: RUF009 - ``field()`` wraps ``attrs.field`` (declares the SCALE type); not a shared default

from __future__ import annotations

import enum
from typing import Any, Final

import attrs

from spacemesh_core.codec.scale import U32, U64, Enum, encode, field
from spacemesh_core.types.primitives import BEACON, EPOCH_ID, LAYER_ID, ROUND_ID


class EligibilityType(enum.IntEnum):
    """What a VRF signature makes its signer eligible for (``types.EligibilityType``)."""

    BEACON = 1
    HARE = 2
    VOTING = 3
    BEACON_WC = 4


#: The hare round number used in the certifier's VRF message (``CertifyRound``).
CERTIFY_ROUND: Final = (1 << 31) - 1

_ELIGIBILITY_TYPE: Final = Enum(EligibilityType)


def _type_field(expected: EligibilityType) -> Any:
    """Return the leading ``Type`` field: fixed to ``expected``, keyword-only with that default."""

    def check(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is not expected:
            raise ValueError(f"{type(instance).__name__}.type must be {expected.name}, got {value!r}")

    return field(_ELIGIBILITY_TYPE, default=expected, validator=check, kw_only=True)


class _VrfMessage:
    """Shared helper: the bytes a VRF signature is computed over."""

    def to_bytes(self) -> bytes:
        """Return the SCALE encoding that is VRF-signed."""
        return encode(self)


@attrs.frozen
class BallotVrfMessage(_VrfMessage):
    """Ballot/proposal eligibility ``j`` of an epoch: ``VRF(SCALE{Voting, beacon, epoch, nonce, j})``."""

    type: EligibilityType = _type_field(EligibilityType.VOTING)
    beacon: bytes = field(BEACON)
    epoch: int = field(EPOCH_ID)
    nonce: int = field(U64)  # the ATX's VRF nonce
    counter: int = field(U32)


@attrs.frozen
class HareVrfMessage(_VrfMessage):
    """Hare (or certifier) eligibility in a round of a layer."""

    type: EligibilityType = _type_field(EligibilityType.HARE)
    beacon: bytes = field(BEACON)
    round: int = field(U32)  # absolute hare round, or CERTIFY_ROUND for the certifier
    layer: int = field(LAYER_ID)


@attrs.frozen
class BeaconProposalVrfMessage(_VrfMessage):
    """Beacon proposal eligibility of an epoch."""

    type: EligibilityType = _type_field(EligibilityType.BEACON)
    nonce: int = field(U64)
    epoch: int = field(EPOCH_ID)


@attrs.frozen
class WeakCoinVrfMessage(_VrfMessage):
    """Beacon weak-coin message for one weight unit of a round."""

    type: EligibilityType = _type_field(EligibilityType.BEACON_WC)
    nonce: int = field(U64)
    epoch: int = field(EPOCH_ID)
    round: int = field(ROUND_ID)
    unit: int = field(U32)
