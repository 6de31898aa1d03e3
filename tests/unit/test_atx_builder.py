"""The ATX builder (phases persisted, resumed after a kill at every phase, deadlines), the NIPoST challenge
and PoET timetable, and PoST setup (states, the data lock, stale locks, another identity's data)."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any

import cbor2
import pytest

from spacemesh_core.activation.builder import (
    PHASE_ATX_BUILT,
    PHASE_CHALLENGE,
    PHASE_PUBLISHED,
    PHASE_REGISTERED,
    PHASE_WAITING,
    PHASES,
    AtxBuilder,
    BuilderError,
    BuilderEvent,
    PostInfo,
)
from spacemesh_core.activation.challenge import (
    ChallengeError,
    PoetTiming,
    PreviousAtx,
    build_nipost_challenge,
    compute_epoch_schedule,
    get_next_publish_epoch,
    select_positioning_atx,
)
from spacemesh_core.activation.handler import AtxHandler
from spacemesh_core.activation.post_setup import (
    LOCK_FILE_NAME,
    IdentityInUseError,
    PostDataLock,
    PostSetup,
    PostSetupError,
    PostSetupOptions,
    PostSetupState,
)
from spacemesh_core.activation.testing import LocalPoetService, SkippingTime, create_prove_function
from spacemesh_core.crypto.signing import Signer
from spacemesh_core.post.prover import ProvingParams
from spacemesh_core.storage.local import LocalStore, NipostState
from spacemesh_core.storage.state import AtxRecord, StateStore
from spacemesh_core.types.atx import ActivationTxV1, PostV1
from tests.unit.test_atx_handler import (
    CONFIG,
    GENESIS_ID,
    GOLDEN_ATX,
    K1,
    LABELS_PER_UNIT,
    POW_DIFFICULTY,
    SCRYPT_N,
    TIMING,
    make_clock,
)

COINBASE = b"\x00" * 4 + b"\x02" * 20


# ------------------------------------------------------------------------------------------------
# Timetable and challenge
# ------------------------------------------------------------------------------------------------


def test_epoch_schedule_follows_the_poet_timing() -> None:
    clock = make_clock(SkippingTime())  # epochs of 4 s from t = 0
    schedule = compute_epoch_schedule(clock, TIMING, 3)
    # round for publish epoch 3 starts in epoch 2 (t = 8) + phase shift 2
    assert (schedule.window_opens, schedule.round_start, schedule.round_end) == (9.5, 10.0, 13.0)
    assert (schedule.proof_deadline, schedule.publish_deadline) == (15.0, 16.0)
    assert schedule.is_registration_open(9.99) and not schedule.is_registration_open(10.0)
    assert get_next_publish_epoch(clock, TIMING, 0.0) == 1
    assert get_next_publish_epoch(clock, TIMING, 2.0) == 2  # round 0 closed at t = 2
    assert get_next_publish_epoch(clock, TIMING, 2.0, min_epoch=5) == 5
    with pytest.raises(ValueError, match="first publish epoch"):
        compute_epoch_schedule(clock, TIMING, 0)
    with pytest.raises(ValueError):
        PoetTiming(-1.0, 1.0, 1.0)


def test_positioning_atx_is_the_highest_older_honest_one() -> None:
    state = StateStore()

    def record(i: int, epoch: int, height: int, node: bytes | None = None) -> AtxRecord:
        return AtxRecord(bytes([i]) * 32, epoch, node or bytes([50 + i]) * 32, 1, 1, 1, 0.0, b"", tick_height=height)

    assert select_positioning_atx(state, 3, GOLDEN_ATX).atx_id == GOLDEN_ATX
    for atx in (record(1, 1, 10), record(2, 2, 30), record(3, 3, 99), record(4, 2, 50)):
        state.add_atx(atx)
    assert select_positioning_atx(state, 3, GOLDEN_ATX).atx_id == bytes([4]) * 32  # epoch 3 is not older
    state.add_malfeasance_proof(bytes([54]) * 32, b"proof", 0.0)
    assert select_positioning_atx(state, 3, GOLDEN_ATX).atx_id == bytes([2]) * 32  # malicious skipped
    own = record(1, 1, 30)
    assert select_positioning_atx(state, 3, GOLDEN_ATX, own).atx_id == own.id  # own at least as high
    assert select_positioning_atx(state, 3, GOLDEN_ATX, record(1, 1, 29)).atx_id == bytes([2]) * 32


def test_challenge_rules() -> None:
    post = PostV1(1, b"\x01", 2)
    initial = build_nipost_challenge(1, GOLDEN_ATX, None, commitment_atx_id=GOLDEN_ATX, initial_post=post)
    assert initial.is_initial() and initial.sequence == 0 and initial.initial_post == post
    later = build_nipost_challenge(3, b"\x05" * 32, PreviousAtx(b"\x06" * 32, 2, 4))
    assert (later.sequence, later.prev_atx_id, later.commitment_atx_id) == (5, b"\x06" * 32, None)
    with pytest.raises(ChallengeError, match="initial challenge needs"):
        build_nipost_challenge(1, GOLDEN_ATX, None)
    with pytest.raises(ChallengeError, match="only the initial"):
        build_nipost_challenge(3, GOLDEN_ATX, PreviousAtx(b"\x06" * 32, 2, 0), initial_post=post)
    with pytest.raises(ChallengeError, match="older"):
        build_nipost_challenge(2, GOLDEN_ATX, PreviousAtx(b"\x06" * 32, 2, 0))
    with pytest.raises(ChallengeError, match="positioning"):
        build_nipost_challenge(2, bytes(32), PreviousAtx(b"\x06" * 32, 1, 0))


# ------------------------------------------------------------------------------------------------
# The builder
# ------------------------------------------------------------------------------------------------


class Killed(Exception):
    """Simulates the process dying right after a phase was persisted."""


class Rig:
    """Stores, clock, PoET and PoST data of one identity; builds fresh builders over them."""

    def __init__(self, directory: Path, local_path: Path, state: StateStore | None = None) -> None:
        from spacemesh_core.post.initialize import initialize

        self.signer = Signer.from_seed(b"\x33" * 32)
        self.directory = directory
        metadata = initialize(
            directory, self.signer.node_id, GOLDEN_ATX, 1, LABELS_PER_UNIT, SCRYPT_N, 16 * LABELS_PER_UNIT
        ).metadata
        assert metadata.nonce is not None
        self.post_info = PostInfo(1, LABELS_PER_UNIT, GOLDEN_ATX, metadata.nonce)
        self.time = SkippingTime(0.0)
        self.clock = make_clock(self.time)
        self.local_path = local_path
        self.local = LocalStore(local_path)
        self.state = state or StateStore()
        self.poet = LocalPoetService(self.clock, TIMING, leaves=512)
        self.published: list[bytes] = []
        self.events: list[BuilderEvent] = []
        self.prove_calls = 0
        prove = create_prove_function(directory, ProvingParams(K1, 37, POW_DIFFICULTY))

        def counting_prove(challenge: bytes, should_stop: Any) -> PostV1:
            self.prove_calls += 1
            return prove(challenge, should_stop)

        self.prove = counting_prove
        self.handler = AtxHandler(self.state, GENESIS_ID, GOLDEN_ATX, self.clock, CONFIG)

    async def publish(self, blob: bytes) -> None:
        self.published.append(blob)
        await self.handler.process_atx(blob)

    def create_builder(self, notify: Any = None, **options: Any) -> AtxBuilder:
        async def record(event: BuilderEvent) -> None:
            self.events.append(event)
            if notify is not None:
                await notify(event)

        values: dict[str, Any] = {
            "local": self.local,
            "state": self.state,
            "clock": self.clock,
            "timing": TIMING,
            "genesis_id": GENESIS_ID,
            "golden_atx": GOLDEN_ATX,
            "coinbase": COINBASE,
            "post_info": self.post_info,
            "prove": self.prove,
            "poet": self.poet,
            "publish": self.publish,
            "notify": record,
        }
        values.update(options)
        return AtxBuilder(self.signer, **values)

    def reopen_local(self) -> None:
        """Close and reopen local.sql, as a restarted process would."""
        self.local.close()
        self.local = LocalStore(self.local_path)


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    return Rig(tmp_path / "post", tmp_path / "local.sql")


async def test_builder_publishes_a_chain_of_valid_atxs(rig: Rig) -> None:
    builder = rig.create_builder()
    first = ActivationTxV1.from_bytes(await builder.build_next_atx())
    second = ActivationTxV1.from_bytes(await builder.build_next_atx())
    assert first.inner.challenge.is_initial() and first.publish_epoch == 1
    assert second.publish_epoch == 2 and second.inner.challenge.prev_atx_id == first.compute_id()
    assert second.inner.challenge.positioning_atx_id == first.compute_id()
    for atx in (first, second):
        record = rig.state.get_atx(atx.compute_id())
        assert record is not None and record.coinbase == COINBASE  # stored by the handler: valid
    assert builder.published == [first.compute_id(), second.compute_id()]
    assert [e.phase for e in rig.events[: len(PHASES) + 1]] == [PHASE_WAITING, *PHASES]
    assert builder.get_phase() == (PHASE_PUBLISHED, 2)
    assert rig.local.get_poet_registrations(rig.signer.node_id) == []  # cleared once published
    assert rig.prove_calls == 3  # the initial PoST, then one PoST per ATX


@pytest.mark.parametrize("rounds", [2])
async def test_builder_killed_after_every_phase_resumes_and_still_publishes(rig: Rig, rounds: int) -> None:
    killed_at: list[str] = []

    async def kill_on_new_phase(event: BuilderEvent) -> None:
        key = f"{event.publish_epoch}:{event.phase}:{sorted(event.details)}"
        if key not in killed_at:
            killed_at.append(key)
            raise Killed(key)

    def published_ids() -> list[bytes]:
        return list(dict.fromkeys(ActivationTxV1.from_bytes(b).compute_id() for b in rig.published))

    attempts = 0
    while len(published_ids()) < rounds:
        attempts += 1
        assert attempts < 40, f"the builder does not make progress across restarts: {killed_at}"
        builder = rig.create_builder(notify=kill_on_new_phase)
        with pytest.raises(Killed):  # every run dies right after persisting a new phase
            await builder.build_next_atx()
        rig.reopen_local()  # the process dies; a new one opens local.sql again
    assert {key.split(":")[1] for key in killed_at} == set(PHASES)
    ids = published_ids()
    assert len(rig.published) == len(ids) == rounds  # a kill after publishing does not publish again
    epochs = [rig.state.get_atx(atx_id).publish_epoch for atx_id in ids]  # type: ignore[union-attr]
    assert epochs == [1, 2]  # stored by the handler, hence valid; no epoch missed
    assert not rig.state.get_malicious_ids()
    # nothing was done twice that was persisted: the initial PoST once, one PoST per ATX
    assert rig.prove_calls == 1 + rounds


async def test_registration_retries_then_misses_the_epoch(rig: Rig) -> None:
    rig.poet.refuse_registrations = True
    builder = rig.create_builder(retry_interval_s=0.25)
    task = asyncio.create_task(builder.build_next_atx())

    def missed() -> bool:
        return any(e.details.get("missed_epoch") == 1 for e in rig.events)

    while not missed():
        await asyncio.sleep(0)
    assert builder.get_phase() == (PHASE_WAITING, 2) and rig.poet.register_calls >= 2
    rig.poet.refuse_registrations = False
    blob = await task
    assert ActivationTxV1.from_bytes(blob).publish_epoch == 2
    assert rig.state.get_atx(ActivationTxV1.from_bytes(blob).compute_id()) is not None


async def test_a_missing_poet_proof_and_a_late_atx_drop_the_challenge(rig: Rig) -> None:
    async def stop_after(event: BuilderEvent) -> None:
        if event.phase in (PHASE_REGISTERED, PHASE_ATX_BUILT):
            raise Killed(event.phase)

    builder = rig.create_builder(notify=stop_after)
    with pytest.raises(Killed):
        await builder.build_next_atx()
    rig.poet.rounds.clear()  # the PoET lost the round: no proof will come
    with pytest.raises(Killed):  # restarting: the proof is missing, the epoch is missed...
        await rig.create_builder(notify=stop_after).build_next_atx()
    phase = builder.get_phase()
    assert phase is not None and phase[0] in (PHASE_REGISTERED, PHASE_ATX_BUILT)
    missed = [e for e in rig.events if "missed_epoch" in e.details]
    assert missed and "no PoET proof" in missed[0].details["reason"]
    # the next epoch reaches atx_built; then time passes the end of the publish epoch
    while builder.get_phase() != (PHASE_ATX_BUILT, 2):
        with pytest.raises(Killed):
            await rig.create_builder(notify=stop_after).build_next_atx()
    await rig.time.sleep_until(compute_epoch_schedule(rig.clock, TIMING, 2).publish_deadline)
    with pytest.raises(Killed):
        await rig.create_builder(notify=stop_after).build_next_atx()
    assert (
        "after its publish epoch ended" in [e for e in rig.events if "missed_epoch" in e.details][-1].details["reason"]
    )
    assert rig.published == []


async def test_cancelling_the_builder_stops_the_proving_thread(rig: Rig) -> None:
    started, stopped = threading.Event(), threading.Event()

    def slow_prove(challenge: bytes, should_stop: Any) -> PostV1:
        started.set()
        while not should_stop():
            threading.Event().wait(0.01)
        stopped.set()
        raise RuntimeError("stopped")

    task = asyncio.create_task(rig.create_builder(prove=slow_prove).build_next_atx())
    while not started.is_set():
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert stopped.is_set()  # the thread ended before the builder returned


async def test_corrupt_state_and_bad_coinbase_are_errors(rig: Rig) -> None:
    with pytest.raises(BuilderError, match="coinbase"):
        rig.create_builder(coinbase=b"\x01")
    rig.local.set_nipost_state(NipostState(rig.signer.node_id, 1, "nonsense", cbor2.dumps({})))
    with pytest.raises(BuilderError, match="unknown persisted"):
        await rig.create_builder().build_next_atx()
    rig.local.set_nipost_state(NipostState(rig.signer.node_id, 1, PHASE_CHALLENGE, b"\xff\xff"))
    with pytest.raises(BuilderError, match="corrupt"):
        await rig.create_builder().build_next_atx()


# ------------------------------------------------------------------------------------------------
# PoST setup
# ------------------------------------------------------------------------------------------------


def _options(directory: Path) -> PostSetupOptions:
    return PostSetupOptions(directory, 1, LABELS_PER_UNIT, SCRYPT_N, 4 * LABELS_PER_UNIT)


async def test_post_setup_states_and_progress(tmp_path: Path) -> None:
    signer = Signer.from_seed(b"\x44" * 32)
    progress: list[int] = []
    setup = PostSetup(signer.node_id, _options(tmp_path), on_progress=lambda p: progress.append(p.labels_done))
    assert setup.get_status().state is PostSetupState.NOT_STARTED and not setup.is_complete()
    metadata = await setup.run(GOLDEN_ATX)
    status = setup.get_status()
    assert status.state is PostSetupState.COMPLETE and status.labels_done == status.labels_total == LABELS_PER_UNIT
    assert progress and progress[-1] == LABELS_PER_UNIT and setup.is_complete()
    assert metadata.nonce is not None and setup.get_commitment_atx_id() == GOLDEN_ATX
    assert status.to_dict()["state"] == "complete"
    # the same key on the same data, twice at once: refused while the first runs
    second = PostSetup(signer.node_id, _options(tmp_path))
    with pytest.raises(IdentityInUseError, match="already in use"):
        await second.run(GOLDEN_ATX)
    setup.close()
    again = await second.run(b"\x99" * 32)  # after release; existing data keeps its commitment
    assert again.commitment_atx_id == GOLDEN_ATX
    second.close()
    # another identity on this data is refused
    other = PostSetup(Signer.from_seed(b"\x45" * 32).node_id, _options(tmp_path))
    with pytest.raises(PostSetupError, match="belongs to node id"):
        await other.run(GOLDEN_ATX)
    assert other.get_status().state is PostSetupState.ERROR
    other.close()


def test_stale_lock_is_taken_over_and_holder_is_named(tmp_path: Path) -> None:
    node_id = b"\x46" * 32
    # a lock file left by a process that died: content but no flock held
    (tmp_path / LOCK_FILE_NAME).write_text(json.dumps({"node_id": "ab" * 32, "pid": 999999, "host": "gone"}))
    lock = PostDataLock(tmp_path, node_id)
    lock.acquire()
    assert json.loads((tmp_path / LOCK_FILE_NAME).read_text())["node_id"] == node_id.hex()
    with pytest.raises(IdentityInUseError, match=f"node id {node_id.hex()[:12]}"):
        PostDataLock(tmp_path, node_id).acquire()
    lock.release()
    assert not lock.is_held
    relock = PostDataLock(tmp_path, node_id)
    relock.acquire()
    relock.release()


async def test_post_setup_stop_leaves_it_resumable(tmp_path: Path) -> None:
    node_id = b"\x47" * 32
    options = PostSetupOptions(tmp_path, 4, LABELS_PER_UNIT, SCRYPT_N, LABELS_PER_UNIT * 16)
    holder: list[PostSetup] = []
    setup = PostSetup(node_id, options, on_progress=lambda p: holder[0].stop())
    holder.append(setup)
    with pytest.raises(asyncio.CancelledError):
        await setup.run(GOLDEN_ATX)
    assert setup.get_status().state is PostSetupState.STOPPED and not setup.is_complete()
    setup.close()
    resumed = PostSetup(node_id, options)
    await resumed.run(GOLDEN_ATX)
    assert resumed.is_complete()
    resumed.close()
