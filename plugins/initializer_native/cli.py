"""``spacemesh post labels | init | verify-data``: compute labels, initialize PoST data, check it.

The commands join the ``post`` group, creating it when no other plugin has yet (the prover plugin adds
``post prove`` and ``post verify`` to the same group). The group also runs on its own:
``python -m spacemesh_plugins.initializer_native.cli init ...``.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from spacemesh_core.post.initialize import (
    DEFAULT_MAX_FILE_SIZE,
    InitializationError,
    InitProgress,
    LabelInitializer,
    initialize,
    verify_data,
)
from spacemesh_core.post.labels import MAINNET_SCRYPT_N, LabelParameterError
from spacemesh_core.post.store import PostDataError, get_data_file_name

POST_GROUP_HELP = "PoST data: labels, initialization, proofs."


def _parse_hex(value: str, name: str, size: int) -> bytes:
    text = value[2:] if value.lower().startswith("0x") else value
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise click.BadParameter(f"{name} must be hex", param_hint=name) from None
    if len(raw) != size:
        raise click.BadParameter(f"{name} must be {size} bytes ({2 * size} hex digits), got {len(raw)}")
    return raw


def get_initializer(ctx: click.Context, name: str | None, threads: int | None = None) -> LabelInitializer:
    """Build initializer ``name`` (None: the category default) from the plugin registries.

    :raises click.ClickException: for an unknown name (the message lists the choices).
    """
    from spacemesh_core.kernel.registry import UnknownNameError

    try:
        from spacemesh_core.cli import get_plugins

        registries = get_plugins(ctx).get_registries()
        item = registries.get("initializer", name)
    except UnknownNameError as exc:
        raise click.ClickException(str(exc)) from None
    kwargs: dict[str, Any] = {"threads": threads} if threads is not None and item.name == "native" else {}
    provider: LabelInitializer = item.factory(**kwargs)
    return provider


def _fail(message: str) -> None:
    raise click.ClickException(message)


@click.command(name="labels")
@click.option("--commitment", required=True, help="32-byte label commitment, hex.")
@click.option("--start", type=click.IntRange(0, 2**64 - 1), required=True, help="First label index.")
@click.option("--count", type=click.IntRange(0, 1 << 24), required=True, help="Number of labels.")
@click.option("--scrypt-n", type=int, default=MAINNET_SCRYPT_N, show_default=True, help="scrypt N.")
@click.option("--provider", default=None, help="Initializer implementation (default: the category default).")
@click.option("--json", "as_json", is_flag=True, help='Print [{"index": i, "label": hex32}, ...].')
@click.pass_context
def labels_command(
    ctx: click.Context, commitment: str, start: int, count: int, scrypt_n: int, provider: str | None, as_json: bool
) -> None:
    """Print the full 32-byte scrypt-jane outputs of labels START .. START+COUNT-1."""
    raw = _parse_hex(commitment, "--commitment", 32)
    backend = get_initializer(ctx, provider)
    try:
        outputs = backend.compute_labels(raw, start, count, scrypt_n)
    except LabelParameterError as exc:
        raise click.ClickException(str(exc)) from None
    rows = [{"index": start + k, "label": outputs[32 * k : 32 * k + 32].hex()} for k in range(count)]
    if as_json:
        click.echo(json.dumps(rows))
        return
    for row in rows:
        click.echo(f"{row['index']} {row['label']}")


class _ProgressBar:
    """A rich progress bar on stderr with labels/s and the time left."""

    def __init__(self, enabled: bool) -> None:
        self.progress: Any = None
        self.task: Any = None
        if not enabled:
            return
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

        self.progress = Progress(
            TextColumn("[bold]post init"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[count]} labels"),
            TextColumn("{task.fields[rate]:,.0f} labels/s"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[where]}"),
            console=Console(stderr=True),
        )

    def __enter__(self) -> _ProgressBar:
        if self.progress is not None:
            self.progress.__enter__()
            self.task = self.progress.add_task("init", total=None, rate=0.0, where="", count="")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.__exit__(*exc)

    def update(self, report: InitProgress) -> None:
        if self.progress is None:
            return
        if report.file_index is not None:
            where = f"file {report.file_index}"
        else:
            where = "done" if report.nonce is not None else "nonce search"
        self.progress.update(
            self.task,
            completed=report.labels_done,
            total=report.labels_total,
            rate=report.labels_per_second,
            where=where,
            count=f"{report.labels_done:,}/{report.labels_total:,}",
        )


@click.command(name="init")
@click.option("--dir", "directory", required=True, type=click.Path(file_okay=False), help="PoST data directory.")
@click.option("--node-id", required=True, help="32-byte node id (Ed25519 public key), hex.")
@click.option("--commitment-atx", required=True, help="32-byte commitment ATX id, hex.")
@click.option("--units", type=click.IntRange(1, 2**32 - 1), required=True, help="Space units.")
@click.option("--labels-per-unit", type=click.IntRange(1), required=True, help="Labels per unit.")
@click.option("--scrypt-n", type=int, default=MAINNET_SCRYPT_N, show_default=True, help="scrypt N.")
@click.option("--max-file-size", type=click.IntRange(16), default=DEFAULT_MAX_FILE_SIZE, show_default=True,
              help="Bytes per postdata file (multiple of 16).")
@click.option("--from-file", type=click.IntRange(0), default=None, help="First file to write.")
@click.option("--to-file", type=click.IntRange(0), default=None, help="Last file to write (inclusive).")
@click.option("--provider", default=None, help="Initializer implementation (default: the category default).")
@click.option("--threads", type=click.IntRange(0), default=None, help="Worker threads (native; 0 = all CPUs).")
@click.option("--batch-size", type=click.IntRange(1), default=None, hidden=True, help="Labels per batch.")
@click.option("--cluster", default=None, metavar="ADDRESS|local:W",
              help="Spread the files over a Dask cluster: a scheduler address, or local:W for W local worker "
                   "processes (needs the 'dist' extra and a directory every worker sees).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON (no progress bar).")
@click.pass_context
def init_command(
    ctx: click.Context,
    directory: str,
    node_id: str,
    commitment_atx: str,
    units: int,
    labels_per_unit: int,
    scrypt_n: int,
    max_file_size: int,
    from_file: int | None,
    to_file: int | None,
    provider: str | None,
    threads: int | None,
    batch_size: int | None,
    cluster: str | None,
    as_json: bool,
) -> None:
    """Write post-rs compatible postdata files and metadata, resuming an interrupted run."""
    node = _parse_hex(node_id, "--node-id", 32)
    atx = _parse_hex(commitment_atx, "--commitment-atx", 32)
    backend = get_initializer(ctx, provider, threads)
    bar = _ProgressBar(enabled=not as_json and sys.stderr.isatty())
    extra: dict[str, Any] = {}
    try:
        with bar:
            if cluster is not None:
                result = _initialize_on_cluster(
                    ctx, cluster, directory, node, atx, units, labels_per_unit, scrypt_n, max_file_size,
                    from_file, to_file, provider, threads, backend, bar, batch_size,
                )
                extra = {"workers": result.workers, "files_redone": list(result.files_redone)}
            else:
                result = initialize(
                    directory,
                    node,
                    atx,
                    units,
                    labels_per_unit,
                    scrypt_n,
                    max_file_size,
                    from_file=from_file,
                    to_file=to_file,
                    provider=backend,
                    progress=bar.update,
                    batch_size=batch_size,
                )
    except (LabelParameterError, PostDataError, InitializationError) as exc:
        raise click.ClickException(str(exc)) from None
    meta = result.metadata
    summary = {
        "dir": directory,
        "num_files": meta.num_files,
        "files_written": list(result.files_written),
        "files_skipped": list(result.files_skipped),
        "labels_computed": result.labels_computed,
        "seconds": round(result.seconds, 3),
        "nonce": meta.nonce,
        "nonce_value": meta.nonce_value.hex() if meta.nonce_value else None,
        **extra,
    }
    if as_json:
        click.echo(json.dumps(summary))
        return
    click.echo(
        f"initialized {directory}: files {len(result.files_written)} written, "
        f"{len(result.files_skipped)} already complete; {result.labels_computed:,} labels in "
        f"{result.seconds:.1f} s; VRF nonce {meta.nonce if meta.nonce is not None else 'not found yet'}"
    )


def _initialize_on_cluster(
    ctx: click.Context,
    cluster: str,
    directory: str,
    node: bytes,
    atx: bytes,
    units: int,
    labels_per_unit: int,
    scrypt_n: int,
    max_file_size: int,
    from_file: int | None,
    to_file: int | None,
    provider: str | None,
    threads: int | None,
    backend: LabelInitializer,
    bar: _ProgressBar,
    batch_size: int | None,
) -> Any:
    """``init --cluster``: one Dask task per file (spacemesh_core.post.distributed); a named
    ``--provider`` is built on every worker from its registered factory."""
    import functools

    from spacemesh_core.post.distributed import create_local_initializer, initialize_distributed, parse_cluster_spec

    spec = parse_cluster_spec(cluster)  # a bad value fails before anything is written
    factory: Any = None
    if provider is not None:
        from spacemesh_core.cli import get_plugins

        item = get_plugins(ctx).get_registries().get("initializer", provider)
        kwargs: dict[str, Any] = {"threads": threads} if threads is not None and item.name == "native" else {}
        factory = functools.partial(item.factory, **kwargs)
    elif threads is not None:
        factory = functools.partial(create_local_initializer, threads or None)
    return initialize_distributed(
        directory, node, atx, units, labels_per_unit, scrypt_n, max_file_size,
        cluster=spec, from_file=from_file, to_file=to_file, provider_factory=factory,
        local_provider=backend, progress=bar.update, batch_size=batch_size,
    )


@click.command(name="verify-data")
@click.option("--dir", "directory", required=True, type=click.Path(file_okay=False, exists=True),
              help="PoST data directory.")
@click.option("--fraction", type=click.FloatRange(0, 1, min_open=True), required=True,
              help="Share of each file's labels to recompute, in (0, 1] (0.001 = 0.1 %).")
@click.option("--scrypt-n", type=int, default=MAINNET_SCRYPT_N, show_default=True, help="scrypt N.")
@click.option("--provider", default=None, help="Initializer implementation (default: the category default).")
@click.option("--seed", type=int, default=None, help="Seed of the random sample (default: fresh).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def verify_data_command(
    ctx: click.Context,
    directory: str,
    fraction: float,
    scrypt_n: int,
    provider: str | None,
    seed: int | None,
    as_json: bool,
) -> None:
    """Recompute a sample of the stored labels; name every bad file and index; exit 1 if any is bad."""
    backend = get_initializer(ctx, provider)
    try:
        report = verify_data(directory, fraction, scrypt_n, backend, seed=seed)
    except (LabelParameterError, PostDataError) as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(
            json.dumps(
                {
                    "valid": report.is_valid,
                    "labels_checked": report.labels_checked,
                    "bad_labels": [
                        {"file": get_data_file_name(b.file_index), "file_index": b.file_index, "index": b.index}
                        for b in report.bad_labels
                    ],
                    "missing_files": [get_data_file_name(k) for k in report.missing_files],
                    "nonce_valid": report.nonce_valid,
                }
            )
        )
    else:
        for k in report.missing_files:
            click.echo(f"missing or incomplete: {get_data_file_name(k)}")
        for bad in report.bad_labels:
            click.echo(f"bad label: {get_data_file_name(bad.file_index)} index {bad.index}")
        if report.nonce_valid is False:
            click.echo("bad VRF nonce: its label is not below the difficulty or does not match NonceValue")
        state = "ok" if report.is_valid else "BAD"
        click.echo(f"{state}: {report.labels_checked:,} labels checked")
    if not report.is_valid:
        # SystemExit, not ctx.exit: the root CLI runs click with standalone_mode=False, which would
        # turn ctx.exit's code into a return value and lose it
        sys.exit(1)


POST_COMMANDS = (labels_command, init_command, verify_data_command)


def add_post_commands(cli: click.Group) -> click.Group:
    """Add this plugin's commands to the ``post`` group of ``cli`` (creating the group if absent)."""
    group = cli.commands.get("post")
    if not isinstance(group, click.Group):
        group = click.Group("post", help=POST_GROUP_HELP)
        cli.add_command(group)
    for command in POST_COMMANDS:
        group.add_command(command)
    return group


#: a stand-alone ``post`` group holding only these commands (tests, ``python -m``)
post_group = click.Group("post", help=POST_GROUP_HELP, commands=list(POST_COMMANDS))

if __name__ == "__main__":
    post_group()
