"""``spacemesh devnet``: run a local network on loopback and report on it."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.live import Live
from rich.table import Table

from spacemesh_core.config import build_config
from spacemesh_plugins.devnet.supervisor import Devnet, DevnetError, DevnetPlan, prepare_devnet_directory


def build_summary(statuses: dict[str, dict[str, Any] | None]) -> dict[str, Any]:
    """Return the ``--json`` summary from the nodes' last statuses.

    Fields a node does not report (its bundle runs no such service) are null, never invented.
    """
    nodes = []
    applied: list[int] = []
    transactions = 0
    for name in sorted(statuses, key=lambda n: int(n.split("-")[1])):
        status = statuses[name] or {}
        smeshing = status.get("smeshing") or {}
        mesh = status.get("mesh") or {}
        if "layers_applied" in mesh:
            applied.append(int(mesh["layers_applied"]))
        transactions = max(transactions, int(mesh.get("transactions_applied", 0)))
        nodes.append(
            {
                "name": name,
                "id": status.get("node_id"),
                "units": smeshing.get("units"),
                "atxs_published": smeshing.get("atxs_published"),
                "rewards": mesh.get("rewards"),
                "state_hashes": mesh.get("state_hashes", {}),
            }
        )
    return {
        "layers_applied": min(applied) if applied else 0,
        "nodes": nodes,
        "transactions_applied": transactions,
    }


def render_table(devnet: Devnet, statuses: dict[str, dict[str, Any] | None]) -> Table:
    """Return the live status table."""
    now = time.time()
    until = devnet.genesis - now
    title = f"devnet: genesis in {until:.0f} s" if until > 0 else "devnet"
    table = Table("node", "layer", "epoch", "peers", "sync", "ATXs", "applied", "rewards", title=title)
    for name, status in statuses.items():
        if not status:
            table.add_row(name, "starting…", "", "", "", "", "", "")
            continue
        smeshing = status.get("smeshing") or {}
        mesh = status.get("mesh") or {}
        table.add_row(
            name,
            str(status.get("layer")),
            str(status.get("epoch")),
            str(status.get("peers")),
            str(status.get("sync", "-")),
            str(smeshing.get("atxs_published", "-")),
            str(mesh.get("layers_applied", "-")),
            str(mesh.get("rewards", "-")),
        )
    return table


@click.command("devnet")
@click.option("--nodes", type=click.IntRange(min=1, max=32), default=4, show_default=True, help="Node processes.")
@click.option("--layers", type=click.IntRange(min=1), default=None, help="Stop after this many layers.")
@click.option("--layer-duration", type=click.FloatRange(min=0.5), default=None, help="Seconds per layer.")
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path), default=Path("devnet"),
              show_default=True,
              help="Where the nodes and the PoET keep their data and logs. A folder holding an earlier "
                   "devnet is refused unless --fresh is given.")
@click.option("--fresh", is_flag=True,
              help="Delete an earlier devnet in --dir (node-*, poet*) before starting; other files stay.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary at the end.")
@click.pass_context
def devnet_command(
    ctx: click.Context,
    nodes: int,
    layers: int | None,
    layer_duration: float | None,
    directory: Path,
    fresh: bool,
    as_json: bool,
) -> None:
    """Run a PoET and NODES nodes on loopback with the devnet preset until Ctrl-C or --layers.

    Every run starts a new chain in a clean --dir: an earlier devnet there is refused (pass --fresh
    to wipe it first), so no state or status of an earlier run mixes into this one.
    """
    from spacemesh_core.cli import get_plugins

    config = build_config(get_plugins(ctx).get_config_schema(), preset="devnet")
    duration = layer_duration or config.network.layer_duration_s
    scale = duration / config.network.layer_duration_s  # PoET timing scales with the layers
    plan = DevnetPlan(
        nodes=nodes,
        layer_duration_s=duration,
        layers_per_epoch=config.network.layers_per_epoch,
        directory=directory.resolve(),
        phase_shift_s=config.poet.phase_shift_s * scale,
        cycle_gap_s=config.poet.cycle_gap_s * scale,
        fresh=fresh,
    )
    try:
        prepare_devnet_directory(plan.directory, fresh=fresh)
    except DevnetError as exc:
        raise click.ClickException(str(exc)) from None
    devnet = Devnet(plan)
    interrupted = False

    def on_signal(signum: int, frame: Any) -> None:
        nonlocal interrupted
        interrupted = True

    previous = signal.signal(signal.SIGINT, on_signal)
    previous_term = signal.signal(signal.SIGTERM, on_signal)
    console = Console(stderr=as_json)
    statuses: dict[str, dict[str, Any] | None] = {}
    error: str | None = None
    try:
        devnet.start()
        with Live(render_table(devnet, devnet.get_statuses()), console=console, refresh_per_second=2) as live:
            while not interrupted:
                statuses = devnet.get_statuses()
                live.update(render_table(devnet, statuses))
                dead = devnet.get_dead_children()
                if dead:
                    error = f"{dead[0].name} exited with {dead[0].process.returncode}; see {dead[0].log_path}"
                    break
                if layers is not None and all(s and s.get("layer", -1) >= layers for s in statuses.values()):
                    break
                time.sleep(0.5)
    except DevnetError as exc:
        error = str(exc)
    finally:
        killed = devnet.stop()
        signal.signal(signal.SIGINT, previous)
        signal.signal(signal.SIGTERM, previous_term)
    statuses = devnet.get_statuses()
    if killed:
        console.print(f"had to kill: {', '.join(killed)}")
    if as_json:
        click.echo(json.dumps(build_summary(statuses), indent=2))
    if error:
        raise click.ClickException(error)
