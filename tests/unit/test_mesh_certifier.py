"""The node's block certifier (plugins/mesh/certifier.py): certify messages on ``bc1`` are checked
before they are forwarded, counted until a certificate forms, stored and adopted; certificates
fetched by sync are verified whole; the fetch protocol serves them by block id."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from spacemesh_core.clock import LayerClock, VirtualTime
from spacemesh_core.codec.scale import decode, encode
from spacemesh_core.consensus.blocks import CertificateError, CertifierConfig, create_certify_message
from spacemesh_core.consensus.hare3 import HareOracle
from spacemesh_core.crypto.signing import Signer
from spacemesh_core.storage.state import StateStore
from spacemesh_core.sync.fetch import Fetcher
from spacemesh_core.sync.ids import compute_object_id
from spacemesh_core.sync.storage_server import create_fetch_server, get_stored_certificate
from spacemesh_core.sync.syncer import Syncer
from spacemesh_core.sync.wire import Hint
from spacemesh_core.types.block import Block, Certificate, CertifyContent, CertifyMessage
from spacemesh_core.types.primitives import SigningDomain
from spacemesh_hooks.interfaces import ValidationResult
from spacemesh_plugins.mesh.certifier import (
    TOPIC_CERTIFY,
    BlockCertifier,
    LayerCommittee,
    compute_certify_threshold,
)
from spacemesh_plugins.mesh.events import BlockCertified
from spacemesh_plugins.transport_memory.transport import MemoryNetwork, MemoryTransport

GENESIS_ID = bytes(range(20))
BEACON = b"\x01\x02\x03\x04"
LAYER = 20
EPOCH = 3
COMMITTEE = 20
PEER = b"\x09" * 32


class RecordingTransport:
    """Gossip side of a transport: remembers validators and what was published."""

    def __init__(self) -> None:
        self.validators: dict[str, Any] = {}
        self.published: list[tuple[str, bytes]] = []

    def register_gossip(self, topic: str, validator: Any) -> None:
        self.validators[topic] = validator

    async def publish(self, topic: str, data: bytes) -> None:
        self.published.append((topic, data))


@attrs.define
class Setup:
    """A certifier over an in-memory state with two stored blocks of ``LAYER``."""

    certifier: BlockCertifier
    state: StateStore
    transport: RecordingTransport
    signers: list[Signer]
    oracle: HareOracle
    block_a: bytes
    block_b: bytes
    adopted: list[tuple[int, bytes | None]]
    events: list[Any]
    current: list[int]
    committee: list[LayerCommittee | None]

    def message(self, signer: Signer, block_id: bytes, layer: int = LAYER) -> CertifyMessage:
        found = create_certify_message(signer, self.oracle, layer, block_id, GENESIS_ID, COMMITTEE)
        assert found is not None, "every test signer is eligible"
        return found


def store_block(state: StateStore, layer: int, tick: int) -> bytes:
    block = Block(layer, tick, (), ())
    block_id = block.compute_id()
    state.add_block(block_id, layer, encode(block))
    return block_id


def find_eligible_signers(weights_count: int) -> tuple[list[Signer], HareOracle]:
    """Deterministic signers that all hold a certifier seat in ``LAYER`` (committee 20)."""
    signers = [Signer.from_seed(bytes([seed]) * 32) for seed in range(1, 40)]
    weights = {s.node_id: 10 for s in signers[:weights_count * 3]}
    oracle = HareOracle(weights, BEACON)
    eligible = [s for s in signers[:weights_count * 3] if oracle.compute_certifier_eligibility(s, LAYER, COMMITTEE)]
    assert len(eligible) >= weights_count
    return eligible[:weights_count], oracle


def make_setup(threshold: int | None = None, own: list[Signer] | None = None) -> Setup:
    signers, oracle = find_eligible_signers(5)
    state = StateStore(":memory:")
    transport = RecordingTransport()
    adopted: list[tuple[int, bytes | None]] = []
    events: list[Any] = []
    current = [LAYER]
    committee: list[LayerCommittee | None] = [LayerCommittee(EPOCH, dict(oracle.weights), BEACON)]

    async def publish_event(event: Any) -> None:
        events.append(event)

    counts = [oracle.compute_certifier_eligibility(s, LAYER, COMMITTEE) for s in signers]
    # by default three messages certify: the threshold is the sum of the first three counts
    default_threshold = sum(c.count for c in counts[:3] if c is not None)
    certifier = BlockCertifier(
        state,
        transport,  # type: ignore[arg-type]
        GENESIS_ID,
        own or [],
        lambda: current[0],
        lambda layer: committee[0],
        lambda layer, block_id: adopted.append((layer, block_id)),
        config=CertifierConfig(COMMITTEE, threshold or default_threshold, 2),
        publish_event=publish_event,
        effective_genesis=11,
    )
    certifier.register({})
    return Setup(
        certifier, state, transport, signers, oracle, store_block(state, LAYER, 1), store_block(state, LAYER, 2),
        adopted, events, current, committee,
    )


def test_threshold_is_more_than_half_the_committee() -> None:
    assert compute_certify_threshold(200) == 101
    assert compute_certify_threshold(50) == 26
    assert compute_certify_threshold(1) == 1
    with pytest.raises(ValueError):
        compute_certify_threshold(0)


async def test_valid_message_is_accepted_and_counted() -> None:
    setup = make_setup(threshold=1000)
    validate = setup.transport.validators[TOPIC_CERTIFY]
    message = setup.message(setup.signers[0], setup.block_a)
    assert await validate(PEER, encode(message)) is ValidationResult.ACCEPT
    assert setup.certifier.certifier.has_signer(LAYER, setup.signers[0].node_id)
    # the same signer again (a gossip echo or a second block): ignored, not punished
    assert await validate(PEER, encode(setup.message(setup.signers[0], setup.block_b))) is ValidationResult.IGNORE
    assert setup.state.get_certificates(LAYER) == []


async def test_malformed_and_badly_signed_messages_are_rejected() -> None:
    setup = make_setup()
    validate = setup.transport.validators[TOPIC_CERTIFY]
    assert await validate(PEER, b"\x00\x01") is ValidationResult.REJECT
    message = setup.message(setup.signers[0], setup.block_a)
    forged = attrs.evolve(message, signature=bytes(64))
    assert await validate(PEER, encode(forged)) is ValidationResult.REJECT
    # a signature by another key than the claimed smesher
    other = setup.signers[1]
    stolen = attrs.evolve(message, signature=other.sign(SigningDomain.HARE, message.get_signed_bytes(), GENESIS_ID))
    assert await validate(PEER, encode(stolen)) is ValidationResult.REJECT
    assert not setup.certifier.certifier.has_signer(LAYER, setup.signers[0].node_id)


async def test_ineligible_messages_are_rejected() -> None:
    setup = make_setup()
    validate = setup.transport.validators[TOPIC_CERTIFY]
    # an identity outside the active set, with a well-formed VRF proof and a valid signature
    outsider = Signer.from_seed(b"\x77" * 32)
    eligibility = HareOracle({outsider.node_id: 10}, BEACON).compute_certifier_eligibility(outsider, LAYER, COMMITTEE)
    assert eligibility is not None
    content = CertifyContent(LAYER, setup.block_a, eligibility.count, eligibility.proof)
    signed = sign(outsider, content)
    assert await validate(PEER, encode(signed)) is ValidationResult.REJECT
    # a member claiming more seats than its proof is worth (re-signed, so only the count is wrong)
    honest = setup.message(setup.signers[0], setup.block_a)
    inflated_content = attrs.evolve(honest.content, eligibility_count=honest.content.eligibility_count + 5)
    inflated = CertifyMessage(inflated_content, bytes(64), honest.smesher_id)
    inflated = attrs.evolve(
        inflated, signature=setup.signers[0].sign(SigningDomain.HARE, inflated.get_signed_bytes(), GENESIS_ID)
    )
    assert await validate(PEER, encode(inflated)) is ValidationResult.REJECT
    # a zero count is no seat
    zero = CertifyMessage(attrs.evolve(honest.content, eligibility_count=0), bytes(64), honest.smesher_id)
    zero = attrs.evolve(zero, signature=setup.signers[0].sign(SigningDomain.HARE, zero.get_signed_bytes(), GENESIS_ID))
    assert await validate(PEER, encode(zero)) is ValidationResult.REJECT
    # a message for a block we do not hold is checked too before it is kept
    unknown_block = attrs.evolve(inflated_content, block_id=b"\x55" * 20)
    bad_pending = CertifyMessage(unknown_block, bytes(64), honest.smesher_id)
    assert await validate(PEER, encode(bad_pending)) is ValidationResult.REJECT
    assert setup.certifier.get_status()["pending_certify_messages"] == 0


async def test_messages_outside_the_window_are_ignored() -> None:
    setup = make_setup()
    validate = setup.transport.validators[TOPIC_CERTIFY]
    message = setup.message(setup.signers[0], setup.block_a)
    for current in (LAYER + 4, LAYER - 3):  # window [current - zdist - 1, current + zdist], zdist 2
        setup.current[0] = current
        assert await validate(PEER, encode(message)) is ValidationResult.IGNORE
    setup.current[0] = LAYER + 3  # the oldest layer still in the window
    assert await validate(PEER, encode(message)) is ValidationResult.ACCEPT
    # an unknown committee (the epoch's active set not chosen yet): cannot judge, ignored
    setup.committee[0] = None
    late = setup.message(setup.signers[1], setup.block_a)
    assert await validate(PEER, encode(late)) is ValidationResult.IGNORE


async def test_threshold_stores_certificate_publishes_event_and_adopts() -> None:
    setup = make_setup()
    validate = setup.transport.validators[TOPIC_CERTIFY]
    results = [await validate(PEER, encode(setup.message(s, setup.block_a))) for s in setup.signers[:3]]
    assert results == [ValidationResult.ACCEPT] * 3
    stored = setup.state.get_certificates(LAYER)
    assert [bid for bid, _ in stored] == [setup.block_a]
    certificate = Certificate.from_bytes(stored[0][1])
    assert certificate.block_id == setup.block_a and len(certificate.signatures) == 3
    setup.certifier.certifier.verify_certificate(certificate, LAYER, setup.oracle)
    assert setup.adopted == [(LAYER, setup.block_a)]
    assert len(setup.events) == 1
    event = setup.events[0]
    assert isinstance(event, BlockCertified)
    assert (event.layer, event.block_id, event.source, event.conflicted) == (LAYER, setup.block_a, "gossip", False)
    assert event.eligibilities == sum(m.content.eligibility_count for m in certificate.signatures)
    assert setup.certifier.get_status()["last_certified"] == LAYER
    # later messages for the certified block are still valid gossip; nothing is stored twice
    assert await validate(PEER, encode(setup.message(setup.signers[3], setup.block_a))) is ValidationResult.ACCEPT
    assert len(setup.state.get_certificates(LAYER)) == 1 and len(setup.events) == 1


async def test_a_block_the_mesh_cannot_adopt_still_leaves_the_certificate_stored() -> None:
    setup = make_setup(threshold=1)

    def refuse(layer: int, block_id: bytes | None) -> None:
        raise ValueError("layer evicted")

    setup.certifier.adopt = refuse
    validate = setup.transport.validators[TOPIC_CERTIFY]
    assert await validate(PEER, encode(setup.message(setup.signers[0], setup.block_a))) is ValidationResult.ACCEPT
    assert [bid for bid, _ in setup.state.get_certificates(LAYER)] == [setup.block_a]
    assert len(setup.events) == 1


async def test_two_certified_blocks_make_the_layer_conflicted() -> None:
    setup = make_setup(threshold=1)
    validate = setup.transport.validators[TOPIC_CERTIFY]
    assert await validate(PEER, encode(setup.message(setup.signers[0], setup.block_a))) is ValidationResult.ACCEPT
    assert await validate(PEER, encode(setup.message(setup.signers[1], setup.block_b))) is ValidationResult.ACCEPT
    assert sorted(bid for bid, _ in setup.state.get_certificates(LAYER)) == sorted([setup.block_a, setup.block_b])
    assert setup.adopted == [(LAYER, setup.block_a), (LAYER, None)]  # two certificates: empty hare output
    assert [e.conflicted for e in setup.events] == [False, True]


async def test_messages_for_an_unknown_block_wait_for_it() -> None:
    setup = make_setup()
    validate = setup.transport.validators[TOPIC_CERTIFY]
    block = Block(LAYER, 7, (), ())
    block_id = block.compute_id()
    messages = [setup.message(s, block_id) for s in setup.signers[:3]]
    for message in messages:
        assert await validate(PEER, encode(message)) is ValidationResult.IGNORE
    assert setup.state.get_certificates(LAYER) == []
    assert setup.certifier.get_status()["pending_certify_messages"] == 3
    setup.state.add_block(block_id, LAYER, encode(block))
    await setup.certifier.on_block_known(LAYER, block_id)
    assert [bid for bid, _ in setup.state.get_certificates(LAYER)] == [block_id]
    # the router did not forward them when they came: the certifier relays them now
    assert setup.transport.published == [(TOPIC_CERTIFY, encode(m)) for m in messages]
    assert setup.certifier.get_status()["pending_certify_messages"] == 0


async def test_pending_messages_are_bounded_per_signer_and_pruned() -> None:
    setup = make_setup(threshold=1000)
    validate = setup.transport.validators[TOPIC_CERTIFY]
    first, second = b"\x61" * 20, b"\x62" * 20
    assert await validate(PEER, encode(setup.message(setup.signers[0], first))) is ValidationResult.IGNORE
    # the same signer for another unknown block of the layer: not kept (no filling the buffer)
    assert await validate(PEER, encode(setup.message(setup.signers[0], second))) is ValidationResult.IGNORE
    assert await validate(PEER, encode(setup.message(setup.signers[1], second))) is ValidationResult.IGNORE
    assert setup.certifier.get_status()["pending_certify_messages"] == 2
    assert await validate(PEER, encode(setup.message(setup.signers[2], setup.block_a))) is ValidationResult.ACCEPT
    setup.current[0] = LAYER + 3  # still in the window: nothing forgotten
    setup.certifier.prune()
    assert setup.certifier.get_status()["pending_certify_messages"] == 2
    assert setup.certifier.certifier.has_signer(LAYER, setup.signers[2].node_id)
    setup.current[0] = LAYER + 4  # the layer left the window: its messages can never count again
    setup.certifier.prune()
    assert setup.certifier.get_status()["pending_certify_messages"] == 0
    assert not setup.certifier.certifier.has_signer(LAYER, setup.signers[2].node_id)


async def test_own_identities_certify_the_hare_block() -> None:
    signers, _ = find_eligible_signers(5)
    outsider = Signer.from_seed(b"\x66" * 32)  # not in the active set: signs nothing
    setup = make_setup(own=[*signers[:3], outsider])
    await setup.certifier.certify_block(LAYER, setup.block_a)
    assert all(topic == TOPIC_CERTIFY for topic, _ in setup.transport.published)
    published = [decode(CertifyMessage, data) for _, data in setup.transport.published]
    assert [m.smesher_id for m in published] == [s.node_id for s in signers[:3]]
    for message in published:
        assert message.content.block_id == setup.block_a
        setup.certifier.certifier.verify_certify_message(message, setup.oracle)
    assert [bid for bid, _ in setup.state.get_certificates(LAYER)] == [setup.block_a]
    assert setup.adopted == [(LAYER, setup.block_a)]
    # a second call (the block adopted again) signs nothing new
    await setup.certifier.certify_block(LAYER, setup.block_a)
    assert len(setup.transport.published) == 3


def sign(signer: Signer, content: CertifyContent) -> CertifyMessage:
    unsigned = CertifyMessage(content, bytes(64), signer.node_id)
    return attrs.evolve(unsigned, signature=signer.sign(SigningDomain.HARE, unsigned.get_signed_bytes(), GENESIS_ID))


def make_certificate(setup: Setup, block_id: bytes, count: int = 3) -> Certificate:
    return Certificate(block_id, tuple(setup.message(s, block_id) for s in setup.signers[:count]))


async def test_synced_certificate_is_verified_stored_and_adopted() -> None:
    setup = make_setup()
    certificate = make_certificate(setup, setup.block_b)
    await setup.certifier.process_synced_certificate(certificate.to_bytes())
    assert setup.state.get_certificates(LAYER) == [(setup.block_b, certificate.to_bytes())]
    assert setup.adopted == [(LAYER, setup.block_b)]
    assert setup.events[0].source == "sync"


@pytest.mark.parametrize(
    "forgery",
    ["empty", "below_threshold", "bad_signature", "outsider", "other_block", "repeated_signer", "unknown_block",
     "genesis_layer", "no_committee"],
)
async def test_forged_synced_certificates_are_rejected_and_not_stored(forgery: str) -> None:
    setup = make_setup()
    honest = make_certificate(setup, setup.block_a)
    signatures = list(honest.signatures)
    block_id = setup.block_a
    if forgery == "empty":
        signatures = []
    elif forgery == "below_threshold":
        signatures = signatures[:2]
    elif forgery == "bad_signature":
        signatures[1] = attrs.evolve(signatures[1], signature=bytes(64))
    elif forgery == "outsider":
        outsider = Signer.from_seed(b"\x78" * 32)
        content = attrs.evolve(signatures[0].content, eligibility_count=50)
        unsigned = CertifyMessage(content, bytes(64), outsider.node_id)
        signatures[0] = attrs.evolve(
            unsigned, signature=outsider.sign(SigningDomain.HARE, unsigned.get_signed_bytes(), GENESIS_ID)
        )
    elif forgery == "other_block":
        signatures[2] = setup.message(setup.signers[2], setup.block_b)
    elif forgery == "repeated_signer":
        signatures = [signatures[0]] * 3 + signatures[1:]
    elif forgery == "unknown_block":
        block_id = b"\x44" * 20
        signatures = [setup.message(s, block_id) for s in setup.signers[:3]]
    elif forgery == "genesis_layer":
        moved = [attrs.evolve(m.content, layer_id=5) for m in signatures]
        signatures = [sign(s, c) for s, c in zip(setup.signers[:3], moved, strict=True)]
    elif forgery == "no_committee":
        setup.committee[0] = None
    forged = Certificate(block_id, tuple(signatures))
    with pytest.raises(CertificateError):
        await setup.certifier.process_synced_certificate(forged.to_bytes())
    assert setup.state.get_certificates(LAYER) == [] and setup.state.get_certificates(5) == []
    assert setup.adopted == [] and setup.events == []


async def test_certificates_are_served_by_block_id_and_synced() -> None:
    """``hs/1`` serves a certificate under the block id; the syncer fetches it after the layer's blocks,
    checks it is the asked block's, and asks again in later rounds while a layer has none."""
    setup = make_setup()
    certificate = make_certificate(setup, setup.block_a)
    server_state = setup.state
    server_state.add_certificate(LAYER, setup.block_a, certificate.to_bytes())
    assert get_stored_certificate(server_state, setup.block_a) == certificate.to_bytes()
    assert get_stored_certificate(server_state, setup.block_b) is None
    assert get_stored_certificate(server_state, b"\x01" * 20) is None
    assert compute_object_id(Hint.CERTIFICATE, certificate.to_bytes()) == setup.block_a

    network = MemoryNetwork()
    served = MemoryTransport(network=network, peer_exchange=False)
    create_fetch_server(server_state).register(served)
    client = MemoryTransport(network=network, peer_exchange=False)
    await served.start()
    await client.start()
    try:
        await client.connect(served.get_address())
        local = StateStore(":memory:")
        processed: list[bytes] = []

        async def process_block(blob: bytes) -> None:
            block = decode(Block, blob)
            local.add_block(block.compute_id(), block.layer_index, blob)

        async def process_certificate(blob: bytes) -> None:
            found = Certificate.from_bytes(blob)
            processed.append(found.block_id)
            block = local.get_block(found.block_id)
            assert block is not None, "blocks are synced before their certificates"
            local.add_certificate(block.layer, found.block_id, blob)

        def has_object(hint: Hint, object_id: bytes) -> bool:
            if hint is Hint.BLOCK:
                return local.get_block(object_id) is not None
            if hint is Hint.CERTIFICATE:
                return get_stored_certificate(local, object_id) is not None
            return False

        time_source = VirtualTime(LAYER * 10.0 + 11.0)
        clock = LayerClock(0.0, 10.0, 6, time_source)
        syncer = Syncer(
            Fetcher(client, compute_object_id), clock,
            {Hint.BLOCK: process_block, Hint.CERTIFICATE: process_certificate}, has_object,
        )
        syncer.progress.layer = LAYER - 1
        await syncer.sync_layers()
        assert processed == [setup.block_a]  # block_b has no certificate anywhere
        assert get_stored_certificate(local, setup.block_a) == certificate.to_bytes()
        assert LAYER not in syncer.uncertified
        # a layer whose block is not certified yet is asked again next round
        layer2_block = store_block(server_state, LAYER + 1, 3)
        await time_source.advance(10.0)
        await syncer.sync_layers()
        assert syncer.uncertified == {LAYER + 1: (layer2_block,)}
        later = make_certificate(setup, layer2_block)  # the fake processor does not verify it
        server_state.add_certificate(LAYER + 1, layer2_block, later.to_bytes())
        await time_source.advance(10.0)
        await syncer.sync_layers()
        assert processed == [setup.block_a, layer2_block] and syncer.uncertified == {}
    finally:
        await client.stop()
        await served.stop()
