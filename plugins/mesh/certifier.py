"""Block certificates in the node (protocol.md §7.2, §9.2-9.3): certify messages on ``bc1``,
certificates stored, served and synced.

After the node has built (or adopted) the hare block of a layer, each of its identities that wins a
seat in the layer's certifier committee (VRF round ``2^31 − 1``, ``[hare] certifier_committee``
seats, the same active set and beacon as the layer's hare) signs a
:class:`~spacemesh_core.types.block.CertifyMessage` and gossips it on ``bc1``. Messages from peers are
checked before they are forwarded:

* not decodable, a bad signature, a wrong eligibility proof or count → ``REJECT`` (the peer is scored);
* a layer outside ``[current − zdist − 1, current + zdist]``, a second message of one signer for a
  layer (gossip echoes), or a layer whose committee is not known yet → ``IGNORE``: late or early is
  not malicious (the reference ignores them too);
* a block the node does not hold → ``IGNORE``; the message, once checked, is kept (bounded) and
  counted when the block arrives (own hare output or sync), and then forwarded, so a node whose hare
  finished a moment after its peers' still certifies and relays.

When a block's eligibility counts reach ``committee // 2 + 1`` (101 of 200 on mainnet) the
:class:`~spacemesh_core.types.block.Certificate` is stored in the state database, the
:class:`~spacemesh_plugins.mesh.events.BlockCertified` event is published and the block is taken
as the layer's hare output. Two certified blocks in one layer make that output empty.

Sync: the fetch protocol ``hs/1`` serves a block's certificate under the hint ``CERTIFICATE`` and
the block id; the syncer asks for the certificates of every layer's blocks. A fetched certificate
is verified whole against the layer's committee (every message signed and eligible, distinct
signers, the threshold reached, one layer and block) before it is stored and adopted; an invalid
one raises and leaves no trace.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Final

import attrs

from spacemesh_core.codec.scale import ScaleError, decode, encode
from spacemesh_core.consensus.blocks import (
    CertificateError,
    Certifier,
    CertifierConfig,
    CertifyMessageWindowError,
    DuplicateCertifyMessageError,
    create_certify_message,
)
from spacemesh_core.consensus.hare3 import HareConfig, HareOracle
from spacemesh_core.crypto.signing import Signer
from spacemesh_core.storage.state import StateStore
from spacemesh_core.sync.wire import Hint
from spacemesh_core.types.block import Certificate, CertifyMessage
from spacemesh_hooks.interfaces import Transport, ValidationResult
from spacemesh_plugins.mesh.events import BlockCertified

log = logging.getLogger(__name__)

TOPIC_CERTIFY: Final = "bc1"
#: checked certify messages for blocks the node does not hold yet, kept until the block arrives
MAX_PENDING_CERTIFY_MESSAGES: Final = 2000
#: epochs whose committee oracle (with its cache of verified eligibilities) is kept
MAX_CACHED_ORACLES: Final = 3

__all__ = [
    "MAX_PENDING_CERTIFY_MESSAGES",
    "TOPIC_CERTIFY",
    "BlockCertifier",
    "LayerCommittee",
    "compute_certify_threshold",
    "create_node_certifier",
]


def compute_certify_threshold(committee: int) -> int:
    """Return the eligibility count that certifies a block: more than half the committee (101 of 200)."""
    if committee < 1:
        raise ValueError(f"a certifier committee has at least one seat, not {committee}")
    return committee // 2 + 1


@attrs.frozen
class LayerCommittee:
    """What decides the committee seats of a layer: its epoch's active set weights and beacon."""

    epoch: int
    weights: Mapping[bytes, int]
    beacon: bytes


#: ``get_committee(layer)``: the layer's committee, or None while the active set is not chosen
CommitteeGetter = Callable[[int], LayerCommittee | None]
#: ``adopt(layer, block_id)``: take a certified block as the layer's hare output (None: conflicting)
AdoptFunction = Callable[[int, bytes | None], None]
#: ``publish(event)``: put an event on the node's bus
EventPublisher = Callable[[Any], Awaitable[None]]


class BlockCertifier:
    """Certifies the layers' blocks over gossip and verifies certificates fetched by sync.

    :param state: the state database (blocks are looked up, certificates stored).
    :param transport: gossip (``bc1``).
    :param genesis_id: the network's genesis id (signatures are bound to it).
    :param signers: the node's identities; each one eligible signs a certify message.
    :param get_current_layer: the clock's current layer.
    :param get_committee: the committee of a layer (None: not known yet).
    :param adopt: takes a certified block as the layer's hare output.
    :param config: committee size, threshold and ``zdist`` (the message window).
    :param hare_config: the hare parameters of the oracle (shared with the hare).
    :param publish_event: publishes :class:`BlockCertified` on the bus (None: no bus).
    :param effective_genesis: certificates of layers up to this one are refused.
    """

    def __init__(
        self,
        state: StateStore,
        transport: Transport,
        genesis_id: bytes,
        signers: Sequence[Signer],
        get_current_layer: Callable[[], int],
        get_committee: CommitteeGetter,
        adopt: AdoptFunction,
        *,
        config: CertifierConfig,
        hare_config: HareConfig | None = None,
        publish_event: EventPublisher | None = None,
        effective_genesis: int = 0,
    ) -> None:
        self.state = state
        self.transport = transport
        self.genesis_id = bytes(genesis_id)
        self.signers = list(signers)
        self.get_current_layer = get_current_layer
        self.get_committee = get_committee
        self.adopt = adopt
        self.config = config
        self.hare_config = hare_config
        self.publish_event = publish_event
        self.effective_genesis = effective_genesis
        self.certifier = Certifier(genesis_id, config)
        #: the highest layer with a stored certificate (the node status shows it)
        self.last_certified: int | None = state.get_last_certified_layer()
        self._oracles: dict[int, tuple[LayerCommittee, HareOracle]] = {}
        #: layer -> block id -> checked messages waiting for the block
        self._pending: dict[int, dict[bytes, dict[bytes, tuple[CertifyMessage, bytes]]]] = {}
        self._pending_count = 0

    # -- wiring --------------------------------------------------------------------------------

    def register(self, processors: dict[Hint, Callable[[bytes], Awaitable[None]]]) -> None:
        """Register the ``bc1`` gossip validator and the sync processor of certificates."""
        self.transport.register_gossip(TOPIC_CERTIFY, self.handle_certify_message)
        processors[Hint.CERTIFICATE] = self.process_synced_certificate

    def get_oracle(self, layer: int) -> HareOracle | None:
        """Return the committee oracle of ``layer`` (None while its epoch's active set is unknown).

        One oracle per epoch is kept (it caches verified eligibilities); it is rebuilt when the
        epoch's active set or beacon changes.
        """
        committee = self.get_committee(layer)
        if committee is None or not committee.weights:
            return None
        cached = self._oracles.get(committee.epoch)
        if cached is not None and cached[0] == committee:
            return cached[1]
        oracle = HareOracle(committee.weights, committee.beacon, self.hare_config)
        self._oracles[committee.epoch] = (committee, oracle)
        for epoch in sorted(self._oracles)[:-MAX_CACHED_ORACLES]:
            del self._oracles[epoch]  # sync walks forward through epochs: the oldest go first
        return oracle

    def get_status(self) -> dict[str, Any]:
        """Return the certifier's part of the mesh status."""
        return {"last_certified": self.last_certified, "pending_certify_messages": self._pending_count}

    def prune(self) -> None:
        """Forget the messages of layers below the window: none of them can be counted any more."""
        before_layer = self.get_current_layer() - self.config.zdist - 1
        self.certifier.prune(before_layer)
        for layer in [lid for lid in self._pending if lid < before_layer]:
            self._pending_count -= sum(len(m) for m in self._pending.pop(layer).values())

    # -- our own messages ----------------------------------------------------------------------

    async def certify_block(self, layer: int, block_id: bytes) -> None:
        """Sign and gossip a certify message for ``block_id`` with every eligible identity, then count
        the peers' messages for it that arrived before the block was known."""
        oracle = self.get_oracle(layer)
        if oracle is None:
            log.info("layer %d: committee unknown, block %s not certified by us", layer, block_id.hex()[:12])
            return
        current = self.get_current_layer()
        for signer in self.signers:
            if self.certifier.has_signer(layer, signer.node_id):
                continue  # one message per identity and layer
            message = create_certify_message(
                signer, oracle, layer, block_id, self.genesis_id, self.config.committee
            )
            if message is None:
                continue
            try:
                certificate = self.certifier.on_certify_message(message, oracle, current)
            except CertificateError as exc:
                log.warning("layer %d: own certify message not counted: %s", layer, exc)
                continue
            await self.transport.publish(TOPIC_CERTIFY, encode(message))
            if certificate is not None:
                await self._store(layer, certificate, "gossip")
        await self.on_block_known(layer, block_id)

    # -- peers' messages -----------------------------------------------------------------------

    async def handle_certify_message(self, peer: bytes, data: bytes) -> ValidationResult:
        """Validate a gossiped certify message; count it (and forward it) only when it is valid."""
        try:
            message = decode(CertifyMessage, data)
        except ScaleError:
            return ValidationResult.REJECT
        content = message.content
        layer = content.layer_id
        current = self.get_current_layer()
        if not current - self.config.zdist - 1 <= layer <= current + self.config.zdist:
            return ValidationResult.IGNORE
        if layer <= self.effective_genesis or self.certifier.has_signer(layer, message.smesher_id):
            return ValidationResult.IGNORE
        oracle = self.get_oracle(layer)
        if oracle is None:
            return ValidationResult.IGNORE  # the committee is not known yet: cannot judge
        block = self.state.get_block(content.block_id)
        if block is None or block.layer != layer:
            return self._keep_pending(message, data, oracle, peer)
        try:
            certificate = self.certifier.on_certify_message(message, oracle, current)
        except (CertifyMessageWindowError, DuplicateCertifyMessageError):
            return ValidationResult.IGNORE
        except CertificateError as exc:
            log.info("certify message from %s rejected: %s", peer.hex()[:12], exc)
            return ValidationResult.REJECT
        if certificate is not None:
            await self._store(layer, certificate, "gossip")
        return ValidationResult.ACCEPT

    def _keep_pending(self, message: CertifyMessage, data: bytes, oracle: HareOracle, peer: bytes) -> ValidationResult:
        """Check a message for a block we do not hold and keep it for when the block arrives."""
        try:
            self.certifier.verify_certify_message(message, oracle)
        except CertificateError as exc:
            log.info("certify message from %s rejected: %s", peer.hex()[:12], exc)
            return ValidationResult.REJECT
        content = message.content
        smesher = bytes(message.smesher_id)
        layer_pending = self._pending.setdefault(content.layer_id, {})
        if self._pending_count < MAX_PENDING_CERTIFY_MESSAGES and not any(
            smesher in waiting for waiting in layer_pending.values()
        ):  # one waiting message per signer and layer: a signer cannot fill the buffer with made-up blocks
            layer_pending.setdefault(content.block_id, {})[smesher] = (message, data)
            self._pending_count += 1
        return ValidationResult.IGNORE

    async def on_block_known(self, layer: int, block_id: bytes) -> None:
        """Count (and forward) the checked messages for ``block_id`` that arrived before the block."""
        waiting = self._pending.get(layer, {}).pop(block_id, None)
        if not waiting:
            return
        self._pending_count -= len(waiting)
        oracle = self.get_oracle(layer)
        if oracle is None:
            return
        current = self.get_current_layer()
        for message, data in waiting.values():
            try:
                certificate = self.certifier.on_certify_message(message, oracle, current)
            except CertificateError:
                continue  # out of the window by now, or the signer was counted meanwhile
            await self.transport.publish(TOPIC_CERTIFY, data)  # the router did not forward it then
            if certificate is not None:
                await self._store(layer, certificate, "gossip")

    # -- sync ----------------------------------------------------------------------------------

    async def process_synced_certificate(self, blob: bytes) -> None:
        """Verify a certificate fetched from a peer; store and adopt it only when it proves its block.

        :raises ScaleError: when the bytes are not a certificate.
        :raises CertificateError: for a certificate without messages, of a genesis layer or of a block
            we do not hold, with a message that is not signed or not eligible, messages of another
            layer or block, a repeated signer, or fewer eligibilities than the threshold; or when the
            layer's committee is not known yet.
        """
        certificate = Certificate.from_bytes(blob)
        if not certificate.signatures:
            raise CertificateError("certificate without certify messages")
        layer = certificate.signatures[0].content.layer_id
        if layer <= self.effective_genesis:
            raise CertificateError(f"certificate of genesis layer {layer}")
        block = self.state.get_block(certificate.block_id)
        if block is None or block.layer != layer:
            raise CertificateError(f"certificate of block {certificate.block_id.hex()[:12]} not held in layer {layer}")
        oracle = self.get_oracle(layer)
        if oracle is None:
            raise CertificateError(f"the committee of layer {layer} is not known yet")
        self.certifier.verify_certificate(certificate, layer, oracle)
        await self._store(layer, certificate, "sync")

    # -- storing -------------------------------------------------------------------------------

    async def _store(self, layer: int, certificate: Certificate, source: str) -> None:
        block_id = bytes(certificate.block_id)
        if any(bid == block_id for bid, _ in self.state.get_certificates(layer)):
            return  # already stored (formed here and fetched, or fetched twice)
        self.state.add_certificate(layer, block_id, certificate.to_bytes())
        certified = {bytes(bid) for bid, _ in self.state.get_certificates(layer)}
        conflicted = len(certified) > 1
        if self.last_certified is None or layer > self.last_certified:
            self.last_certified = layer
        if conflicted:
            log.warning("layer %d: %d blocks certified; its hare output is taken as empty", layer, len(certified))
        try:
            self.adopt(layer, None if conflicted else block_id)
        except ValueError as exc:  # the mesh could not take it (e.g. a layer the tortoise evicted)
            log.warning("layer %d: certified block %s not adopted: %s", layer, block_id.hex()[:12], exc)
        eligibilities = sum(m.content.eligibility_count for m in certificate.signatures)
        if self.publish_event is not None:
            try:
                await self.publish_event(BlockCertified(layer, block_id, eligibilities, source, conflicted))
            except Exception:  # the certificate is stored: a bus that is closing must not undo that
                log.exception("layer %d: BlockCertified event not published", layer)


def create_node_certifier(
    node: Any,
    get_committee: CommitteeGetter,
    adopt: AdoptFunction,
    *,
    hare_config: HareConfig | None = None,
    effective_genesis: int = 0,
) -> BlockCertifier:
    """Build the certifier of a node from its configuration (``[hare] certifier_committee``,
    ``[tortoise] zdist``), identity, state, transport, clock and bus."""
    config = node.config
    committee = config.hare.certifier_committee
    bus = node.bus
    return BlockCertifier(
        node.storage.state,
        node.transport,
        node.genesis_id,
        [node.identity] if node.identity is not None else [],
        node.clock.get_current_layer,
        get_committee,
        adopt,
        config=CertifierConfig(committee, compute_certify_threshold(committee), config.tortoise.zdist),
        hare_config=hare_config,
        publish_event=bus.publish if bus is not None else None,
        effective_genesis=effective_genesis,
    )
