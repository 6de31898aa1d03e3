"""The mesh service: one node's part in consensus over the real network.

Per layer (protocol.md §1.2, §3, §5, §6, §7): eligible smeshers publish proposals (``pp1``); at the
preround the hare engine starts and its messages travel on ``/h/3.0``; the hare output becomes the
unified block, which the node's identities in the certifier committee certify (``bc1``, see
:mod:`~spacemesh_plugins.mesh.certifier`); at the end of the layer the tortoise counts the ballots'
votes; layers it has decided (or, within hdist, layers with a hare output) are executed by the VM,
with rewards, and the result is stored. Transactions arrive on ``tx1`` and wait in the mempool;
malfeasance proofs travel on ``mp1``.

Every incoming message is decoded, validated and only then accepted and forwarded (the transport's
gossip router forwards what the validator accepts). Nothing a peer sends is stored before it
passed validation.

Beacons: the beacon of each epoch comes from the beacon service
(:mod:`~spacemesh_plugins.mesh.beacon_service`, which runs the protocol), by the rule of
:func:`~spacemesh_plugins.mesh.beacon_service.choose_epoch_beacon`; until an epoch's beacon is known
the node neither proposes nor runs the hare in it. The tortoise and the hare's proposal selection get
the beacon each ballot carries, so ballots with another beacon are "bad beacon" (protocol.md §6).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

import attrs

from spacemesh_core.codec.scale import ScaleError, decode, decode_value, encode, encode_value
from spacemesh_core.consensus.blocks import BlockError, BlockProposal, BlockTx, generate_block
from spacemesh_core.consensus.eligibility import (
    AtxInfo,
    EligibilityConfig,
    EligibilityError,
    compute_active_set,
    compute_active_set_hash,
    compute_eligibilities,
    compute_slots,
    verify_ballot_eligibility,
)
from spacemesh_core.consensus.hare3 import ProposalCandidate, select_initial_proposals
from spacemesh_core.consensus.malfeasance import (
    MalfeasanceDetector,
    MalfeasanceRegistry,
    get_accused_node_id,
    verify_malfeasance_proof,
)
from spacemesh_core.consensus.tortoise import (
    Tortoise,
    TortoiseBallot,
    TortoiseConfig,
    TortoiseError,
    UnknownBaseBallotError,
    compute_ballot_weight_units,
)
from spacemesh_core.crypto.signing import is_valid_signature
from spacemesh_core.kernel.services import BackgroundTasks
from spacemesh_core.storage.state import AccountRecord, BallotRecord, RewardRecord, TransactionRecord
from spacemesh_core.sync.ids import ACTIVE_SET_TYPE
from spacemesh_core.sync.wire import Hint
from spacemesh_core.types.ballot import Ballot, EpochData, InnerBallot, InnerProposal, Proposal
from spacemesh_core.types.block import Block
from spacemesh_core.types.hare import HareMessage
from spacemesh_core.types.malfeasance import MalfeasanceGossip, MalfeasanceProof
from spacemesh_core.types.primitives import EMPTY_BALLOT_ID, EMPTY_HASH32, SigningDomain
from spacemesh_core.vm.mempool import Mempool, MempoolRejection
from spacemesh_core.vm.template import TemplateRegistry
from spacemesh_core.vm.transaction import TransactionError
from spacemesh_core.vm.vm import VM, CoinbaseReward
from spacemesh_hooks.interfaces import ValidationResult
from spacemesh_plugins.mesh.atxdata import AtxData
from spacemesh_plugins.mesh.certifier import LayerCommittee, create_node_certifier

log = logging.getLogger(__name__)

TOPIC_PROPOSAL = "pp1"
TOPIC_HARE = "/h/3.0"
TOPIC_TX = "tx1"
TOPIC_MALFEASANCE = "mp1"
#: hare messages of a layer whose engine is not running yet are kept (bounded) and replayed
MAX_EARLY_HARE_MESSAGES = 2000
#: most new layers one tortoise tally step adds before the event loop runs again
TALLY_STEP_LAYERS = 500
#: seconds before the layer's end at which the tortoise counts and the executor runs
LAYER_END_MARGIN_S = 0.1


def parse_genesis_accounts(entries: Sequence[str]) -> list[tuple[bytes, int]]:
    """Parse ``'hex address=balance'`` entries of ``network.genesis_accounts``.

    :raises ValueError: naming the entry that is not of that form.
    """
    accounts = []
    for entry in entries:
        address_hex, sep, balance = entry.partition("=")
        try:
            address = bytes.fromhex(address_hex.strip())
            amount = int(balance)
        except ValueError:
            address, amount = b"", -1
        if not sep or len(address) != 24 or amount < 0:
            raise ValueError(f"genesis account {entry!r} is not '<48 hex digits>=<balance>'")
        accounts.append((address, amount))
    return accounts


@attrs.define
class _Epoch:
    """What a node knows of an epoch once it starts."""

    epoch: int
    beacon: bytes | None  # None until the beacon service knows it
    atxs: dict[bytes, AtxInfo]
    active_ids: list[bytes]
    active_weight: int
    own: AtxInfo | None
    slots: int = 0
    eligibilities: dict[int, list[Any]] = attrs.field(factory=dict)
    ref_ballot: bytes | None = None


@attrs.frozen
class OwnEligibilities:
    """This node's proposal eligibilities in one epoch (what the dashboard shows as upcoming proposals).

    :param atx_id: the node's ATX in the epoch's active set (None: it has none there, so no eligibility).
    :param layers: layer -> number of eligibility proofs the node holds for it.
    """

    epoch: int
    atx_id: bytes | None
    active_set_size: int
    slots: int
    layers: dict[int, int]


class MeshService:
    """Runs proposals, hare, blocks, tortoise and execution for one node."""

    name = "mesh"

    def __init__(self, node: Any) -> None:
        config = node.config
        self.node = node
        self.state = node.storage.state
        self.signer = node.identity
        self.genesis_id: bytes = node.genesis_id
        self.clock = node.clock
        self.transport = node.transport
        self.layers_per_epoch = config.network.layers_per_epoch
        self.layer_duration = config.network.layer_duration_s
        self.effective_genesis = 2 * self.layers_per_epoch - 1
        self.txs_per_proposal = config.network.txs_per_proposal
        self.atx_grade_delay = config.network.atx_grade_delay_s
        hare = config.hare
        self.suite = node.components["consensus"].factory(
            committee=hare.committee,
            leaders=hare.leaders,
            iterations_limit=hare.iterations_limit,
            preround_delay=hare.preround_delay_s,
            round_duration=hare.round_duration_s,
        )
        self.eligibility_config = EligibilityConfig(
            self.layers_per_epoch, config.network.layer_avg_size, config.network.min_active_set_weight
        )
        tortoise = config.tortoise
        self.tortoise = Tortoise(
            TortoiseConfig(
                hdist=tortoise.hdist,
                zdist=tortoise.zdist,
                window=tortoise.window,
                max_exceptions=tortoise.max_exceptions,
                bad_beacon_vote_delay=tortoise.bad_beacon_vote_delay_layers,
                layers_per_epoch=self.layers_per_epoch,
                effective_genesis=self.effective_genesis,
            )
        )
        self.registry = MalfeasanceRegistry()
        self.detector = MalfeasanceDetector(self.registry)
        self.vm = VM(
            TemplateRegistry.from_registries(node.registries),
            genesis_id=self.genesis_id,
            gas_limit=config.network.block_gas_limit,
            effective_genesis=self.effective_genesis + 1,
        )
        self.genesis_accounts = parse_genesis_accounts(config.network.genesis_accounts)
        self.vm.apply_genesis(self.genesis_accounts)
        self.mempool = Mempool(self.vm)
        self.atxs = AtxData(self.state, node.golden_atx)
        self.epochs: dict[int, _Epoch] = {}
        self.proposals: dict[int, dict[bytes, Proposal]] = {}
        self.hare: dict[int, Any] = {}
        self.early_hare: dict[int, list[tuple[bytes, HareMessage]]] = {}
        self.applied: dict[int, bytes | None] = {}
        self.transactions_applied = 0
        self.certifier = create_node_certifier(
            node, self.get_layer_committee, self.adopt_certified_block,
            hare_config=self.suite.hare_config, effective_genesis=self.effective_genesis,
        )
        self._tasks = BackgroundTasks("mesh")
        self._loop_task: asyncio.Task[None] | None = None
        self._tally_lock = asyncio.Lock()

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Register the gossip validators and the proposal server, recover, start the layer loop."""
        self.transport.register_gossip(TOPIC_PROPOSAL, self.handle_proposal)
        self.transport.register_gossip(TOPIC_HARE, self.handle_hare_message)
        self.transport.register_gossip(TOPIC_TX, self.handle_transaction)
        self.transport.register_gossip(TOPIC_MALFEASANCE, self.handle_malfeasance)
        self.node.blob_providers[Hint.PROPOSAL] = self.get_proposal_blob
        self.node.processors[Hint.BALLOT] = self.process_synced_ballot
        self.node.processors[Hint.BLOCK] = self.process_synced_block
        self.node.processors[Hint.MALFEASANCE] = self.process_synced_malfeasance
        self.certifier.register(self.node.processors)
        self.node.status_providers["mesh"] = self.get_status
        self.node.mesh = self
        self.node.mempool = self.mempool  # the API reads pending transactions and projections
        self.node.vm = self.vm
        self.node.publish_transaction = self.publish_accepted_transaction
        self._recover()
        behind = self.clock.get_current_layer() - max(self.applied, default=self.effective_genesis)
        if behind > self.tortoise.config.window and not self.node.config.p2p.bootnodes:
            log.warning(
                "the clock is %d layers past the last applied one and no bootnodes are set: the tortoise "
                "catches up over every layer in steps (a lone node may want network.genesis_time=auto)",
                behind,
            )
        self._loop_task = asyncio.create_task(self._run_layers(), name="mesh-layers")

    async def stop(self) -> None:
        """Stop the layer loop and every hare instance."""
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._loop_task
        await self._tasks.cancel_all()
        self._loop_task = None

    def _spawn(self, coro: Any) -> None:
        self._tasks.spawn(coro)

    def get_status(self) -> dict[str, Any]:
        """Return the ``mesh`` part of the node status."""
        hashes = self.state.get_state_hashes()
        coinbases = {atx.inner.coinbase for atx in self._get_own_atxs()}
        rewards = sum(r.total for cb in coinbases for r in self.state.get_rewards(bytes(cb)))
        return {
            "layers_applied": len(hashes),
            "layers_with_block": sum(1 for block in self.applied.values() if block is not None),
            "last_applied": max(hashes) if hashes else None,
            "state_hashes": {str(layer): h.hex() for layer, h in hashes.items()},
            "rewards": rewards,
            "transactions_applied": self.transactions_applied,
            "mempool": len(self.mempool),
            "verified": self.tortoise.verified,
            "malicious": [n.hex() for n in self.registry.get_malicious_ids()],
            **self.certifier.get_status(),
        }

    def get_own_eligibilities(self, epoch: int) -> OwnEligibilities | None:
        """Return this node's proposal eligibilities in ``epoch`` as the layer loop computed them.

        None while the epoch's active set is not chosen (the epoch has not started here yet).
        """
        info = self.epochs.get(epoch)
        if info is None or not info.active_ids:
            return None
        own = info.own.atx_id if info.own is not None and info.own.atx_id in info.active_ids else None
        layers = {layer: len(proofs) for layer, proofs in sorted(info.eligibilities.items())}
        return OwnEligibilities(epoch, own, len(info.active_ids), info.slots, layers)

    def _get_own_atxs(self) -> list[Any]:
        record = self.state.get_last_atx_of_node(self.signer.node_id)
        found = self.atxs.get_atx(record.id) if record else None
        return [found[1]] if found else []

    # -- recovery ------------------------------------------------------------------------------

    def _recover(self) -> None:
        """Rebuild the in-memory engines from storage after a restart: ballots and blocks feed the
        tortoise, stored hare outputs are replayed, applied layers are re-executed."""
        last = self.state.get_last_applied_layer()
        for layer in range(self.effective_genesis + 1, (last or self.effective_genesis) + 1):
            self._ensure_epoch(layer // self.layers_per_epoch)
            for record in self.state.get_ballots_in_layer(layer):
                with contextlib.suppress(ScaleError, TortoiseError):
                    self._add_ballot_to_tortoise(decode(Ballot, record.blob))
            for block in self.state.get_blocks_in_layer(layer):
                with contextlib.suppress(ScaleError):
                    self.tortoise.on_block(layer, block.id, decode(Block, block.blob).tick_height)
            info = self.state.get_layer(layer)
            if info.hare_done:
                self.tortoise.on_hare_output(layer, info.hare_output)
            self.tortoise.tally_votes(layer + 1)
            self._execute_layer(layer, info.applied_block, persist=False)

    # -- epochs --------------------------------------------------------------------------------

    def _ensure_epoch(self, epoch: int) -> _Epoch:
        """Return what the node knows of ``epoch``: beacon, ATXs and (once it can be chosen) the active set.

        The active set is the graded one (ATXs received well before the epoch started, so every
        node that was online agrees on it); a node that was not online then adopts the set its
        peers' reference ballots declare. Until one of the two is available the set stays open.
        """
        info = self.epochs.get(epoch)
        if info is None:
            atxs = self.atxs.get_epoch_infos(epoch)
            own = next((a for a in atxs.values() if a.node_id == self.signer.node_id), None)
            info = self.epochs[epoch] = _Epoch(epoch, None, atxs, [], 0, own)
            self.tortoise.set_epoch_weight(epoch, max(sum(a.weight for a in atxs.values()), 1))
        if info.beacon is None:
            self._resolve_beacon(info)
        if not info.active_ids and self.clock.get_current_epoch() >= epoch:
            self._choose_active_set(info)
        return info

    def _resolve_beacon(self, info: _Epoch) -> None:
        """Take the epoch's beacon from the beacon service once it is known (tortoise, eligibilities)."""
        info.beacon = self.node.beacon.get_epoch_beacon(info.epoch)
        if info.beacon is not None:
            self.tortoise.on_beacon(info.epoch, info.beacon)
            self._compute_own_eligibilities(info)

    def _choose_active_set(self, info: _Epoch) -> None:
        info.atxs = self.atxs.get_epoch_infos(info.epoch)  # everything received by now
        epoch_start = self.clock.get_layer_start(info.epoch * self.layers_per_epoch)
        proofs = {node_id: self.registry.get_received(node_id) or 0.0 for node_id in self.registry.get_malicious_ids()}
        active = compute_active_set(
            list(info.atxs.values()),
            epoch_start,
            proofs,
            delta=self.atx_grade_delay,
            first_block_active_set=self._get_declared_active_set(info.epoch),
        )
        if active is None or not all(atx_id in info.atxs for atx_id in active):
            return
        info.active_ids = list(active)
        info.active_weight = sum(info.atxs[a].weight for a in active)
        info.own = next((a for a in info.atxs.values() if a.node_id == self.signer.node_id), None)
        self._compute_own_eligibilities(info)

    def _compute_own_eligibilities(self, info: _Epoch) -> None:
        """Compute the node's slots and eligible layers once the active set and the beacon are known."""
        if not info.active_ids or info.beacon is None:
            return
        if info.own is not None and info.own.atx_id in info.active_ids and info.active_weight > 0:
            info.slots = compute_slots(info.own.weight, info.active_weight, self.eligibility_config)
            info.eligibilities = compute_eligibilities(
                self.signer, info.beacon, info.epoch, info.own.vrf_nonce, info.slots, self.layers_per_epoch
            )

    def _get_declared_active_set(self, epoch: int) -> list[bytes] | None:
        """Return the active set most reference ballots of ``epoch`` declare (None: none seen)."""
        votes: dict[bytes, int] = {}
        first = epoch * self.layers_per_epoch
        for layer in range(first, first + self.layers_per_epoch):
            for record in self.state.get_ballots_in_layer(layer):
                with contextlib.suppress(ScaleError):
                    data = decode(Ballot, record.blob).inner.epoch_data
                    if data is not None:
                        votes[bytes(data.active_set_hash)] = votes.get(bytes(data.active_set_hash), 0) + 1
        for set_id in sorted(votes, key=lambda h: (-votes[h], h)):
            blob = self.state.get_active_set(set_id)
            if blob is not None:
                return list(decode_active_set(blob))
        return None

    # -- the layer loop ------------------------------------------------------------------------

    async def _run_layers(self) -> None:
        layer = max(self.clock.get_current_layer(), 0)
        while True:
            await self.clock.wait_for_layer(layer)
            self._spawn(self._run_layer(layer))
            layer += 1

    async def _run_layer(self, layer: int) -> None:
        start = self.clock.get_layer_start(layer)
        if layer > self.effective_genesis and self.node.is_synced():
            self._ensure_epoch(layer // self.layers_per_epoch)
            await self._propose(layer)
            await self._run_hare(layer, start)
        await self.clock.time.sleep_until(start + self.layer_duration - LAYER_END_MARGIN_S)
        await self._tally_votes(layer)
        await self._execute()
        self._evict(layer)

    async def _tally_votes(self, layer: int) -> None:
        """Tally the tortoise up to ``layer``, never past what a node that is not synced has fetched.

        A node far behind the clock (a late start, a genesis long ago) moves its tortoise forward
        in steps of at most :data:`TALLY_STEP_LAYERS` new layers and lets the event loop run between
        steps, so the API, sync and signals stay responsive while it catches up.
        """
        async with self._tally_lock:
            sync = self.node.sync
            if sync is not None and not sync.is_synced():
                layer = min(layer, sync.get_synced_layer() + 1)
            while self.tortoise.last + TALLY_STEP_LAYERS < layer:
                self.tortoise.tally_votes(self.tortoise.last + TALLY_STEP_LAYERS)
                await asyncio.sleep(0)
            self.tortoise.tally_votes(layer)

    def _evict(self, layer: int) -> None:
        horizon = layer - self.tortoise.config.window
        for store in (self.proposals, self.hare, self.early_hare):
            for old in [lid for lid in store if lid < horizon]:
                del store[old]
        self.certifier.prune()

    # -- proposals -----------------------------------------------------------------------------

    async def _propose(self, layer: int) -> None:
        epoch_info = self._ensure_epoch(layer // self.layers_per_epoch)
        proofs = epoch_info.eligibilities.get(layer)
        if not proofs or epoch_info.own is None or self.registry.is_malicious(self.signer.node_id):
            return
        encoded = self.tortoise.encode_votes(layer)
        epoch_data = None
        if epoch_info.ref_ballot is None:
            assert epoch_info.beacon is not None  # eligibilities exist only once the beacon is known
            active_blob = encode_value(ACTIVE_SET_TYPE, tuple(epoch_info.active_ids))
            set_id = compute_active_set_hash(epoch_info.active_ids)
            self.state.add_active_set(set_id, epoch_info.epoch, active_blob)
            epoch_data = EpochData(set_id, epoch_info.beacon, epoch_info.slots)
        inner = InnerBallot(
            layer, epoch_info.own.atx_id, encoded.opinion_hash, epoch_info.ref_ballot or EMPTY_BALLOT_ID, epoch_data
        )
        unsigned = Ballot(inner, bytes(64), self.signer.node_id, encoded.votes, tuple(proofs), ())
        ballot = attrs.evolve(
            unsigned, signature=self.signer.sign(SigningDomain.BALLOT, unsigned.get_signed_bytes(), self.genesis_id)
        )
        if epoch_info.ref_ballot is None:
            epoch_info.ref_ballot = ballot.compute_id()
        limit = self.txs_per_proposal * len(proofs)
        tx_ids = tuple(self.vm.parse(raw).tx_id for raw in self.mempool.get_block_candidates()[:limit])
        previous = self.tortoise.get_layer(layer - 1)
        mesh_hash = previous.opinion if previous is not None and previous.opinion else EMPTY_HASH32
        inner_proposal = InnerProposal(ballot, tx_ids, mesh_hash)
        unsigned_proposal = Proposal(inner_proposal, bytes(64))
        signature = self.signer.sign(SigningDomain.PROPOSAL, unsigned_proposal.get_signed_bytes(), self.genesis_id)
        proposal = Proposal(inner_proposal, signature)
        self._accept_proposal(proposal)
        await self.transport.publish(TOPIC_PROPOSAL, encode(proposal))

    def get_proposal_blob(self, hint: Hint, proposal_id: bytes) -> bytes | None:
        """Serve a proposal we hold (fetch protocol ``hs/1``)."""
        for layer_proposals in self.proposals.values():
            proposal = layer_proposals.get(proposal_id)
            if proposal is not None:
                return encode(proposal)
        return None

    async def _get_active_set_weight(self, ballot: Ballot, peer: bytes | None) -> int | None:
        """Return the weight of the active set a reference ballot declares (fetching it if needed)."""
        assert ballot.inner.epoch_data is not None
        set_id = ballot.inner.epoch_data.active_set_hash
        blob = self.state.get_active_set(set_id)
        if blob is None and self.node.fetcher is not None:
            found = await self.node.fetcher.fetch_blobs(Hint.ACTIVE_SET, [set_id], [peer] if peer else None)
            blob = found.get(set_id)
            if blob is not None:
                self.state.add_active_set(set_id, ballot.layer // self.layers_per_epoch, blob)
        if blob is None:
            return None
        total = 0
        for atx_id in decode_active_set(blob):
            info = self.atxs.get_info(atx_id)
            if info is None:
                return None
            total += info.weight
        return total

    async def _check_ballot(self, ballot: Ballot, peer: bytes | None) -> str | None:
        """Check a ballot's signature and eligibility; return why it cannot be accepted yet (None: valid).

        :raises EligibilityError: when the ballot is invalid (its sender is to be punished).
        """
        smesher = bytes(ballot.smesher_id)
        if not is_valid_signature(smesher, SigningDomain.BALLOT, ballot.get_signed_bytes(), ballot.signature,
                                  self.genesis_id):
            raise EligibilityError("invalid ballot signature")
        info = self.atxs.get_info(ballot.inner.atx_id)
        if info is None:
            return "unknown ATX"  # it has not reached us yet: sync will bring it
        ref = None
        weight = None
        if ballot.inner.epoch_data is None:
            record = self.state.get_ballot(ballot.inner.ref_ballot)
            if record is None:
                return "unknown reference ballot"
            ref = decode(Ballot, record.blob)
        else:
            weight = await self._get_active_set_weight(ballot, peer)
            if weight is None:
                return "active set unavailable"
        verify_ballot_eligibility(
            ballot, info, ref_ballot=ref, active_set_weight=weight, config=self.eligibility_config
        )
        return None

    async def handle_proposal(self, peer: bytes, data: bytes) -> ValidationResult:
        """Validate a gossiped proposal; accept (store, count, forward) only a valid one."""
        try:
            proposal = decode(Proposal, data)
        except ScaleError:
            return ValidationResult.REJECT
        ballot = proposal.ballot
        layer = ballot.layer
        if layer <= self.effective_genesis or layer > self.clock.get_current_layer() + 1:
            return ValidationResult.IGNORE
        proposal_id = proposal.compute_id()
        if proposal_id in self.proposals.get(layer, {}):
            return ValidationResult.IGNORE
        if not is_valid_signature(bytes(ballot.smesher_id), SigningDomain.PROPOSAL, proposal.get_signed_bytes(),
                                  proposal.signature, self.genesis_id):
            return ValidationResult.REJECT
        try:
            pending = await self._check_ballot(ballot, peer)
        except EligibilityError as exc:
            log.info("proposal %s rejected: %s", proposal_id.hex()[:12], exc)
            return ValidationResult.REJECT
        if pending is not None:
            log.debug("proposal %s ignored: %s", proposal_id.hex()[:12], pending)
            return ValidationResult.IGNORE
        if not await self._have_transactions(proposal.inner.tx_ids, peer):
            log.debug("proposal %s ignored: transactions unavailable", proposal_id.hex()[:12])
            return ValidationResult.IGNORE
        self._accept_proposal(proposal)
        return ValidationResult.ACCEPT

    async def process_synced_ballot(self, blob: bytes) -> None:
        """Validate and store a ballot fetched by sync.

        :raises ValueError: (ScaleError, EligibilityError) for an invalid or not yet checkable ballot.
        """
        ballot = decode(Ballot, blob)
        pending = await self._check_ballot(ballot, None)
        if pending is not None:
            raise EligibilityError(f"ballot cannot be checked yet: {pending}")
        self._store_ballot(ballot)

    async def process_synced_block(self, blob: bytes) -> None:
        """Store a block fetched by sync; its validity comes from the ballots' votes."""
        block = decode(Block, blob)
        layer = block.layer_index
        if layer <= self.effective_genesis:
            raise BlockError(f"block of genesis layer {layer}")
        block_id = block.compute_id()
        self.state.add_block(block_id, layer, blob)
        self.tortoise.on_block(layer, block_id, block.tick_height)
        await self.certifier.on_block_known(layer, block_id)

    async def process_synced_malfeasance(self, blob: bytes) -> None:
        """Verify and record a malfeasance proof fetched by sync.

        :raises ValueError: for an invalid proof.
        """
        proof = decode(MalfeasanceProof, blob)
        accused = verify_malfeasance_proof(proof, self.genesis_id)
        self._record_malfeasance(proof, accused)

    def _accept_proposal(self, proposal: Proposal) -> None:
        self.proposals.setdefault(proposal.layer, {})[proposal.compute_id()] = proposal
        self._store_ballot(proposal.ballot)

    def _store_ballot(self, ballot: Ballot) -> None:
        layer = ballot.layer
        ballot_id = ballot.compute_id()
        self.state.add_ballot(
            BallotRecord(ballot_id, layer, bytes(ballot.smesher_id), bytes(ballot.inner.atx_id), encode(ballot))
        )
        proof = self.detector.process_ballot(ballot, self.clock.time.now())
        if proof is not None:
            self._spawn(self._publish_malfeasance(proof))
        with contextlib.suppress(TortoiseError):
            self._add_ballot_to_tortoise(ballot)

    def _add_ballot_to_tortoise(self, ballot: Ballot) -> None:
        epoch = ballot.layer // self.layers_per_epoch
        epoch_info = self._ensure_epoch(epoch)
        atx = epoch_info.atxs.get(bytes(ballot.inner.atx_id)) or self.atxs.get_info(ballot.inner.atx_id)
        if atx is None:
            raise TortoiseError("ballot of an unknown ATX")
        epoch_data = self._get_ballot_epoch_data(ballot)
        slots = int(epoch_data.eligibility_count)
        beacon = bytes(epoch_data.beacon)  # the tortoise compares the ballot's own beacon with ours
        weight = compute_ballot_weight_units(atx.weight, slots, len(ballot.eligibility_proofs))
        self.node.beacon.record_ballot(
            epoch, ballot.compute_id(), beacon, atx.weight, slots, len(ballot.eligibility_proofs)
        )
        if epoch_info.beacon is None:  # a node that missed the protocol may learn it from this ballot
            self._resolve_beacon(epoch_info)
        for header in ballot.votes.support:
            block = self.state.get_block(header.id)
            if block is not None:
                self.tortoise.on_block(header.layer_id, header.id, decode(Block, block.blob).tick_height)
        try:
            self.tortoise.on_ballot(TortoiseBallot.from_ballot(ballot, weight, beacon))
        except UnknownBaseBallotError:
            base = self.state.get_ballot(ballot.votes.base)
            if base is None:
                raise
            self._add_ballot_to_tortoise(decode(Ballot, base.blob))
            self.tortoise.on_ballot(TortoiseBallot.from_ballot(ballot, weight, beacon))

    def _get_ballot_slots(self, ballot: Ballot) -> int:
        return int(self._get_ballot_epoch_data(ballot).eligibility_count)

    def _get_ballot_epoch_data(self, ballot: Ballot) -> EpochData:
        """Return the epoch data (beacon, slots) a ballot goes by: its own or its reference ballot's.

        :raises TortoiseError: when the reference ballot is not stored.
        """
        if ballot.inner.epoch_data is not None:
            return ballot.inner.epoch_data
        record = self.state.get_ballot(ballot.inner.ref_ballot)
        if record is None:
            raise TortoiseError("reference ballot unknown")
        data = decode(Ballot, record.blob).inner.epoch_data
        if data is None:
            raise TortoiseError("the reference ballot carries no epoch data")
        return data

    # -- transactions --------------------------------------------------------------------------

    async def _have_transactions(self, tx_ids: Sequence[bytes], peer: bytes) -> bool:
        missing = [t for t in tx_ids if t not in self.mempool and self.state.get_transaction(t) is None]
        if not missing:
            return True
        if self.node.fetcher is None:
            return False
        found = await self.node.fetcher.fetch_blobs(Hint.TX, missing, [peer])
        for raw in found.values():
            self._store_transaction(raw)
        return all(t in found for t in missing)

    def _store_transaction(self, raw: bytes) -> bytes | None:
        try:
            parsed = self.vm.parse(raw)
        except TransactionError:
            return None
        self.state.add_transaction(TransactionRecord(parsed.tx_id, parsed.header.principal, parsed.header.nonce, raw))
        return parsed.tx_id

    async def submit_transaction(self, raw: bytes) -> bytes:
        """Add a transaction from a local user to the mempool and gossip it.

        :raises MempoolRejection: with the reason it was refused (nothing is stored then).
        """
        entry = self.mempool.add(raw)
        await self.publish_accepted_transaction(raw)
        return entry.tx_id

    async def publish_accepted_transaction(self, raw: bytes) -> None:
        """Store and gossip a transaction the mempool has accepted (the API's submit path)."""
        self._store_transaction(raw)
        await self.transport.publish(TOPIC_TX, raw)

    async def handle_transaction(self, peer: bytes, data: bytes) -> ValidationResult:
        """Validate a gossiped transaction into the mempool."""
        try:
            self.mempool.add(data)
        except MempoolRejection as exc:
            log.debug("transaction from %s refused: %s", peer.hex()[:12], exc)
            return ValidationResult.IGNORE
        except (TransactionError, ScaleError):
            return ValidationResult.REJECT
        self._store_transaction(data)
        return ValidationResult.ACCEPT

    # -- malfeasance ---------------------------------------------------------------------------

    async def _publish_malfeasance(self, proof: MalfeasanceProof) -> None:
        accused = get_accused_node_id(proof)
        self.state.add_malfeasance_proof(accused, encode(proof), self.clock.time.now())
        self.tortoise.on_malfeasance(accused)
        await self.transport.publish(TOPIC_MALFEASANCE, encode(MalfeasanceGossip(proof, None)))

    async def handle_malfeasance(self, peer: bytes, data: bytes) -> ValidationResult:
        """Validate a gossiped malfeasance proof; from then on the identity weighs zero."""
        try:
            gossip = decode(MalfeasanceGossip, data)
            accused = verify_malfeasance_proof(gossip.proof, self.genesis_id)
        except Exception:
            return ValidationResult.REJECT
        if self.registry.is_malicious(accused):
            return ValidationResult.IGNORE
        self._record_malfeasance(gossip.proof, accused)
        return ValidationResult.ACCEPT

    def _record_malfeasance(self, proof: MalfeasanceProof, accused: bytes) -> None:
        now = self.clock.time.now()
        self.registry.add_proof(proof, now, accused)
        self.state.add_malfeasance_proof(accused, encode(proof), now)
        self.tortoise.on_malfeasance(accused)

    # -- hare ----------------------------------------------------------------------------------

    async def _run_hare(self, layer: int, start: float) -> None:
        epoch_info = self._ensure_epoch(layer // self.layers_per_epoch)
        beacon = epoch_info.beacon
        if not epoch_info.active_ids or beacon is None:
            return
        config = self.suite.hare_config
        await self.clock.time.sleep_until(start + config.preround_delay)
        weights = {epoch_info.atxs[a].node_id: epoch_info.atxs[a].weight for a in epoch_info.active_ids}
        engine = self.suite.create_hare_engine(
            layer, weights, beacon, self.genesis_id, [self.signer], self.registry
        )
        candidates = [
            ProposalCandidate(
                pid,
                bytes(p.ballot.smesher_id),
                bytes(p.ballot.inner.atx_id),
                self._get_proposal_beacon(p),
                epoch_info.atxs[bytes(p.ballot.inner.atx_id)].base_tick_height
                if bytes(p.ballot.inner.atx_id) in epoch_info.atxs
                else 0,
            )
            for pid, p in self.proposals.get(layer, {}).items()
        ]
        own_height = epoch_info.own.tick_height if epoch_info.own is not None else None
        engine.set_initial(
            select_initial_proposals(candidates, beacon, own_height, self.registry.is_malicious)
        )
        self.hare[layer] = engine
        for peer, message in self.early_hare.pop(layer, []):
            await self._feed_hare(engine, peer, message)
        while not engine.finished:
            await self.clock.time.sleep_until(start + engine.get_next_round_offset())
            output = engine.advance()
            for message in output.messages:
                await self.transport.publish(TOPIC_HARE, encode(message))
            if output.coin is not None:
                self.tortoise.on_weak_coin(layer, output.coin)
            if output.result is not None:
                await self._on_hare_result(layer, output.result)
            elif output.failed:
                self.state.set_hare_output(layer, None)

    def _get_proposal_beacon(self, proposal: Proposal) -> bytes:
        """Return the beacon a proposal's ballot carries (empty if its reference ballot is unknown)."""
        try:
            return bytes(self._get_ballot_epoch_data(proposal.ballot).beacon)
        except TortoiseError:
            return b""

    async def _feed_hare(self, engine: Any, peer: bytes, message: HareMessage) -> ValidationResult:
        result = engine.on_message(message)
        if result.proof is not None and self.registry.add_proof(
            result.proof, self.clock.time.now(), bytes(message.sender)
        ):
            self._spawn(self._publish_malfeasance(result.proof))
        return ValidationResult.ACCEPT if result.accepted else ValidationResult.IGNORE

    async def handle_hare_message(self, peer: bytes, data: bytes) -> ValidationResult:
        """Hand a gossiped hare message to its layer's engine (kept for later if it is early)."""
        try:
            message = decode(HareMessage, data)
        except ScaleError:
            return ValidationResult.REJECT
        layer = message.body.layer
        engine = self.hare.get(layer)
        if engine is None:
            if self.clock.get_current_layer() <= layer <= self.clock.get_current_layer() + 1:
                early = self.early_hare.setdefault(layer, [])
                if len(early) < MAX_EARLY_HARE_MESSAGES:
                    early.append((peer, message))
            return ValidationResult.IGNORE
        if engine.finished:
            return ValidationResult.IGNORE
        return await self._feed_hare(engine, peer, message)

    async def _on_hare_result(self, layer: int, result: Sequence[bytes]) -> None:
        known = self.proposals.setdefault(layer, {})
        missing = [pid for pid in result if pid not in known]
        if missing and self.node.fetcher is not None:
            found = await self.node.fetcher.fetch_blobs(Hint.PROPOSAL, missing)
            for blob in found.values():
                with contextlib.suppress(ScaleError):
                    proposal = decode(Proposal, blob)
                    known[proposal.compute_id()] = proposal
        epoch_info = self._ensure_epoch(layer // self.layers_per_epoch)
        chosen: list[BlockProposal] = []
        for pid in result:
            found = known.get(pid)
            atx = epoch_info.atxs.get(bytes(found.ballot.inner.atx_id)) if found is not None else None
            if found is None or atx is None:
                log.warning("layer %d: hare output proposal %s unavailable; no block", layer, pid.hex()[:12])
                self.state.set_hare_output(layer, None)
                self.tortoise.on_hare_output(layer, None)
                return
            chosen.append(
                BlockProposal.from_proposal(found, atx.weight, self._get_ballot_slots(found.ballot),
                                            atx.base_tick_height)
            )
        headers: dict[bytes, BlockTx] = {}
        for block_proposal in chosen:
            for tx_id in block_proposal.tx_ids:
                header = self._get_tx_header(tx_id)
                if header is not None:
                    headers[tx_id] = header
        try:
            block = generate_block(layer, chosen, headers, gas_limit=self.vm.gas_limit)
        except BlockError as exc:
            log.warning("layer %d: no block: %s", layer, exc)
            block = None
        block_id = None
        if block is not None:
            block_id = block.compute_id()
            self.state.add_block(block_id, layer, encode(block))
            self.tortoise.on_block(layer, block_id, block.tick_height)
        self.state.set_hare_output(layer, block_id)
        self.tortoise.on_hare_output(layer, block_id)
        if block_id is not None:
            await self.certifier.certify_block(layer, block_id)

    def get_layer_committee(self, layer: int) -> LayerCommittee | None:
        """Return the active set weights and beacon that seat ``layer``'s committees (the hare's and
        the certifier's); None while the layer's epoch has not started or its active set is open.

        A node still catching up does not start an epoch's bookkeeping here (its ATXs may not all be
        synced yet, and the epoch weight the tortoise gets is fixed then): sync's ballots do that."""
        epoch = layer // self.layers_per_epoch
        if epoch > self.clock.get_current_epoch() or (epoch not in self.epochs and not self.node.is_synced()):
            return None
        info = self._ensure_epoch(epoch)
        if not info.active_ids or info.beacon is None:
            return None
        weights = {info.atxs[a].node_id: info.atxs[a].weight for a in info.active_ids}
        return LayerCommittee(epoch, weights, info.beacon)

    def adopt_certified_block(self, layer: int, block_id: bytes | None) -> None:
        """Take a certified block as the hare output of ``layer``, as a syncing node does; ``None``
        (two certified blocks) makes the output empty (protocol.md §7.2)."""
        info = self.state.get_layer(layer)
        if info.hare_done and info.hare_output == block_id:
            return
        if block_id is not None:
            record = self.state.get_block(block_id)
            if record is None:
                raise BlockError(f"layer {layer}: certified block {block_id.hex()} is not stored")
            # a block stored before a restart is not in the tortoise yet (recovery feeds applied layers)
            self.tortoise.on_block(layer, block_id, decode(Block, record.blob).tick_height)
        self.state.set_hare_output(layer, block_id)
        self.tortoise.on_hare_output(layer, block_id)

    def _get_tx_header(self, tx_id: bytes) -> BlockTx | None:
        entry = self.mempool.get(tx_id)
        raw = entry.parsed.raw if entry is not None else None
        if raw is None:
            record = self.state.get_transaction(tx_id)
            raw = record.blob if record is not None else None
        if raw is None:
            return None
        try:
            header = self.vm.parse(raw).header
        except TransactionError:
            return None
        return BlockTx(tx_id, header.principal, header.nonce, header.gas_price, header.max_gas)

    # -- execution -----------------------------------------------------------------------------

    def _get_decided_block(self, layer: int) -> tuple[bool, bytes | None]:
        """Return (decided, block) for ``layer``: the tortoise's verdict, or within hdist the hare output."""
        if layer <= self.tortoise.verified:
            return True, self.tortoise.get_applied_block(layer)
        info = self.state.get_layer(layer)
        if info.hare_done:
            return True, info.hare_output
        return False, None

    async def _has_block_data(self, block_id: bytes) -> bool:
        """Make sure a decided block and all its transactions are stored (fetching them from peers)."""
        record = self.state.get_block(block_id)
        fetcher = self.node.fetcher
        if record is None and fetcher is not None:
            found = await fetcher.fetch_blobs(Hint.BLOCK, [block_id])
            if block_id in found:
                await self.process_synced_block(found[block_id])
            record = self.state.get_block(block_id)
        if record is None:
            return False
        block = decode(Block, record.blob)
        missing = [tx_id for tx_id in block.tx_ids if self.state.get_transaction(tx_id) is None]
        if missing and fetcher is not None:
            for raw in (await fetcher.fetch_blobs(Hint.TX, missing)).values():
                self._store_transaction(raw)
        return all(self.state.get_transaction(tx_id) is not None for tx_id in block.tx_ids)

    async def _execute(self) -> None:
        """Apply every decided layer in order; revert and re-apply when a decision changed.

        A layer whose block or transactions are not all here yet is not applied (nor any after
        it): executing a block without one of its transactions would give a wrong state.
        """
        current = self.clock.get_current_layer()
        changed = [
            layer for layer, block in sorted(self.applied.items())
            if layer <= self.tortoise.verified and self.tortoise.get_applied_block(layer) != block
        ]
        if changed:
            target = changed[0] - 1
            log.warning("tortoise changed its mind about layer %d: reverting to %d", changed[0], target)
            self.vm.revert(target)
            self.state.revert_to_layer(target)
            for layer in [lid for lid in self.applied if lid > target]:
                del self.applied[layer]
            self.mempool.update_from_state()
        layer = max(self.applied, default=self.effective_genesis) + 1
        while layer < current:
            decided, block_id = self._get_decided_block(layer)
            if not decided or (block_id is not None and not await self._has_block_data(block_id)):
                break
            self._execute_layer(layer, block_id, persist=True)
            layer += 1

    def _execute_layer(self, layer: int, block_id: bytes | None, *, persist: bool) -> None:
        raws: list[bytes] = []
        rewards: list[CoinbaseReward] = []
        if block_id is not None:
            record = self.state.get_block(block_id)
            if record is None:
                raise BlockError(f"layer {layer}: block {block_id.hex()} is not stored")
            block = decode(Block, record.blob)
            for tx_id in block.tx_ids:
                tx = self.state.get_transaction(tx_id)
                if tx is None:
                    raise BlockError(f"layer {layer}: transaction {tx_id.hex()} of the block is not stored")
                raws.append(tx.blob)
            for reward in block.rewards:
                coinbase = self.atxs.get_coinbase(reward.atx_id)
                found = self.atxs.get_atx(reward.atx_id)
                if coinbase is None or found is None:
                    continue
                weight = Fraction(reward.weight.num, reward.weight.denom)
                rewards.append(CoinbaseReward(coinbase, weight, bytes(found[1].smesher_id)))
        result = self.vm.apply_layer(layer, raws, rewards)
        self.applied[layer] = block_id
        self.transactions_applied += sum(1 for tx in result.executed)
        if not persist:
            return
        accounts = []
        for address in result.changed:
            account = self.vm.get_account(address)
            accounts.append(
                AccountRecord(address, layer, account.next_nonce, account.balance, account.template, account.state)
            )
        self.state.apply_layer(
            layer,
            block_id,
            result.state_hash,
            accounts,
            [RewardRecord(r.coinbase, layer, r.total_reward, r.layer_reward) for r in result.rewards],
            [(tx.tx_id, 1 if tx.status.name == "SUCCESS" else 2) for tx in result.executed],
        )
        self.mempool.update_from_state()


def decode_active_set(blob: bytes) -> tuple[bytes, ...]:
    """Return the ATX ids of an encoded active set.

    :raises ScaleError: when the bytes are not one.
    """
    return tuple(decode_value(ACTIVE_SET_TYPE, blob))
