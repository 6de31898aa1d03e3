"""The unified block of a layer, optimistic filtering and block certificates (protocol.md §7.1-7.2).

* :func:`generate_block` turns the hare output (the layer's agreed proposals) into the one block every
  honest node builds: ``TickHeight`` = the highest base tick height of the proposals' ATXs; one reward
  entry per proposal ATX with weight ``ATX.weight / slots × len(proofs)`` as a reduced fraction, sorted
  by ATX id (:func:`compute_block_rewards`); the transactions in the MEV-resistant order of
  :func:`compute_block_tx_order` — deduplicated, one per principal and nonce (best fee), sorted by id,
  shuffled with Go's ``rand.Shuffle`` driven by an MT19937-64 keyed with the block seed
  ``blake3(sorted proposal ids, each zero-padded to 32 bytes)``, every slot an account takes filled with
  that account's next nonce, then pruned to the block gas limit.
* :func:`compute_optimistic_filter`: when ≥ 90 % of the proposals' eligibilities carry one non-empty
  mesh hash equal to the local one, the transactions can be executed at once and the block keeps only
  the effective ones (the caller passes ``is_effective``); without agreement the list is gas-pruned and
  execution waits for the tortoise.
* :class:`Certifier`: each certifier eligible (VRF round ``2^31 − 1``, committee 200) signs a
  :class:`~spacemesh_core.types.block.CertifyMessage`; ≥ 101 eligibility counts for one block make a
  :class:`~spacemesh_core.types.block.Certificate`. Two certified blocks in one layer mean the layer's
  hare output is taken as empty.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from fractions import Fraction
from typing import Final

import attrs

from spacemesh_core.consensus.hare3 import HareOracle
from spacemesh_core.crypto.hashes import compute_blake3
from spacemesh_core.crypto.signing import Signer, is_valid_signature
from spacemesh_core.determinism.go_rand import apply_go_shuffle, new_mt19937_rand
from spacemesh_core.types.ballot import Proposal
from spacemesh_core.types.block import (
    MAX_BLOCK_REWARDS,
    MAX_CERTIFICATE_SIGNATURES,
    AnyReward,
    Block,
    Certificate,
    CertifyContent,
    CertifyMessage,
    RatNum,
)
from spacemesh_core.types.hare import HareEligibility
from spacemesh_core.types.primitives import EMPTY_HASH32, HASH32_SIZE, SigningDomain
from spacemesh_core.types.vrf_messages import CERTIFY_ROUND
from spacemesh_core.vm import gas

__all__ = [
    "CERTIFY_COMMITTEE",
    "CERTIFY_THRESHOLD",
    "MAINNET_BLOCK_GAS_LIMIT",
    "MIN_TX_GAS",
    "OPTIMISTIC_FILTER_PERCENT",
    "BlockError",
    "BlockProposal",
    "BlockTx",
    "CertificateError",
    "Certifier",
    "CertifierConfig",
    "CertifyMessageWindowError",
    "DuplicateAtxError",
    "DuplicateCertifyMessageError",
    "OptimisticFilter",
    "compute_block_rewards",
    "compute_block_seed",
    "compute_block_tx_order",
    "compute_optimistic_filter",
    "create_certify_message",
    "generate_block",
    "prune_to_gas_limit",
]

#: Mainnet block gas limit (≈ 3000 simple spends).
MAINNET_BLOCK_GAS_LIMIT: Final = 100_107_000
#: A transaction costs at least the intrinsic gas; pruning stops when less than this remains.
MIN_TX_GAS: Final = gas.TX
#: Share of eligibilities that must carry one mesh hash for optimistic filtering.
OPTIMISTIC_FILTER_PERCENT: Final = 90
#: Certifier committee and threshold on mainnet.
CERTIFY_COMMITTEE: Final = 200
CERTIFY_THRESHOLD: Final = 101

_U64_MAX: Final = (1 << 64) - 1


class BlockError(ValueError):
    """The proposals cannot make a block (empty ATX id, weights beyond 64 bits, too many rewards)."""


class DuplicateAtxError(BlockError):
    """Two proposals of one hare output share an ATX."""


class CertificateError(ValueError):
    """A certify message is rejected (layer window, signature, eligibility, duplicate)."""


class CertifyMessageWindowError(CertificateError):
    """A certify message for a layer outside the acceptance window (late or early, not malicious)."""


class DuplicateCertifyMessageError(CertificateError):
    """A second certify message from one signer for a layer (a gossip echo, or an equivocation)."""


@attrs.frozen
class BlockProposal:
    """What block generation needs from one proposal of the hare output and its ATX."""

    id: bytes
    atx_id: bytes
    atx_weight: int
    eligibility_count: int  # the slots declared by the reference ballot
    proof_count: int  # eligibility proofs in this ballot
    tick_height: int  # base tick height of the ATX
    tx_ids: tuple[bytes, ...] = ()
    mesh_hash: bytes = EMPTY_HASH32

    @classmethod
    def from_proposal(
        cls, proposal: Proposal, atx_weight: int, eligibility_count: int, tick_height: int
    ) -> BlockProposal:
        """Build from a wire proposal whose ATX weight, slot count and tick height the caller resolved."""
        return cls(
            id=proposal.compute_id(),
            atx_id=proposal.ballot.inner.atx_id,
            atx_weight=atx_weight,
            eligibility_count=eligibility_count,
            proof_count=len(proposal.ballot.eligibility_proofs),
            tick_height=tick_height,
            tx_ids=proposal.inner.tx_ids,
            mesh_hash=proposal.inner.mesh_hash,
        )


@attrs.frozen
class BlockTx:
    """A transaction header as block building needs it."""

    id: bytes
    principal: bytes
    nonce: int
    fee: int  # gas price: the higher, the better
    max_gas: int


@attrs.frozen
class OptimisticFilter:
    """The outcome of :func:`compute_optimistic_filter`."""

    majority_hash: bytes | None
    local_matches: bool

    @property
    def is_enabled(self) -> bool:
        """True when transactions may be executed at once (majority hash equal to the local one)."""
        return self.majority_hash is not None and self.local_matches


def compute_block_seed(proposal_ids: Iterable[bytes]) -> bytes:
    """Return ``blake3`` of the sorted proposal ids, each zero-padded to 32 bytes (the shuffle seed)."""
    return compute_blake3(*(pid.ljust(HASH32_SIZE, b"\x00") for pid in sorted(proposal_ids)))


def compute_block_rewards(proposals: Sequence[BlockProposal]) -> tuple[AnyReward, ...]:
    """Return one reward entry per proposal ATX, ``weight = atx_weight / slots × proofs``, sorted by ATX id.

    :raises DuplicateAtxError: if two proposals share an ATX.
    :raises BlockError: for an empty ATX id, zero slots, a weight beyond 64-bit parts or too many entries.
    """
    weights: dict[bytes, Fraction] = {}
    for proposal in proposals:
        if proposal.atx_id == bytes(len(proposal.atx_id)):
            raise BlockError(f"proposal {proposal.id.hex()} has an empty ATX id")
        if proposal.atx_id in weights:
            raise DuplicateAtxError(f"ATX {proposal.atx_id.hex()} appears in two proposals")
        if proposal.eligibility_count <= 0:
            raise BlockError(f"proposal {proposal.id.hex()} declares no eligibility slots")
        weights[proposal.atx_id] = Fraction(proposal.atx_weight * proposal.proof_count, proposal.eligibility_count)
    if len(weights) > MAX_BLOCK_REWARDS:
        raise BlockError(f"{len(weights)} rewards exceed {MAX_BLOCK_REWARDS}")
    rewards = []
    for atx_id in sorted(weights):
        weight = weights[atx_id]
        if weight.numerator > _U64_MAX or weight.denominator > _U64_MAX:
            raise BlockError(f"reward weight {weight} of ATX {atx_id.hex()} does not fit 64 bits")
        rewards.append(AnyReward(atx_id, RatNum(weight.numerator, weight.denominator)))
    return tuple(rewards)


def _get_nonce_ordered(txs: Iterable[BlockTx], seed: bytes) -> dict[bytes, list[BlockTx]]:
    """Group by principal, keep one transaction per nonce (highest fee; ties by ``blake3(seed || id)``)."""
    best: dict[tuple[bytes, int], tuple[int, bytes, BlockTx]] = {}
    for tx in txs:
        key = (tx.principal, tx.nonce)
        rank = (-tx.fee, compute_blake3(seed, tx.id), tx)
        current = best.get(key)
        if current is None or rank[:2] < current[:2]:
            best[key] = (rank[0], rank[1], tx)
    by_principal: dict[bytes, list[BlockTx]] = {}
    for (principal, _), (_, _, tx) in best.items():
        by_principal.setdefault(principal, []).append(tx)
    for queue in by_principal.values():
        queue.sort(key=lambda tx: tx.nonce)
    return by_principal


def prune_to_gas_limit(ordered: Sequence[BlockTx], gas_limit: int) -> list[BlockTx]:
    """Keep the prefix of ``ordered`` that fits ``gas_limit`` (by max gas); stop once less than
    :data:`MIN_TX_GAS` remains. A limit of 0 means no limit.

    The remaining gas is a uint64 as in the reference (``blocks/utils.go`` ``prune``): subtracting a
    transaction's max gas from less than that wraps around, which lets the rest through.
    """
    if gas_limit <= 0:
        return list(ordered)
    remaining = gas_limit
    for index, tx in enumerate(ordered):
        if remaining < MIN_TX_GAS:
            return list(ordered[:index])
        # uint64 arithmetic as in the reference: a transaction larger than what remains wraps around
        remaining = (remaining - tx.max_gas) & _U64_MAX
    return list(ordered)


def compute_block_tx_order(txs: Iterable[BlockTx], seed: bytes, gas_limit: int = 0) -> list[BlockTx]:
    """Return the block's transactions in the reference's shuffled nonce-respecting order.

    Deduplicated by id; one per ``(principal, nonce)``; candidates sorted by id, shuffled by Go's
    ``Shuffle`` over an MT19937-64 keyed with ``seed``; each slot taken by an account gets that account's
    next nonce; finally pruned to ``gas_limit`` (0: no pruning).
    """
    unique = {tx.id: tx for tx in txs}
    if not unique:
        return []
    queues = _get_nonce_ordered(unique.values(), seed)
    candidates = sorted((tx for queue in queues.values() for tx in queue), key=lambda tx: tx.id)
    apply_go_shuffle(new_mt19937_rand(seed), candidates)
    position = dict.fromkeys(queues, 0)
    ordered = []
    for slot in candidates:
        queue = queues[slot.principal]
        ordered.append(queue[position[slot.principal]])
        position[slot.principal] += 1
    return prune_to_gas_limit(ordered, gas_limit)


def compute_optimistic_filter(
    proposals: Sequence[BlockProposal], local_mesh_hash: bytes | None, percent: int = OPTIMISTIC_FILTER_PERCENT
) -> OptimisticFilter:
    """Find a non-empty mesh hash carried by ≥ ``percent`` % of the proposals' eligibilities.

    ``local_mesh_hash`` is the node's own opinion hash of the previous layer (``None`` if unknown).
    """
    total = sum(p.proof_count for p in proposals)
    counts: dict[bytes, int] = {}
    for proposal in proposals:
        counts[proposal.mesh_hash] = counts.get(proposal.mesh_hash, 0) + proposal.proof_count
    for mesh_hash in sorted(counts):
        if mesh_hash != EMPTY_HASH32 and total and counts[mesh_hash] * 100 >= percent * total:
            return OptimisticFilter(mesh_hash, mesh_hash == local_mesh_hash)
    return OptimisticFilter(None, False)


def generate_block(
    layer: int,
    proposals: Sequence[BlockProposal],
    txs: Mapping[bytes, BlockTx] | None = None,
    *,
    gas_limit: int = MAINNET_BLOCK_GAS_LIMIT,
    local_mesh_hash: bytes | None = None,
    is_effective: Callable[[Sequence[BlockTx]], Sequence[BlockTx]] | None = None,
) -> Block | None:
    """Build the unified block of ``layer`` from the hare output; ``None`` for an empty output.

    ``txs`` maps the proposals' transaction ids to their headers (a missing one raises
    :class:`BlockError`). With optimistic filtering enabled and ``is_effective`` given, the ordered
    transactions are passed to it and only those it returns are kept (the caller executes them);
    otherwise they are pruned to ``gas_limit``.

    :raises BlockError: (and :class:`DuplicateAtxError`) as :func:`compute_block_rewards`, or for a
        missing transaction.
    """
    if not proposals:
        return None
    rewards = compute_block_rewards(proposals)
    tick_height = max(p.tick_height for p in proposals)
    seed = compute_block_seed(p.id for p in proposals)
    known = txs or {}
    headers = []
    for proposal in proposals:
        for tx_id in proposal.tx_ids:
            header = known.get(tx_id)
            if header is None:
                raise BlockError(f"transaction {tx_id.hex()} of proposal {proposal.id.hex()} is missing")
            headers.append(header)
    filtering = compute_optimistic_filter(proposals, local_mesh_hash)
    if filtering.is_enabled and is_effective is not None:
        ordered = list(is_effective(compute_block_tx_order(headers, seed)))
    else:
        ordered = compute_block_tx_order(headers, seed, gas_limit)
    return Block(layer, tick_height, rewards, tuple(tx.id for tx in ordered))


# ---------------------------------------------------------------------------------------------
# Certificates
# ---------------------------------------------------------------------------------------------


@attrs.frozen
class CertifierConfig:
    """Certifier committee, threshold and the acceptance window (in layers around the current one)."""

    committee: int = CERTIFY_COMMITTEE
    threshold: int = CERTIFY_THRESHOLD
    zdist: int = 2


def create_certify_message(
    signer: Signer, oracle: HareOracle, layer: int, block_id: bytes, genesis_id: bytes, committee: int
) -> CertifyMessage | None:
    """Return ``signer``'s signed certify message for ``block_id``, or ``None`` if not eligible."""
    eligibility = oracle.compute_certifier_eligibility(signer, layer, committee)
    if eligibility is None:
        return None
    content = CertifyContent(layer, block_id, eligibility.count, eligibility.proof)
    unsigned = CertifyMessage(content, bytes(64), signer.node_id)
    signature = signer.sign(SigningDomain.HARE, unsigned.get_signed_bytes(), genesis_id)
    return CertifyMessage(content, signature, signer.node_id)


@attrs.define
class _LayerCertificates:
    counts: dict[bytes, int] = attrs.field(factory=dict)
    messages: dict[bytes, list[CertifyMessage]] = attrs.field(factory=dict)
    signers: set[bytes] = attrs.field(factory=set)
    certified: dict[bytes, Certificate] = attrs.field(factory=dict)


class Certifier:
    """Collects certify messages and forms certificates (``blocks/certifier.go``); no I/O."""

    def __init__(self, genesis_id: bytes, config: CertifierConfig | None = None) -> None:
        self.genesis_id = bytes(genesis_id)
        self.config = config if config is not None else CertifierConfig()
        self._layers: dict[int, _LayerCertificates] = {}

    def on_certify_message(self, message: CertifyMessage, oracle: HareOracle, current_layer: int) -> Certificate | None:
        """Check and record a certify message; return a certificate when its block first reaches the threshold.

        :raises CertifyMessageWindowError: outside ``[current − zdist − 1, current + zdist]``.
        :raises DuplicateCertifyMessageError: for a second message from the same signer for the layer.
        :raises CertificateError: for a bad signature or an invalid eligibility (proof or count).
        """
        content = message.content
        low = current_layer - self.config.zdist - 1
        if not low <= content.layer_id <= current_layer + self.config.zdist:
            raise CertifyMessageWindowError(
                f"certify message for layer {content.layer_id} outside [{low}, {current_layer + self.config.zdist}]"
            )
        state = self._layers.setdefault(content.layer_id, _LayerCertificates())
        if message.smesher_id in state.signers:
            raise DuplicateCertifyMessageError("duplicate certify message from one signer")
        self.verify_certify_message(message, oracle)
        state.signers.add(message.smesher_id)
        block_id = content.block_id
        state.counts[block_id] = state.counts.get(block_id, 0) + content.eligibility_count
        state.messages.setdefault(block_id, []).append(message)
        if block_id not in state.certified and state.counts[block_id] >= self.config.threshold:
            signatures = tuple(state.messages[block_id][:MAX_CERTIFICATE_SIGNATURES])
            certificate = Certificate(block_id, signatures)
            state.certified[block_id] = certificate
            return certificate
        return None

    def verify_certify_message(self, message: CertifyMessage, oracle: HareOracle) -> None:
        """Check a certify message's signature and its eligibility proof and count; record nothing.

        :raises CertificateError: for a bad signature or an invalid eligibility.
        """
        content = message.content
        if not is_valid_signature(
            message.smesher_id, SigningDomain.HARE, message.get_signed_bytes(), message.signature, self.genesis_id
        ):
            raise CertificateError("invalid certify message signature")
        eligibility = HareEligibility(content.proof, content.eligibility_count)
        if content.eligibility_count == 0 or not oracle.is_eligible(
            message.smesher_id, content.layer_id, CERTIFY_ROUND, self.config.committee, eligibility
        ):
            raise CertificateError("invalid certifier eligibility")

    def has_signer(self, layer: int, smesher_id: bytes) -> bool:
        """Return whether a certify message of ``smesher_id`` for ``layer`` was already counted."""
        state = self._layers.get(layer)
        return state is not None and bytes(smesher_id) in state.signers

    def prune(self, before_layer: int) -> None:
        """Forget the messages and certificates of every layer below ``before_layer``."""
        for layer in [lid for lid in self._layers if lid < before_layer]:
            del self._layers[layer]

    def get_certified_block(self, layer: int) -> bytes | None:
        """Return the certified block of ``layer``; ``None`` if none or if two blocks were certified."""
        state = self._layers.get(layer)
        if state is None or len(state.certified) != 1:
            return None
        return next(iter(state.certified))

    def is_conflicted(self, layer: int) -> bool:
        """True when two different blocks of ``layer`` hold certificates (hare output taken as empty)."""
        state = self._layers.get(layer)
        return state is not None and len(state.certified) > 1

    def get_certificate(self, layer: int) -> Certificate | None:
        """Return the certificate of the layer's only certified block."""
        block_id = self.get_certified_block(layer)
        return None if block_id is None else self._layers[layer].certified[block_id]

    def verify_certificate(self, certificate: Certificate, layer: int, oracle: HareOracle) -> None:
        """Check a certificate received whole (sync): every message valid, distinct signers, ≥ threshold.

        :raises CertificateError: when it does not prove the block.
        """
        seen: set[bytes] = set()
        total = 0
        for message in certificate.signatures:
            content = message.content
            if content.layer_id != layer or content.block_id != certificate.block_id:
                raise CertificateError("certify message for another layer or block")
            if message.smesher_id in seen:
                raise CertificateError("duplicate signer in certificate")
            seen.add(message.smesher_id)
            self.verify_certify_message(message, oracle)
            total += content.eligibility_count
        if total < self.config.threshold:
            raise CertificateError(f"certificate carries {total} < {self.config.threshold} eligibilities")
