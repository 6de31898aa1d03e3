"""``spacemesh post serve``: the remote post service of 1:N smeshing (see :mod:`.post_service`).

Exit codes: 0 after SIGINT/SIGTERM, 1 when the node refused the data permanently (the reason is
printed as one line), 2 for unusable arguments or data.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import signal
import sys
from typing import Any

import click

from spacemesh_core.post.labels import MAINNET_SCRYPT_N
from spacemesh_plugins.smeshing.post_service import PostService, PostServiceError, PostServiceRejectedError

POST_GROUP_HELP = "PoST data: initialize labels, prove and verify, serve proofs to a node."
_NODE_ENDPOINT_RE = re.compile(r"^tcp://[^:/\s]+:\d{1,5}$")


class ServeUsageError(click.ClickException):
    """Unusable arguments or data: one line on stderr, exit code 2."""

    exit_code = 2


def _check_node_endpoint(ctx: click.Context, param: click.Parameter, value: str) -> str:
    if not _NODE_ENDPOINT_RE.match(value):
        raise click.BadParameter("must look like tcp://HOST:PORT (the node's [smeshing] post_listen)")
    return value


def _create_prover(ctx: click.Context, name: str | None, threads: int | None) -> Any:
    """Build prover ``name`` (None: the category default, native) from the plugin registries."""
    from spacemesh_core.cli import get_plugins
    from spacemesh_core.kernel.registry import UnknownNameError

    try:
        item = get_plugins(ctx).get_registries().get("prover", name)
    except UnknownNameError as exc:
        raise ServeUsageError(str(exc)) from None
    return item.factory(threads=threads)


@click.command(name="serve")
@click.option(
    "--dir", "directory", required=True, type=click.Path(exists=True, file_okay=False), help="PoST data directory."
)
@click.option(
    "--node",
    "node_endpoint",
    required=True,
    callback=_check_node_endpoint,
    help="The node's post listener, tcp://HOST:PORT ([smeshing] post_listen).",
)
@click.option("--threads", type=click.IntRange(min=1), default=None, help="Proving threads [default: all CPUs].")
@click.option(
    "--nonces", type=click.IntRange(min=16), default=288, show_default=True, help="Nonces per pass (a multiple of 16)."
)
@click.option(
    "--scrypt-n",
    type=click.IntRange(min=2),
    default=MAINNET_SCRYPT_N,
    show_default=True,
    help="scrypt N of the network (the node's [post] scrypt_n; devnet: 16).",
)
@click.option("--prover", "prover_name", default=None, help="Prover implementation [default: the category default].")
@click.option("--name", default=None, help="Name of this service in the node's logs [default: host:pid].")
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="info",
    show_default=True,
)
@click.pass_context
def serve_command(
    ctx: click.Context,
    directory: str,
    node_endpoint: str,
    threads: int | None,
    nonces: int,
    scrypt_n: int,
    prover_name: str | None,
    name: str | None,
    log_level: str,
) -> None:
    """Prove for a node on request: announce the PoST data in --dir at --node and answer its proof
    requests until SIGINT/SIGTERM (reconnecting when the node restarts)."""
    if nonces % 16:
        raise click.BadParameter("must be a multiple of 16", param_hint="--nonces")
    logging.basicConfig(
        level=log_level.upper(), stream=sys.stderr, format="%(asctime)s %(levelname)s post-serve: %(message)s"
    )
    prover = _create_prover(ctx, prover_name, threads)
    try:
        service = PostService(directory, node_endpoint, prover, scrypt_n=scrypt_n, nonces=nonces, name=name)
    except PostServiceError as exc:
        raise ServeUsageError(str(exc)) from None

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await service.run(stop)

    try:
        asyncio.run(run())
    except PostServiceRejectedError as exc:
        raise click.ClickException(str(exc)) from None
    except PostServiceError as exc:
        raise ServeUsageError(str(exc)) from None
    logging.getLogger(__name__).info("stopped")


def add_post_commands(cli: click.Group) -> click.Group:
    """Add ``serve`` to the ``post`` group of ``cli`` (creating the group if absent); return the group."""
    group = cli.commands.get("post")
    if not isinstance(group, click.Group):
        group = click.Group("post", help=POST_GROUP_HELP)
        cli.add_command(group)
    group.add_command(serve_command)
    return group
