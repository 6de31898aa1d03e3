"""Service lifecycle: order, timeouts, failures, subprocess placement, loop-lag monitoring."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from spacemesh_core.kernel.services import (
    BackgroundTasks,
    LoopLagMonitor,
    ServiceError,
    ServiceManager,
    ServiceSpec,
    SubprocessService,
    compute_start_order,
)
from tests.support.services import RecordingService, is_process_alive


def spec(name: str, log: list[str], *deps: str, **kwargs: object) -> ServiceSpec:
    stop_timeout = float(kwargs.pop("stop_timeout_s", 2.0))  # type: ignore[arg-type]
    return ServiceSpec(
        name,
        lambda node: RecordingService(name, log, **kwargs),  # type: ignore[arg-type]
        depends_on=deps,
        stop_timeout_s=stop_timeout,
    )


def test_start_order_follows_dependencies() -> None:
    log: list[str] = []
    order = compute_start_order([spec("api", log, "db", "bus"), spec("db", log, "bus"), spec("bus", log)])
    assert [s.name for s in order] == ["bus", "db", "api"]


@pytest.mark.parametrize(
    ("specs", "message"),
    [
        (lambda log: [spec("a", log, "b"), spec("b", log, "a")], "cycle: a -> b -> a"),
        (lambda log: [spec("a", log, "ghost")], "unknown service 'ghost'"),
        (lambda log: [spec("a", log), spec("a", log)], "declared twice"),
    ],
)
def test_invalid_graphs_are_rejected(specs, message: str) -> None:
    with pytest.raises(ServiceError, match=message):
        compute_start_order(specs([]))


async def test_stop_runs_in_reverse_order_and_events_are_emitted() -> None:
    log: list[str] = []
    seen: list[tuple[str, str]] = []
    manager = ServiceManager(
        [spec("api", log, "db"), spec("db", log)], on_event=lambda what, name, _: seen.append((what, name))
    )
    await manager.start()
    assert manager.running == ["db", "api"]
    assert await manager.stop() == []
    assert log == ["start db", "start api", "stop api", "stop db"]
    assert seen == [("started", "db"), ("started", "api"), ("stopped", "api"), ("stopped", "db")]


async def test_failed_start_stops_what_was_started() -> None:
    log: list[str] = []
    manager = ServiceManager([spec("db", log), spec("api", log, "db", fail_start=True)])
    with pytest.raises(ServiceError, match="'api' failed: api refuses to start"):
        await manager.start()
    # the failed service is asked to release what it may have acquired, then the others stop
    assert log == ["start db", "stop api", "stop db"]
    assert manager.running == []


async def test_a_hanging_stop_is_bounded_and_reported() -> None:
    log: list[str] = []
    manager = ServiceManager([spec("db", log), spec("stuck", log, "db", hang_stop=True, stop_timeout_s=0.2)])
    await manager.start()
    started = time.monotonic()
    assert await manager.stop() == ["stuck"]
    assert time.monotonic() - started < 5
    assert log[-1] == "stop db"  # the others still stopped


async def test_stopping_a_subprocess_service_leaves_no_process(tmp_path: Path) -> None:
    pid_file = tmp_path / "pids"
    service = SubprocessService("spawner", "tests.support.services:SpawningService", {"pid_file": str(pid_file)})
    manager = ServiceManager([ServiceSpec("spawner", lambda node: service, placement="subprocess")])
    await manager.start()
    try:
        child, grandchild = map(int, pid_file.read_text().split())
        assert is_process_alive(child) and is_process_alive(grandchild)
    finally:
        assert await manager.stop() == []
    deadline = time.monotonic() + 5
    while (is_process_alive(child) or is_process_alive(grandchild)) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert not is_process_alive(child), "the service process survived stop()"
    assert not is_process_alive(grandchild), "a process spawned by the service survived stop()"


async def test_loop_lag_monitor_reports_a_blocked_loop() -> None:
    lags: list[float] = []
    monitor = LoopLagMonitor(threshold_s=0.2, interval_s=0.02, on_lag=lags.append)
    await monitor.start()
    await asyncio.sleep(0.1)
    assert monitor.lag_count == 0
    time.sleep(0.5)  # a service hogging the loop
    await asyncio.sleep(0.1)
    await monitor.stop()
    assert monitor.lag_count == 1 and lags and lags[0] >= 0.3


async def test_background_tasks_are_held_logged_when_failing_and_cancelled_at_stop(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tasks = BackgroundTasks("demo")
    finished = asyncio.Event()
    cancelled: list[str] = []

    async def quick() -> None:
        finished.set()

    async def failing() -> None:
        raise ValueError("broken on purpose")

    async def forever() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append("forever")
            raise

    tasks.spawn(quick())
    tasks.spawn(failing())
    tasks.spawn(forever(), name="forever")
    await finished.wait()
    for _ in range(3):  # let the done callbacks run
        await asyncio.sleep(0)
    assert len(tasks) == 1  # only the endless one is still held
    assert "demo task failed" in caplog.text and "broken on purpose" in caplog.text
    await tasks.cancel_all()
    assert cancelled == ["forever"]
    await asyncio.sleep(0)
    assert len(tasks) == 0
