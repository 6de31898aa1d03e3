"""Service lifecycle: start in dependency order, stop in reverse, every step bounded by a timeout.

A service is any object with ``name``, ``async start()`` and ``async stop()``. It runs in-process
(on the node's event loop) or in a subprocess (:class:`SubprocessService`), which is started in a
process group of its own so that stopping it also reaps everything it spawned.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from collections.abc import Callable, Coroutine, Iterable
from typing import Any, Protocol, runtime_checkable

import attrs

log = logging.getLogger(__name__)

IN_PROCESS = "in-process"
SUBPROCESS = "subprocess"
READY_LINE = b"SPACEMESH-SERVICE-READY\n"


@runtime_checkable
class Service(Protocol):
    """What the service manager runs."""

    name: str

    async def start(self) -> None:
        """Start the service; return once it is ready to do its job."""

    async def stop(self) -> None:
        """Stop the service, releasing every resource it holds."""


async def cancel_task(task: asyncio.Task[Any] | None) -> None:
    """Cancel ``task`` (if any) and wait until it has finished, so nothing runs on after a stop."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


class BackgroundTasks:
    """The tasks a service starts and must not outlive: each is held until it ends (so it is not
    garbage-collected mid-run), a failure is logged with ``owner``'s name, and :meth:`cancel_all`
    cancels and awaits the rest at stop."""

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str | None = None) -> asyncio.Task[Any]:
        """Run ``coro`` as a task held here until it ends."""
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._on_done)
        return task

    def _on_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("%s task failed", self.owner, exc_info=task.exception())

    def __len__(self) -> int:
        return len(self._tasks)

    async def cancel_all(self) -> None:
        """Cancel every task still running and wait until all have finished (failures were logged)."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


class ServiceError(RuntimeError):
    """A service failed to start or stop, or the dependency graph is invalid."""


@attrs.frozen
class ServiceSpec:
    """How to build and place one service.

    :param name: unique service name.
    :param factory: builds the service from the node (``factory(node) -> Service``).
    :param depends_on: names of services that must be running first (and that cannot be stopped
        alone while this one runs, see :meth:`ServiceManager.stop_service`).
    :param after: ordering only: start after these services when they are in the set (and stop
        before them), without needing them (the status writer comes after everything).
    :param placement: ``in-process`` or ``subprocess`` (informational for factories that build
        a :class:`SubprocessService`).
    :param start_timeout_s: bound on ``start()``.
    :param stop_timeout_s: bound on ``stop()``; past it the service is cancelled (or killed).
    """

    name: str
    factory: Callable[[Any], Service]
    depends_on: tuple[str, ...] = ()
    placement: str = IN_PROCESS
    start_timeout_s: float = 30.0
    stop_timeout_s: float = 10.0
    after: tuple[str, ...] = ()


def compute_start_order(specs: Iterable[ServiceSpec]) -> list[ServiceSpec]:
    """Return ``specs`` sorted so every service comes after its dependencies (stable otherwise).

    :raises ServiceError: duplicate names, unknown dependencies or a dependency cycle.
    """
    by_name: dict[str, ServiceSpec] = {}
    for spec in specs:
        if spec.name in by_name:
            raise ServiceError(f"service {spec.name!r} declared twice")
        by_name[spec.name] = spec
    for spec in by_name.values():
        for dep in spec.depends_on:
            if dep not in by_name:
                raise ServiceError(f"service {spec.name!r} depends on unknown service {dep!r}")
    order: list[ServiceSpec] = []
    state: dict[str, str] = {}

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == "done":
            return
        if state.get(name) == "visiting":
            raise ServiceError(f"service dependency cycle: {' -> '.join([*path, name])}")
        state[name] = "visiting"
        spec = by_name[name]
        for dep in (*spec.depends_on, *(n for n in spec.after if n in by_name)):
            visit(dep, [*path, name])
        state[name] = "done"
        order.append(by_name[name])

    for name in by_name:
        visit(name, [])
    return order


class ServiceManager:
    """Starts and stops a set of services.

    :param on_event: optional async callback receiving ``("started"|"stopped", name, detail)``;
        the node uses it to publish kernel events on the bus.
    """

    def __init__(
        self,
        specs: Iterable[ServiceSpec],
        node: Any = None,
        on_event: Callable[[str, str, Any], Any] | None = None,
    ) -> None:
        self._specs = compute_start_order(specs)
        self._node = node
        self._on_event = on_event
        self._running: list[tuple[ServiceSpec, Service]] = []
        self._stopping = False
        # serialises services started or stopped one by one (start_service, stop_service) with stop()
        self._changing = asyncio.Lock()

    @property
    def running(self) -> list[str]:
        """Names of the running services, in start order."""
        return [spec.name for spec, _ in self._running]

    async def start(self) -> None:
        """Start every service in dependency order.

        On a failure the services already started are stopped in reverse order and
        :class:`ServiceError` is raised.
        """
        for spec in self._specs:
            service = spec.factory(self._node)
            try:
                await asyncio.wait_for(service.start(), spec.start_timeout_s)
            except Exception as exc:
                reason = "timed out" if isinstance(exc, TimeoutError) else f"failed: {exc}"
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(service.stop(), spec.stop_timeout_s)
                await self.stop()
                raise ServiceError(f"service {spec.name!r} {reason} while starting") from exc
            self._running.append((spec, service))
            log.info("service %s started (%s)", spec.name, spec.placement)
            await self._emit("started", spec.name, spec.placement)

    async def stop(self) -> list[str]:
        """Stop running services in reverse start order; return the names that did not stop cleanly."""
        self._stopping = True
        async with self._changing:
            unclean = []
            while self._running:
                spec, service = self._running.pop()
                if not await self._stop_one(spec, service):
                    unclean.append(spec.name)
            return unclean

    async def _stop_one(self, spec: ServiceSpec, service: Service) -> bool:
        clean = True
        try:
            await asyncio.wait_for(service.stop(), spec.stop_timeout_s)
        except Exception as exc:  # keep stopping the others
            clean = False
            log.error("service %s did not stop cleanly: %r", spec.name, exc)
            kill = getattr(service, "kill", None)
            if kill is not None:
                with contextlib.suppress(Exception):
                    await kill()
        await self._emit("stopped", spec.name, clean)
        return clean

    def get_service(self, name: str) -> Service | None:
        """Return the running service called ``name``, or None when none runs under that name."""
        return next((service for spec, service in self._running if spec.name == name), None)

    async def start_service(self, spec: ServiceSpec) -> Service:
        """Start one more service while the others run (e.g. smeshing started from the API).

        It joins the running set, so :meth:`stop` stops it with the others (first: it started last).

        :raises ServiceError: the name already runs, a dependency does not run, the manager is
            stopping, or the service failed to start (it is stopped again then; the cause is chained).
        """
        async with self._changing:
            if self._stopping:
                raise ServiceError(f"cannot start service {spec.name!r}: the services are stopping")
            if self.get_service(spec.name) is not None:
                raise ServiceError(f"service {spec.name!r} is already running")
            missing = [dep for dep in spec.depends_on if self.get_service(dep) is None]
            if missing:
                raise ServiceError(f"service {spec.name!r} needs {', '.join(missing)} running first")
            service = spec.factory(self._node)
            try:
                await asyncio.wait_for(service.start(), spec.start_timeout_s)
            except Exception as exc:
                reason = "timed out" if isinstance(exc, TimeoutError) else f"failed: {exc}"
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(service.stop(), spec.stop_timeout_s)
                raise ServiceError(f"service {spec.name!r} {reason} while starting") from exc
            self._running.append((spec, service))
            log.info("service %s started (%s)", spec.name, spec.placement)
            await self._emit("started", spec.name, spec.placement)
            return service

    async def stop_service(self, name: str) -> bool:
        """Stop the running service ``name`` alone and forget it; return whether it stopped cleanly.

        :raises ServiceError: it does not run, or a running service depends on it.
        """
        async with self._changing:
            found = [(spec, service) for spec, service in self._running if spec.name == name]
            if not found:
                raise ServiceError(f"service {name!r} is not running")
            dependants = [spec.name for spec, _ in self._running if name in spec.depends_on]
            if dependants:
                raise ServiceError(f"service {name!r} cannot stop while {', '.join(dependants)} depend on it")
            self._running.remove(found[0])
            return await self._stop_one(*found[0])

    async def _emit(self, what: str, name: str, detail: Any) -> None:
        if self._on_event is not None:
            with contextlib.suppress(Exception):
                result = self._on_event(what, name, detail)
                if asyncio.iscoroutine(result):
                    await result


class SubprocessService:
    """A service whose body runs in a child process, in a process group of its own.

    The child is ``python -m spacemesh_core.kernel.service_host <target> <json-args>``; ``target``
    is ``module:callable`` returning a :class:`Service`. The child prints a ready line once its
    service has started, and stops it on SIGTERM. :meth:`stop` sends SIGTERM to the whole group,
    waits, and SIGKILLs the group if it lingers, so no grandchild survives.
    """

    def __init__(self, name: str, target: str, args: dict[str, Any] | None = None) -> None:
        self.name = name
        self.target = target
        self.args = args or {}
        self.process: asyncio.subprocess.Process | None = None
        self._pgid: int | None = None

    async def start(self) -> None:
        """Spawn the child and wait for its ready line."""
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "spacemesh_core.kernel.service_host",
            self.target,
            json.dumps(self.args),
            stdout=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        self._pgid = self.process.pid
        assert self.process.stdout is not None
        line = await self.process.stdout.readline()
        if line != READY_LINE:
            await self.kill()
            raise ServiceError(f"subprocess service {self.name!r} exited before it was ready")

    async def stop(self) -> None:
        """Ask the process group to terminate, wait for the child, then make sure the group is gone."""
        if self.process is None:
            return
        self._signal_group(signal.SIGTERM)
        await self.process.wait()
        # the child has exited; anything it spawned that is still alive is killed with the group
        self._signal_group(signal.SIGKILL)
        self.process = None

    async def kill(self) -> None:
        """Kill the process group at once."""
        self._signal_group(signal.SIGKILL)
        if self.process is not None:
            await self.process.wait()
            self.process = None

    def _signal_group(self, sig: signal.Signals) -> None:
        if self._pgid is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._pgid, sig)


class LoopLagMonitor:
    """Measures how late the event loop wakes up; reports lags above ``threshold_s``.

    A lag means some code held the loop (a stuck or CPU-hogging service). ``on_lag`` receives the
    lag in seconds; :attr:`max_lag_s` and :attr:`lag_count` summarise what was seen.
    """

    name = "loop-lag-monitor"

    def __init__(
        self,
        threshold_s: float = 0.5,
        interval_s: float = 0.1,
        on_lag: Callable[[float], Any] | None = None,
    ) -> None:
        self.threshold_s = threshold_s
        self.interval_s = interval_s
        self.on_lag = on_lag
        self.max_lag_s = 0.0
        self.lag_count = 0
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start measuring."""
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        """Stop measuring."""
        await cancel_task(self._task)
        self._task = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            expected = loop.time() + self.interval_s
            await asyncio.sleep(self.interval_s)
            lag = loop.time() - expected
            self.max_lag_s = max(self.max_lag_s, lag)
            if lag > self.threshold_s:
                self.lag_count += 1
                log.warning("event loop lagged %.3f s: a service is blocking it", lag)
                if self.on_lag is not None:
                    result = self.on_lag(lag)
                    if asyncio.iscoroutine(result):
                        await result
