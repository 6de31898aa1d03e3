"""The ATX handler: valid ATXs stored with their derived fields; every invalid variant rejected with its
reason and nothing stored; equivocation turned into malfeasance proofs (protocol.md §2.2, §2.3, §2.6).

Real objects throughout: tiny PoST data (1 unit of 4096 labels, scrypt N=16), PoST proofs from the
native prover, a real PoET proof of 512 leaves over the round's members, ATXs built and signed by the
ATX builder on skipping time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

from spacemesh_core.activation.builder import AtxBuilder, PostInfo
from spacemesh_core.activation.challenge import PoetTiming
from spacemesh_core.activation.handler import (
    AtxCommitmentError,
    AtxDecodeError,
    AtxDependencyError,
    AtxHandler,
    AtxMembershipError,
    AtxNumUnitsError,
    AtxPoetError,
    AtxPositioningError,
    AtxPostError,
    AtxPrevError,
    AtxSignatureError,
    AtxStatus,
    AtxSyntaxError,
    AtxValidationConfig,
    AtxValidationError,
    AtxVrfNonceError,
    AtxWeightError,
    compute_derived_fields,
)
from spacemesh_core.activation.testing import LocalPoetService, SkippingTime, create_prove_function
from spacemesh_core.clock import LayerClock
from spacemesh_core.codec.scale import encode
from spacemesh_core.consensus.malfeasance import verify_malfeasance_proof
from spacemesh_core.crypto.signing import Domain, Signer
from spacemesh_core.post.initialize import initialize
from spacemesh_core.post.proof import compress_indices, compute_required_bits, decompress_indices
from spacemesh_core.post.prover import ProvingParams
from spacemesh_core.post.verify import InvalidVrfNonceError, verify_vrf_nonce
from spacemesh_core.storage.local import LocalStore
from spacemesh_core.storage.state import AtxRecord, StateStore
from spacemesh_core.types.atx import ActivationTxV1, MerkleProofV1
from spacemesh_core.types.malfeasance import MalfeasanceProof, MalfeasanceType
from spacemesh_core.types.primitives import EMPTY_ATX_ID

GENESIS_ID = bytes(range(20))
GOLDEN_ATX = b"\xaa" * 32
POW_DIFFICULTY = bytes.fromhex("ff" * 32)  # about one RandomX hash per nonce group
LABELS_PER_UNIT = 4096
SCRYPT_N = 16
POET_LEAVES = 512
TICK_SIZE = 16
K1 = 48  # more good labels per nonce than K2 needs: the first pass of nonces finds a proof
CONFIG = AtxValidationConfig(
    tick_size=TICK_SIZE,
    labels_per_unit=LABELS_PER_UNIT,
    min_num_units=1,
    max_num_units=8,
    scrypt_n=SCRYPT_N,
    k1=K1,
    k2=37,
    k3=37,
    pow_difficulty=POW_DIFFICULTY,
)
TIMING = PoetTiming(phase_shift_s=2.0, cycle_gap_s=1.0, grace_period_s=0.5)


@attrs.frozen
class Chain:
    """Two consecutive ATXs of one identity, their PoET proofs and the signer."""

    signer: Signer
    atx1: ActivationTxV1
    atx2: ActivationTxV1
    poet_proofs: dict[bytes, bytes]  # ref -> PoetProofMessage bytes
    vrf_nonce: int
    post_dir: Path


def make_clock(time_source: Any) -> LayerClock:
    return LayerClock(0.0, 1.0, 4, time_source)


async def _build_chain(directory: Path) -> Chain:
    signer = Signer.from_seed(b"\x11" * 32)
    result = initialize(directory, signer.node_id, GOLDEN_ATX, 1, LABELS_PER_UNIT, SCRYPT_N, 16 * LABELS_PER_UNIT)
    assert result.metadata.nonce is not None
    clock = make_clock(SkippingTime(0.0))
    state, local = StateStore(), LocalStore()
    published: list[bytes] = []

    async def publish(blob: bytes) -> None:
        published.append(blob)

    builder = AtxBuilder(
        signer,
        local=local,
        state=state,
        clock=clock,
        timing=TIMING,
        genesis_id=GENESIS_ID,
        golden_atx=GOLDEN_ATX,
        coinbase=b"\x00" * 4 + b"\x01" * 20,
        post_info=PostInfo(1, LABELS_PER_UNIT, GOLDEN_ATX, result.metadata.nonce),
        prove=create_prove_function(directory, ProvingParams(K1, 37, POW_DIFFICULTY)),
        poet=LocalPoetService(clock, TIMING, leaves=POET_LEAVES),
        publish=publish,
    )
    first = await builder.build_next_atx()
    # the builder's own node stores its ATX through the handler (needed for the next positioning ATX)
    handler = AtxHandler(state, GENESIS_ID, GOLDEN_ATX, clock, CONFIG)
    assert (await handler.process_atx(first)).status is AtxStatus.STORED
    second = await builder.build_next_atx()
    proofs = {}
    for blob in (first, second):
        atx = ActivationTxV1.from_bytes(blob)
        assert atx.inner.nipost is not None and atx.inner.nipost.post_metadata is not None
        ref = bytes(atx.inner.nipost.post_metadata.challenge)
        stored = state.get_poet_proof(ref)
        assert stored is not None
        proofs[ref] = stored[1]
    return Chain(
        signer,
        ActivationTxV1.from_bytes(first),
        ActivationTxV1.from_bytes(second),
        proofs,
        result.metadata.nonce,
        directory,
    )


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Chain:
    return asyncio.run(_build_chain(tmp_path_factory.mktemp("post")))


class Env:
    """A fresh state and handler whose clock stands in the second ATX's publish epoch."""

    def __init__(self, chain: Chain, **handler_options: Any) -> None:
        self.chain = chain
        self.state = StateStore()
        self.clock = make_clock(SkippingTime(4.0 * chain.atx2.publish_epoch + 0.5))
        self.fetched: list[bytes] = []

        async def fetch_poet_proof(ref: bytes) -> bytes | None:
            self.fetched.append(ref)
            return chain.poet_proofs.get(ref)

        options: dict[str, Any] = {"fetch_poet_proof": fetch_poet_proof, "local_id": b"peer"}
        options.update(handler_options)
        config = options.pop("config", CONFIG)
        self.handler = AtxHandler(self.state, GENESIS_ID, GOLDEN_ATX, self.clock, config, **options)

    def is_untouched(self) -> bool:
        rows = self.state.db.conn.execute("SELECT COUNT(*) FROM atxs").fetchone()[0]
        return rows == 0 and not self.state.get_malicious_ids()


@pytest.fixture
def env(chain: Chain) -> Iterator[Env]:
    environment = Env(chain)
    yield environment
    environment.state.close()


def resign(atx: ActivationTxV1, signer: Signer, **inner_changes: Any) -> ActivationTxV1:
    """Return ``atx`` with changed inner fields (challenge fields via ``challenge=``), signed again."""
    inner = attrs.evolve(atx.inner, **inner_changes)
    unsigned = ActivationTxV1(inner, signer.node_id, bytes(64))
    return attrs.evolve(unsigned, signature=signer.sign(Domain.ATX, unsigned.get_signed_bytes(), GENESIS_ID))


def with_challenge(atx: ActivationTxV1, signer: Signer, **changes: Any) -> ActivationTxV1:
    return resign(atx, signer, challenge=attrs.evolve(atx.inner.challenge, **changes))


def with_nipost(atx: ActivationTxV1, signer: Signer, **changes: Any) -> ActivationTxV1:
    assert atx.inner.nipost is not None
    return resign(atx, signer, nipost=attrs.evolve(atx.inner.nipost, **changes))


# ------------------------------------------------------------------------------------------------
# Valid ATXs
# ------------------------------------------------------------------------------------------------


async def test_initial_atx_is_stored_with_its_derived_fields(env: Env, chain: Chain) -> None:
    outcome = await env.handler.process_atx(chain.atx1.to_bytes(), received=123.0)
    assert outcome.status is AtxStatus.STORED and outcome.malfeasance_proof is None
    record = env.state.get_atx(chain.atx1.compute_id())
    assert record == outcome.record
    assert record is not None
    ticks = POET_LEAVES // TICK_SIZE
    assert (record.num_units, record.base_tick_height, record.tick_count, record.tick_height, record.weight) == (
        1,
        0,
        ticks,
        ticks,
        ticks,
    )
    assert record.node_id == chain.signer.node_id and record.publish_epoch == chain.atx1.publish_epoch
    assert record.sequence == 0 and record.prev_atx_id == EMPTY_ATX_ID
    assert record.commitment_atx_id == GOLDEN_ATX and record.positioning_atx_id == GOLDEN_ATX
    assert record.vrf_nonce == chain.vrf_nonce and record.received == 123.0 and record.blob == chain.atx1.to_bytes()
    assert record.coinbase == bytes(chain.atx1.inner.coinbase)
    ref = bytes(chain.atx1.inner.nipost.post_metadata.challenge)  # type: ignore[union-attr]
    assert env.state.get_poet_proof(ref) is not None and env.fetched == [ref]
    again = await env.handler.process_atx(chain.atx1.to_bytes())
    assert again.status is AtxStatus.KNOWN and again.record == record


async def test_second_atx_links_to_the_first_and_stacks_ticks(env: Env, chain: Chain) -> None:
    await env.handler.process_atx(chain.atx1.to_bytes())
    outcome = await env.handler.process_atx(chain.atx2.to_bytes())
    record = outcome.record
    assert outcome.status is AtxStatus.STORED and record is not None
    ticks = POET_LEAVES // TICK_SIZE
    assert chain.atx2.inner.challenge.positioning_atx_id == chain.atx1.compute_id()
    assert (record.base_tick_height, record.tick_count, record.tick_height, record.weight) == (
        ticks,
        ticks,
        2 * ticks,
        ticks,
    )
    assert record.sequence == 1 and record.prev_atx_id == chain.atx1.compute_id()
    # inherited from the chain: the commitment ATX and the VRF nonce (the ATX does not repeat it)
    assert chain.atx2.inner.vrf_nonce is None and chain.atx2.inner.node_id is None
    assert record.commitment_atx_id == GOLDEN_ATX and record.vrf_nonce == chain.vrf_nonce
    assert env.state.get_last_atx_of_node(chain.signer.node_id) == record


async def test_missing_dependency_is_fetched_and_validated_first(chain: Chain) -> None:
    requested: list[bytes] = []

    async def fetch_atx(atx_id: bytes) -> bytes | None:
        requested.append(atx_id)
        return chain.atx1.to_bytes() if atx_id == chain.atx1.compute_id() else None

    without = Env(chain)
    with pytest.raises(AtxDependencyError, match="previous ATX"):
        await without.handler.process_atx(chain.atx2.to_bytes())
    assert without.is_untouched()
    fetching = Env(chain, fetch_atx=fetch_atx)
    outcome = await fetching.handler.process_atx(chain.atx2.to_bytes())
    assert outcome.status is AtxStatus.STORED
    assert requested == [chain.atx1.compute_id()]  # prev (positioning is the same ATX, then stored)
    assert fetching.state.get_atx(chain.atx1.compute_id()) is not None

    async def fetch_garbage(atx_id: bytes) -> bytes | None:
        return b"garbage"

    broken = Env(chain, fetch_atx=fetch_garbage)
    with pytest.raises(AtxDependencyError, match="invalid"):
        await broken.handler.process_atx(chain.atx2.to_bytes())
    assert broken.is_untouched()


# ------------------------------------------------------------------------------------------------
# Invalid variants: each rejected with its reason, nothing stored
# ------------------------------------------------------------------------------------------------


def _flip_signature(atx: ActivationTxV1) -> ActivationTxV1:
    return attrs.evolve(atx, signature=bytes([atx.signature[0] ^ 1]) + atx.signature[1:])


def _bad_vrf_nonce(chain: Chain) -> int:
    for candidate in range(LABELS_PER_UNIT):
        try:
            verify_vrf_nonce(candidate, chain.signer.node_id, GOLDEN_ATX, 1, LABELS_PER_UNIT, SCRYPT_N)
        except InvalidVrfNonceError:
            return candidate
    raise AssertionError("every label is a valid VRF nonce?")


INITIAL_VARIANTS: dict[str, tuple[type[AtxValidationError], str, Any]] = {
    "bad signature": (AtxSignatureError, "invalid ATX signature", lambda c: _flip_signature(c.atx1)),
    "signed by another key": (
        AtxSignatureError,
        "signature",
        lambda c: attrs.evolve(c.atx1, smesher_id=Signer.from_seed(b"x" * 32).node_id),
    ),
    "no nipost": (AtxSyntaxError, "no NIPoST", lambda c: resign(c.atx1, c.signer, nipost=None)),
    "no post": (AtxSyntaxError, "no NIPoST", lambda c: with_nipost(c.atx1, c.signer, post=None)),
    "epoch too far": (
        AtxSyntaxError,
        "beyond the current epoch",
        lambda c: with_challenge(c.atx1, c.signer, publish_epoch=9),
    ),
    "empty positioning": (
        AtxSyntaxError,
        "positioning ATX is empty",
        lambda c: with_challenge(c.atx1, c.signer, positioning_atx_id=EMPTY_ATX_ID),
    ),
    "initial without vrf nonce": (AtxSyntaxError, "VRF nonce", lambda c: resign(c.atx1, c.signer, vrf_nonce=None)),
    "initial without node id": (AtxSyntaxError, "node id", lambda c: resign(c.atx1, c.signer, node_id=None)),
    "initial with other node id": (
        AtxSyntaxError,
        "smesher id",
        lambda c: resign(c.atx1, c.signer, node_id=b"\x05" * 32),
    ),
    "initial without initial post": (
        AtxSyntaxError,
        "initial PoST",
        lambda c: with_challenge(c.atx1, c.signer, initial_post=None),
    ),
    "initial without commitment": (
        AtxSyntaxError,
        "commitment ATX",
        lambda c: with_challenge(c.atx1, c.signer, commitment_atx_id=None),
    ),
    "initial with empty commitment": (
        AtxSyntaxError,
        "commitment ATX",
        lambda c: with_challenge(c.atx1, c.signer, commitment_atx_id=EMPTY_ATX_ID),
    ),
    "initial with sequence 1": (AtxSyntaxError, "sequence 0", lambda c: with_challenge(c.atx1, c.signer, sequence=1)),
    "zero units": (AtxNumUnitsError, "num units 0", lambda c: resign(c.atx1, c.signer, num_units=0)),
    "too many units": (AtxNumUnitsError, "num units 9", lambda c: resign(c.atx1, c.signer, num_units=9)),
    "too few labels per unit": (
        AtxNumUnitsError,
        "labels per unit",
        lambda c: with_nipost(
            c.atx1, c.signer, post_metadata=attrs.evolve(c.atx1.inner.nipost.post_metadata, labels_per_unit=2048)
        ),
    ),
    "bad vrf nonce": (
        AtxVrfNonceError,
        "invalid VRF nonce",
        lambda c: resign(c.atx1, c.signer, vrf_nonce=_bad_vrf_nonce(c)),
    ),
    "bad initial post pow": (
        AtxPostError,
        "invalid initial PoST",
        lambda c: with_challenge(
            c.atx1,
            c.signer,
            initial_post=attrs.evolve(
                c.atx1.inner.challenge.initial_post, pow=c.atx1.inner.challenge.initial_post.pow + 1
            ),
        ),
    ),
    "membership of another leaf": (
        AtxMembershipError,
        "not a member",
        lambda c: with_nipost(
            c.atx1,
            c.signer,
            membership=MerkleProofV1(
                c.atx1.inner.nipost.membership.nodes, c.atx1.inner.nipost.membership.leaf_index ^ 1
            ),
        ),
    ),
    "unknown poet proof": (
        AtxDependencyError,
        "PoET proof",
        lambda c: with_nipost(
            c.atx1, c.signer, post_metadata=attrs.evolve(c.atx1.inner.nipost.post_metadata, challenge=b"\x01" * 32)
        ),
    ),
    "non-initial fields on a later ATX": (
        AtxSyntaxError,
        "must not carry",
        lambda c: resign(c.atx2, c.signer, node_id=c.signer.node_id),
    ),
}


@pytest.mark.parametrize("name", sorted(INITIAL_VARIANTS))
async def test_invalid_variant_is_rejected_and_nothing_stored(name: str, env: Env, chain: Chain) -> None:
    error, message, mutate = INITIAL_VARIANTS[name]
    atx = mutate(chain)
    with pytest.raises(error, match=message):
        await env.handler.process_atx(atx.to_bytes())
    assert env.is_untouched()
    assert not env.state.db.conn.execute("SELECT COUNT(*) FROM poet_proofs").fetchone()[0]


async def test_undecodable_bytes_are_rejected(env: Env, chain: Chain) -> None:
    for blob in (b"", b"\x00" * 10, chain.atx1.to_bytes()[:-1], chain.atx1.to_bytes() + b"\x00"):
        with pytest.raises(AtxDecodeError):
            await env.handler.process_atx(blob)
    assert env.is_untouched()


async def test_poet_proof_that_is_not_the_referenced_one_is_rejected(chain: Chain) -> None:
    refs = list(chain.poet_proofs)

    async def wrong_proof(ref: bytes) -> bytes | None:
        return chain.poet_proofs[refs[1] if ref == refs[0] else refs[0]]

    environment = Env(chain, fetch_poet_proof=wrong_proof)
    with pytest.raises(AtxPoetError, match="not"):
        await environment.handler.process_atx(chain.atx1.to_bytes())
    assert environment.is_untouched()


async def test_poet_proof_worth_less_than_a_tick_is_rejected(chain: Chain) -> None:
    environment = Env(chain, config=attrs.evolve(CONFIG, tick_size=POET_LEAVES + 1))
    with pytest.raises(AtxPoetError, match="fewer than one tick"):
        await environment.handler.process_atx(chain.atx1.to_bytes())
    assert environment.is_untouched()


def _fake_record(atx_id: bytes, epoch: int) -> AtxRecord:
    return AtxRecord(atx_id, epoch, b"\x77" * 32, 1, 1, 1, 0.0, b"", tick_height=5)


async def test_positioning_and_commitment_atxs_must_be_older(
    env: Env, chain: Chain, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def skip(*args: Any) -> None:
        return None

    # Another commitment ATX makes other labels, so the VRF nonce and initial PoST (tested above) would
    # fail first; skip those two checks to reach the ordering rule.
    monkeypatch.setattr(env.handler, "_verify_vrf_nonce", skip)
    monkeypatch.setattr(env.handler, "_verify_initial_post", skip)
    late = b"\x42" * 32
    env.state.add_atx(_fake_record(late, chain.atx1.publish_epoch))  # published in the same epoch: too late
    for changes, error in (
        ({"positioning_atx_id": late}, AtxPositioningError),
        ({"commitment_atx_id": late}, AtxCommitmentError),
    ):
        with pytest.raises(error, match="not older"):
            await env.handler.process_atx(with_challenge(chain.atx1, chain.signer, **changes).to_bytes())
    assert env.state.get_atx_ids_in_epoch(chain.atx1.publish_epoch) == [late]
    with pytest.raises(AtxDependencyError, match="positioning ATX"):
        await env.handler.process_atx(
            with_challenge(chain.atx1, chain.signer, positioning_atx_id=b"\x43" * 32).to_bytes()
        )


async def test_previous_atx_rules(env: Env, chain: Chain) -> None:
    await env.handler.process_atx(chain.atx1.to_bytes())
    other = Signer.from_seed(b"\x22" * 32)
    variants = [
        (resign(chain.atx2, other), "another smesher"),
        (with_challenge(chain.atx2, chain.signer, sequence=2), "does not follow"),
        (with_challenge(chain.atx2, chain.signer, publish_epoch=chain.atx1.publish_epoch), "not older"),
    ]
    for atx, message in variants:
        with pytest.raises(AtxPrevError, match=message):
            await env.handler.process_atx(atx.to_bytes())
    assert env.state.get_atx_ids_in_epoch(chain.atx2.publish_epoch) == []
    assert not env.state.get_malicious_ids()


async def test_grown_units_make_the_vrf_nonce_be_checked_again(env: Env, chain: Chain) -> None:
    await env.handler.process_atx(chain.atx1.to_bytes())
    # two units: the nonce is re-verified for the larger data (and the PoST then fails: other label count)
    with pytest.raises((AtxVrfNonceError, AtxPostError)):
        await env.handler.process_atx(resign(chain.atx2, chain.signer, num_units=2).to_bytes())
    assert env.state.get_atx_ids_in_epoch(chain.atx2.publish_epoch) == []


# ------------------------------------------------------------------------------------------------
# Malfeasance
# ------------------------------------------------------------------------------------------------


def _tamper_post_index(chain: Chain, atx: ActivationTxV1, env: Env) -> tuple[ActivationTxV1, int]:
    """Replace one PoST index with a label that does not qualify; return the ATX and the position."""
    nipost = atx.inner.nipost
    assert nipost is not None and nipost.post is not None
    bits = compute_required_bits(LABELS_PER_UNIT)
    indices = decompress_indices(nipost.post.indices, bits, CONFIG.k2)
    for position in range(len(indices)):
        for candidate in range(LABELS_PER_UNIT):
            changed = list(indices)
            changed[position] = candidate
            post = attrs.evolve(nipost.post, indices=compress_indices(changed, bits))
            tampered = with_nipost(atx, chain.signer, post=post)
            if not env.handler.is_post_index_valid(tampered, position):
                return tampered, position
    raise AssertionError("no failing index found")


async def test_invalid_post_index_yields_a_proof_and_rejects_the_atx(env: Env, chain: Chain) -> None:
    tampered, position = _tamper_post_index(chain, chain.atx1, env)
    with pytest.raises(AtxPostError, match="invalid PoST") as caught:
        await env.handler.process_atx(tampered.to_bytes())
    proof = caught.value.malfeasance_proof
    assert proof is not None and proof.proof_type is MalfeasanceType.INVALID_POST_INDEX
    assert proof.proof.invalid_idx == position and proof.proof.atx == tampered
    assert env.state.get_atx(tampered.compute_id()) is None
    assert env.state.get_malfeasance_proof(chain.signer.node_id) == proof.to_bytes()
    accused = verify_malfeasance_proof(proof, GENESIS_ID, is_post_index_valid=env.handler.is_post_index_valid)
    assert accused == chain.signer.node_id
    assert env.handler.is_post_index_valid(chain.atx1, position)  # the honest proof verifies there


async def test_second_atx_in_an_epoch_yields_a_multiple_atxs_proof(env: Env, chain: Chain) -> None:
    await env.handler.process_atx(chain.atx1.to_bytes())
    twin = resign(chain.atx1, chain.signer, coinbase=b"\x00" * 4 + b"\x09" * 20)  # valid, but a second ATX
    outcome = await env.handler.process_atx(twin.to_bytes())
    assert outcome.status is AtxStatus.MALFEASANCE and outcome.record is None
    proof = outcome.malfeasance_proof
    assert proof is not None and proof.proof_type is MalfeasanceType.MULTIPLE_ATXS
    assert env.state.get_atx(twin.compute_id()) is None
    assert env.state.get_atx_ids_in_epoch(chain.atx1.publish_epoch) == [chain.atx1.compute_id()]
    stored = env.state.get_malfeasance_proof(chain.signer.node_id)
    assert stored is not None and MalfeasanceProof.from_bytes(stored) == proof
    assert verify_malfeasance_proof(proof, GENESIS_ID) == chain.signer.node_id


async def test_reused_previous_atx_yields_an_invalid_prev_atx_proof(env: Env, chain: Chain) -> None:
    await env.handler.process_atx(chain.atx1.to_bytes())
    # another ATX of the smesher already names atx1 as previous, in a later epoch
    sibling = chain.atx2
    env.state.add_atx(
        AtxRecord(
            sibling.compute_id(),
            sibling.publish_epoch + 1,
            chain.signer.node_id,
            1,
            1,
            1,
            0.0,
            sibling.to_bytes(),
            prev_atx_id=chain.atx1.compute_id(),
            sequence=1,
        )
    )
    twin = resign(chain.atx2, chain.signer, coinbase=b"\x00" * 4 + b"\x09" * 20)
    outcome = await env.handler.process_atx(twin.to_bytes())
    assert outcome.status is AtxStatus.STORED and outcome.record is not None
    proof = outcome.malfeasance_proof
    assert proof is not None and proof.proof_type is MalfeasanceType.INVALID_PREV_ATX
    assert verify_malfeasance_proof(proof, GENESIS_ID) == chain.signer.node_id
    assert env.state.is_malicious(chain.signer.node_id)


# ------------------------------------------------------------------------------------------------
# Derived fields
# ------------------------------------------------------------------------------------------------


def test_derived_fields_follow_the_spec_and_check_overflow() -> None:
    fields = compute_derived_fields(
        num_units=4, previous_num_units=3, base_tick_height=100, poet_leaves=1000, tick_size=9
    )
    assert (fields.effective_num_units, fields.tick_count, fields.tick_height, fields.weight) == (3, 111, 211, 333)
    assert compute_derived_fields(2, None, 0, 7, 7).weight == 2
    assert compute_derived_fields(2, 5, 0, 7, 7).effective_num_units == 2  # min(prev, this)
    with pytest.raises(AtxWeightError, match="weight"):
        compute_derived_fields(2**40, None, 0, 2**30 * 16, 16)
    with pytest.raises(AtxWeightError, match="tick height"):
        compute_derived_fields(1, None, 2**64 - 1, 16, 16)
    with pytest.raises(ValueError, match="tick size"):
        compute_derived_fields(1, None, 0, 16, 0)


def test_atx_bytes_round_trip(chain: Chain) -> None:
    for atx in (chain.atx1, chain.atx2):
        assert ActivationTxV1.from_bytes(atx.to_bytes()) == atx and encode(atx) == atx.to_bytes()
