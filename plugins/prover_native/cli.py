"""``spacemesh post prove`` and ``spacemesh post verify``.

``prove`` prints the proof as post-rs JSON ``{"nonce": int, "indices": base64, "pow": int}``;
``verify`` prints ``{"valid": bool, "reason": str or null}`` and exits 0 for a valid proof, 1 for an
invalid one (2 for unusable arguments, as click does).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn, TransferSpeedColumn

from spacemesh_core.fsutil import write_file_atomic
from spacemesh_core.post.k2pow import RandomXK2PowSolver
from spacemesh_core.post.proof import (
    MAINNET_K1,
    MAINNET_K2,
    MAINNET_POW_DIFFICULTY,
    MAINNET_PROVING_NONCES,
    Proof,
    ProofFormatError,
    ProofParameterError,
)
from spacemesh_core.post.prover import (
    PassStarted,
    PostProver,
    ProofNotFoundError,
    ProvingParams,
    ProvingStoppedError,
    get_scan_backend,
)
from spacemesh_core.post.store import PostDataError, read_metadata
from spacemesh_core.post.verify import (
    MAINNET_SCRYPT_N,
    InvalidProofError,
    ProofMetadata,
    VerifyConfig,
    VerifyMode,
    verify_proof,
    verify_vrf_nonce,
)

POST_GROUP_HELP = "PoST data: initialize labels, prove and verify."


def _parse_hex32(value: str, what: str) -> bytes:
    text = value[2:] if value.lower().startswith("0x") else value
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise click.BadParameter(f"{what} must be hex") from None
    if len(raw) != 32:
        raise click.BadParameter(f"{what} must be 32 bytes (64 hex digits), got {len(raw)} bytes")
    return raw


def _hex32_callback(ctx: click.Context, param: click.Parameter, value: str | None) -> bytes | None:
    if value is None:
        return None
    return _parse_hex32(value, param.name or "value")


class PostCommandError(click.ClickException):
    """A user error (bad data directory or parameters): one line on stderr, exit code 2."""

    exit_code = 2


def _fail(message: str) -> None:
    """Report a user error as one line and exit 2 (exit 1 is reserved for an invalid proof)."""
    raise PostCommandError(message)


class _ProveProgress:
    """A rich progress bar on stderr: k2pow per pass, then the scan with bytes/s and time left."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._progress: Progress | None = None
        self._task: Any = None

    def __enter__(self) -> _ProveProgress:
        if self.enabled:
            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TaskProgressColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=False,
            )
            self._progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(None, None, None)

    def on_pass(self, event: PassStarted) -> None:
        if self._progress is None:
            return
        description = f"nonces {event.nonce_start}-{event.nonce_end - 1}: k2pow, then scan"
        if self._task is None:
            self._task = self._progress.add_task(description, total=None)
        else:
            self._progress.reset(self._task, description=description, total=None)

    def on_scan(self, done: int, total: int) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, completed=done * 16, total=total * 16)


@click.command(name="prove")
@click.option(
    "--dir", "directory", required=True, type=click.Path(exists=True, file_okay=False), help="PoST data directory."
)
@click.option("--challenge", required=True, callback=_hex32_callback, help="32-byte challenge (hex).")
@click.option(
    "--k1", type=click.IntRange(min=0), default=MAINNET_K1, show_default=True, help="Expected good labels per nonce."
)
@click.option("--k2", type=click.IntRange(min=1), default=MAINNET_K2, show_default=True, help="Labels in a proof.")
@click.option(
    "--pow-difficulty",
    callback=_hex32_callback,
    default=MAINNET_POW_DIFFICULTY.hex(),
    show_default=True,
    help="k2pow difficulty (32 bytes hex; divided by the number of units).",
)
@click.option(
    "--nonces",
    type=click.IntRange(min=16),
    default=MAINNET_PROVING_NONCES,
    show_default=True,
    help="Nonces per pass (a multiple of 16).",
)
@click.option("--threads", type=click.IntRange(min=1), default=None, help="Worker threads [default: all CPUs].")
@click.option(
    "--backend",
    type=click.Choice(["native", "reference"]),
    default="native",
    show_default=True,
    help="Proving scan implementation.",
)
@click.option(
    "--randomx-mode",
    type=click.Choice(["auto", "light", "fast"]),
    default="auto",
    show_default=True,
    help="RandomX mode of the k2pow (fast: 2 GiB dataset, ~5x faster hashing).",
)
@click.option(
    "--out", "out_file", type=click.Path(dir_okay=False), default=None, help="Also write the proof JSON here."
)
@click.option("--json", "as_json", is_flag=True, help="Print only the proof JSON.")
def prove_command(
    directory: str,
    challenge: bytes,
    k1: int,
    k2: int,
    pow_difficulty: bytes,
    nonces: int,
    threads: int | None,
    backend: str,
    randomx_mode: str,
    out_file: str | None,
    as_json: bool,
) -> None:
    """Generate a proof of the PoST data in --dir for --challenge."""
    if nonces % 16:
        raise click.BadParameter("must be a multiple of 16", param_hint="--nonces")
    threads = threads or (os.cpu_count() or 1)
    options = {"threads": threads} if backend == "native" else {}
    prover = PostProver(get_scan_backend(backend, **options), RandomXK2PowSolver(randomx_mode, threads))  # type: ignore[arg-type]
    params = ProvingParams(k1=k1, k2=k2, pow_difficulty=pow_difficulty)
    show_progress = not as_json and sys.stderr.isatty()
    try:
        with _ProveProgress(show_progress) as bar:
            proof = prover.generate_proof_from_dir(
                directory, challenge, params, nonces=nonces, progress=bar.on_scan, on_pass=bar.on_pass
            )
    except (PostDataError, ProofParameterError, ProofNotFoundError, ProvingStoppedError) as exc:
        _fail(str(exc))
        return
    document = proof.to_json()
    if out_file is not None:
        write_file_atomic(Path(out_file), (document + "\n").encode())
    if as_json:
        click.echo(document)
    else:
        count = len(proof.indices)
        click.echo(f"proof found: nonce {proof.nonce}, pow {proof.pow}, {count} bytes of indices")
        click.echo(document)


def _load_proof(path: str) -> Proof:
    try:
        return Proof.from_json(Path(path).read_bytes())
    except OSError as exc:
        raise PostCommandError(f"cannot read proof file {path}: {exc}") from None


@click.command(name="verify")
@click.option(
    "--dir",
    "directory",
    required=True,
    type=click.Path(exists=True, file_okay=False),
    help="PoST data directory (its metadata names the identity and the units).",
)
@click.option(
    "--proof",
    "proof_file",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="Proof JSON file {nonce, indices, pow}.",
)
@click.option("--challenge", required=True, callback=_hex32_callback, help="32-byte challenge (hex).")
@click.option("--k1", type=click.IntRange(min=0), default=MAINNET_K1, show_default=True)
@click.option("--k2", type=click.IntRange(min=1), default=MAINNET_K2, show_default=True)
@click.option(
    "--k3", type=click.IntRange(min=0), default=None, help="Check a seeded subset of K3 labels [default: all K2]."
)
@click.option("--seed", default="", help="Seed of the K3 subset selection (hex) [default: empty].")
@click.option(
    "--index",
    "position",
    type=click.IntRange(min=0),
    default=None,
    help="Check only the label at this position of the proof.",
)
@click.option("--pow-difficulty", callback=_hex32_callback, default=MAINNET_POW_DIFFICULTY.hex(), show_default=True)
@click.option(
    "--scrypt-n",
    type=click.IntRange(min=2),
    default=MAINNET_SCRYPT_N,
    show_default=True,
    help="scrypt-jane N of the network.",
)
@click.option(
    "--labels-per-unit",
    type=click.IntRange(min=1),
    default=None,
    help="Labels per unit of the network [default: from the metadata].",
)
@click.option(
    "--min-units",
    type=click.IntRange(min=0),
    default=1,
    show_default=True,
    help="Fewest units the network allows (mainnet: 4).",
)
@click.option(
    "--max-units",
    type=click.IntRange(min=0),
    default=(1 << 32) - 1,
    show_default=True,
    help="Most units the network allows.",
)
@click.option(
    "--vrf-nonce/--no-vrf-nonce",
    "check_vrf_nonce",
    default=True,
    show_default=True,
    help="Also check the metadata's VRF nonce (when it has one).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def verify_command(
    directory: str,
    proof_file: str,
    challenge: bytes,
    k1: int,
    k2: int,
    k3: int | None,
    seed: str,
    position: int | None,
    pow_difficulty: bytes,
    scrypt_n: int,
    labels_per_unit: int | None,
    min_units: int,
    max_units: int,
    check_vrf_nonce: bool,
    as_json: bool,
) -> None:
    """Verify a proof for the identity of the PoST data in --dir; exit 0 if valid, 1 if not."""
    if k3 is not None and position is not None:
        raise click.UsageError("--k3 and --index are exclusive")
    try:
        seed_bytes = bytes.fromhex(seed)
    except ValueError:
        raise click.BadParameter("must be hex", param_hint="--seed") from None
    try:
        meta = read_metadata(directory)
    except PostDataError as exc:
        _fail(str(exc))
        return
    config = VerifyConfig(
        k1=k1,
        k2=k2,
        pow_difficulty=pow_difficulty,
        min_num_units=min_units,
        max_num_units=max_units,
        labels_per_unit=labels_per_unit or meta.labels_per_unit,
        scrypt_n=scrypt_n,
    )
    if position is not None:
        mode = VerifyMode.one(position)
    elif k3 is not None:
        mode = VerifyMode.subset(k3, seed_bytes)
    else:
        mode = VerifyMode.all()
    reason: str | None = None
    try:
        proof = _load_proof(proof_file)
        verify_proof(
            proof, ProofMetadata(meta.node_id, meta.commitment_atx_id, challenge, meta.num_units), config, mode
        )
        if check_vrf_nonce and meta.nonce is not None:
            verify_vrf_nonce(
                meta.nonce, meta.node_id, meta.commitment_atx_id, meta.num_units, config.labels_per_unit, scrypt_n
            )
    except ProofFormatError as exc:
        reason = f"format: {exc}"
    except InvalidProofError as exc:
        reason = exc.reason
    except ProofParameterError as exc:
        _fail(str(exc))
        return
    if as_json:
        click.echo(json.dumps({"valid": reason is None, "reason": reason}))
    else:
        click.echo("valid" if reason is None else f"invalid: {reason}")
    sys.exit(0 if reason is None else 1)


def get_post_group(cli: click.Group) -> click.Group:
    """Return the ``post`` group of ``cli``, creating and adding it when no plugin has yet."""
    existing = cli.commands.get("post")
    if isinstance(existing, click.Group):
        return existing
    group = click.Group("post", help=POST_GROUP_HELP)
    cli.add_command(group)
    return group


def add_post_commands(cli: click.Group) -> None:
    """Add ``post prove`` and ``post verify`` to ``cli``'s ``post`` group."""
    group = get_post_group(cli)
    group.add_command(prove_command)
    group.add_command(verify_command)
