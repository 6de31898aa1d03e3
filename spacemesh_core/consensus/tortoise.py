"""The tortoise: vote counting over ballots that decides block validity (protocol.md §6).

A deterministic engine without I/O. The caller feeds it what the node learns — ATX weights per
target epoch (:meth:`Tortoise.on_atx`), beacons, blocks, hare outputs, weak coins, malfeasance and
ballots — and calls :meth:`Tortoise.tally_votes` once per layer; it answers with block validities,
per-layer opinion ("mesh") hashes, the votes for the node's own next ballot
(:meth:`Tortoise.encode_votes`) and the layers whose outcome changed (:meth:`Tortoise.get_updates`).

* **Opinion hash** of a layer ``L``: ``blake3(op(L−1) || content)``, content = ``0x00`` when the layer is
  undecided (hare not terminated, abstain), else ``ID[20] || LE_u64(height)`` for every supported
  block in (height, id) order, nothing for an empty layer. The chain starts at the effective genesis
  layer, whose opinion is ``blake3()`` (no previous hash, no blocks) — :func:`compute_opinion_hash`.
* **Votes** are a diff against a base ballot: ``Support`` lists blocks supported that the base did not
  support (and every supported block of layers ``[base.layer, ballot.layer)``), ``Against`` blocks the
  base supported that are now rejected, ``Abstain`` undecided layers. Unlisted blocks of layers from
  the base's layer on are implicitly against. The decoded opinion must hash to the ballot's signed
  ``OpinionHash`` (:class:`OpinionMismatchError` otherwise). Opinions are persistent linked lists
  (:class:`LayerVote`): a ballot shares every unchanged layer with its base.
* **Verifying mode** (cheap, default) counts only good ballots — opinion equal to the local opinion,
  right beacon, not malicious. A layer is verified when the good weight of the ballots after it, minus
  the expected weight that is missing, exceeds the global threshold; its blocks then get the local
  votes (hare output within hdist, the earlier validity outside).
* **Full mode** (self-healing) counts every non-malicious ballot's vote on every block in the window
  (``margin += w`` support, ``−= w`` against; a ballot does not vote on blocks above its ATX height);
  ballots with a bad beacon count only ``bad_beacon_vote_delay`` layers later. The engine switches to
  full when verifying cannot progress on a layer outside hdist, and back when verifying verifies the
  same layer again.
* **Thresholds**: ``local = epochWeight / 3 / LayersPerEpoch``; ``global(target) = expected/3 + local``
  where ``expected`` is the expected ballot weight of layers ``(target, last]`` (capped to the window).
* **Own votes** (``getFullVote``): no block data → against; within hdist → hare output; verified →
  validity; else the local threshold on the counted margin; else the weak coin of the previous layer.

Weights are integers in units of ``1 / WEIGHT_ONE`` of an ATX weight unit, so every node adds the same
numbers in any order (:func:`compute_ballot_weight_units`).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator, Sequence
from typing import Final

import attrs

from spacemesh_core.crypto.hashes import compute_blake3
from spacemesh_core.types.ballot import Ballot, BlockHeader, Votes
from spacemesh_core.types.primitives import EMPTY_BALLOT_ID

__all__ = [
    "ABSTAIN",
    "AGAINST",
    "GENESIS_OPINION",
    "MAINNET_TORTOISE",
    "NEUTRAL",
    "SUPPORT",
    "WEIGHT_ONE",
    "BallotInfo",
    "BlockInfo",
    "EncodedVotes",
    "InvalidVotesError",
    "LayerInfo",
    "LayerUpdate",
    "LayerVote",
    "OpinionMismatchError",
    "Tortoise",
    "TortoiseBallot",
    "TortoiseConfig",
    "TortoiseError",
    "UnknownBaseBallotError",
    "compute_ballot_weight_units",
    "compute_opinion_hash",
    "crosses_threshold",
]

#: Vote signs.
SUPPORT: Final = 1
AGAINST: Final = -1
NEUTRAL: Final = 0
#: A layer opinion of "abstain" (hare has not terminated).
ABSTAIN: Final = None
#: Fixed-point scale of tortoise weights: one ATX weight unit = ``WEIGHT_ONE``.
WEIGHT_ONE: Final = 1 << 24

_ABSTAIN_SENTINEL: Final = b"\x00"
_U64: Final = struct.Struct("<Q")

#: A layer's supported blocks as sorted ``(block id, height)`` pairs, or ``None`` for abstain.
LayerOpinion = tuple[tuple[bytes, int], ...] | None


class TortoiseError(ValueError):
    """Base class of the tortoise's input errors."""


class UnknownBaseBallotError(TortoiseError):
    """A ballot names a base ballot the tortoise does not know (fetch it first)."""


class InvalidVotesError(TortoiseError):
    """A ballot's votes are inconsistent (support and against, abstain on a voted layer, too many
    exceptions, a vote for a layer not before the ballot, a base not before the ballot)."""


class OpinionMismatchError(TortoiseError):
    """A ballot's decoded votes do not hash to its signed opinion hash."""


@attrs.frozen
class TortoiseConfig:
    """Tortoise parameters (go-spacemesh ``tortoise.Config``) plus the epoch length.

    ``effective_genesis`` is the last genesis layer; ballots start one layer later.
    """

    hdist: int = 10
    zdist: int = 2
    window: int = 4032
    max_exceptions: int = 1000
    bad_beacon_vote_delay: int = 4032
    layers_per_epoch: int = 4032
    effective_genesis: int = 2 * 4032 - 1


#: Mainnet values (protocol.md §6.1).
MAINNET_TORTOISE: Final = TortoiseConfig()


def compute_opinion_hash(previous: bytes | None, opinion: LayerOpinion) -> bytes:
    """Return the opinion hash of one layer from the previous layer's hash and this layer's opinion.

    ``previous`` is ``None`` only for the chain's first (effective genesis) layer. ``opinion`` is
    ``None`` to abstain (writes the ``0x00`` sentinel) or the supported ``(id, height)`` pairs in order.
    """
    parts: list[bytes] = []
    if previous is not None:
        parts.append(previous)
    if opinion is None:
        parts.append(_ABSTAIN_SENTINEL)
    else:
        for block_id, height in opinion:
            parts.append(block_id)
            parts.append(_U64.pack(height))
    return compute_blake3(*parts)


#: Opinion of the effective genesis layer: no previous hash, hare "terminated" with no blocks.
GENESIS_OPINION: Final = compute_opinion_hash(None, ())


def compute_ballot_weight_units(atx_weight: int, slots: int, proof_count: int) -> int:
    """Return a ballot's weight ``atx_weight / slots × proof_count`` in units of ``1 / WEIGHT_ONE``.

    :raises ValueError: for zero slots or negative inputs.
    """
    if slots <= 0 or atx_weight < 0 or proof_count < 0:
        raise ValueError(f"invalid ballot weight inputs: weight={atx_weight} slots={slots} proofs={proof_count}")
    return atx_weight * proof_count * WEIGHT_ONE // slots


def crosses_threshold(margin: int, threshold: int) -> int:
    """Return SUPPORT if ``margin > threshold``, AGAINST if ``margin < −threshold``, else NEUTRAL."""
    if margin > threshold:
        return SUPPORT
    if margin < -threshold:
        return AGAINST
    return NEUTRAL


@attrs.define(eq=False, slots=True)
class LayerVote:
    """One layer of a ballot's opinion, linked to the previous layer (shared between ballots)."""

    layer: int
    opinion: LayerOpinion
    hash: bytes
    prev: LayerVote | None

    def iter_back(self) -> Iterator[LayerVote]:
        """Yield this node and its predecessors, newest first."""
        node: LayerVote | None = self
        while node is not None:
            yield node
            node = node.prev


@attrs.define(eq=False, slots=True)
class BlockInfo:
    """What the tortoise knows about one block."""

    id: bytes
    layer: int
    height: int
    has_data: bool = False
    hare: int = AGAINST
    validity: int = NEUTRAL
    margin: int = 0


@attrs.define(eq=False, slots=True)
class BallotInfo:
    """A decoded ballot as the tortoise keeps it."""

    id: bytes
    layer: int
    smesher_id: bytes
    atx_id: bytes
    weight: int
    height: int
    opinion_hash: bytes
    tail: LayerVote
    bad_beacon: bool = False
    malicious: bool = False
    counted: bool = False  # counted in the full-mode margins


@attrs.define(eq=False, slots=True)
class LayerInfo:
    """Per-layer state."""

    layer: int
    blocks: list[BlockInfo] = attrs.field(factory=list)
    ballots: list[BallotInfo] = attrs.field(factory=list)
    hare_terminated: bool = False
    coinflip: int = NEUTRAL
    empty_margin: int = 0
    opinion: bytes = b""
    # verifying-mode tallies over this layer's non-malicious ballots
    good_by_hash: dict[bytes, int] = attrs.field(factory=dict)
    received_weight: int = 0

    def get_block(self, block_id: bytes) -> BlockInfo | None:
        """Return the block with this id, if known."""
        for block in self.blocks:
            if block.id == block_id:
                return block
        return None


@attrs.frozen
class TortoiseBallot:
    """A ballot as the tortoise takes it: identity, weight, beacon and the undecoded votes."""

    id: bytes
    layer: int
    smesher_id: bytes
    atx_id: bytes
    weight: int  # in units of 1 / WEIGHT_ONE (see compute_ballot_weight_units)
    beacon: bytes
    votes: Votes
    opinion_hash: bytes
    atx_height: int = 0

    @classmethod
    def from_ballot(cls, ballot: Ballot, weight: int, beacon: bytes, atx_height: int = 0) -> TortoiseBallot:
        """Build the tortoise view of a wire ballot whose weight and epoch beacon the caller resolved."""
        return cls(
            id=ballot.compute_id(),
            layer=ballot.layer,
            smesher_id=ballot.smesher_id,
            atx_id=ballot.inner.atx_id,
            weight=weight,
            beacon=beacon,
            votes=ballot.votes,
            opinion_hash=ballot.inner.opinion_hash,
            atx_height=atx_height,
        )


@attrs.frozen
class EncodedVotes:
    """The node's own votes for a ballot and the opinion hash they decode to."""

    votes: Votes
    opinion_hash: bytes
    base_layer: int


@attrs.frozen
class LayerUpdate:
    """A layer whose valid blocks or opinion hash changed since the last :meth:`Tortoise.get_updates`."""

    layer: int
    valid_blocks: tuple[bytes, ...]
    opinion_hash: bytes
    verified: bool


def _sort_key(block: BlockInfo) -> tuple[int, bytes]:
    return (block.height, block.id)


class Tortoise:
    """One node's tortoise (see the module docstring). Not thread-safe; no I/O."""

    def __init__(self, config: TortoiseConfig = MAINNET_TORTOISE) -> None:
        self.config = config
        genesis = config.effective_genesis
        self._layers: dict[int, LayerInfo] = {}
        self._ballots: dict[bytes, BallotInfo] = {}
        self._by_smesher: dict[bytes, list[BallotInfo]] = {}
        self._blocks: dict[bytes, BlockInfo] = {}
        self._epoch_weight: dict[int, int] = {}
        self._beacons: dict[int, bytes] = {}
        self._malicious: set[bytes] = set()
        self._delayed: list[BallotInfo] = []
        self.last = genesis
        self.verified = genesis
        self.evicted = genesis - 1
        self.full_mode = False
        self._full_counted = genesis
        self._reported: dict[int, tuple[tuple[bytes, ...], bytes, bool]] = {}
        # incremental bookkeeping, so that a tally costs O(new layers + window), not O(last - evicted):
        # the lowest layer whose opinion hash may be stale, the last layer whose hare timeout was
        # applied, and the layers that hold ballots (the only ones verifying mode adds weight from)
        self._opinions_stale_from = genesis + 1
        self._hare_timeouts_upto = genesis
        self._ballot_layers: set[int] = set()
        layer = LayerInfo(genesis, hare_terminated=True, opinion=GENESIS_OPINION)
        self._layers[genesis] = layer
        self._genesis_vote = LayerVote(genesis, (), GENESIS_OPINION, None)

    # ------------------------------------------------------------------ inputs

    def on_atx(self, target_epoch: int, weight: int) -> None:
        """Add an ATX of ``weight`` units that targets ``target_epoch`` to that epoch's weight."""
        if weight < 0:
            raise ValueError("ATX weight must not be negative")
        self._epoch_weight[target_epoch] = self._epoch_weight.get(target_epoch, 0) + weight * WEIGHT_ONE

    def set_epoch_weight(self, epoch: int, weight: int) -> None:
        """Set the total ATX weight (units) of the ATXs targeting ``epoch``."""
        self._epoch_weight[epoch] = weight * WEIGHT_ONE

    def on_beacon(self, epoch: int, beacon: bytes) -> None:
        """Record the local beacon of ``epoch`` (ballots with another beacon are "bad beacon")."""
        self._beacons[epoch] = bytes(beacon)

    def _get_layer(self, layer: int) -> LayerInfo:
        info = self._layers.get(layer)
        if info is None:
            info = LayerInfo(layer)
            self._layers[layer] = info
        return info

    def _get_or_add_block(self, header: BlockHeader, has_data: bool) -> BlockInfo:
        block = self._blocks.get(header.id)
        if block is not None:
            block.has_data = block.has_data or has_data
            return block
        block = BlockInfo(header.id, header.layer_id, header.height, has_data=has_data)
        layer = self._get_layer(header.layer_id)
        layer.blocks.append(block)
        layer.blocks.sort(key=_sort_key)
        self._mark_opinion_stale(header.layer_id)
        self._blocks[header.id] = block
        # ballots already counted in full mode voted against this (then unknown) block implicitly
        for later in range(header.layer_id + 1, self.last + 1):
            info = self._layers.get(later)
            if info is None:
                continue
            for ballot in info.ballots:
                if ballot.counted:
                    self._count_block_vote(ballot, block, 1)
        return block

    def on_block(self, layer: int, block_id: bytes, height: int) -> None:
        """Record a block whose data the node holds."""
        if layer <= self.evicted:
            return
        self._get_or_add_block(BlockHeader(block_id, layer, height), True)

    def on_hare_output(self, layer: int, block_id: bytes | None) -> None:
        """Record the hare outcome of ``layer``: the unified block's id, or ``None`` for an empty layer."""
        if layer <= self.evicted:
            return
        info = self._get_layer(layer)
        if block_id is not None and info.get_block(block_id) is None:
            raise TortoiseError(f"hare output block {block_id.hex()} of layer {layer} is unknown: call on_block first")
        info.hare_terminated = True
        self._mark_opinion_stale(layer)
        for block in info.blocks:
            block.hare = SUPPORT if block.id == block_id else AGAINST

    def on_weak_coin(self, layer: int, coin: bool) -> None:
        """Record the hare weak coin of ``layer``."""
        self._get_layer(layer).coinflip = SUPPORT if coin else AGAINST

    def on_malfeasance(self, smesher_id: bytes) -> None:
        """Mark an identity malicious: its ballots weigh zero from now on, counted votes are removed."""
        if smesher_id in self._malicious:
            return
        self._malicious.add(smesher_id)
        for ballot in self._by_smesher.get(smesher_id, ()):
            self._set_malicious(ballot)

    def _set_malicious(self, ballot: BallotInfo) -> None:
        if ballot.malicious:
            return
        if ballot.counted:
            self._count_ballot(ballot, -1)
            ballot.counted = False
        layer = self._layers.get(ballot.layer)
        if layer is not None:
            layer.received_weight -= ballot.weight
            if not ballot.bad_beacon:
                layer.good_by_hash[ballot.opinion_hash] -= ballot.weight
        ballot.malicious = True

    def is_malicious(self, smesher_id: bytes) -> bool:
        """Return whether the identity has been marked malicious."""
        return smesher_id in self._malicious

    def _get_base(self, base_id: bytes) -> tuple[int, LayerVote]:
        """Return ``(base layer, tail of the base's opinion)``; the empty id is the genesis pseudo-ballot."""
        if base_id == EMPTY_BALLOT_ID:
            return self.config.effective_genesis + 1, self._genesis_vote
        base = self._ballots.get(base_id)
        if base is None:
            raise UnknownBaseBallotError(f"base ballot {base_id.hex()} is unknown")
        return base.layer, base.tail

    def decode_votes(self, layer: int, votes: Votes) -> LayerVote:
        """Decode ``votes`` of a ballot in ``layer`` against their base; return the opinion's tail.

        The tail is the ballot's opinion of ``layer − 1``; its ``hash`` is the opinion hash.
        Supported blocks unknown so far are registered (without data).

        :raises UnknownBaseBallotError: if the base ballot is unknown.
        :raises InvalidVotesError: for inconsistent votes.
        """
        base_layer, base_tail = self._get_base(votes.base)
        if base_layer >= layer and votes.base != EMPTY_BALLOT_ID:
            raise InvalidVotesError(f"base ballot layer {base_layer} is not before ballot layer {layer}")
        support: dict[int, dict[bytes, int]] = {}
        against: dict[int, set[bytes]] = {}
        for header in votes.support:
            if not self.evicted < header.layer_id < layer:
                raise InvalidVotesError(f"support for layer {header.layer_id} outside ({self.evicted}, {layer})")
            support.setdefault(header.layer_id, {})[header.id] = header.height
        for header in votes.against:
            if not self.evicted < header.layer_id < layer:
                raise InvalidVotesError(f"against for layer {header.layer_id} outside ({self.evicted}, {layer})")
            if header.id in support.get(header.layer_id, {}):
                raise InvalidVotesError(f"block {header.id.hex()} is both supported and rejected")
            against.setdefault(header.layer_id, set()).add(header.id)
        abstain = set(votes.abstain)
        for lid in abstain:
            if not self.evicted < lid < layer:
                raise InvalidVotesError(f"abstain on layer {lid} outside ({self.evicted}, {layer})")
            if lid in support or lid in against:
                raise InvalidVotesError(f"abstain on voted layer {lid}")
        exceptions = sum(1 for lid in support if lid < base_layer) + len(votes.against)
        exceptions += sum(1 for lid in abstain if lid < base_layer)
        if exceptions > self.config.max_exceptions:
            raise InvalidVotesError(f"{exceptions} exceptions exceed {self.config.max_exceptions}")
        for lid, blocks in support.items():
            for block_id, height in blocks.items():
                if block_id not in self._blocks:
                    self._get_or_add_block(BlockHeader(block_id, lid, height), False)
        changed = [lid for lid in (*support, *against, *abstain) if lid < base_layer]
        node = base_tail
        if changed:
            first = min(changed)
            if first <= self.config.effective_genesis:
                raise InvalidVotesError(f"votes on genesis layer {first}")
            kept: list[LayerVote] = []
            for old in base_tail.iter_back():
                if old.layer < first:
                    node = old
                    break
                kept.append(old)
            else:
                raise InvalidVotesError(f"base opinion does not reach layer {first}")
            for old in reversed(kept):
                changed_opinion = self._apply_exceptions(old.layer, old.opinion, support, against, abstain)
                node = LayerVote(old.layer, changed_opinion, compute_opinion_hash(node.hash, changed_opinion), node)
        for lid in range(base_layer, layer):
            opinion: LayerOpinion
            if lid in abstain:
                opinion = ABSTAIN
            else:
                opinion = tuple(sorted(support.get(lid, {}).items(), key=lambda item: (item[1], item[0])))
            node = LayerVote(lid, opinion, compute_opinion_hash(node.hash, opinion), node)
        return node

    @staticmethod
    def _apply_exceptions(
        layer: int,
        opinion: LayerOpinion,
        support: dict[int, dict[bytes, int]],
        against: dict[int, set[bytes]],
        abstain: set[int],
    ) -> LayerOpinion:
        if layer in abstain:
            return ABSTAIN
        if layer not in support and layer not in against:
            return opinion
        current = dict(opinion or ())
        for block_id in against.get(layer, ()):
            current.pop(block_id, None)
        current.update(support.get(layer, {}))
        return tuple(sorted(current.items(), key=lambda item: (item[1], item[0])))

    def on_ballot(self, ballot: TortoiseBallot) -> BallotInfo:
        """Decode and record a ballot; it counts from the next :meth:`tally_votes`.

        :raises UnknownBaseBallotError: if its base is unknown.
        :raises InvalidVotesError: for inconsistent votes or a ballot at or before genesis.
        :raises OpinionMismatchError: if the votes do not decode to the signed opinion hash.
        """
        known = self._ballots.get(ballot.id)
        if known is not None:
            return known
        if ballot.layer <= self.config.effective_genesis or ballot.layer <= self.evicted:
            raise InvalidVotesError(f"ballot layer {ballot.layer} is too old")
        tail = self.decode_votes(ballot.layer, ballot.votes)
        if tail.hash != ballot.opinion_hash:
            raise OpinionMismatchError(
                f"ballot {ballot.id.hex()} votes hash to {tail.hash.hex()}, signed {ballot.opinion_hash.hex()}"
            )
        epoch = ballot.layer // self.config.layers_per_epoch
        local_beacon = self._beacons.get(epoch)
        info = BallotInfo(
            id=ballot.id,
            layer=ballot.layer,
            smesher_id=ballot.smesher_id,
            atx_id=ballot.atx_id,
            weight=ballot.weight,
            height=ballot.atx_height,
            opinion_hash=ballot.opinion_hash,
            tail=tail,
            bad_beacon=local_beacon is not None and local_beacon != ballot.beacon,
        )
        self._ballots[info.id] = info
        self._by_smesher.setdefault(info.smesher_id, []).append(info)
        layer = self._get_layer(info.layer)
        layer.ballots.append(info)
        self._ballot_layers.add(info.layer)
        layer.received_weight += info.weight
        if not info.bad_beacon:
            layer.good_by_hash[info.opinion_hash] = layer.good_by_hash.get(info.opinion_hash, 0) + info.weight
        if info.smesher_id in self._malicious:
            self._set_malicious(info)
        elif info.bad_beacon:
            self._delayed.append(info)
        elif info.layer <= self._full_counted:
            self._count_ballot(info, 1)
            info.counted = True
        return info

    # ------------------------------------------------------------------ counting

    def _count_block_vote(self, ballot: BallotInfo, block: BlockInfo, sign: int) -> None:
        for node in ballot.tail.iter_back():
            if node.layer < block.layer:
                return
            if node.layer == block.layer:
                if node.opinion is None:
                    return
                if any(block_id == block.id for block_id, _ in node.opinion):
                    block.margin += sign * ballot.weight
                elif block.height <= ballot.height:
                    block.margin -= sign * ballot.weight
                return

    def _count_ballot(self, ballot: BallotInfo, sign: int) -> None:
        """Add (sign 1) or remove (−1) a ballot's votes to the full-mode margins."""
        weight = sign * ballot.weight
        floor = self.evicted
        for node in ballot.tail.iter_back():
            if node.layer <= floor:
                break
            if node.opinion is None:
                continue
            layer = self._layers.get(node.layer)
            if layer is None:
                continue
            supported = {block_id for block_id, _ in node.opinion}
            for block in layer.blocks:
                if block.id in supported:
                    block.margin += weight
                elif block.height <= ballot.height:
                    block.margin -= weight
            layer.empty_margin += -weight if supported else weight

    def _count_pending(self) -> None:
        for lid in range(max(self._full_counted, self.evicted) + 1, self.last + 1):
            info = self._layers.get(lid)
            if info is not None:
                for ballot in info.ballots:
                    if not (ballot.counted or ballot.malicious or ballot.bad_beacon):
                        self._count_ballot(ballot, 1)
                        ballot.counted = True
            self._full_counted = lid
        still: list[BallotInfo] = []
        for ballot in self._delayed:
            if ballot.malicious or ballot.layer <= self.evicted:
                continue
            if self.last >= ballot.layer + self.config.bad_beacon_vote_delay:
                self._count_ballot(ballot, 1)
                ballot.counted = True
            else:
                still.append(ballot)
        self._delayed = still

    # ------------------------------------------------------------------ thresholds

    def _get_epoch_weight(self, layer: int) -> int:
        epoch = layer // self.config.layers_per_epoch
        weight = self._epoch_weight.get(epoch)
        if weight is None:  # fall back to the latest known earlier epoch
            earlier = [e for e in self._epoch_weight if e < epoch]
            weight = self._epoch_weight[max(earlier)] if earlier else 0
        return weight

    def get_expected_layer_weight(self, layer: int) -> int:
        """Return the expected ballot weight of one layer: ``epochWeight / LayersPerEpoch``."""
        return self._get_epoch_weight(layer) // self.config.layers_per_epoch

    def get_local_threshold(self) -> int:
        """Return ``epochWeight(last) / 3 / LayersPerEpoch``."""
        return self.get_expected_layer_weight(self.last) // 3

    def _sum_expected_weight(self, first: int, last: int) -> int:
        """Return the sum of the expected weights of layers ``[first, last]``, one term per epoch."""
        total = 0
        per_epoch = self.config.layers_per_epoch
        lid = first
        while lid <= last:
            run_end = min(last, (lid // per_epoch + 1) * per_epoch - 1)
            total += (run_end - lid + 1) * self.get_expected_layer_weight(lid)
            lid = run_end + 1
        return total

    def _get_expected_weight(self, target: int) -> int:
        start = max(target + 1, self.last - self.config.window + 1)
        return self._sum_expected_weight(start, self.last)

    def get_global_threshold(self, target: int) -> int:
        """Return ``expected weight of (target, last] / 3 + local threshold``."""
        return self._get_expected_weight(target) // 3 + self.get_local_threshold()

    # ------------------------------------------------------------------ verification

    def _is_within_hdist(self, layer: int) -> bool:
        return self.last - layer <= self.config.hdist

    def _get_local_vote(self, block: BlockInfo) -> int:
        if self._is_within_hdist(block.layer):
            return block.hare
        if block.layer > self.verified:
            return NEUTRAL
        return block.validity

    def _verify_layer(self, blocks: Sequence[BlockInfo], decisions: Sequence[int]) -> bool:
        """Apply decisions to blocks sorted by height; fail on an undecided block not above a supported one."""
        supported_height: int | None = None
        final: list[int] = []
        for block, decision in zip(blocks, decisions, strict=True):
            if decision == NEUTRAL:
                if supported_height is None or block.height <= supported_height:
                    return False
                decision = AGAINST
            if decision == SUPPORT and supported_height is None:
                supported_height = block.height
            final.append(decision)
        for block, decision in zip(blocks, final, strict=True):
            if block.validity != decision:
                block.validity = decision
                self._mark_opinion_stale(block.layer)
        return True

    def _mark_opinion_stale(self, layer: int) -> None:
        """Note that the opinion hash of ``layer`` (and so of every later layer) must be recomputed."""
        self._opinions_stale_from = min(self._opinions_stale_from, layer)

    def _verify_verifying(self, target: int) -> bool:
        layer = self._layers.get(target)
        if layer is None or not layer.hare_terminated or target >= self.last:
            return False
        good = received = 0
        for lid in self._ballot_layers:  # layers without ballots add no weight
            if target < lid <= self.last:
                info = self._layers.get(lid)
                prev = self._layers.get(lid - 1)
                if info is not None and prev is not None:
                    good += info.good_by_hash.get(prev.opinion, 0)
                    received += info.received_weight
        expected = self._sum_expected_weight(max(target + 1, self.last - self.config.window + 1), self.last)
        margin = good - max(0, expected - received)
        if margin <= self.get_global_threshold(target):
            return False
        return self._verify_layer(layer.blocks, [self._get_local_vote(block) for block in layer.blocks])

    def _verify_full(self, target: int) -> bool:
        layer = self._layers.get(target)
        if layer is None or target >= self.last:
            return False
        threshold = self.get_global_threshold(target)
        empty = crosses_threshold(layer.empty_margin, threshold) == SUPPORT
        if not layer.blocks:
            return empty
        decisions = []
        for block in layer.blocks:
            decision = crosses_threshold(block.margin, threshold)
            if decision == NEUTRAL and empty:
                decision = AGAINST
            decisions.append(decision)
        return self._verify_layer(layer.blocks, decisions)

    def _compute_local_opinion(self, layer: LayerInfo) -> LayerOpinion:
        if not layer.hare_terminated:
            return ABSTAIN
        within = self._is_within_hdist(layer.layer)
        return tuple(
            (block.id, block.height) for block in layer.blocks if (block.hare if within else block.validity) == SUPPORT
        )

    def _update_opinions(self) -> None:
        """Recompute the opinion hashes from the lowest stale layer on (earlier ones are unchanged)."""
        start = max(self._opinions_stale_from, self.evicted + 1)
        previous_layer = self._layers.get(start - 1)
        prev = previous_layer.opinion if previous_layer is not None else None
        self._opinions_stale_from = self.last + 1
        for lid in range(start, self.last + 1):
            layer = self._get_layer(lid)
            if lid == self.config.effective_genesis:
                layer.opinion = GENESIS_OPINION
            else:
                layer.opinion = compute_opinion_hash(prev, self._compute_local_opinion(layer))
            prev = layer.opinion

    def _evict(self) -> None:
        floor = self.last - self.config.window - 1
        floor = min(floor, self.verified - 1)
        while self.evicted < floor:
            lid = self.evicted
            info = self._layers.pop(lid, None)
            self._ballot_layers.discard(lid)
            if info is not None:
                for block in info.blocks:
                    self._blocks.pop(block.id, None)
                for ballot in info.ballots:
                    self._ballots.pop(ballot.id, None)
                    owned = self._by_smesher.get(ballot.smesher_id)
                    if owned is not None:
                        owned.remove(ballot)
                        if not owned:
                            del self._by_smesher[ballot.smesher_id]
            self.evicted += 1
        first_kept = self._layers.get(self.evicted + 1)
        if first_kept is not None:
            # opinions of evicted layers are never read again: cut the shared chains there
            for ballot in first_kept.ballots:
                if ballot.tail.layer <= self.evicted:
                    ballot.tail.prev = None

    def tally_votes(self, current: int) -> None:
        """Process everything received up to layer ``current``: hare timeouts, counting, verification."""
        genesis = self.config.effective_genesis
        previous_last = self.last
        self.last = max(self.last, current)
        if self.last != previous_last:
            # layers [previous_last + 1, last] are new; layers leaving hdist now use their validity
            self._mark_opinion_stale(previous_last - self.config.hdist)
        for lid in range(max(genesis, self.evicted, previous_last) + 1, self.last + 1):
            self._get_layer(lid)
        timeouts_from = max(genesis, self.evicted, self._hare_timeouts_upto) + 1
        for lid in range(timeouts_from, self.last - self.config.zdist + 1):
            layer = self._layers[lid]
            if not layer.hare_terminated:  # no hare output within zdist: an empty layer
                self.on_hare_output(lid, None)
        self._hare_timeouts_upto = max(self._hare_timeouts_upto, self.last - self.config.zdist)
        self._update_opinions()
        if self.full_mode:
            self._count_pending()
        for target in range(max(self.evicted, genesis) + 1, self.last):
            if self.full_mode:
                success = self._verify_verifying(target)
                if success:
                    self.full_mode = False
                else:
                    success = self._verify_full(target)
            else:
                success = self._verify_verifying(target)
                if not success and not self._is_within_hdist(target):
                    self.full_mode = True
                    self._count_pending()
                    success = self._verify_full(target)
            if not success:
                if target <= self.verified:  # a verified layer lost its decision (e.g. after malfeasance)
                    self.verified = target - 1
                break
            self.verified = max(self.verified, target)
        self._update_opinions()
        self._evict()

    # ------------------------------------------------------------------ outputs

    def get_full_vote(self, block: BlockInfo) -> int:
        """The node's own vote on a block (``getFullVote``; see the module docstring)."""
        if not block.has_data:
            return AGAINST
        vote = self._get_local_vote(block)
        if vote != NEUTRAL:
            return vote
        vote = crosses_threshold(block.margin, self.get_local_threshold())
        if vote != NEUTRAL:
            return vote
        coin = self._layers.get(self.last)
        if coin is not None and coin.coinflip != NEUTRAL:
            return coin.coinflip
        return AGAINST  # no weak coin recorded: the reference cannot vote; reject rather than guess

    def _compute_own_opinion(self, lid: int) -> LayerOpinion:
        layer = self._layers.get(lid)
        if layer is None or not layer.hare_terminated:
            return ABSTAIN
        return tuple((block.id, block.height) for block in layer.blocks if self.get_full_vote(block) == SUPPORT)

    def _iter_base_candidates(self, current: int) -> Iterable[BallotInfo]:
        for lid in range(current - 1, max(self.evicted, self.config.effective_genesis), -1):
            layer = self._layers.get(lid)
            if layer is None:
                continue
            candidates = sorted((b for b in layer.ballots if not b.malicious and not b.bad_beacon), key=lambda b: b.id)
            yield from candidates

    def encode_votes(self, current: int) -> EncodedVotes:
        """Return the votes of the node's own ballot in layer ``current`` (call :meth:`tally_votes` first).

        The base is the newest ballot whose opinion needs the fewest exceptions (a ballot agreeing with
        the local opinion needs none), else the genesis pseudo-ballot.

        :raises TortoiseError: if no base allows encoding the opinion within ``max_exceptions``.
        """
        genesis = self.config.effective_genesis
        start = max(self.evicted, genesis) + 1
        own: dict[int, LayerOpinion] = {lid: self._compute_own_opinion(lid) for lid in range(start, current)}
        anchor = self._layers.get(start - 1)
        prev = anchor.opinion if anchor is not None else GENESIS_OPINION
        own_hash: dict[int, bytes] = {start - 1: prev}
        for lid in range(start, current):
            prev = compute_opinion_hash(prev, own[lid])
            own_hash[lid] = prev
        best: tuple[int, BallotInfo] | None = None
        best_layer = -1
        for ballot in self._iter_base_candidates(current):
            if best is not None and ballot.layer < best_layer:
                break
            if ballot.tail.hash == own_hash.get(ballot.layer - 1):
                best = (0, ballot)
                break
            exceptions = self._count_exceptions(ballot, own, own_hash)
            acceptable = exceptions is not None and exceptions <= self.config.max_exceptions
            if acceptable and exceptions is not None and (best is None or exceptions < best[0]):
                best, best_layer = (exceptions, ballot), ballot.layer
        votes: Votes | None = None
        if best is not None:
            votes = self._build_votes(best[1].id, best[1].layer, best[1].tail, own, own_hash, current)
        if votes is None and start == genesis + 1:
            votes = self._build_votes(EMPTY_BALLOT_ID, genesis + 1, self._genesis_vote, own, own_hash, current)
        if votes is None:
            raise TortoiseError(f"cannot encode votes for layer {current}")
        tail = self.decode_votes(current, votes)
        return EncodedVotes(votes, tail.hash, self._get_base(votes.base)[0])

    def _count_exceptions(
        self, ballot: BallotInfo, own: dict[int, LayerOpinion], own_hash: dict[int, bytes]
    ) -> int | None:
        count = 0
        for node in ballot.tail.iter_back():
            if own_hash.get(node.layer) == node.hash:
                return count
            if node.layer not in own:
                return None
            mine = own[node.layer]
            if mine is None or node.opinion is None:
                count += 1 if mine != node.opinion else 0
                if mine is not None:
                    count += len(mine) + len(self._layers[node.layer].blocks)
            else:
                count += len(set(mine) ^ set(node.opinion))
        return count

    def _build_votes(
        self,
        base_id: bytes,
        base_layer: int,
        base_tail: LayerVote,
        own: dict[int, LayerOpinion],
        own_hash: dict[int, bytes],
        current: int,
    ) -> Votes | None:
        support: list[BlockHeader] = []
        against: list[BlockHeader] = []
        abstain: list[int] = []
        for node in base_tail.iter_back():
            if own_hash.get(node.layer) == node.hash:
                break
            if node.layer not in own:
                return None  # the base disagrees below the window: cannot be expressed
            mine = own[node.layer]
            theirs = node.opinion
            if mine == theirs:
                continue
            if mine is None:
                abstain.append(node.layer)
                continue
            theirs_set = set(theirs or ())
            mine_set = set(mine)
            for block_id, height in sorted(mine_set - theirs_set):
                support.append(BlockHeader(block_id, node.layer, height))
            rejected = theirs_set - mine_set
            if theirs is None:  # turn an abstain into an explicit opinion: reject the unsupported blocks
                layer = self._layers[node.layer]
                rejected = {(b.id, b.height) for b in layer.blocks} - mine_set
                if not rejected and not mine_set:
                    return None  # "empty" cannot be expressed over an abstaining base without blocks
            for block_id, height in sorted(rejected):
                against.append(BlockHeader(block_id, node.layer, height))
        if len(support) + len(against) + len(abstain) > self.config.max_exceptions:
            return None
        for lid in range(base_layer, current):
            mine = own.get(lid, ())
            if mine is None:
                abstain.append(lid)
            else:
                support.extend(BlockHeader(block_id, lid, height) for block_id, height in mine)
        return Votes(base_id, tuple(support), tuple(against), tuple(sorted(abstain)))

    def get_updates(self) -> list[LayerUpdate]:
        """Return the layers whose valid blocks, opinion hash or verified flag changed since the last call."""
        updates = []
        for lid in range(max(self.evicted, self.config.effective_genesis) + 1, self.last + 1):
            layer = self._layers[lid]
            state = (
                tuple(block.id for block in layer.blocks if block.validity == SUPPORT),
                layer.opinion,
                lid <= self.verified,
            )
            if self._reported.get(lid) != state:
                self._reported[lid] = state
                updates.append(LayerUpdate(lid, state[0], state[1], state[2]))
        return updates

    def get_opinion_hash(self, layer: int) -> bytes:
        """Return the local opinion (mesh) hash of ``layer``.

        :raises KeyError: for an evicted or unknown layer.
        """
        return self._layers[layer].opinion

    def get_valid_blocks(self, layer: int) -> list[bytes]:
        """Return the ids of the blocks of ``layer`` currently valid, in (height, id) order."""
        info = self._layers.get(layer)
        return [] if info is None else [block.id for block in info.blocks if block.validity == SUPPORT]

    def get_applied_block(self, layer: int) -> bytes | None:
        """Return the block applied for ``layer``: the first valid one, or ``None`` (empty layer)."""
        valid = self.get_valid_blocks(layer)
        return valid[0] if valid else None

    def get_layer(self, layer: int) -> LayerInfo | None:
        """Return the state of ``layer`` (read-only use)."""
        return self._layers.get(layer)

    def get_ballot(self, ballot_id: bytes) -> BallotInfo | None:
        """Return a recorded ballot."""
        return self._ballots.get(ballot_id)
