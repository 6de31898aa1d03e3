"""``spacemesh post devices [--json]``: the CUDA devices and the CPU backend that can compute labels.

The command joins the ``post`` group (creating it when no other plugin has yet). It always exits 0
when the probe ran: "no GPU" is an answer, not an error. The JSON shape is documented in
:mod:`spacemesh_plugins.initializer_gpu.devices`.
"""

from __future__ import annotations

import json

import click

from spacemesh_plugins.initializer_gpu.devices import get_devices_report

POST_GROUP_HELP = "PoST data: labels, initialization, proofs."


def _format_bytes(count: int | None) -> str:
    return "?" if count is None else f"{count / 2**30:.1f} GiB"


@click.command(name="devices")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON (shape in the docs).")
def devices_command(as_json: bool) -> None:
    """List the CUDA devices (ids for the GPU initializer) and the CPU label backend."""
    report = get_devices_report()
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    gpus = [d for d in report["devices"] if d["kind"] == "cuda"]
    if gpus:
        click.echo("CUDA devices (--provider gpu; $SPACEMESH_GPU_DEVICE picks one):")
        for d in gpus:
            click.echo(
                f"  [{d['id']}] {d['name']}: compute capability {d['compute_capability']}, "
                f"{d['multiprocessors']} SMs, {_format_bytes(d['memory_total_bytes'])} "
                f"({_format_bytes(d['memory_free_bytes'])} free)"
            )
    else:
        click.echo(f"No usable GPU: {report['gpu_unavailable_reason']}")
        click.echo("  --provider gpu falls back to the CPU (native) initializer.")
    for d in report["devices"]:
        if d["kind"] != "cpu":
            continue
        isa = f"{d['isa']} kernel, {d['lanes']} lanes" if d["isa"] else "pure-Python reference"
        click.echo(f"CPU [{d['id']}] {d['provider']}: {d['name']}, {d['threads']} threads, {isa}")


def add_devices_command(cli: click.Group) -> click.Group:
    """Add ``devices`` to the ``post`` group of ``cli`` (creating the group if absent); return the group."""
    group = cli.commands.get("post")
    if not isinstance(group, click.Group):
        group = click.Group("post", help=POST_GROUP_HELP)
        cli.add_command(group)
    group.add_command(devices_command)
    return group
