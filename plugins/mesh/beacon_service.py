"""The beacon service: one node's part in the beacon protocol over the network (protocol.md §4).

At the first layer of epoch E (when the node is synced and E is after the effective genesis) the
service runs the protocol that yields ``beacon(E + 1)`` with the node's identity if it has an ATX
targeting E (a node without one still listens and computes the result):

* proposals on ``bp1`` during ``[beacon] proposal_duration_s``;
* first votes on ``bf1`` during ``first_voting_round_duration_s``;
* with ``[beacon] rounds`` = R > 0, R following rounds: bit-vector votes on ``bo1``
  (``voting_round_duration_s``), then a weak coin on ``bw1`` (``weak_coin_round_duration_s``).

The engine (:class:`~spacemesh_core.consensus.beacon.BeaconEngine`) keeps the rules; this module adds
the clock, the gossip and the verdicts of the validators (:class:`BeaconRun`): a message that is
invalid (bad signature or VRF, an identity without an ATX, a proposal above the eligibility
threshold) is REJECTed and changes nothing; a duplicate, a late message or one the node cannot judge
(another epoch, an ATX that arrived after the run began) is IGNOREd. Only accepted messages are
forwarded.

Which beacon the node uses for an epoch is decided by one rule, :func:`choose_epoch_beacon`; the
result is stored (``state.set_beacon``) and announced (:class:`~spacemesh_plugins.mesh.events.BeaconDecided`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Any, Final

import attrs

from spacemesh_core.codec.scale import ScaleError, decode, encode
from spacemesh_core.consensus.beacon import (
    BallotBeaconTally,
    BeaconConfig,
    BeaconEngine,
    BeaconMessageError,
    BeaconParticipant,
    ProposalCategory,
)
from spacemesh_core.crypto.hashes import compute_blake3
from spacemesh_core.crypto.signing import is_valid_signature
from spacemesh_core.kernel.services import BackgroundTasks, cancel_task
from spacemesh_core.types.beacon import (
    BeaconProposalMessage,
    FirstVotingMessage,
    FollowingVotingMessage,
    WeakCoinMessage,
)
from spacemesh_core.types.primitives import BEACON_SIZE, SigningDomain
from spacemesh_hooks.interfaces import ValidationResult
from spacemesh_plugins.mesh.atxdata import AtxData
from spacemesh_plugins.mesh.events import BeaconDecided

log = logging.getLogger(__name__)

TOPIC_BEACON_PROPOSAL: Final = "bp1"
TOPIC_BEACON_FIRST_VOTE: Final = "bf1"
TOPIC_BEACON_FOLLOWING_VOTE: Final = "bo1"
TOPIC_BEACON_WEAK_COIN: Final = "bw1"
FALLBACK_BEACON_PREFIX: Final = b"spacemesh-py fallback beacon"
#: a message of the next epoch this many seconds before it starts (clock skew) already opens its run
EARLY_MESSAGE_S: Final = 2.0

#: how the node came by an epoch's beacon (the ``source`` of :class:`BeaconDecided`)
SOURCE_GENESIS: Final = "genesis"
SOURCE_PROTOCOL: Final = "protocol"
SOURCE_FALLBACK: Final = "fallback"
SOURCE_BALLOTS: Final = "ballots"
SOURCE_STORED: Final = "stored"  # decided before the node (re)started


def compute_fallback_beacon(genesis_id: bytes, epoch: int) -> bytes:
    """Return the fallback beacon of ``epoch``: ``blake3(prefix || genesis id || LE32(epoch))[:4]``.

    Every node derives it alike; it stands in for the reference's bootstrap beacon.
    """
    return compute_blake3(FALLBACK_BEACON_PREFIX, genesis_id, epoch.to_bytes(4, "little"))[:BEACON_SIZE]


def choose_epoch_beacon(
    epoch: int,
    *,
    genesis_id: bytes,
    first_protocol_epoch: int,
    stored: bytes | None,
    protocol_running: bool,
    ballot_majority: bytes | None,
) -> tuple[bytes | None, str]:
    """Return ``(beacon, source)`` of ``epoch`` by the rule every honest node shares, or ``(None, "")``
    while it cannot be known yet.

    1. Epochs up to ``first_protocol_epoch`` (the first epoch after the effective genesis; the
       protocol first runs in it and yields the beacon of the next one): the fallback beacon — the
       reference uses its genesis/bootstrap beacon there.
    2. A stored beacon: the node's own run of the protocol in ``epoch − 1`` (or the fallback beacon
       when that run supported no proposal, e.g. too few participants), or what it adopted before.
    3. While the node's own run for the epoch is still going: not known yet.
    4. A node that did not run the protocol (it joined late, restarted mid-run or was not synced):
       the beacon most ballot weight of the epoch's ballots carries (:class:`BallotBeaconTally`, once
       enough eligibilities were seen) — so it ends with the value its peers' ballots carry.
    """
    if epoch <= first_protocol_epoch:
        return compute_fallback_beacon(genesis_id, epoch), SOURCE_GENESIS
    if stored is not None:
        return stored, ""
    if protocol_running:
        return None, ""
    if ballot_majority is not None:
        return ballot_majority, SOURCE_BALLOTS
    return None, ""


def compute_beacon_config(section: Any, base: BeaconConfig) -> BeaconConfig:
    """Return ``base`` with the values of the ``[beacon]`` config section.

    ``q`` and ``theta`` are read as the small fractions they stand for (1/3, 1/4), as the reference
    keeps them as rationals; ``rounds`` (following rounds) R maps to the engine's ``rounds_number``
    R + 1 (round 0 is the first voting round).
    """
    return attrs.evolve(
        base,
        kappa=int(section.kappa),
        q=Fraction(section.q).limit_denominator(1000),
        theta=Fraction(section.theta).limit_denominator(1000),
        rounds_number=int(section.rounds) + 1 if section.rounds > 0 else 0,
        grace_period=float(section.grace_period_s),
        proposal_duration=float(section.proposal_duration_s),
        first_voting_round_duration=float(section.first_voting_round_duration_s),
        voting_round_duration=float(section.voting_round_duration_s),
        weak_coin_round_duration=float(section.weak_coin_round_duration_s),
        beacon_sync_weight_units=int(section.sync_weight_units),
    )


class BeaconRun:
    """One epoch's run as the gossip validators see it: the engine plus what tells a duplicate or a
    late message (IGNORE) from an invalid one (REJECT).

    :param engine: the epoch's engine.
    :param has_atx_now: ``node_id → bool``: whether an ATX of the identity targeting the epoch is
        stored now (one that arrived after the engine was built: its messages are IGNOREd, not punished).
    """

    def __init__(self, engine: BeaconEngine, has_atx_now: Callable[[bytes], bool] = lambda node_id: False) -> None:
        """Wrap ``engine``."""
        self.engine = engine
        self.has_atx_now = has_atx_now
        self.proposals: dict[bytes, bytes] = {}  # node id -> VRF signature of its proposal
        self.first_voters: set[bytes] = set()
        self.following_voters: set[tuple[bytes, int]] = set()
        self.closed_rounds: set[int] = set()  # following / weak-coin rounds that are over
        self.finished = False

    @property
    def epoch(self) -> int:
        """Return the epoch the run is in (it yields the beacon of the next one)."""
        return self.engine.epoch

    def _get_unknown_identity_verdict(self, node_id: bytes) -> ValidationResult:
        # no ATX for the epoch at all: not eligible; an ATX that came too late to count: not its fault
        return ValidationResult.IGNORE if self.has_atx_now(node_id) else ValidationResult.REJECT

    # -- own messages (recorded so that a copy coming back is a duplicate, not an offence) ------

    def create_proposals(self, now: float) -> list[BeaconProposalMessage]:
        """Return the node's eligible proposals."""
        messages = self.engine.create_proposals(now)
        for message in messages:
            self.proposals[bytes(message.node_id)] = bytes(message.vrf_signature)
        return messages

    def create_first_votes(self) -> list[FirstVotingMessage]:
        """Return the node's first-round votes."""
        messages = self.engine.create_first_votes()
        self.first_voters.update(bytes(m.smesher_id) for m in messages)
        return messages

    def create_following_votes(self, round_: int) -> list[FollowingVotingMessage]:
        """Return the node's votes of following round ``round_``."""
        messages = self.engine.create_following_votes(round_)
        self.following_voters.update((bytes(m.smesher_id), round_) for m in messages)
        return messages

    # -- received messages ----------------------------------------------------------------------

    def on_proposal(self, message: BeaconProposalMessage, received: float) -> ValidationResult:
        """Judge and count a proposal received at ``received``.

        REJECT: an identity without an ATX for the epoch, an invalid VRF, a second different
        proposal of an identity, a VRF above every eligibility threshold. IGNORE: another epoch,
        a repeat, a proposal later than the grace period or of an identity whose ATX came too late.
        """
        engine = self.engine
        if message.epoch_id != engine.epoch or self.finished:
            return ValidationResult.IGNORE
        node_id = bytes(message.node_id)
        if node_id not in engine.miners:
            return self._get_unknown_identity_verdict(node_id)
        previous = self.proposals.get(node_id)
        if previous is not None:
            # the VRF is deterministic: another signature from the same identity cannot be valid
            return ValidationResult.IGNORE if previous == bytes(message.vrf_signature) else ValidationResult.REJECT
        end = engine.proposal_phase_end
        if end is not None and received - end > engine.config.grace_period:
            return ValidationResult.IGNORE
        try:
            category = engine.on_proposal(message, received)
        except BeaconMessageError as exc:
            log.info("beacon proposal of %s rejected: %s", node_id.hex()[:12], exc)
            return ValidationResult.REJECT
        self.proposals[node_id] = bytes(message.vrf_signature)
        if category is ProposalCategory.INVALID:
            value = int.from_bytes(message.vrf_signature, "big")
            if value >= max(engine.threshold, engine.strict_threshold):
                log.info("beacon proposal of %s rejected: not eligible", node_id.hex()[:12])
                return ValidationResult.REJECT
            return ValidationResult.IGNORE  # eligible, but its ATX or the proposal came too late
        return ValidationResult.ACCEPT

    def on_first_votes(self, message: FirstVotingMessage) -> ValidationResult:
        """Judge and count a first-round vote.

        REJECT: a bad signature, a voter without an ATX for the epoch. IGNORE: another epoch, a
        second vote, a vote after the round.
        """
        engine = self.engine
        if message.body.epoch_id != engine.epoch or self.finished:
            return ValidationResult.IGNORE
        node_id = bytes(message.smesher_id)
        if not is_valid_signature(
            node_id, SigningDomain.BEACON_FIRST_MSG, message.get_signed_bytes(), message.signature, engine.genesis_id
        ):
            return ValidationResult.REJECT
        if node_id not in engine.miners:
            return self._get_unknown_identity_verdict(node_id)
        if node_id in self.first_voters or engine.first_voting_done:
            return ValidationResult.IGNORE
        try:
            engine.on_first_votes(message)
        except BeaconMessageError as exc:
            log.info("beacon first vote of %s rejected: %s", node_id.hex()[:12], exc)
            return ValidationResult.REJECT
        self.first_voters.add(node_id)
        return ValidationResult.ACCEPT

    def on_following_votes(self, message: FollowingVotingMessage) -> ValidationResult:
        """Judge and count a following-round vote.

        REJECT: round 0, a bad signature, a voter without an ATX. IGNORE: another epoch, a round
        that is over, a second vote in the round, a voter whose first vote was not counted here.
        """
        engine = self.engine
        body = message.body
        if body.epoch_id != engine.epoch or self.finished:
            return ValidationResult.IGNORE
        node_id = bytes(message.smesher_id)
        if body.round_id == 0 or not is_valid_signature(
            node_id, SigningDomain.BEACON_FOLLOWUP_MSG, message.get_signed_bytes(), message.signature,
            engine.genesis_id,
        ):
            return ValidationResult.REJECT
        if node_id not in engine.miners:
            return self._get_unknown_identity_verdict(node_id)
        key = (node_id, int(body.round_id))
        if key in self.following_voters or body.round_id in self.closed_rounds or node_id not in self.first_voters:
            return ValidationResult.IGNORE
        try:
            engine.on_following_votes(message)
        except BeaconMessageError as exc:
            log.info("beacon following vote of %s rejected: %s", node_id.hex()[:12], exc)
            return ValidationResult.REJECT
        self.following_voters.add(key)
        return ValidationResult.ACCEPT

    def on_weak_coin(self, message: WeakCoinMessage) -> ValidationResult:
        """Judge a weak-coin message: ACCEPT (forward) only one that is the round's smallest so far.

        REJECT: an identity without an ATX, a unit beyond its allowance, an invalid VRF. IGNORE:
        another epoch, a round that is over, a VRF not smaller than the round's best.
        """
        engine = self.engine
        if message.epoch != engine.epoch or self.finished or message.round in self.closed_rounds:
            return ValidationResult.IGNORE
        node_id = bytes(message.node_id)
        if node_id not in engine.miners:
            return self._get_unknown_identity_verdict(node_id)
        try:
            smallest = engine.on_weak_coin(message)
        except BeaconMessageError as exc:
            log.info("beacon weak coin of %s rejected: %s", node_id.hex()[:12], exc)
            return ValidationResult.REJECT
        return ValidationResult.ACCEPT if smallest else ValidationResult.IGNORE


class BeaconService:
    """Runs the beacon protocol each epoch and decides which beacon the node uses for each epoch."""

    name = "beacon"

    def __init__(self, node: Any) -> None:
        self.node = node
        self.state = node.storage.state
        self.clock = node.clock
        self.transport = node.transport
        self.genesis_id: bytes = node.genesis_id
        self.layers_per_epoch = node.config.network.layers_per_epoch
        # the mesh's effective genesis is the last layer of epoch 1: consensus, and with it the
        # protocol (yielding the beacon of epoch 3), starts in the epoch of the layer after it
        effective_genesis = 2 * self.layers_per_epoch - 1
        self.first_protocol_epoch = (effective_genesis + 1) // self.layers_per_epoch
        suite = node.components["consensus"].factory()
        self.engine_class: type[BeaconEngine] = suite.beacon_engine_class
        self.config = compute_beacon_config(node.config.beacon, suite.beacon_config)
        self.rounds = max(0, int(node.config.beacon.rounds))
        self.atxs = AtxData(self.state, node.golden_atx)
        self.runs: dict[int, BeaconRun] = {}
        #: epoch -> (beacon, source) decided in this process (the state DB holds every decided one)
        self.decided: dict[int, tuple[bytes, str]] = {}
        self.sent: dict[str, int] = {}  # messages published per topic
        self._tallies: dict[int, BallotBeaconTally] = {}
        self._tasks = BackgroundTasks("beacon")
        self._loop_task: asyncio.Task[None] | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Register the four beacon gossip validators and start the per-epoch loop."""
        self.transport.register_gossip(TOPIC_BEACON_PROPOSAL, self.handle_proposal)
        self.transport.register_gossip(TOPIC_BEACON_FIRST_VOTE, self.handle_first_votes)
        self.transport.register_gossip(TOPIC_BEACON_FOLLOWING_VOTE, self.handle_following_votes)
        self.transport.register_gossip(TOPIC_BEACON_WEAK_COIN, self.handle_weak_coin)
        self.node.beacon = self
        self.node.status_providers["beacon"] = self.get_status
        self._loop_task = asyncio.create_task(self._run_epochs(), name="beacon-epochs")

    async def stop(self) -> None:
        """Stop the loop and every running epoch."""
        await self._tasks.cancel_all()
        await cancel_task(self._loop_task)
        self._loop_task = None

    def _spawn(self, coro: Any) -> None:
        self._tasks.spawn(coro)

    def get_status(self) -> dict[str, Any]:
        """Return the ``beacon`` part of the node status: the beacons decided here and how."""
        return {
            "epochs": {str(e): {"beacon": b.hex(), "source": s} for e, (b, s) in sorted(self.decided.items())},
            "running": sorted(e for e, run in self.runs.items() if not run.finished),
            "sent": dict(self.sent),
        }

    # -- the beacon of an epoch -----------------------------------------------------------------

    def get_epoch_beacon(self, epoch: int) -> bytes | None:
        """Return the beacon the node uses in ``epoch`` (see :func:`choose_epoch_beacon`), or None
        while it is not known yet. A beacon adopted from ballots is stored and announced."""
        known = self.decided.get(epoch)
        if known is not None:
            return known[0]
        stored = self.state.get_beacon(epoch) if epoch > self.first_protocol_epoch else None
        run = self.runs.get(epoch - 1)
        tally = self._tallies.get(epoch)
        beacon, source = choose_epoch_beacon(
            epoch,
            genesis_id=self.genesis_id,
            first_protocol_epoch=self.first_protocol_epoch,
            stored=stored,
            protocol_running=run is not None and not run.finished,
            ballot_majority=tally.find_beacon() if tally is not None else None,
        )
        if beacon is not None and source == SOURCE_BALLOTS:
            self._decide(epoch, beacon, source)
        elif stored is not None:
            self.decided[epoch] = (stored, SOURCE_STORED)
        return beacon

    def record_ballot(
        self, epoch: int, ballot_id: bytes, beacon: bytes, atx_weight: int, slots: int, proof_count: int
    ) -> None:
        """Count a stored ballot of ``epoch`` toward the beacon-from-ballots fallback (only while the
        epoch's beacon is undecided here)."""
        if epoch <= self.first_protocol_epoch or epoch in self.decided or slots <= 0:
            return
        tally = self._tallies.get(epoch)
        if tally is None:
            tally = self._tallies[epoch] = BallotBeaconTally(self.config.beacon_sync_weight_units)
        tally.record_ballot(ballot_id, beacon, atx_weight, slots, proof_count)

    def _decide(self, epoch: int, beacon: bytes, source: str) -> None:
        """Store ``beacon`` as the beacon of ``epoch`` and announce it on the bus."""
        self.state.set_beacon(epoch, beacon)
        self.decided[epoch] = (bytes(beacon), source)
        self._tallies.pop(epoch, None)
        log.info("beacon of epoch %d: %s (%s)", epoch, beacon.hex(), source)
        if self.node.bus is not None:
            self._spawn(self.node.bus.publish(BeaconDecided(epoch=epoch, beacon=bytes(beacon), source=source)))

    # -- the protocol ---------------------------------------------------------------------------

    def _get_epoch_start(self, epoch: int) -> float:
        return self.clock.get_layer_start(self.clock.get_first_layer(epoch))

    def _get_or_open_run(self, epoch: int) -> BeaconRun | None:
        """Return the run of ``epoch``, opening it if the node may take part now (synced, after the
        effective genesis, at most :data:`EARLY_MESSAGE_S` early and not past the proposal phase)."""
        run = self.runs.get(epoch)
        if run is not None:
            return run
        now = self.clock.time.now()
        start = self._get_epoch_start(epoch)
        if (
            epoch < self.first_protocol_epoch
            or not start - EARLY_MESSAGE_S <= now <= start + self.config.proposal_duration
            or not self.node.is_synced()
            or self.state.get_beacon(epoch + 1) is not None  # decided before a restart
        ):
            return None
        atxs = list(self.atxs.get_epoch_infos(epoch).values())
        participants: list[BeaconParticipant] = []
        identity = self.node.identity
        if identity is not None:
            participants = [
                BeaconParticipant(identity, atx.vrf_nonce) for atx in atxs if atx.node_id == identity.node_id
            ][:1]
        try:
            engine = self.engine_class(
                self.config, epoch, atxs, start, self.genesis_id, participants, self.state.is_malicious
            )
        except BeaconMessageError:  # no ATX weight in the epoch: nobody can take part
            return None
        run = self.runs[epoch] = BeaconRun(engine, lambda node_id: self._has_atx_now(epoch, node_id))
        for old in [e for e in self.runs if e < epoch - 1]:
            del self.runs[old]
        return run

    def _has_atx_now(self, epoch: int, node_id: bytes) -> bool:
        return any(info.node_id == node_id for info in self.atxs.get_epoch_infos(epoch).values())

    async def _run_epochs(self) -> None:
        epoch = max(self.clock.get_current_epoch(), 0)
        if self.clock.time.now() > self._get_epoch_start(epoch) + self.config.proposal_duration / 2:
            epoch += 1  # started too late to take part in this epoch's run
        while True:
            await self.clock.wait_for_layer(self.clock.get_first_layer(epoch))
            self._spawn(self._run_epoch(epoch))
            epoch += 1

    async def _publish(self, topic: str, messages: Sequence[Any]) -> None:
        for message in messages:
            await self.transport.publish(topic, encode(message))
            self.sent[topic] = self.sent.get(topic, 0) + 1

    async def _run_epoch(self, epoch: int) -> None:
        """Run the protocol of ``epoch`` and decide ``beacon(epoch + 1)``."""
        if epoch < self.first_protocol_epoch or self.state.get_beacon(epoch + 1) is not None:
            return
        run = self._get_or_open_run(epoch)
        if run is None:
            atxs = self.atxs.get_epoch_infos(epoch).values()
            if self.node.is_synced() and not any(not self.state.is_malicious(a.node_id) for a in atxs):
                # no (honest) ATX targets the epoch, so no one can run the protocol: every node falls back
                self._decide(epoch + 1, compute_fallback_beacon(self.genesis_id, epoch + 1), SOURCE_FALLBACK)
            return
        try:
            await self._run_phases(run)
        finally:
            run.finished = True
        beacon = run.engine.get_beacon()
        if beacon is None:  # no proposal was supported (too few participants): the shared fallback
            self._decide(epoch + 1, compute_fallback_beacon(self.genesis_id, epoch + 1), SOURCE_FALLBACK)
        else:
            self._decide(epoch + 1, beacon, SOURCE_PROTOCOL)

    async def _run_phases(self, run: BeaconRun) -> None:
        config = self.config
        time = self.clock.time
        deadline = self._get_epoch_start(run.epoch)
        await self._publish(TOPIC_BEACON_PROPOSAL, run.create_proposals(time.now()))
        deadline += config.proposal_duration
        await time.sleep_until(deadline)
        run.engine.end_proposal_phase(time.now())
        await self._publish(TOPIC_BEACON_FIRST_VOTE, run.create_first_votes())
        deadline += config.first_voting_round_duration
        await time.sleep_until(deadline)
        run.engine.end_first_voting()
        for round_ in range(1, self.rounds + 1):
            await self._publish(TOPIC_BEACON_FOLLOWING_VOTE, run.create_following_votes(round_))
            deadline += config.voting_round_duration
            await time.sleep_until(deadline)
            run.engine.end_voting_round(round_)
            await self._publish(TOPIC_BEACON_WEAK_COIN, run.engine.create_weak_coin_messages(round_))
            deadline += config.weak_coin_round_duration
            await time.sleep_until(deadline)
            run.closed_rounds.add(round_)
            coin = run.engine.end_weak_coin_round(round_)
            log.debug("beacon epoch %d round %d: weak coin %s", run.epoch, round_, coin)

    # -- gossip validators ----------------------------------------------------------------------

    def _get_run_for(self, epoch: int) -> BeaconRun | None:
        if epoch not in (self.clock.get_current_epoch(), self.clock.get_current_epoch() + 1):
            return None
        return self._get_or_open_run(epoch)

    def _dispatch(
        self,
        data: bytes,
        message_type: type[Any],
        get_epoch: Callable[[Any], int],
        apply: Callable[[Any, Any], ValidationResult],
    ) -> ValidationResult:
        """Decode a beacon gossip message and hand it to its epoch's run: undecodable → REJECT, an
        epoch without a run (not running here, or long past) → IGNORE, else the run's verdict."""
        try:
            message = decode(message_type, data)
        except ScaleError:
            return ValidationResult.REJECT
        run = self._get_run_for(get_epoch(message))
        return ValidationResult.IGNORE if run is None else apply(run, message)

    async def handle_proposal(self, peer: bytes, data: bytes) -> ValidationResult:
        """Validate a gossiped beacon proposal (``bp1``)."""
        return self._dispatch(
            data, BeaconProposalMessage, lambda m: m.epoch_id, lambda run, m: run.on_proposal(m, self.clock.time.now())
        )

    async def handle_first_votes(self, peer: bytes, data: bytes) -> ValidationResult:
        """Validate a gossiped first-round vote (``bf1``)."""
        return self._dispatch(data, FirstVotingMessage, lambda m: m.body.epoch_id, lambda run, m: run.on_first_votes(m))

    async def handle_following_votes(self, peer: bytes, data: bytes) -> ValidationResult:
        """Validate a gossiped following-round vote (``bo1``)."""
        return self._dispatch(
            data, FollowingVotingMessage, lambda m: m.body.epoch_id, lambda run, m: run.on_following_votes(m)
        )

    async def handle_weak_coin(self, peer: bytes, data: bytes) -> ValidationResult:
        """Validate a gossiped weak-coin message (``bw1``)."""
        return self._dispatch(data, WeakCoinMessage, lambda m: m.epoch, lambda run, m: run.on_weak_coin(m))

