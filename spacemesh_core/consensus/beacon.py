"""The random beacon: proposals, voting, the weak coin, the output rule and the fallbacks (protocol.md §4).

In epoch E every identity with an ATX targeting E runs the protocol that produces ``beacon(E+1)``:

1. **Proposal phase.** ``pi = VRF(SCALE{Beacon, vrfNonce, E})``; an identity proposes ``pi[0:4]`` if
   ``pi`` (big-endian) is below ``2^640 · (1 − 2^(−κ / ((1−q)·N)))`` (:func:`compute_proposal_threshold`).
   A received proposal is *valid* if the proposer's ATX arrived by the epoch start, the proposal by
   the end of the proposal phase, and it passes the strict threshold (N = all ATXs); *potentially
   valid* if both delays are within the grace period and it passes the looser threshold (N = the ATXs
   received a grace period before the epoch start); otherwise invalid (:func:`classify_proposal`).
2. **First voting round.** Each identity signs its valid and potentially valid lists; a vote adds
   (valid) or subtracts (potentially valid) the voter's ATX weight to each proposal's margin;
   malicious voters weigh zero.
3. **Following rounds** (``rounds_number`` > 1; mainnet runs none): bit-vector votes over the
   voter's first-round list, then a **weak coin** (smallest VRF over ``{BeaconWC, nonce, E, round,
   unit}`` for each of the identity's units; its lowest bit) decides the undecided proposals.
4. **Output.** Proposals whose margin is at least ``⌊θ·W⌋`` are supported (at most ``−⌊θ·W⌋``:
   against; otherwise undecided); ``beacon = blake3(sorted supported proposals)[0:4]``.
5. **Fallback.** A node that did not run the protocol learns the beacon from reference ballots
   (:class:`BallotBeaconTally`): once 800 eligibilities were seen, an absolute majority of ballot
   weight wins, else a plurality.

:class:`BeaconEngine` is one node's run for one epoch; it takes messages with their arrival times and
returns the messages to broadcast. No clock, no I/O.
"""

from __future__ import annotations

import decimal
import enum
from collections.abc import Callable, Iterable, Sequence
from fractions import Fraction
from typing import Final

import attrs

from spacemesh_core.consensus.eligibility import AtxInfo
from spacemesh_core.crypto.hashes import compute_blake3
from spacemesh_core.crypto.signing import Signer, is_valid_signature
from spacemesh_core.crypto.vrf import compare_vrf_little_endian, get_vrf_weak_coin, is_valid_vrf_proof
from spacemesh_core.determinism.fixed import Fixed
from spacemesh_core.types.beacon import (
    MAX_BEACON_PROPOSALS,
    BeaconProposalMessage,
    FirstVotingMessage,
    FirstVotingMessageBody,
    FollowingVotingMessage,
    FollowingVotingMessageBody,
    WeakCoinMessage,
)
from spacemesh_core.types.primitives import BEACON_SIZE, VRF_SIGNATURE_SIZE, SigningDomain
from spacemesh_core.types.vrf_messages import BeaconProposalVrfMessage, WeakCoinVrfMessage

__all__ = [
    "MAINNET_BEACON",
    "BallotBeaconTally",
    "BeaconConfig",
    "BeaconEngine",
    "BeaconMessageError",
    "BeaconParticipant",
    "ProposalCategory",
    "WeakCoin",
    "classify_proposal",
    "compute_beacon",
    "compute_beacon_proposal_vrf_message",
    "compute_proposal_threshold",
    "compute_threshold_fraction",
    "compute_voting_threshold",
    "compute_weak_coin_vrf_message",
    "decode_votes_bit_vector",
    "encode_votes_bit_vector",
]

_MANTISSA_BITS: Final = 64  # big.Float's default precision for the values the reference builds
_VRF_BITS: Final = VRF_SIGNATURE_SIZE * 8


class BeaconMessageError(ValueError):
    """A beacon message is invalid, duplicated, untimely or from an unknown identity."""


@attrs.frozen
class BeaconConfig:
    """Beacon parameters (durations in seconds; mainnet values by default)."""

    kappa: int = 40
    q: Fraction = Fraction(1, 3)
    theta: Fraction = Fraction(1, 4)
    rounds_number: int = 0  # mainnet: no following rounds
    grace_period: float = 600.0
    proposal_duration: float = 240.0
    first_voting_round_duration: float = 1800.0
    voting_round_duration: float = 240.0
    weak_coin_round_duration: float = 240.0
    votes_limit: int = 100
    beacon_sync_weight_units: int = 800


MAINNET_BEACON: Final = BeaconConfig()


class ProposalCategory(enum.Enum):
    """How a received beacon proposal is classified."""

    VALID = "valid"
    POTENTIALLY_VALID = "potentially_valid"
    INVALID = "invalid"


# ---------------------------------------------------------------------------------------------
# Pure rules
# ---------------------------------------------------------------------------------------------


def _round_to_bits(value: Fraction, bits: int = _MANTISSA_BITS) -> Fraction:
    """Round a positive rational to ``bits`` significant bits, ties to even (big.Float rounding)."""
    if value <= 0:
        return Fraction(0)
    exponent = value.numerator.bit_length() - value.denominator.bit_length()
    if Fraction(2) ** exponent > value:
        exponent -= 1
    scale = Fraction(2) ** (bits - 1 - exponent)
    scaled = value * scale
    floor = scaled.numerator // scaled.denominator
    remainder = scaled - floor
    if remainder > Fraction(1, 2) or (remainder == Fraction(1, 2) and floor & 1):
        floor += 1
    return floor / scale


def compute_threshold_fraction(kappa: int, q: Fraction, num_atxs: int) -> Fraction:
    """Return ``1 − 2^(−κ / ((1−q)·N))`` with the reference's 64-bit-mantissa rounding (0 for N = 0).

    The power is evaluated to 80 decimal digits and rounded to 64 bits, as is the subtraction.
    """
    if num_atxs <= 0:
        return Fraction(0)
    exponent = Fraction(kappa) / ((1 - Fraction(q)) * num_atxs)
    with decimal.localcontext() as context:
        context.prec = 80
        power = decimal.Decimal(2) ** (-(decimal.Decimal(exponent.numerator) / decimal.Decimal(exponent.denominator)))
    return _round_to_bits(1 - _round_to_bits(Fraction(power)))


def compute_proposal_threshold(kappa: int, q: Fraction, num_atxs: int) -> int:
    """Return ``⌊2^640 · fraction⌋``: a proposal is eligible if its VRF (big-endian) is below it."""
    fraction = compute_threshold_fraction(kappa, q, num_atxs)
    scaled = fraction * (1 << _VRF_BITS)
    return scaled.numerator // scaled.denominator


def compute_voting_threshold(theta: Fraction, epoch_weight: int) -> int:
    """Return ``⌊θ · W⌋``, the margin a proposal needs to be supported."""
    value = Fraction(theta) * epoch_weight
    return value.numerator // value.denominator


def compute_beacon_proposal_vrf_message(epoch: int, vrf_nonce: int) -> bytes:
    """Return the bytes VRF-signed for a beacon proposal in ``epoch``."""
    return BeaconProposalVrfMessage(nonce=vrf_nonce, epoch=epoch).to_bytes()


def compute_weak_coin_vrf_message(epoch: int, vrf_nonce: int, round_: int, unit: int) -> bytes:
    """Return the bytes VRF-signed for one weight unit of a beacon weak-coin round."""
    return WeakCoinVrfMessage(nonce=vrf_nonce, epoch=epoch, round=round_, unit=unit).to_bytes()


def compute_beacon(supported: Iterable[bytes]) -> bytes:
    """Return ``blake3(concat(sorted proposals))[0:4]``."""
    return compute_blake3(*sorted(bytes(p) for p in supported))[:BEACON_SIZE]


def classify_proposal(
    proposal_vrf: bytes,
    atx_delay: float,
    proposal_delay: float,
    strict_threshold: int,
    threshold: int,
    grace_period: float,
) -> ProposalCategory:
    """Classify a beacon proposal.

    ``atx_delay`` = proposer ATX arrival − epoch start; ``proposal_delay`` = proposal arrival − end of
    the proposal phase (0 while the phase runs).
    """
    value = int.from_bytes(proposal_vrf, "big")
    if atx_delay <= 0 and proposal_delay <= 0 and value < strict_threshold:
        return ProposalCategory.VALID
    if atx_delay <= grace_period and proposal_delay <= grace_period and value < threshold:
        return ProposalCategory.POTENTIALLY_VALID
    return ProposalCategory.INVALID


def encode_votes_bit_vector(supported: Iterable[bytes], first_round: Sequence[bytes]) -> bytes:
    """Encode votes as the reference's big-integer bit vector: bit ``i`` set if ``first_round[i]`` is supported.

    The bytes are the integer's minimal big-endian encoding (empty when nothing is supported).
    """
    chosen = set(supported)
    bits = 0
    for index, proposal in enumerate(first_round):
        if proposal in chosen:
            bits |= 1 << index
    return bits.to_bytes((bits.bit_length() + 7) // 8, "big")


def decode_votes_bit_vector(vector: bytes, first_round: Sequence[bytes]) -> tuple[set[bytes], set[bytes]]:
    """Decode a bit vector against the voter's first-round list: ``(support, against)``."""
    bits = int.from_bytes(vector, "big")
    support = {p for i, p in enumerate(first_round) if bits >> i & 1}
    return support, {p for p in first_round if p not in support}


# ---------------------------------------------------------------------------------------------
# Weak coin
# ---------------------------------------------------------------------------------------------


class WeakCoin:
    """The beacon weak coin of one epoch: the lowest bit of the smallest valid unit VRF of a round.

    :param get_allowance: ``node_id → units`` (the identity's ATX NumUnits; 0 if unknown or malicious).
    :param get_nonce: ``node_id → VRF nonce`` (None if unknown).
    """

    def __init__(
        self, epoch: int, get_allowance: Callable[[bytes], int], get_nonce: Callable[[bytes], int | None]
    ) -> None:
        """Create the coin for ``epoch``."""
        self.epoch = epoch
        self.get_allowance = get_allowance
        self.get_nonce = get_nonce
        self._smallest: dict[int, bytes] = {}

    def create_message(self, signer: Signer, vrf_nonce: int, round_: int) -> WeakCoinMessage | None:
        """Return the identity's best (smallest) unit VRF for ``round_``, or None if it would not win."""
        allowance = self.get_allowance(signer.node_id)
        best: WeakCoinMessage | None = None
        for unit in range(allowance):
            proof = signer.compute_vrf_proof(compute_weak_coin_vrf_message(self.epoch, vrf_nonce, round_, unit))
            if best is None or compare_vrf_little_endian(proof, best.vrf_signature) < 0:
                best = WeakCoinMessage(self.epoch, round_, unit, signer.node_id, proof)
        if best is None:
            return None
        current = self._smallest.get(round_)
        if current is not None and compare_vrf_little_endian(best.vrf_signature, current) >= 0:
            return None
        self._smallest[round_] = best.vrf_signature
        return best

    def on_message(self, message: WeakCoinMessage) -> bool:
        """Check a weak-coin message and keep it if it is the round's smallest so far.

        Returns True if it became the smallest. Raises :class:`BeaconMessageError` for another epoch,
        a unit beyond the sender's allowance, an unknown sender or an invalid VRF.
        """
        if message.epoch != self.epoch:
            raise BeaconMessageError("weak coin message for another epoch")
        nonce = self.get_nonce(message.node_id)
        if nonce is None:
            raise BeaconMessageError("weak coin message from an unknown identity")
        if message.unit >= self.get_allowance(message.node_id):
            raise BeaconMessageError("weak coin unit beyond the sender's allowance")
        vrf_message = compute_weak_coin_vrf_message(self.epoch, nonce, message.round, message.unit)
        if not is_valid_vrf_proof(message.node_id, vrf_message, message.vrf_signature):
            raise BeaconMessageError("invalid weak coin VRF")
        current = self._smallest.get(message.round)
        if current is not None and compare_vrf_little_endian(message.vrf_signature, current) >= 0:
            return False
        self._smallest[message.round] = bytes(message.vrf_signature)
        return True

    def get_coin(self, round_: int) -> bool | None:
        """Return the round's coin (lowest bit of the smallest VRF), or None if no message was seen."""
        smallest = self._smallest.get(round_)
        return None if smallest is None else get_vrf_weak_coin(smallest)


# ---------------------------------------------------------------------------------------------
# The engine
# ---------------------------------------------------------------------------------------------


@attrs.frozen
class BeaconParticipant:
    """One of the node's identities taking part: its signer and its ATX VRF nonce."""

    signer: Signer
    vrf_nonce: int


class BeaconEngine:
    """One node's beacon protocol in ``epoch`` (producing the beacon of ``epoch + 1``).

    :param atxs: the ATXs targeting ``epoch`` (published in ``epoch − 1``) known to the node, with
        their arrival times.
    :param epoch_start: the start time of ``epoch`` (seconds).
    :param participants: the node's identities that have an ATX among ``atxs``.
    :param is_malicious: malicious identities' votes weigh zero; their ATXs add no epoch weight and
        their proposals are at most potentially valid.

    Drive it with the caller's clock: :meth:`create_proposals` at the epoch start,
    :meth:`on_proposal` as proposals arrive, :meth:`end_proposal_phase` after ``proposal_duration``,
    :meth:`create_first_votes`, :meth:`on_first_votes`, :meth:`end_first_voting` after
    ``first_voting_round_duration``; for rounds ``1 .. rounds_number − 1``:
    :meth:`create_following_votes`, :meth:`on_following_votes`, :meth:`end_voting_round`,
    :meth:`create_weak_coin_messages`, :meth:`on_weak_coin`, :meth:`end_weak_coin_round`; then
    :meth:`get_beacon`.
    """

    def __init__(
        self,
        config: BeaconConfig,
        epoch: int,
        atxs: Sequence[AtxInfo],
        epoch_start: float,
        genesis_id: bytes,
        participants: Sequence[BeaconParticipant] = (),
        is_malicious: Callable[[bytes], bool] = lambda node_id: False,
    ) -> None:
        """Set up the epoch state (weights, thresholds); raises BeaconMessageError for zero weight."""
        self.config = config
        self.epoch = epoch
        self.epoch_start = epoch_start
        self.genesis_id = bytes(genesis_id)
        self.is_malicious = is_malicious
        self.miners: dict[bytes, AtxInfo] = {}
        early_count = on_time_count = 0
        self.epoch_weight = 0
        for atx in atxs:
            if atx.target_epoch != epoch:
                continue
            if not is_malicious(atx.node_id):
                self.epoch_weight += atx.weight
            if atx.node_id in self.miners:
                continue
            self.miners[bytes(atx.node_id)] = atx
            if atx.received < epoch_start - config.grace_period:
                early_count += 1
            elif atx.received < epoch_start:
                on_time_count += 1
        if self.epoch_weight == 0:
            raise BeaconMessageError("zero epoch weight")
        self.threshold = compute_proposal_threshold(config.kappa, config.q, early_count)
        self.strict_threshold = compute_proposal_threshold(config.kappa, config.q, early_count + on_time_count)
        self.participants = tuple(p for p in participants if bytes(p.signer.node_id) in self.miners)
        self.proposal_phase_end: float | None = None
        self.valid: set[bytes] = set()
        self.potentially_valid: set[bytes] = set()
        self.margins: dict[bytes, int] = {}
        self._proposed: set[bytes] = set()
        self._voted: set[tuple[bytes, int]] = set()
        self._first_round_votes: dict[bytes, list[bytes]] = {}
        self.own_support: set[bytes] = set()
        self._undecided: list[bytes] = []
        self.first_voting_done = False
        self.weak_coin = WeakCoin(epoch, self._get_allowance, self._get_nonce)

    def _get_allowance(self, node_id: bytes) -> int:
        atx = self.miners.get(bytes(node_id))
        return 0 if atx is None or self.is_malicious(node_id) else atx.num_units

    def _get_nonce(self, node_id: bytes) -> int | None:
        atx = self.miners.get(bytes(node_id))
        return None if atx is None else atx.vrf_nonce

    def _get_vote_weight(self, node_id: bytes) -> int:
        atx = self.miners.get(bytes(node_id))
        return 0 if atx is None or self.is_malicious(node_id) else atx.weight

    # -- proposals -------------------------------------------------------------------------

    def create_proposals(self, now: float) -> list[BeaconProposalMessage]:
        """Return the proposals of the node's eligible identities (recorded locally as received now)."""
        messages = []
        for participant in self.participants:
            node_id = participant.signer.node_id
            if self.is_malicious(node_id):
                continue
            proof = participant.signer.compute_vrf_proof(
                compute_beacon_proposal_vrf_message(self.epoch, participant.vrf_nonce)
            )
            message = BeaconProposalMessage(self.epoch, node_id, proof)
            try:
                category = self.on_proposal(message, now)
            except BeaconMessageError:
                continue
            if category is not ProposalCategory.INVALID:
                messages.append(message)
        return messages

    def on_proposal(self, message: BeaconProposalMessage, received: float) -> ProposalCategory:
        """Check and classify a proposal received at ``received``.

        :raises BeaconMessageError: for another epoch, an identity without an ATX for the epoch, an
            invalid VRF or a second proposal by the same identity.
        """
        if message.epoch_id != self.epoch:
            raise BeaconMessageError("proposal for another epoch")
        atx = self.miners.get(bytes(message.node_id))
        if atx is None:
            raise BeaconMessageError("proposal from an identity without an ATX for the epoch")
        vrf_message = compute_beacon_proposal_vrf_message(self.epoch, atx.vrf_nonce)
        if not is_valid_vrf_proof(message.node_id, vrf_message, message.vrf_signature):
            raise BeaconMessageError("invalid proposal VRF")
        if bytes(message.node_id) in self._proposed:
            raise BeaconMessageError("the identity already proposed")
        self._proposed.add(bytes(message.node_id))
        proposal_delay = 0.0 if self.proposal_phase_end is None else received - self.proposal_phase_end
        category = classify_proposal(
            message.vrf_signature,
            atx.received - self.epoch_start,
            proposal_delay,
            self.strict_threshold,
            self.threshold,
            self.config.grace_period,
        )
        if category is ProposalCategory.VALID and self.is_malicious(message.node_id):
            category = ProposalCategory.POTENTIALLY_VALID
        value = message.get_proposal()
        if category is ProposalCategory.VALID:
            self.valid.add(value)
            self.margins[value] = 0
        elif category is ProposalCategory.POTENTIALLY_VALID:
            self.potentially_valid.add(value)
            self.margins[value] = 0
        return category

    def end_proposal_phase(self, now: float) -> None:
        """Mark the end of the proposal phase (later proposals count as delayed)."""
        self.proposal_phase_end = now

    # -- first voting round ----------------------------------------------------------------

    def create_first_votes(self) -> list[FirstVotingMessage]:
        """Return each identity's signed first-round vote (also counted locally)."""
        body = FirstVotingMessageBody(
            self.epoch,
            tuple(sorted(self.valid))[:MAX_BEACON_PROPOSALS],
            tuple(sorted(self.potentially_valid))[:MAX_BEACON_PROPOSALS],
        )
        messages = []
        for participant in self.participants:
            signer = participant.signer
            unsigned = FirstVotingMessage(body, signer.node_id, bytes(64))
            signature = signer.sign(SigningDomain.BEACON_FIRST_MSG, unsigned.get_signed_bytes(), self.genesis_id)
            message = FirstVotingMessage(body, signer.node_id, signature)
            self.on_first_votes(message)
            messages.append(message)
        return messages

    def on_first_votes(self, message: FirstVotingMessage) -> None:
        """Count a first-round vote: + voter weight for its valid list, − for its potentially valid list.

        :raises BeaconMessageError: for another epoch, a vote after the round, a bad signature, an
            identity without an ATX or a second vote.
        """
        body = message.body
        if body.epoch_id != self.epoch:
            raise BeaconMessageError("vote for another epoch")
        if self.first_voting_done:
            raise BeaconMessageError("first voting round is over")
        if not is_valid_signature(
            message.smesher_id,
            SigningDomain.BEACON_FIRST_MSG,
            message.get_signed_bytes(),
            message.signature,
            self.genesis_id,
        ):
            raise BeaconMessageError("invalid first vote signature")
        node_id = bytes(message.smesher_id)
        if node_id not in self.miners:
            raise BeaconMessageError("vote from an identity without an ATX for the epoch")
        if (node_id, 0) in self._voted:
            raise BeaconMessageError("the identity already voted in the first round")
        self._voted.add((node_id, 0))
        weight = self._get_vote_weight(node_id)
        self._add_votes(body.valid_proposals, weight)
        self._add_votes(body.potentially_valid_proposals, -weight)
        votes = list(body.valid_proposals) + list(body.potentially_valid_proposals)
        self._first_round_votes[node_id] = votes[: self.config.votes_limit]

    def _add_votes(self, proposals: Iterable[bytes], weight: int) -> None:
        for proposal in proposals:
            if proposal in self.margins:  # votes on proposals never received are ignored
                self.margins[proposal] += weight

    def _compute_own_votes(self) -> None:
        threshold = compute_voting_threshold(self.config.theta, self.epoch_weight)
        self.own_support = {p for p, margin in self.margins.items() if margin >= threshold}
        self._undecided = sorted(p for p, margin in self.margins.items() if -threshold < margin < threshold)

    def end_first_voting(self) -> None:
        """Close the first round and compute the node's own opinion from the margins."""
        self.first_voting_done = True
        self._compute_own_votes()

    # -- following rounds and the weak coin ------------------------------------------------

    def create_following_votes(self, round_: int) -> list[FollowingVotingMessage]:
        """Return each identity's signed bit-vector vote for ``round_`` (also counted locally)."""
        messages = []
        for participant in self.participants:
            signer = participant.signer
            first = self._first_round_votes.get(bytes(signer.node_id), [])
            body = FollowingVotingMessageBody(self.epoch, round_, encode_votes_bit_vector(self.own_support, first))
            unsigned = FollowingVotingMessage(body, signer.node_id, bytes(64))
            signature = signer.sign(SigningDomain.BEACON_FOLLOWUP_MSG, unsigned.get_signed_bytes(), self.genesis_id)
            message = FollowingVotingMessage(body, signer.node_id, signature)
            self.on_following_votes(message)
            messages.append(message)
        return messages

    def on_following_votes(self, message: FollowingVotingMessage) -> None:
        """Count a following-round vote against the voter's first-round list.

        :raises BeaconMessageError: for another epoch, round 0, a bad signature, a voter without a
            first-round vote or a second vote in the round.
        """
        body = message.body
        if body.epoch_id != self.epoch or body.round_id == 0:
            raise BeaconMessageError("following vote for another epoch or round 0")
        if not is_valid_signature(
            message.smesher_id,
            SigningDomain.BEACON_FOLLOWUP_MSG,
            message.get_signed_bytes(),
            message.signature,
            self.genesis_id,
        ):
            raise BeaconMessageError("invalid following vote signature")
        node_id = bytes(message.smesher_id)
        first = self._first_round_votes.get(node_id)
        if first is None:
            raise BeaconMessageError("no first-round vote from the voter")
        if (node_id, body.round_id) in self._voted:
            raise BeaconMessageError("the identity already voted in this round")
        self._voted.add((node_id, body.round_id))
        support, against = decode_votes_bit_vector(body.votes_bit_vector, first)
        weight = self._get_vote_weight(node_id)
        self._add_votes(support, weight)
        self._add_votes(against, -weight)

    def end_voting_round(self, round_: int) -> list[bytes]:
        """Recompute the own opinion after ``round_``; return the undecided proposals."""
        del round_  # the margins accumulate over rounds
        self._compute_own_votes()
        return list(self._undecided)

    def create_weak_coin_messages(self, round_: int) -> list[WeakCoinMessage]:
        """Return the weak-coin messages of the node's identities for ``round_`` (only improvements)."""
        messages = []
        for participant in self.participants:
            message = self.weak_coin.create_message(participant.signer, participant.vrf_nonce, round_)
            if message is not None:
                messages.append(message)
        return messages

    def on_weak_coin(self, message: WeakCoinMessage) -> bool:
        """Receive a weak-coin message (see :meth:`WeakCoin.on_message`)."""
        return self.weak_coin.on_message(message)

    def end_weak_coin_round(self, round_: int) -> bool | None:
        """Flip the round's coin and let it decide the undecided proposals; return the coin."""
        coin = self.weak_coin.get_coin(round_)
        if coin is None:
            return None
        if coin:
            self.own_support |= set(self._undecided)
        self._undecided = []
        return coin

    # -- output ----------------------------------------------------------------------------

    def get_beacon(self) -> bytes | None:
        """Return ``beacon(epoch + 1)`` from the supported proposals, or None when none is supported."""
        if not self.own_support:
            return None
        return compute_beacon(self.own_support)


# ---------------------------------------------------------------------------------------------
# Fallback: the beacon from reference ballots
# ---------------------------------------------------------------------------------------------


class BallotBeaconTally:
    """Learn an epoch's beacon from the ballots of nodes that ran the protocol (``findMajorityBeacon``).

    Each ballot counts with weight ``DivUint64(ATX weight, slots) · len(proofs)`` in the reference's
    fixed-point arithmetic.
    """

    def __init__(self, beacon_sync_weight_units: int = MAINNET_BEACON.beacon_sync_weight_units) -> None:
        """Create an empty tally that decides after ``beacon_sync_weight_units`` eligibilities."""
        self.beacon_sync_weight_units = beacon_sync_weight_units
        self._weights: dict[bytes, Fixed] = {}
        self._eligibilities: dict[bytes, int] = {}
        self._ballots: set[bytes] = set()

    def record_ballot(self, ballot_id: bytes, beacon: bytes, atx_weight: int, slots: int, proof_count: int) -> None:
        """Record a ballot's beacon; a ballot seen before is ignored."""
        if bytes(ballot_id) in self._ballots:
            return
        if slots <= 0:
            raise ValueError("slots must be positive")
        self._ballots.add(bytes(ballot_id))
        weight = Fixed.div_uint64(atx_weight, slots).mul(Fixed.from_int(proof_count))
        key = bytes(beacon)
        self._weights[key] = self._weights.get(key, Fixed.from_int(0)).add(weight)
        self._eligibilities[key] = self._eligibilities.get(key, 0) + proof_count

    def find_beacon(self) -> bytes | None:
        """Return the majority beacon (or the plurality one), or None before enough eligibilities."""
        if sum(self._eligibilities.values()) < self.beacon_sync_weight_units:
            return None
        total = Fixed.from_int(0)
        for weight in self._weights.values():
            total = total.add(weight)
        majority = total.div(Fixed.from_int(2))
        best: bytes | None = None
        best_weight = Fixed.from_int(0)
        for beacon in sorted(self._weights):
            weight = self._weights[beacon]
            if weight.is_greater_than(majority):
                return beacon
            if weight.is_greater_than(best_weight):
                best, best_weight = beacon, weight
        return best
