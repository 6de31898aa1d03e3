"""``spacemesh poet prove | verify | serve``."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import sys
from pathlib import Path
from typing import Any

import click

from spacemesh_core.poet.proof import PoetProof, ProofFormatError, RoundProof
from spacemesh_core.poet.reference import SECURITY_PARAM, compute_statement
from spacemesh_core.poet.verify import PoetVerificationError, verify_poet_proof


def _fail(message: str, code: int = 1) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


@click.command("prove")
@click.option("--statement", required=True, help="32-byte statement (hex): the membership root.")
@click.option("--leaves", type=click.IntRange(min=1), required=True, help="number of leaves to compute")
@click.option("--json", "as_json", is_flag=True, help="print the proof as JSON")
@click.option(
    "--implementation",
    type=click.Choice(["auto", "sha-ni", "portable", "reference"]),
    default="auto",
    show_default=True,
    help="native SHA-256 backend, or the pure-Python reference",
)
def prove_command(statement: str, leaves: int, as_json: bool, implementation: str) -> None:
    """Run the sequential work for LEAVES leaves over STATEMENT and print the proof."""
    try:
        raw = bytes.fromhex(statement)
    except ValueError:
        _fail("--statement must be hex", 2)
    if len(raw) != 32:
        _fail(f"--statement must be 32 bytes, got {len(raw)}", 2)
    if implementation == "reference":
        from spacemesh_core.poet.reference import generate_poet_proof as generate_reference

        proof = generate_reference(raw, leaves)
    else:
        from spacemesh_core.poet.native import NativeUnavailableError, generate_poet_proof

        try:
            proof = generate_poet_proof(raw, leaves, implementation=implementation)
        except NativeUnavailableError as exc:
            _fail(str(exc))
    document = proof.to_json_dict(statement=raw)
    if as_json:
        click.echo(json.dumps(document))
    else:
        click.echo(f"statement     {raw.hex()}")
        click.echo(f"root          {proof.root.hex()}")
        click.echo(f"leaves        {proof.leaves}")
        click.echo(f"proven leaves {len(proof.proven_leaves)}")
        click.echo(f"proof nodes   {len(proof.proof_nodes)}")


def _read_proof_file(path: Path, statement_hex: str | None) -> tuple[PoetProof, bytes]:
    document: Any = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(document, dict):
        raise ProofFormatError("the proof file must hold a JSON object")
    if "proof" in document and isinstance(document["proof"], dict) and "members" in document["proof"]:
        # A /v1/proofs/{round} response: the statement is the root of the member list.
        round_proof = RoundProof.from_rest_dict(document)
        return round_proof.proof, compute_statement(list(round_proof.members))
    proof = PoetProof.from_json_dict(document)
    text = statement_hex or document.get("statement")
    if not text:
        raise ProofFormatError("the proof file has no 'statement'; pass --statement")
    statement = bytes.fromhex(text)
    return proof, statement


@click.command("verify")
@click.option("--proof", "proof_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True)
@click.option("--statement", default=None, help="statement (hex) when the file does not carry it")
@click.option("--security-param", type=click.IntRange(min=1), default=SECURITY_PARAM, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="print the verdict as JSON")
def verify_command(proof_file: Path, statement: str | None, security_param: int, as_json: bool) -> None:
    """Verify a PoET proof file (from `poet prove --json` or a /v1/proofs response); exit 0 if valid."""
    try:
        proof, raw_statement = _read_proof_file(proof_file, statement)
        verify_poet_proof(proof, raw_statement, security_param=security_param)
    except (ProofFormatError, ValueError, KeyError) as exc:
        reason = f"malformed proof file: {exc}" if not isinstance(exc, PoetVerificationError) else str(exc)
        if as_json:
            click.echo(json.dumps({"valid": False, "reason": reason}))
        else:
            click.echo(f"invalid: {reason}", err=True)
        sys.exit(1)
    if as_json:
        click.echo(json.dumps({"valid": True, "leaves": proof.leaves, "root": proof.root.hex()}))
    else:
        click.echo(f"valid: {proof.leaves} leaves, root {proof.root.hex()}")


@click.command("serve")
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None)
@click.option("--datadir", type=click.Path(file_okay=False, path_type=Path), default=None, help="overrides the file")
@click.option("--listen", default=None, help="host:port, overrides the file")
@click.option("--log-level", default="info", show_default=True)
def serve_command(config_file: Path | None, datadir: Path | None, listen: str | None, log_level: str) -> None:
    """Run the PoET server alone until interrupted (SIGINT/SIGTERM)."""
    from spacemesh_plugins.poet_builtin.config import PoetConfigError, build_config, load_config
    from spacemesh_plugins.poet_builtin.server import PoetServer

    logging.basicConfig(
        level=log_level.upper(), stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        if config_file is not None:
            config = load_config(config_file)
        else:
            import time

            config = build_config({"datadir": str(datadir or "./poet-data"), "genesis": time.time()})
        if datadir is not None:
            config.datadir = datadir
        if listen is not None:
            host, _, port = listen.rpartition(":")
            config.host, config.port = host or "127.0.0.1", int(port)
    except (PoetConfigError, ValueError) as exc:
        _fail(str(exc), 2)

    async def run() -> None:
        server = PoetServer(config)
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stopping.set)
        await server.start()
        click.echo(f"PoET listening on {server.url}", err=True)
        try:
            await stopping.wait()
        finally:
            await server.stop()

    asyncio.run(run())


def get_poet_group(cli: click.Group | None = None) -> click.Group:
    """Return the ``poet`` group (the existing one on ``cli`` if another plugin made it) with our commands."""
    existing = cli.commands.get("poet") if cli is not None else None
    group = existing if isinstance(existing, click.Group) else click.Group("poet", help="Proof of elapsed time.")
    for command in (prove_command, verify_command, serve_command):
        if command.name not in group.commands:
            group.add_command(command)
    return group
