"""Adds ``spacemesh sim``: an in-process network of virtual nodes running the real consensus engines."""

from __future__ import annotations

import json

import click

from spacemesh_core.sim import SimConfig, run_simulation
from spacemesh_hooks import hookimpl


def _parse_partition(_ctx: click.Context, _param: click.Parameter, value: str | None) -> tuple[int, int] | None:
    if value is None:
        return None
    try:
        first, last = (int(part) for part in value.split("-", 1))
    except ValueError:
        raise click.BadParameter("expected LAYER_FROM-LAYER_TO, e.g. 5-14") from None
    if not 1 <= first <= last:
        raise click.BadParameter("need 1 <= LAYER_FROM <= LAYER_TO")
    return first, last


@click.command(name="sim")
@click.option("--nodes", type=click.IntRange(1, 1000), default=10, show_default=True,
              help="virtual nodes (one smesher each)")
@click.option("--layers", type=click.IntRange(1, 100_000), default=20, show_default=True, help="layers to run")
@click.option("--seed", type=int, default=0, show_default=True, help="seed: the run is reproducible from it")
@click.option("--adversary", type=click.FloatRange(0.0, 0.99), default=0.0, show_default=True,
              help="share of the weight that is adversarial (equivocating, withholding, voting against)")
@click.option("--partition", callback=_parse_partition, default=None, metavar="LAYER_FROM-LAYER_TO",
              help="split the network (60/40 % of the nodes) for these sim layers (1 = first layer)")
@click.option("--committee", type=click.IntRange(1, 1000), default=50, show_default=True, help="hare committee")
@click.option("--json", "as_json", is_flag=True, help="print the result as JSON")
def sim_command(
    nodes: int, layers: int, seed: int, adversary: float, partition: tuple[int, int] | None, committee: int,
    as_json: bool,
) -> None:
    """Simulate a network in one process: hare, tortoise, blocks and rewards under a virtual clock."""
    try:
        config = SimConfig(nodes=nodes, layers=layers, seed=seed, adversary=adversary, partition=partition,
                           committee=committee)
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    result = run_simulation(config)
    if as_json:
        click.echo(json.dumps(result.to_json(), sort_keys=True))
        return
    click.echo(f"layers: {result.layers}, with a block: {result.layers_with_block}")
    click.echo(f"honest nodes agree: {result.honest_agree} (hare {result.hare_agree}, tortoise {result.opinion_agree})")
    click.echo(f"converged from sim layer: {result.converged_layer}")
    click.echo(f"malicious detected: {len(result.malicious_detected)}")
    for disagreement in result.hare_disagreements:
        click.echo(f"hare disagreement: {disagreement.describe()}")
    for smesher in result.smeshers:
        role = "honest" if smesher.honest else "adversary"
        click.echo(f"  {smesher.id[:16]} {role:9} units={smesher.units:4} eligibilities={smesher.eligibilities:4} "
                   f"reward={smesher.reward} per unit={smesher.reward_per_unit:.0f}")


@hookimpl
def spacemesh_cli_commands(cli: click.Group) -> None:
    """Add ``spacemesh sim``."""
    cli.add_command(sim_command)
