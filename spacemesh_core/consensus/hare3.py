"""Hare3: graded-gossip agreement on a layer's proposal set (protocol.md §5; go-spacemesh ``hare3``).

Three layers, from pure to practical:

* :class:`HareProtocol` — the state machine of one layer with no cryptography: rounds, graded gossip,
  threshold tallies, hard and soft locks, gradecast of leader proposals, iterations, the weak coin.
  :meth:`HareProtocol.on_input` takes a checked message, :meth:`HareProtocol.next_round` executes the
  current round and returns what to send and any output (it mirrors the reference's ``protocol.go``).
* :class:`HareOracle` — committee eligibility: the VRF over ``{Hare, beacon, absolute round, layer}``
  and the eligibility count from the reference's 56-bit fixed-point binomial CDF
  (:mod:`spacemesh_core.determinism.fixed`), for the message rounds (preround, propose with the
  ``leaders`` committee, commit, notify).
* :class:`Hare3Engine` — one node's hare instance for one layer: checks incoming wire
  :class:`~spacemesh_core.types.hare.HareMessage` (layer, shape, signature, eligibility), feeds the
  protocol, turns equivocation into :class:`~spacemesh_core.types.malfeasance.MalfeasanceProof`
  (HareEquivocation), and on :meth:`Hare3Engine.advance` signs the messages of its identities.

Time is the caller's: call :meth:`Hare3Engine.advance` at ``layer start + round start offset``
(:meth:`HareConfig.compute_round_start` gives the offsets of :meth:`Hare3Engine.get_next_round`), and
deliver messages whenever they arrive. The engines never read a clock and never do I/O.

Grades: a message for round ``r`` received while the node waits for round ``c`` has grade
``max(0, 6 − delay(c, r))`` (delay in rounds, the skipped hardlock of iteration 0 not counted); a
message that arrives on time has delay 1, grade 5.

Where the reference iterates a Go map (whose order is random) to pick among several references that
reach the threshold, this port sorts them bytewise so that runs are reproducible; honest runs never
have more than one.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Final

import attrs

from spacemesh_core.crypto.hashes import compute_blake3
from spacemesh_core.crypto.signing import Signer, is_valid_signature
from spacemesh_core.crypto.vrf import compare_vrf_little_endian, get_vrf_weak_coin, is_valid_vrf_proof
from spacemesh_core.determinism.fixed import (
    EligibilityInputError,
    Fixed,
    compute_bin_cdf,
    compute_eligibility_parameters,
    compute_vrf_fraction56,
)
from spacemesh_core.types.hare import (
    MAX_HARE_PROPOSALS,
    ROUNDS_PER_ITERATION,
    HareBody,
    HareEligibility,
    HareMessage,
    HareRound,
    HareValue,
    IterRound,
)
from spacemesh_core.types.malfeasance import HareProof, HareProofMsg, MalfeasanceProof
from spacemesh_core.types.primitives import HASH32_SIZE, SigningDomain
from spacemesh_core.types.vrf_messages import CERTIFY_ROUND, HareVrfMessage

__all__ = [
    "GRADE0",
    "GRADE1",
    "GRADE2",
    "GRADE3",
    "GRADE4",
    "GRADE5",
    "MAINNET_HARE3",
    "MESSAGE_ROUNDS",
    "Hare3Engine",
    "HareConfig",
    "HareEligibilityError",
    "HareInput",
    "HareInputResult",
    "HareMessageError",
    "HareOracle",
    "HareOutput",
    "HareProtocol",
    "HareRoundOutput",
    "ProposalCandidate",
    "compute_absolute_round",
    "compute_delay",
    "compute_grade",
    "compute_hare_vrf_message",
    "compute_proposals_hash",
    "create_hare_message",
    "select_initial_proposals",
]

GRADE0: Final = 0
GRADE1: Final = 1
GRADE2: Final = 2
GRADE3: Final = 3
GRADE4: Final = 4
GRADE5: Final = 5

PREROUND: Final = int(HareRound.PREROUND)
HARDLOCK: Final = int(HareRound.HARDLOCK)
SOFTLOCK: Final = int(HareRound.SOFTLOCK)
PROPOSE: Final = int(HareRound.PROPOSE)
COMMIT: Final = int(HareRound.COMMIT)
NOTIFY: Final = int(HareRound.NOTIFY)

#: Rounds in which messages are sent (and eligibility is drawn).
MESSAGE_ROUNDS: Final = frozenset({PREROUND, PROPOSE, COMMIT, NOTIFY})

_U16: Final = 0xFFFF

#: An iteration and round as a plain ``(iter, round)`` tuple (the protocol's internal form).
IR = tuple[int, int]


class HareMessageError(ValueError):
    """A hare message is malformed, for another layer, badly signed or otherwise rejected."""


class HareEligibilityError(HareMessageError):
    """A hare message's eligibility proof or count is invalid."""


# ---------------------------------------------------------------------------------------------
# Configuration and round arithmetic
# ---------------------------------------------------------------------------------------------


@attrs.frozen
class HareConfig:
    """Hare parameters (go-spacemesh ``hare3.Config``).

    ``committee_upgrade`` is ``(layer, size)``: from that layer on the committee has ``size`` seats.
    Durations are seconds after the layer start.
    """

    committee: int = 50
    committee_upgrade: tuple[int, int] | None = None
    leaders: int = 5
    iterations_limit: int = 4
    preround_delay: float = 25.0
    round_duration: float = 12.0

    def get_committee(self, layer: int) -> int:
        """Return the committee size of ``layer``."""
        if self.committee_upgrade is not None and layer >= self.committee_upgrade[0]:
            return self.committee_upgrade[1]
        return self.committee

    def get_threshold(self, layer: int) -> int:
        """Return the threshold in eligibility counts: ``committee // 2 + 1``."""
        return self.get_committee(layer) // 2 + 1

    def get_round_committee(self, layer: int, round_: int) -> int:
        """Return the committee a round's eligibility is drawn for (``leaders`` in propose)."""
        return self.leaders if round_ == PROPOSE else self.get_committee(layer)

    def compute_round_start(self, iter_: int, round_: int) -> float:
        """Seconds after the layer start at which round ``(iter_, round_)`` executes.

        ``preround_delay`` for the preround, else ``preround_delay + (absolute − 1) · round_duration``.
        """
        absolute = compute_absolute_round(iter_, round_)
        if absolute == 0:
            return self.preround_delay
        return self.preround_delay + (absolute - 1) * self.round_duration


#: Mainnet: committee 400, 50 from layer 105 720; 5 leaders; 4 iterations; 25 s + 12 s rounds.
MAINNET_HARE3: Final = HareConfig(committee=400, committee_upgrade=(105_720, 50))


def compute_absolute_round(iter_: int, round_: int) -> int:
    """Return ``iter · 7 + round``, the round number used in signatures and VRFs."""
    return iter_ * ROUNDS_PER_ITERATION + round_


def compute_delay(received: IR, since: IR) -> int:
    """Network delays between round ``since`` and the round ``received`` a message arrived in.

    Zero when ``received`` is not later; the hardlock skipped in iteration 0 is not counted.
    """
    received_abs = compute_absolute_round(*received)
    since_abs = compute_absolute_round(*since)
    if received_abs <= since_abs:
        return 0
    delay = received_abs - since_abs
    if since == (0, PREROUND):
        delay -= 1
    return delay


def compute_grade(received: IR, since: IR) -> int:
    """Return the gossip grade ``max(0, 6 − delay)`` of a message for ``since`` received in ``received``."""
    return max(6 - compute_delay(received, since), GRADE0)


def compute_proposals_hash(proposal_ids: Sequence[bytes]) -> bytes:
    """Return the reference hash of a proposal set: blake3 over the ids, each zero-padded to 32 bytes.

    The ids are hashed in the order given (the protocol's sets are sorted).
    """
    return compute_blake3(*(bytes(pid).ljust(HASH32_SIZE, b"\x00") for pid in proposal_ids))


def _is_subset(subset: Iterable[bytes], superset: Iterable[bytes]) -> bool:
    return set(subset) <= set(superset)


# ---------------------------------------------------------------------------------------------
# The pure protocol
# ---------------------------------------------------------------------------------------------


@attrs.define(slots=True)
class HareInput:
    """One accepted message as the protocol sees it (already authenticated and eligible)."""

    iter: int
    round: int
    sender: bytes
    msg_hash: bytes
    count: int  # eligibility count
    vrf_proof: bytes  # ordering key for gradecast and the weak coin
    proposals: tuple[bytes, ...] = ()
    reference: bytes | None = None
    malicious: bool = False
    atx_grade: int = GRADE5
    evidence: HareProofMsg | None = None  # signed metadata, for equivocation proofs


@attrs.define(slots=True)
class _GossipEntry:
    input: HareInput
    received: IR
    other_received: IR | None = None


@attrs.frozen
class HareRoundOutput:
    """What executing one round produced (the reference's ``output``)."""

    executed: IR
    proposals: tuple[bytes, ...] | None = None  # message value for preround / propose
    reference: bytes | None = None  # message value for commit / notify
    send: bool = False  # whether a message is to be sent with the value above
    result: tuple[bytes, ...] | None = None  # the agreed proposal set, once
    coin: bool | None = None  # the layer's weak coin, once
    terminated: bool = False


@attrs.frozen
class _Graded:
    values: tuple[bytes, ...]
    grade: int
    smallest: bytes


class HareProtocol:
    """Hare3 state machine of one layer, without cryptography (mirrors ``hare3/protocol.go``)."""

    def __init__(self, threshold: int) -> None:
        """Create the protocol with ``threshold`` eligibility counts to reach."""
        if threshold < 1:
            raise ValueError("the threshold is at least 1")
        self.threshold = threshold
        self.iter = 0
        self.round = PREROUND
        self._coin: bytes | None = None  # smallest preround VRF proof
        self._coin_out = False
        self._initial: tuple[bytes, ...] = ()
        self.result: bytes | None = None
        self._locked: bytes | None = None
        self._hard_locked = False
        self._valid_proposals: dict[bytes, tuple[bytes, ...]] = {}
        self._state: dict[tuple[int, int, bytes], _GossipEntry] = {}

    @property
    def current(self) -> IR:
        """The round the protocol executes next (messages arriving now are received in it)."""
        return (self.iter, self.round)

    def set_initial(self, proposal_ids: Iterable[bytes]) -> None:
        """Set the node's initial proposal set (sent in the preround), sorted bytewise."""
        self._initial = tuple(sorted(bytes(pid) for pid in proposal_ids))

    # -- gossip ----------------------------------------------------------------------------

    def on_input(self, message: HareInput) -> tuple[bool, tuple[HareInput, HareInput] | None]:
        """Receive a checked message.

        Returns ``(gossip, equivocation)``: whether to relay it, and — when it conflicts with an
        earlier message of the same sender and round — the pair ``(earlier, this)``.
        """
        key = (message.iter, message.round, message.sender)
        other = self._state.get(key)
        if other is not None:
            if other.input.msg_hash != message.msg_hash and not other.input.malicious:
                earlier = other.input
                if message.atx_grade > other.input.atx_grade:
                    message.malicious = True
                    self._state[key] = _GossipEntry(message, self.current, other.received)
                else:
                    other.input.malicious = True
                    other.other_received = self.current
                return True, (earlier, message)
            return False, None
        self._state[key] = _GossipEntry(message, self.current)
        if message.round == PREROUND and (
            self._coin is None or compare_vrf_little_endian(message.vrf_proof, self._coin) < 0
        ):
            self._coin = message.vrf_proof
        return True, None

    def _entries(self, target: IR) -> list[_GossipEntry]:
        return [entry for key, entry in self._state.items() if (key[0], key[1]) == target]

    def _tallies(self, target: IR, grade: int, by_reference: bool) -> dict[bytes, tuple[int, int]]:
        entries = self._entries(target)
        minimum = GRADE5
        for entry in entries:
            if (
                entry.input.atx_grade < minimum
                and not entry.input.malicious
                and compute_grade(entry.received, target) >= grade
            ):
                minimum = entry.input.atx_grade
        tallies: dict[bytes, tuple[int, int]] = {}
        for entry in entries:
            inp = entry.input
            if inp.atx_grade < minimum or compute_grade(entry.received, target) < grade:
                continue
            keys: Iterable[bytes]
            if by_reference:
                if inp.reference is None:
                    continue
                keys = (inp.reference,)
            else:
                keys = inp.proposals
            for item in keys:
                total, valid = tallies.get(item, (0, 0))
                total = (total + inp.count) & _U16
                if not inp.malicious:
                    valid = (valid + inp.count) & _U16
                tallies[item] = (total, valid)
        return tallies

    def _threshold_items(self, target: IR, grade: int, by_reference: bool) -> list[bytes]:
        tallies = self._tallies(target, grade, by_reference)
        return sorted(item for item, (total, valid) in tallies.items() if total >= self.threshold and valid > 0)

    def get_threshold_proposals(self, target: IR, grade: int) -> list[bytes]:
        """Proposal ids whose tally over ``target`` messages of at least ``grade`` reaches the threshold."""
        return self._threshold_items(target, grade, by_reference=False)

    def get_threshold_references(self, target: IR, grade: int) -> list[bytes]:
        """References whose tally over ``target`` messages of at least ``grade`` reaches the threshold."""
        return self._threshold_items(target, grade, by_reference=True)

    def _threshold_set(self, target: IR, grade: int) -> tuple[bytes | None, tuple[bytes, ...] | None]:
        for ref in self.get_threshold_references(target, grade):
            values = self._valid_proposals.get(ref)
            if values is not None:
                return ref, values
        return None, None

    def _commit_exists(self, iter_: int, match: bytes, grade: int) -> bool:
        if iter_ < 0:
            return False
        return match in self.get_threshold_references((iter_, COMMIT), grade)

    def _gradecast(self, target: IR) -> list[_Graded]:
        graded: list[_Graded] = []
        for entry in self._entries(target):
            inp = entry.input
            if inp.malicious and entry.other_received is None:
                continue
            delay = compute_delay(entry.received, target)
            other_delay = None if entry.other_received is None else compute_delay(entry.other_received, target)
            if inp.atx_grade == GRADE5 and delay <= 1 and (other_delay is None or other_delay > 3):
                graded.append(_Graded(inp.proposals, GRADE2, inp.vrf_proof))
            elif inp.atx_grade >= GRADE4 and delay <= 2 and (other_delay is None or other_delay > 2):
                graded.append(_Graded(inp.proposals, GRADE1, inp.vrf_proof))
        graded.sort(key=lambda item: int.from_bytes(item.smallest, "little"))
        return graded

    # -- execution -------------------------------------------------------------------------

    def _execute(self) -> HareRoundOutput:
        it, rnd = self.iter, self.round
        executed = (it, rnd)
        if rnd == PREROUND:
            return HareRoundOutput(executed, proposals=self._initial, send=True)
        if rnd == HARDLOCK:
            if it == 0:
                return HareRoundOutput(executed)
            terminated = self.result is not None
            result = None
            ref, values = self._threshold_set((it - 1, NOTIFY), GRADE5)
            if ref is not None and self.result is None:
                self.result = ref
                result = values if values is not None else ()
            ref, _ = self._threshold_set((it - 1, COMMIT), GRADE4)
            self._locked, self._hard_locked = (ref, True) if ref is not None else (None, False)
            return HareRoundOutput(executed, result=result, terminated=terminated)
        if rnd == SOFTLOCK:
            if it > 0 and not self._hard_locked:
                self._locked, _ = self._threshold_set((it - 1, COMMIT), GRADE3)
            return HareRoundOutput(executed)
        if rnd == PROPOSE:
            values = tuple(self.get_threshold_proposals((0, PREROUND), GRADE4))
            if it > 0:
                ref, overwrite = self._threshold_set((it - 1, COMMIT), GRADE2)
                if ref is not None and overwrite is not None:
                    values = overwrite
            return HareRoundOutput(executed, proposals=values, send=True)
        if rnd == COMMIT:
            return self._execute_commit(executed)
        if rnd == NOTIFY:
            ref = self.result
            if ref is None:
                ref, _ = self._threshold_set((it, COMMIT), GRADE5)
            return HareRoundOutput(executed, reference=ref, send=ref is not None)
        return HareRoundOutput(executed)  # wait1, wait2

    def _execute_commit(self, executed: IR) -> HareRoundOutput:
        it = self.iter
        proposed = self._gradecast((it, PROPOSE))
        g2 = self.get_threshold_proposals((0, PREROUND), GRADE2)
        for graded in proposed:
            if _is_subset(graded.values, g2):
                self._valid_proposals[compute_proposals_hash(graded.values)] = graded.values
        if self._hard_locked and self._locked is not None:
            return HareRoundOutput(executed, reference=self._locked, send=True)
        g3 = self.get_threshold_proposals((0, PREROUND), GRADE3)
        g5 = self.get_threshold_proposals((0, PREROUND), GRADE5)
        for graded in proposed:
            ref = compute_proposals_hash(graded.values)
            if ref not in self._valid_proposals or graded.grade != GRADE2:
                continue
            if not _is_subset(graded.values, g3):
                continue
            if not _is_subset(g5, graded.values) and not self._commit_exists(it - 1, ref, GRADE1):
                continue
            if self._locked is not None and self._locked != ref:
                continue
            return HareRoundOutput(executed, reference=ref, send=True)
        return HareRoundOutput(executed)

    def next_round(self) -> HareRoundOutput:
        """Execute the current round, move to the next one and return the round's output."""
        out = self._execute()
        coin = None
        if self.round >= SOFTLOCK and self._coin is not None and not self._coin_out:
            coin = get_vrf_weak_coin(self._coin)
            self._coin_out = True
        if self.round == PREROUND and self.iter == 0:
            self.round = SOFTLOCK  # hardlock is skipped in iteration 0
        elif self.round == NOTIFY:
            self.round = HARDLOCK
            self.iter += 1
        else:
            self.round += 1
        return attrs.evolve(out, coin=coin) if coin is not None else out


# ---------------------------------------------------------------------------------------------
# Committee eligibility
# ---------------------------------------------------------------------------------------------


def compute_hare_vrf_message(beacon: bytes, layer: int, absolute_round: int) -> bytes:
    """Return the bytes VRF-signed for hare eligibility in ``absolute_round`` of ``layer``.

    The block certifier uses ``absolute_round = CERTIFY_ROUND``.
    """
    return HareVrfMessage(beacon=bytes(beacon), round=absolute_round, layer=layer).to_bytes()


@functools.lru_cache(maxsize=65536)
def _bin_cdf_raw(n: int, p_raw: int, x: int) -> int:
    return compute_bin_cdf(n, Fixed(p_raw), x).raw


class HareOracle:
    """Committee eligibility of one epoch's active set (``hare3/eligibility/oracle.go``).

    ``weights`` maps node id to ATX weight for the active set that applies to the layer (the caller
    picks it: the previous epoch's set for the first ``ConfidenceParam`` layers of an epoch). Identities
    outside the set are not eligible. Verification results are cached, so one oracle can be shared by
    every simulated node of a layer.
    """

    def __init__(self, weights: Mapping[bytes, int], beacon: bytes, config: HareConfig | None = None) -> None:
        """Create the oracle for an active set with ``weights`` and the epoch ``beacon``."""
        self.weights = {bytes(node): int(weight) for node, weight in weights.items()}
        self.total_weight = sum(self.weights.values())
        self.beacon = bytes(beacon)
        self.config = config if config is not None else HareConfig()
        self._verified: dict[tuple[bytes, int, int, bytes, int], bool] = {}

    def compute_count(self, node_id: bytes, committee: int, vrf_proof: bytes) -> int:
        """Return the eligibility count a VRF proof is worth for ``node_id`` (0 if not active).

        The smallest ``x`` with ``BinCDF(n, p, x) > frac(proof)`` (``n`` = weight, ``p`` = committee /
        total weight, both scaled when the committee exceeds the total weight), as a uint16.
        """
        weight = self.weights.get(bytes(node_id), 0)
        if weight == 0 or self.total_weight == 0:
            return 0
        n, p = compute_eligibility_parameters(weight, self.total_weight, committee)
        frac = compute_vrf_fraction56(vrf_proof)
        for x in range(n):
            if _bin_cdf_raw(n, p.raw, x) > frac:
                return x & _U16
        return n & _U16

    def is_count_valid(self, node_id: bytes, committee: int, vrf_proof: bytes, count: int) -> bool:
        """Return whether ``count`` is the count the reference's ``Validate`` accepts for the proof."""
        weight = self.weights.get(bytes(node_id), 0)
        if weight == 0 or self.total_weight == 0 or not 0 < count <= _U16:
            return False
        try:
            n, p = compute_eligibility_parameters(weight, self.total_weight, committee)
        except EligibilityInputError:
            return False
        frac = compute_vrf_fraction56(vrf_proof)
        return not _bin_cdf_raw(n, p.raw, count - 1) > frac and frac < _bin_cdf_raw(n, p.raw, count)

    def compute_eligibility(self, signer: Signer, layer: int, iter_: int, round_: int) -> HareEligibility | None:
        """Return ``signer``'s eligibility for a round, or None when it wins no seat."""
        if bytes(signer.node_id) not in self.weights:
            return None
        absolute = compute_absolute_round(iter_, round_)
        proof = signer.compute_vrf_proof(compute_hare_vrf_message(self.beacon, layer, absolute))
        count = self.compute_count(signer.node_id, self.config.get_round_committee(layer, round_), proof)
        return HareEligibility(proof, count) if count else None

    def compute_certifier_eligibility(self, signer: Signer, layer: int, committee: int) -> HareEligibility | None:
        """Return ``signer``'s block-certifier eligibility (round ``CERTIFY_ROUND``), or None."""
        if bytes(signer.node_id) not in self.weights:
            return None
        proof = signer.compute_vrf_proof(compute_hare_vrf_message(self.beacon, layer, CERTIFY_ROUND))
        count = self.compute_count(signer.node_id, committee, proof)
        return HareEligibility(proof, count) if count else None

    def is_eligible(
        self, node_id: bytes, layer: int, absolute_round: int, committee: int, eligibility: HareEligibility
    ) -> bool:
        """Return whether ``eligibility`` is a valid proof and count of ``node_id`` (cached)."""
        key = (bytes(node_id), layer, absolute_round, bytes(eligibility.proof), eligibility.count)
        cached = self._verified.get(key)
        if cached is None:
            message = compute_hare_vrf_message(self.beacon, layer, absolute_round)
            # the VRF check (~0.5 ms) goes first: the fixed-point CDFs cost more
            cached = is_valid_vrf_proof(node_id, message, eligibility.proof) and self.is_count_valid(
                node_id, committee, eligibility.proof, eligibility.count
            )
            self._verified[key] = cached
        return cached

    def verify_eligibility(
        self, node_id: bytes, layer: int, iter_: int, round_: int, eligibility: HareEligibility
    ) -> None:
        """Check a hare message's eligibility for its round.

        :raises HareEligibilityError: for a zero count, an identity outside the active set, a wrong
            count or an invalid VRF proof.
        """
        if eligibility.count == 0:
            raise HareEligibilityError("zero eligibility count")
        if bytes(node_id) not in self.weights:
            raise HareEligibilityError("the sender is not in the active set")
        committee = self.config.get_round_committee(layer, round_)
        if not self.is_eligible(node_id, layer, compute_absolute_round(iter_, round_), committee, eligibility):
            raise HareEligibilityError("invalid eligibility proof or count")


# ---------------------------------------------------------------------------------------------
# Proposal selection for the preround
# ---------------------------------------------------------------------------------------------


@attrs.frozen
class ProposalCandidate:
    """What the preround selection needs to know about a received proposal of the layer."""

    proposal_id: bytes
    smesher_id: bytes
    atx_id: bytes
    beacon: bytes  # the beacon of the proposer's reference ballot
    atx_base_tick_height: int
    malicious: bool = False  # the proposal itself was flagged (e.g. a double ballot)


def select_initial_proposals(
    candidates: Iterable[ProposalCandidate],
    beacon: bytes,
    own_min_tick_height: int | None,
    is_malicious: Callable[[bytes], bool] = lambda node_id: False,
) -> list[bytes]:
    """Return the proposal ids a node puts in its preround message (``selectProposals``).

    Skips proposals of malicious smeshers, proposals sharing an ATX with another proposal, proposals
    with another beacon and those whose ATX base tick height is not below the node's own lowest ATX
    tick height. A node without an ATX in the epoch (``own_min_tick_height`` None) proposes nothing.
    """
    if own_min_tick_height is None:
        return []
    pool = list(candidates)
    per_atx: dict[bytes, int] = {}
    for candidate in pool:
        per_atx[candidate.atx_id] = per_atx.get(candidate.atx_id, 0) + 1
    selected = [
        candidate.proposal_id
        for candidate in pool
        if not candidate.malicious
        and not is_malicious(candidate.smesher_id)
        and per_atx[candidate.atx_id] == 1
        and candidate.atx_base_tick_height < own_min_tick_height
        and candidate.beacon == beacon
    ]
    return sorted(selected)


# ---------------------------------------------------------------------------------------------
# Wire messages and the engine
# ---------------------------------------------------------------------------------------------


def create_hare_message(
    signer: Signer,
    genesis_id: bytes,
    layer: int,
    iter_: int,
    round_: int,
    eligibility: HareEligibility,
    *,
    proposals: Sequence[bytes] = (),
    reference: bytes | None = None,
) -> HareMessage:
    """Build and sign (HARE domain) a hare message."""
    body = HareBody(layer, IterRound(iter_, round_), HareValue(tuple(proposals), reference), eligibility)
    unsigned = HareMessage(body, signer.node_id, bytes(64))
    signature = signer.sign(SigningDomain.HARE, unsigned.get_signed_bytes(), genesis_id)
    return HareMessage(body, signer.node_id, signature)


@attrs.frozen
class HareInputResult:
    """The verdict on one received message."""

    accepted: bool  # relay it (it was new or is equivocation evidence)
    proof: MalfeasanceProof | None = None  # a new HareEquivocation proof
    reason: str | None = None  # why it was dropped


@attrs.frozen
class HareOutput:
    """What :meth:`Hare3Engine.advance` produced for one round."""

    executed: tuple[int, int]  # (iter, round) executed
    messages: tuple[HareMessage, ...] = ()  # signed messages to broadcast
    result: tuple[bytes, ...] | None = None  # the agreed proposal set (once)
    coin: bool | None = None  # the weak coin for the tortoise (once)
    terminated: bool = False  # the instance finished with a result
    failed: bool = False  # the iteration limit passed without a result

    @property
    def finished(self) -> bool:
        """Whether the engine stops after this round."""
        return self.terminated or self.failed


def _check_shape(message: HareMessage) -> None:
    round_ = message.body.iter_round.round
    value = message.body.value
    if round_ not in MESSAGE_ROUNDS:
        raise HareMessageError(f"round {round_} carries no messages")
    if round_ in (COMMIT, NOTIFY):
        if value.reference is None:
            raise HareMessageError("commit and notify messages need a reference")
        if value.proposals:
            raise HareMessageError("commit and notify messages carry no proposals")
    elif value.reference is not None:
        raise HareMessageError("preround and propose messages carry no reference")


class Hare3Engine:
    """One node's hare3 instance for one layer.

    :param config: hare parameters.
    :param layer: the layer agreed on.
    :param oracle: committee eligibility for the layer (active set weights and the epoch beacon).
    :param genesis_id: the 20-byte signature prefix.
    :param signers: the node's identities (none: an observer that still reaches the output).
    :param is_malicious: whether an identity is known malicious (its votes count only to totals).
    :param verify_signatures: check ed25519 signatures of incoming messages (simulations whose
        messages are all built by :func:`create_hare_message` may share an oracle and skip this).
    """

    protocol_class: type[HareProtocol] = HareProtocol

    def __init__(
        self,
        config: HareConfig,
        layer: int,
        oracle: HareOracle,
        genesis_id: bytes,
        signers: Sequence[Signer] = (),
        is_malicious: Callable[[bytes], bool] = lambda node_id: False,
        *,
        verify_signatures: bool = True,
    ) -> None:
        """Create the instance; call :meth:`set_initial` before the preround."""
        self.config = config
        self.layer = layer
        self.oracle = oracle
        self.genesis_id = bytes(genesis_id)
        self.signers = tuple(signers)
        self.is_malicious = is_malicious
        self.verify_signatures = verify_signatures
        self.protocol = self.protocol_class(config.get_threshold(layer))
        self.result: tuple[bytes, ...] | None = None
        self.coin: bool | None = None
        self.finished = False
        self.proofs: list[MalfeasanceProof] = []

    # -- time ------------------------------------------------------------------------------

    def get_next_round(self) -> tuple[int, int]:
        """Return the ``(iter, round)`` the next :meth:`advance` executes."""
        return self.protocol.current

    def get_next_round_offset(self) -> float:
        """Seconds after the layer start at which the next :meth:`advance` is due."""
        return self.config.compute_round_start(*self.protocol.current)

    # -- inputs ----------------------------------------------------------------------------

    def set_initial(self, proposal_ids: Iterable[bytes]) -> None:
        """Set the proposals this node saw for the layer (see :func:`select_initial_proposals`)."""
        ids = list(proposal_ids)
        if len(ids) > MAX_HARE_PROPOSALS:
            raise ValueError(f"at most {MAX_HARE_PROPOSALS} proposals per hare message")
        self.protocol.set_initial(ids)

    def _check_message(self, message: HareMessage) -> None:
        body = message.body
        if body.layer != self.layer:
            raise HareMessageError(f"message for layer {body.layer}, instance for {self.layer}")
        _check_shape(message)
        if self.verify_signatures and not is_valid_signature(
            message.sender, SigningDomain.HARE, message.get_signed_bytes(), message.signature, self.genesis_id
        ):
            raise HareMessageError("invalid hare signature")
        self.oracle.verify_eligibility(
            message.sender, self.layer, body.iter_round.iter, body.iter_round.round, body.eligibility
        )

    def _to_input(self, message: HareMessage, msg_hash: bytes, proposals: tuple[bytes, ...]) -> HareInput:
        body = message.body
        metadata = message.get_metadata()
        return HareInput(
            iter=body.iter_round.iter,
            round=body.iter_round.round,
            sender=bytes(message.sender),
            msg_hash=msg_hash,
            count=body.eligibility.count,
            vrf_proof=bytes(body.eligibility.proof),
            proposals=proposals,
            reference=body.value.reference,
            malicious=self.is_malicious(message.sender),
            evidence=HareProofMsg(metadata, message.sender, message.signature),
        )

    def _submit(self, inp: HareInput) -> HareInputResult:
        gossip, equivocation = self.protocol.on_input(inp)
        proof = None
        if equivocation is not None and not inp.malicious and not self.is_malicious(inp.sender):
            earlier, later = equivocation
            assert earlier.evidence is not None and later.evidence is not None
            proof = MalfeasanceProof(self.layer, HareProof((earlier.evidence, later.evidence)))
            self.proofs.append(proof)
        if not gossip:
            return HareInputResult(False, proof, "dropped by graded gossip")
        return HareInputResult(True, proof)

    def on_message(self, message: HareMessage) -> HareInputResult:
        """Receive a hare message now (in the round :meth:`get_next_round` names).

        Rejected messages (other layer, bad shape, signature or eligibility) change nothing and come
        back with ``accepted=False`` and a reason. An equivocation yields a HareEquivocation proof.
        """
        if self.finished:
            return HareInputResult(False, None, "instance finished")
        try:
            self._check_message(message)
        except HareMessageError as error:
            return HareInputResult(False, None, str(error))
        return self._submit(self._to_input(message, message.compute_body_hash(), tuple(message.body.value.proposals)))

    # -- rounds ----------------------------------------------------------------------------

    def _build_messages(self, out: HareRoundOutput) -> list[HareMessage]:
        if not out.send or not self.signers:
            return []
        iter_, round_ = out.executed
        messages = []
        for signer in self.signers:
            eligibility = self.oracle.compute_eligibility(signer, self.layer, iter_, round_)
            if eligibility is None:
                continue
            messages.append(
                create_hare_message(
                    signer,
                    self.genesis_id,
                    self.layer,
                    iter_,
                    round_,
                    eligibility,
                    proposals=out.proposals or (),
                    reference=out.reference,
                )
            )
        return messages

    def _deliver_own(self, messages: Sequence[HareMessage]) -> None:
        for message in messages:
            self._submit(self._to_input(message, message.compute_body_hash(), tuple(message.body.value.proposals)))

    def advance(self) -> HareOutput:
        """Execute the current round; return the messages to broadcast and any result or coin.

        The node's own messages are delivered to itself too (as gossip does in the reference).
        After the output that reports ``finished`` the engine ignores further calls' inputs.
        """
        if self.finished:
            raise RuntimeError("the hare instance has finished")
        out = self.protocol.next_round()
        messages = self._build_messages(out)
        self._deliver_own(messages)
        if out.result is not None:
            self.result = out.result
        if out.coin is not None:
            self.coin = out.coin
        failed = False
        if out.terminated:
            self.finished = True
        elif out.executed[0] == self.config.iterations_limit:
            self.finished = True
            failed = self.result is None
        return HareOutput(
            executed=out.executed,
            messages=tuple(messages),
            result=out.result,
            coin=out.coin,
            terminated=out.terminated,
            failed=failed,
        )
