"""Child-process entry point of :class:`~spacemesh_core.kernel.services.SubprocessService`.

``python -m spacemesh_core.kernel.service_host module:callable '<json args>'`` builds the service
with ``callable(**args)``, starts it, prints the ready line, and stops it on SIGTERM or SIGINT.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import signal
import sys
from typing import Any

from spacemesh_core.kernel.services import READY_LINE


def _load(target: str) -> object:
    module_name, _, attr = target.partition(":")
    if not attr:
        raise SystemExit(f"service target {target!r} must be module:callable")
    return getattr(importlib.import_module(module_name), attr)


async def _run(target: str, args: dict[str, object]) -> None:
    factory = _load(target)
    service: Any = factory(**args)  # type: ignore[operator]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await service.start()
    sys.stdout.buffer.write(READY_LINE)
    sys.stdout.buffer.flush()
    try:
        await stop.wait()
    finally:
        await service.stop()


def main(argv: list[str] | None = None) -> None:
    """Run the service named on the command line until terminated."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        raise SystemExit("usage: python -m spacemesh_core.kernel.service_host module:callable JSON_ARGS")
    asyncio.run(_run(argv[0], json.loads(argv[1])))


if __name__ == "__main__":
    main()
