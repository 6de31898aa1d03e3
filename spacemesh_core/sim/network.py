"""An in-process network of virtual nodes running the real consensus engines under a virtual clock.

Every node has one identity, its own :class:`~spacemesh_core.consensus.tortoise.Tortoise`, hare
instances (:class:`~spacemesh_core.consensus.hare3.Hare3Engine`), a malfeasance detector and registry.
Eligibilities are real ECVRF proofs (:func:`~spacemesh_core.consensus.eligibility.compute_eligibilities`),
ballots and proposals real signed wire objects, blocks come from
:func:`~spacemesh_core.consensus.blocks.generate_block`, rewards from
:func:`~spacemesh_core.consensus.rewards.compute_layer_rewards` on the mainnet subsidy curve.
ATXs and PoST are abstract: each smesher has one ATX per epoch whose weight is its unit count, and the
beacon of an epoch is derived from the seed (the beacon protocol is exercised in its own tests).

Transport is in memory: a message reaches every node of the sender's partition group after a random
delay below ``max_delay`` (within the synchrony bound: well below a hare round). Time is a
:class:`~spacemesh_core.clock.VirtualTime` driven through an event queue, so a run depends only on
its configuration and seed.

Adversaries (``adversary`` = share of the total weight, taken from a seeded shuffle) cycle through
three behaviours: *equivocating* (two ballots per eligible layer and two preround messages: they get
malfeasance proofs), *withholding* (publish nothing, take no part in hare) and *voting against*
(ballots whose votes reject every block).

``partition=(from, to)`` splits the nodes into two groups (60 % / 40 % of the nodes) for sim layers
``from..to`` (sim layer 1 is the first layer after genesis); when it heals every node syncs what it
missed and the tortoises self-heal.

Hare's safety holds only for the committee actually drawn: when honest nodes output different hare sets
in a layer (outside a partition) the result lists a :class:`HareDisagreement` with the eligibility counts
of that layer's committee, so a run shows whether the adversaries held enough seats (>= 1/3 of the
eligibility count, or the honest count below the threshold) for the disagreement to be the protocol's
expected small-committee failure rather than a bug (docs/consensus.md, "Simulator").
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import random
from collections.abc import Callable
from typing import Any, Final

import attrs

from spacemesh_core.clock import VirtualTime
from spacemesh_core.consensus.blocks import BlockProposal, generate_block
from spacemesh_core.consensus.eligibility import (
    AtxInfo,
    EligibilityConfig,
    EligibilityError,
    compute_active_set_hash,
    compute_eligibilities,
    compute_slots,
    verify_ballot_eligibility,
)
from spacemesh_core.consensus.hare3 import (
    COMMIT,
    NOTIFY,
    PREROUND,
    Hare3Engine,
    HareConfig,
    HareOracle,
    ProposalCandidate,
    create_hare_message,
    select_initial_proposals,
)
from spacemesh_core.consensus.malfeasance import MalfeasanceDetector, MalfeasanceRegistry, get_accused_node_id
from spacemesh_core.consensus.rewards import compute_layer_rewards
from spacemesh_core.consensus.tortoise import (
    Tortoise,
    TortoiseBallot,
    TortoiseConfig,
    TortoiseError,
    UnknownBaseBallotError,
    compute_ballot_weight_units,
)
from spacemesh_core.crypto.hashes import compute_blake3
from spacemesh_core.crypto.signing import Signer
from spacemesh_core.types.ballot import Ballot, EpochData, InnerBallot, InnerProposal, Proposal, Votes
from spacemesh_core.types.block import Block
from spacemesh_core.types.hare import HareMessage
from spacemesh_core.types.malfeasance import MalfeasanceProof
from spacemesh_core.types.primitives import EMPTY_BALLOT_ID, EMPTY_HASH32, SigningDomain

__all__ = [
    "ADVERSARY_BEHAVIOURS",
    "HareDisagreement",
    "SimConfig",
    "SimResult",
    "Simulation",
    "is_committee_safe",
    "run_simulation",
]

ADVERSARY_BEHAVIOURS: Final = ("equivocate", "withhold", "against")
SIM_GENESIS_ID: Final = compute_blake3(b"spacemesh-py simulation")[:20]
_PARTITION_MAJORITY: Final = 0.6
#: Hare rounds whose messages are tallied against the threshold, with their names in reports.
_THRESHOLD_ROUNDS: Final = ((PREROUND, "preround"), (COMMIT, "commit"), (NOTIFY, "notify"))


@attrs.frozen
class SimConfig:
    """Simulation parameters. ``partition`` is in sim layers (1 = first layer after genesis)."""

    nodes: int = 10
    layers: int = 20
    seed: int = 0
    adversary: float = 0.0
    partition: tuple[int, int] | None = None
    units: tuple[int, ...] | None = None  # per node; default: seeded uniform 1..100
    layers_per_epoch: int = 10
    layer_avg_size: int = 10
    committee: int = 50
    leaders: int = 5
    hdist: int = 10
    zdist: int = 2
    layer_duration: float = 300.0
    max_delay: float = 2.0

    def __attrs_post_init__(self) -> None:
        if self.nodes < 1 or self.layers < 1:
            raise ValueError("a simulation needs at least one node and one layer")
        if not 0.0 <= self.adversary < 1.0:
            raise ValueError("the adversarial fraction must be in [0, 1)")
        if self.units is not None and len(self.units) != self.nodes:
            raise ValueError("one unit count per node")
        if self.partition is not None and not 1 <= self.partition[0] <= self.partition[1]:
            raise ValueError("partition layers must satisfy 1 <= from <= to")


@attrs.frozen
class SmesherReport:
    """One smesher's line of the result."""

    id: str
    units: int
    honest: bool
    behaviour: str | None
    eligibilities: int
    reward: int

    @property
    def reward_per_unit(self) -> float:
        """Reward divided by units."""
        return self.reward / self.units

    def to_json(self) -> dict[str, Any]:
        """The JSON form printed by ``spacemesh sim --json``."""
        return {
            "id": self.id,
            "units": self.units,
            "honest": self.honest,
            "eligibilities": self.eligibilities,
            "reward": self.reward,
            "reward_per_unit": self.reward_per_unit,
        }


@attrs.frozen
class HareDisagreement:
    """A layer whose honest nodes output different hare sets, and the committee drawn for it.

    The counts are eligibility counts (committee seats) in one threshold round (preround, or commit or
    notify of an iteration the layer ran): the first round where hare's assumptions failed, else the round
    where the adversaries' share was largest. ``adversarial`` sums every adversary's count (withholders
    included: their seats are simply lost), ``honest`` the honest nodes' count; ``threshold`` is
    ``committee // 2 + 1``. Safety is guaranteed only while ``adversarial < total / 3`` and
    ``honest >= threshold``.
    """

    layer: int  # sim layer
    outputs: int  # distinct honest outputs (no output at all counts as one)
    iteration: int
    round: str
    adversarial: int
    honest: int
    threshold: int

    @property
    def total(self) -> int:
        """All eligibility counts drawn in the round."""
        return self.adversarial + self.honest

    @property
    def is_safety_guaranteed(self) -> bool:
        """Whether the round's committee met hare's assumptions (if so, the disagreement is a bug)."""
        return is_committee_safe(self.adversarial, self.honest, self.threshold)

    def describe(self) -> str:
        """One line for reports, e.g. ``adversaries held 10 of 19 eligibilities in layer 5 ...``."""
        share = ">= 1/3" if 3 * self.adversarial >= self.total else "< 1/3"
        honest = "below" if self.honest < self.threshold else "at or above"
        verdict = (
            "safety guaranteed: unexpected disagreement" if self.is_safety_guaranteed else "safety not guaranteed"
        )
        return (
            f"adversaries held {self.adversarial} of {self.total} eligibilities in layer {self.layer} "
            f"({self.round}, iteration {self.iteration}) ({share}); honest {self.honest} {honest} the threshold "
            f"{self.threshold}: {verdict}"
        )

    def to_json(self) -> dict[str, Any]:
        """The JSON form in ``spacemesh sim --json``'s ``hare_disagreements``."""
        return {
            "layer": self.layer,
            "outputs": self.outputs,
            "iteration": self.iteration,
            "round": self.round,
            "adversarial": self.adversarial,
            "total": self.total,
            "honest": self.honest,
            "threshold": self.threshold,
            "safety_guaranteed": self.is_safety_guaranteed,
            "message": self.describe(),
        }


def is_committee_safe(adversarial: int, honest: int, threshold: int) -> bool:
    """Whether a round's drawn committee meets hare's assumptions.

    The adversaries hold less than a third of the eligibility count and the honest seats alone reach the
    threshold; otherwise which values reach the threshold can differ between honest nodes.
    """
    return 3 * adversarial < adversarial + honest and honest >= threshold


@attrs.frozen
class SimResult:
    """What a run established (see :meth:`to_json`)."""

    honest_agree: bool
    layers: int
    layers_with_block: int
    converged_layer: int | None
    malicious_detected: tuple[str, ...]
    smeshers: tuple[SmesherReport, ...]
    hare_agree: bool
    opinion_agree: bool
    mesh_hashes: tuple[str, ...]  # each honest node's opinion hash of the last processed layer
    malicious_weight_zero: bool
    hare_disagreements: tuple[HareDisagreement, ...] = ()  # layers where honest hare outputs differ

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` object of ``spacemesh sim``."""
        return {
            "honest_agree": self.honest_agree,
            "layers": self.layers,
            "layers_with_block": self.layers_with_block,
            "converged_layer": self.converged_layer,
            "malicious_detected": list(self.malicious_detected),
            "smeshers": [s.to_json() for s in self.smeshers],
            "hare_disagreements": [d.to_json() for d in self.hare_disagreements],
        }


@attrs.define(eq=False)
class _Node:
    index: int
    signer: Signer
    units: int
    behaviour: str | None
    group: int
    tortoise: Tortoise
    registry: MalfeasanceRegistry = attrs.field(factory=MalfeasanceRegistry)
    detector: MalfeasanceDetector = attrs.field(init=False)
    proposals: dict[int, dict[bytes, Proposal]] = attrs.field(factory=dict)
    hare: dict[int, Hare3Engine] = attrs.field(factory=dict)
    hare_results: dict[int, tuple[bytes, ...]] = attrs.field(factory=dict)
    hare_blocks: dict[int, bytes | None] = attrs.field(factory=dict)
    pending: list[Ballot] = attrs.field(factory=list)
    seen_ballots: set[bytes] = attrs.field(factory=set)
    ref_ballots: dict[int, bytes] = attrs.field(factory=dict)

    def __attrs_post_init__(self) -> None:
        self.detector = MalfeasanceDetector(self.registry)

    @property
    def honest(self) -> bool:
        return self.behaviour is None


class Simulation:
    """One reproducible run; :meth:`run` returns a :class:`SimResult`."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        lpe = config.layers_per_epoch
        self.genesis = lpe - 1  # sim layer 1 = first layer of epoch 1
        self.tortoise_config = TortoiseConfig(
            hdist=config.hdist,
            zdist=config.zdist,
            window=max(1000, config.layers + 10),
            max_exceptions=1000,
            bad_beacon_vote_delay=lpe * 4,
            layers_per_epoch=lpe,
            effective_genesis=self.genesis,
        )
        self.eligibility_config = EligibilityConfig(lpe, config.layer_avg_size, 1)
        self.hare_config = HareConfig(committee=config.committee, leaders=config.leaders)
        if config.units is not None:
            units = list(config.units)
        else:
            units = [self.rng.randint(1, 100) for _ in range(config.nodes)]
        behaviours = self._pick_adversaries(units)
        groups = self._pick_groups()
        self.nodes = [
            _Node(
                index=i,
                signer=Signer.from_seed(
                    compute_blake3(b"sim-node", config.seed.to_bytes(8, "little"), i.to_bytes(4, "little"))
                ),
                units=units[i],
                behaviour=behaviours[i],
                group=groups[i],
                tortoise=Tortoise(self.tortoise_config),
            )
            for i in range(config.nodes)
        ]
        self.total_units = sum(units)
        self.by_id = {node.signer.node_id: node for node in self.nodes}
        for node in self.nodes:
            for epoch in range(0, config.layers // lpe + 3):
                node.tortoise.set_epoch_weight(epoch, self.total_units)
                node.tortoise.on_beacon(epoch, self.get_beacon(epoch))
        self.clock = VirtualTime(0.0)
        self._queue: list[tuple[float, int, Callable[..., None], tuple[Any, ...]]] = []
        self._seq = itertools.count()
        # global stores: what some node published or built (for fetches and syncing)
        self.all_ballots: dict[bytes, Ballot] = {}
        self.all_proposals: dict[int, list[Proposal]] = {}
        self.blocks: dict[bytes, Block] = {}
        self.proofs: list[MalfeasanceProof] = []
        self._valid_ballots: dict[bytes, bool] = {}
        self._eligibilities: dict[tuple[int, int], dict[int, list[Any]]] = {}
        self._oracles: dict[int, HareOracle] = {}
        self.agreement: dict[int, bool] = {}

    # ------------------------------------------------------------------ setup helpers

    def _pick_adversaries(self, units: list[int]) -> list[str | None]:
        behaviours: list[str | None] = [None] * len(units)
        budget = self.config.adversary * sum(units)
        order = list(range(len(units)))
        self.rng.shuffle(order)
        used = 0
        picked = 0
        for index in order:
            if used + units[index] > budget:
                continue
            behaviours[index] = ADVERSARY_BEHAVIOURS[picked % len(ADVERSARY_BEHAVIOURS)]
            used += units[index]
            picked += 1
        return behaviours

    def _pick_groups(self) -> list[int]:
        order = list(range(self.config.nodes))
        self.rng.shuffle(order)
        majority = max(1, round(self.config.nodes * _PARTITION_MAJORITY))
        groups = [0] * self.config.nodes
        for index in order[majority:]:
            groups[index] = 1
        return groups

    def get_beacon(self, epoch: int) -> bytes:
        """The (abstract) beacon of an epoch, derived from the seed."""
        return compute_blake3(b"beacon", self.config.seed.to_bytes(8, "little"), epoch.to_bytes(4, "little"))[:4]

    def get_atx(self, node: _Node, epoch: int) -> AtxInfo:
        """The abstract ATX of ``node`` that targets ``epoch``."""
        atx_id = compute_blake3(b"atx", node.signer.node_id, epoch.to_bytes(4, "little"))
        nonce = int.from_bytes(compute_blake3(b"nonce", node.signer.node_id)[:8], "little")
        return AtxInfo(atx_id, node.signer.node_id, epoch - 1, node.units, node.units, nonce, 0, 1)

    def get_slots(self, node: _Node) -> int:
        """Eligibility slots of ``node`` per epoch."""
        return compute_slots(node.units, self.total_units, self.eligibility_config)

    def get_eligibilities(self, node: _Node, epoch: int) -> dict[int, list[Any]]:
        """``{layer: proofs}`` of ``node`` in ``epoch`` (real VRF proofs, computed once)."""
        key = (node.index, epoch)
        if key not in self._eligibilities:
            atx = self.get_atx(node, epoch)
            self._eligibilities[key] = compute_eligibilities(
                node.signer, self.get_beacon(epoch), epoch, atx.vrf_nonce, self.get_slots(node),
                self.config.layers_per_epoch,
            )
        return self._eligibilities[key]

    def get_oracle(self, epoch: int) -> HareOracle:
        """The hare oracle of ``epoch``: every smesher weighted by units (shared, verifications cached)."""
        if epoch not in self._oracles:
            weights = {node.signer.node_id: node.units for node in self.nodes}
            self._oracles[epoch] = HareOracle(weights, self.get_beacon(epoch), self.hare_config)
        return self._oracles[epoch]

    def get_epoch(self, layer: int) -> int:
        """Epoch of an absolute layer."""
        return layer // self.config.layers_per_epoch

    def get_layer_start(self, layer: int) -> float:
        """Virtual time at which absolute ``layer`` starts."""
        return (layer - self.genesis - 1) * self.config.layer_duration

    def to_sim_layer(self, layer: int) -> int:
        """Absolute layer → sim layer (1-based)."""
        return layer - self.genesis

    # ------------------------------------------------------------------ transport

    def _is_partitioned(self, now: float) -> bool:
        if self.config.partition is None:
            return False
        sim_layer = int(now // self.config.layer_duration) + 1
        return self.config.partition[0] <= sim_layer <= self.config.partition[1]

    def _can_reach(self, sender: _Node, receiver: _Node, now: float) -> bool:
        return sender.group == receiver.group or not self._is_partitioned(now)

    def schedule(self, when: float, action: Callable[..., None], *args: Any) -> None:
        """Run ``action(*args)`` at virtual time ``when``."""
        heapq.heappush(self._queue, (when, next(self._seq), action, args))

    def broadcast(
        self, sender: _Node, deliver: Callable[[_Node, Any], None], message: Any, include_self: bool = False
    ) -> None:
        """Gossip ``message`` from ``sender`` to every reachable node after a random delay."""
        now = self.clock.now()
        for receiver in self.nodes:
            if receiver is sender and not include_self:
                continue
            if self._can_reach(sender, receiver, now):
                delay = 0.0 if receiver is sender else self.rng.uniform(0.01, self.config.max_delay)
                self.schedule(now + delay, self._deliver_if_reachable, sender, receiver, deliver, message)

    def _deliver_if_reachable(
        self, sender: _Node, receiver: _Node, deliver: Callable[[_Node, Any], None], message: Any
    ) -> None:
        if self._can_reach(sender, receiver, self.clock.now()):
            deliver(receiver, message)

    # ------------------------------------------------------------------ proposals and ballots

    def _build_proposal(
        self, node: _Node, layer: int, votes: Votes, opinion_hash: bytes, proofs: list[Any]
    ) -> Proposal:
        epoch = self.get_epoch(layer)
        atx = self.get_atx(node, epoch)
        ref = node.ref_ballots.get(epoch)
        epoch_data = None
        if ref is None:
            active = compute_active_set_hash(self.get_atx(n, epoch).atx_id for n in self.nodes)
            epoch_data = EpochData(active, self.get_beacon(epoch), self.get_slots(node))
        inner = InnerBallot(layer, atx.atx_id, opinion_hash, ref or EMPTY_BALLOT_ID, epoch_data)
        unsigned = Ballot(inner, bytes(64), node.signer.node_id, votes, tuple(proofs), ())
        ballot = attrs.evolve(
            unsigned, signature=node.signer.sign(SigningDomain.BALLOT, unsigned.get_signed_bytes(), SIM_GENESIS_ID)
        )
        if ref is None:
            node.ref_ballots[epoch] = ballot.compute_id()
        mesh_hash = EMPTY_HASH32
        layer_info = node.tortoise.get_layer(layer - 1)
        if layer_info is not None and layer_info.opinion:
            mesh_hash = layer_info.opinion
        inner_proposal = InnerProposal(ballot, (), mesh_hash)
        unsigned_proposal = Proposal(inner_proposal, bytes(64))
        signature = node.signer.sign(SigningDomain.PROPOSAL, unsigned_proposal.get_signed_bytes(), SIM_GENESIS_ID)
        return Proposal(inner_proposal, signature)

    def _start_layer(self, layer: int) -> None:
        epoch = self.get_epoch(layer)
        for node in self.nodes:
            if node.behaviour == "withhold":
                continue
            proofs = self.get_eligibilities(node, epoch).get(layer)
            if not proofs:
                continue
            if node.behaviour == "against":
                votes = Votes(EMPTY_BALLOT_ID, (), (), ())
                opinion = node.tortoise.decode_votes(layer, votes).hash
            else:
                encoded = node.tortoise.encode_votes(layer)
                votes, opinion = encoded.votes, encoded.opinion_hash
            proposals = [self._build_proposal(node, layer, votes, opinion, proofs)]
            if node.behaviour == "equivocate":
                other = Votes(EMPTY_BALLOT_ID, (), (), ())
                proposals.append(
                    self._build_proposal(node, layer, other, node.tortoise.decode_votes(layer, other).hash, proofs)
                )
            for proposal in proposals:
                self.all_ballots[proposal.ballot.compute_id()] = proposal.ballot
                self.all_proposals.setdefault(layer, []).append(proposal)
                self.broadcast(node, self._on_proposal, proposal, include_self=True)

    def _is_valid_ballot(self, ballot: Ballot) -> bool:
        ballot_id = ballot.compute_id()
        cached = self._valid_ballots.get(ballot_id)
        if cached is None:
            node = self.by_id.get(ballot.smesher_id)
            cached = False
            if node is not None:
                epoch = self.get_epoch(ballot.layer)
                ref = self.all_ballots.get(ballot.inner.ref_ballot) if ballot.inner.epoch_data is None else None
                try:
                    verify_ballot_eligibility(
                        ballot, self.get_atx(node, epoch), ref_ballot=ref, active_set_weight=self.total_units,
                        config=self.eligibility_config,
                    )
                    cached = True
                except EligibilityError:
                    cached = False
            self._valid_ballots[ballot_id] = cached
        return cached

    def _on_proposal(self, node: _Node, proposal: Proposal) -> None:
        ballot = proposal.ballot
        if not self._is_valid_ballot(ballot):
            return
        node.proposals.setdefault(proposal.layer, {})[proposal.compute_id()] = proposal
        proof = node.detector.process_ballot(ballot, self.clock.now())
        if proof is not None:
            self._on_new_proof(node, proof)
        self._add_ballot(node, ballot)

    def _add_ballot(self, node: _Node, ballot: Ballot) -> None:
        ballot_id = ballot.compute_id()
        if ballot_id in node.seen_ballots:
            return
        origin = self.by_id[ballot.smesher_id]
        epoch = self.get_epoch(ballot.layer)
        weight = compute_ballot_weight_units(origin.units, self.get_slots(origin), len(ballot.eligibility_proofs))
        for header in ballot.votes.support:  # fetch data of the blocks voted for
            block = self.blocks.get(header.id)
            if block is not None:
                node.tortoise.on_block(header.layer_id, header.id, block.tick_height)
        try:
            node.tortoise.on_ballot(TortoiseBallot.from_ballot(ballot, weight, self.get_beacon(epoch)))
        except UnknownBaseBallotError:
            base = self.all_ballots.get(ballot.votes.base)
            if base is None:
                return
            self._add_ballot(node, base)  # fetch the base from a peer first
            try:
                node.tortoise.on_ballot(TortoiseBallot.from_ballot(ballot, weight, self.get_beacon(epoch)))
            except TortoiseError:
                return
        except TortoiseError:
            return
        node.seen_ballots.add(ballot_id)

    def _on_new_proof(self, node: _Node, proof: MalfeasanceProof) -> None:
        self.proofs.append(proof)
        self._apply_proof(node, proof)
        self.broadcast(node, self._apply_proof, proof)

    def _apply_proof(self, node: _Node, proof: MalfeasanceProof) -> None:
        accused = get_accused_node_id(proof)
        node.registry.add_proof(proof, self.clock.now(), accused)
        node.tortoise.on_malfeasance(accused)

    # ------------------------------------------------------------------ hare

    def _start_hare(self, layer: int) -> None:
        oracle = self.get_oracle(self.get_epoch(layer))
        beacon = self.get_beacon(self.get_epoch(layer))
        for node in self.nodes:
            if node.behaviour == "withhold":
                continue
            engine = Hare3Engine(
                self.hare_config, layer, oracle, SIM_GENESIS_ID, [node.signer], node.registry.is_malicious,
                verify_signatures=False,
            )
            candidates = [
                ProposalCandidate(pid, p.ballot.smesher_id, p.ballot.inner.atx_id, beacon, 0)
                for pid, p in node.proposals.get(layer, {}).items()
            ]
            engine.set_initial(select_initial_proposals(candidates, beacon, 1, node.registry.is_malicious))
            node.hare[layer] = engine
            self.schedule(self.get_layer_start(layer) + engine.get_next_round_offset(), self._advance_hare, node, layer)

    def _advance_hare(self, node: _Node, layer: int) -> None:
        engine = node.hare[layer]
        if engine.finished:
            return
        executed = engine.get_next_round()
        out = engine.advance()
        for message in out.messages:
            self.broadcast(node, self._on_hare_message, message)
        if node.behaviour == "equivocate" and executed == (0, PREROUND) and out.messages:
            first = out.messages[0]
            twin = create_hare_message(
                node.signer, SIM_GENESIS_ID, layer, 0, PREROUND, first.body.eligibility, proposals=()
            )
            self.broadcast(node, self._on_hare_message, twin)
        if out.coin is not None:
            node.tortoise.on_weak_coin(layer, out.coin)
        if out.result is not None:
            self._on_hare_result(node, layer, out.result)
        if not engine.finished:
            self.schedule(self.get_layer_start(layer) + engine.get_next_round_offset(), self._advance_hare, node, layer)

    def _on_hare_message(self, node: _Node, message: HareMessage) -> None:
        engine = node.hare.get(message.body.layer)
        if engine is None or engine.finished:
            return
        result = engine.on_message(message)
        if result.proof is not None and node.registry.add_proof(result.proof, self.clock.now(), bytes(message.sender)):
            node.tortoise.on_malfeasance(bytes(message.sender))
            self.proofs.append(result.proof)
            self.broadcast(node, self._apply_proof, result.proof)

    def _on_hare_result(self, node: _Node, layer: int, result: tuple[bytes, ...]) -> None:
        node.hare_results[layer] = result
        known = node.proposals.get(layer, {})
        missing = [pid for pid in result if pid not in known]
        for proposal in self.all_proposals.get(layer, []):  # fetch proposals the node lacks
            if proposal.compute_id() in missing:
                known[proposal.compute_id()] = proposal
        chosen = [known[pid] for pid in result if pid in known]
        block_proposals = []
        for proposal in chosen:
            origin = self.by_id[proposal.ballot.smesher_id]
            block_proposals.append(BlockProposal.from_proposal(proposal, origin.units, self.get_slots(origin), 0))
        block = generate_block(layer, block_proposals, {})
        block_id = None
        if block is not None:
            block_id = block.compute_id()
            self.blocks[block_id] = block
            node.tortoise.on_block(layer, block_id, block.tick_height)
        node.hare_blocks[layer] = block_id
        node.tortoise.on_hare_output(layer, block_id)

    # ------------------------------------------------------------------ layers

    def _end_layer(self, layer: int) -> None:
        for node in self.nodes:
            node.tortoise.tally_votes(layer)
        honest = [node for node in self.nodes if node.honest]
        hashes = {node.tortoise.get_opinion_hash(layer - 1) for node in honest}
        self.agreement[layer] = len(hashes) == 1

    def _heal(self, layer: int) -> None:
        """Sync after the partition: every node fetches the ballots and proofs it missed."""
        for node in self.nodes:
            for proof in self.proofs:
                self._apply_proof(node, proof)
            for lid in sorted(self.all_proposals):
                if lid >= layer:
                    continue
                for proposal in self.all_proposals[lid]:
                    if self._is_valid_ballot(proposal.ballot):
                        node.proposals.setdefault(lid, {})[proposal.compute_id()] = proposal
                        found = node.detector.process_ballot(proposal.ballot, self.clock.now())
                        if found is not None:
                            self._on_new_proof(node, found)
                        self._add_ballot(node, proposal.ballot)

    async def _run_events(self) -> None:
        last = self.genesis + self.config.layers
        for layer in range(self.genesis + 1, last + 1):
            start = self.get_layer_start(layer)
            if self.config.partition is not None and self.to_sim_layer(layer) == self.config.partition[1] + 1:
                self.schedule(start, self._heal, layer)
            self.schedule(start, self._start_layer, layer)
            self.schedule(start + self.hare_config.preround_delay - 1.0, self._start_hare, layer)
            self.schedule(start + self.config.layer_duration - 0.5, self._end_layer, layer)
        end = self.get_layer_start(last + 1)
        while self._queue and self._queue[0][0] < end:
            when, _, action, args = heapq.heappop(self._queue)
            await self.clock.advance_to(max(when, self.clock.now()))
            action(*args)

    # ------------------------------------------------------------------ results

    def run(self) -> SimResult:
        """Run the simulation and summarize it."""
        asyncio.run(self._run_events())
        return self._summarize()

    def get_committee_counts(self, layer: int, iter_: int, round_: int) -> tuple[int, int]:
        """``(adversarial, honest)`` eligibility counts drawn for a hare round of absolute ``layer``."""
        oracle = self.get_oracle(self.get_epoch(layer))
        adversarial = honest = 0
        for node in self.nodes:
            eligibility = oracle.compute_eligibility(node.signer, layer, iter_, round_)
            count = eligibility.count if eligibility is not None else 0
            if node.honest:
                honest += count
            else:
                adversarial += count
        return adversarial, honest

    def explain_disagreement(self, layer: int) -> HareDisagreement:
        """Describe the committee of a layer (absolute) whose honest nodes output different hare sets.

        Looks at the threshold rounds of every iteration an honest node ran and picks the first whose
        committee breaks hare's assumptions (see :func:`is_committee_safe`), else the one where the
        adversaries' share of the eligibility count was largest.
        """
        honest = [node for node in self.nodes if node.honest]
        outputs = len({node.hare_results.get(layer) for node in honest})
        last_iter = min(
            max((node.hare[layer].protocol.iter for node in honest if layer in node.hare), default=0),
            self.hare_config.iterations_limit,
        )
        threshold = self.hare_config.get_threshold(layer)
        best: HareDisagreement | None = None
        for iter_ in range(last_iter + 1):
            for round_, name in _THRESHOLD_ROUNDS:
                if round_ == PREROUND and iter_ > 0:
                    continue
                adversarial, honest_count = self.get_committee_counts(layer, iter_, round_)
                found = HareDisagreement(
                    self.to_sim_layer(layer), outputs, iter_, name, adversarial, honest_count, threshold
                )
                if not found.is_safety_guaranteed:
                    return found
                if best is None or adversarial * best.total > best.adversarial * found.total:
                    best = found
        assert best is not None
        return best

    def _summarize(self) -> SimResult:
        last = self.genesis + self.config.layers
        honest = [node for node in self.nodes if node.honest]
        observer = honest[0] if honest else self.nodes[0]
        partition = self.config.partition
        hare_agree = True
        disagreements = []
        for layer in range(self.genesis + 1, last + 1):
            if partition is not None and partition[0] <= self.to_sim_layer(layer) <= partition[1] + 1:
                continue
            outputs = {node.hare_results.get(layer) for node in honest}
            if len(outputs) > 1:
                hare_agree = False
                disagreements.append(self.explain_disagreement(layer))
        mesh = tuple(node.tortoise.get_opinion_hash(last - 1).hex() for node in honest)
        opinion_agree = len(set(mesh)) == 1
        converged: int | None = None
        for layer in range(last, self.genesis, -1):
            if not self.agreement.get(layer, False):
                break
            converged = self.to_sim_layer(layer)
        rewards: dict[bytes, int] = {}
        eligibilities: dict[bytes, int] = {}
        layers_with_block = 0
        for layer in range(self.genesis + 1, last + 1):
            block_id = observer.tortoise.get_applied_block(layer)
            if block_id is None and layer > observer.tortoise.verified:
                block_id = observer.hare_blocks.get(layer)
            if block_id is None:
                continue
            layers_with_block += 1
            block = self.blocks[block_id]
            paid = compute_layer_rewards(layer, block.rewards, effective_genesis=self.genesis)
            for entry in paid.rewards:
                rewards[entry.atx_id] = rewards.get(entry.atx_id, 0) + entry.total
        reports = []
        for node in self.nodes:
            total = 0
            count = 0
            for epoch in range(self.get_epoch(self.genesis + 1), self.get_epoch(last) + 1):
                total += rewards.get(self.get_atx(node, epoch).atx_id, 0)
                count += sum(
                    len(proofs) for lid, proofs in self.get_eligibilities(node, epoch).items()
                    if self.genesis < lid <= last
                )
            eligibilities[node.signer.node_id] = count
            reports.append(
                SmesherReport(node.signer.node_id.hex(), node.units, node.honest, node.behaviour, count, total)
            )
        detected = sorted({nid.hex() for node in honest for nid in node.registry.get_malicious_ids()})
        malicious_zero = all(
            ballot.weight == 0 or ballot.malicious
            for node in honest
            for nid in node.registry.get_malicious_ids()
            for ballot in self._get_tortoise_ballots(node, nid)
        )
        return SimResult(
            honest_agree=hare_agree and opinion_agree,
            layers=self.config.layers,
            layers_with_block=layers_with_block,
            converged_layer=converged,
            malicious_detected=tuple(detected),
            smeshers=tuple(reports),
            hare_agree=hare_agree,
            opinion_agree=opinion_agree,
            mesh_hashes=mesh,
            malicious_weight_zero=malicious_zero,
            hare_disagreements=tuple(disagreements),
        )

    @staticmethod
    def _get_tortoise_ballots(node: _Node, smesher_id: bytes) -> list[Any]:
        return [
            ballot
            for lid in range(node.tortoise.evicted + 1, node.tortoise.last + 1)
            for ballot in (node.tortoise.get_layer(lid).ballots if node.tortoise.get_layer(lid) else [])  # type: ignore[union-attr]
            if ballot.smesher_id == smesher_id
        ]


def run_simulation(config: SimConfig) -> SimResult:
    """Run one simulation (see :class:`Simulation`)."""
    return Simulation(config).run()
