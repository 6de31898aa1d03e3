"""``spacemesh post serve``: the remote post service of 1:N smeshing (see :mod:`.post_service`).

Exit codes: 0 after SIGINT/SIGTERM, 1 when the node refused the data or this service's Curve key
permanently (the reason is printed as one line), 2 for unusable arguments or data (a wrong
``--node-key`` included).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import signal
import sys
from pathlib import Path
from typing import Any

import click

from spacemesh_core.post.labels import MAINNET_SCRYPT_N
from spacemesh_plugins.smeshing.post_service import PostService, PostServiceError, PostServiceRejectedError
from spacemesh_plugins.transport_zmq.curve import (
    CurveKeyError,
    format_curve_key,
    get_curve_public_key,
    load_or_create_curve_key,
    read_curve_key,
)

POST_GROUP_HELP = "PoST data: initialize labels, prove and verify, serve proofs to a node."
#: this service's Curve secret key file, in the PoST data directory unless ``--key`` says otherwise
DEFAULT_SERVICE_KEY_FILE = "post_service.key"
_NODE_ENDPOINT_RE = re.compile(r"^tcp://[^:/\s]+:\d{1,5}$")


class ServeUsageError(click.ClickException):
    """Unusable arguments or data: one line on stderr, exit code 2."""

    exit_code = 2


def _check_node_endpoint(ctx: click.Context, param: click.Parameter, value: str) -> str:
    if not _NODE_ENDPOINT_RE.match(value):
        raise click.BadParameter("must look like tcp://HOST:PORT (the node's [smeshing] post_listen)")
    return value


def _parse_node_key(ctx: click.Context, param: click.Parameter, value: str | None) -> bytes | None:
    if value is None:
        return None
    try:
        return read_curve_key(value)
    except CurveKeyError as exc:
        raise click.BadParameter(str(exc)) from None


def load_service_key(directory: str, key_file: str | None) -> tuple[Path, bytes]:
    """Return ``(path, secret key)`` of this service's Curve key (``--key``, default in the data
    directory), creating the file once.

    :raises ServeUsageError: the file holds no key or cannot be written.
    """
    path = Path(key_file) if key_file else Path(directory) / DEFAULT_SERVICE_KEY_FILE
    try:
        return path, load_or_create_curve_key(path)
    except (CurveKeyError, OSError) as exc:
        raise ServeUsageError(f"service key {path}: {exc}") from None


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
@click.option(
    "--node-key",
    default=None,
    callback=_parse_node_key,
    help="The node's post listener Curve public key (Z85 or hex, or a file holding it: the node's "
    "post_listener/listener.pub). Encrypts the link with CurveZMQ; needed when the node sets post_listen_curve.",
)
@click.option(
    "--key",
    "key_file",
    type=click.Path(dir_okay=False),
    default=None,
    help=f"This service's Curve secret key file, created if absent [default: DIR/{DEFAULT_SERVICE_KEY_FILE}]. "
    "Its public key is what the node's [smeshing] post_service_keys lists.",
)
@click.option(
    "--show-key", is_flag=True, help="Print this service's Curve public key (Z85) and exit (creates the key)."
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
    node_key: bytes | None,
    key_file: str | None,
    show_key: bool,
    threads: int | None,
    nonces: int,
    scrypt_n: int,
    prover_name: str | None,
    name: str | None,
    log_level: str,
) -> None:
    """Prove for a node on request: announce the PoST data in --dir at --node and answer its proof
    requests until SIGINT/SIGTERM (reconnecting when the node restarts). Everything travels on one
    connection to --node, CurveZMQ-encrypted with --node-key."""
    if show_key:
        click.echo(format_curve_key(get_curve_public_key(load_service_key(directory, key_file)[1])))
        return
    if nonces % 16:
        raise click.BadParameter("must be a multiple of 16", param_hint="--nonces")
    logging.basicConfig(
        level=log_level.upper(), stream=sys.stderr, format="%(asctime)s %(levelname)s post-serve: %(message)s"
    )
    service_key = load_service_key(directory, key_file)[1] if node_key is not None else None
    prover = _create_prover(ctx, prover_name, threads)
    try:
        service = PostService(
            directory,
            node_endpoint,
            prover,
            scrypt_n=scrypt_n,
            nonces=nonces,
            name=name,
            node_key=node_key,
            secret_key=service_key,
        )
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
