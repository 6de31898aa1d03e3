"""The built-in PoET server: round lifecycle, registration, the REST API and the native prover.

It behaves like the reference PoET (spacemeshos/poet): round ``r`` takes registrations until
``genesis + phase_shift + r * epoch_duration``; then its members (ordered by node id) form the
membership tree whose root is the statement, the sequential work runs until the round end
(``epoch_duration - cycle_gap`` later), and the proof is stored and served at ``/v1/proofs/r``.

The server is a service (``name``, ``async start()``, ``async stop()``) so that a node can host it
on its event loop; ``spacemesh poet serve`` runs it alone. The sequential work runs in a worker
thread (the native loop releases the GIL) and checkpoints, so a crashed or stopped server resumes
its rounds when it starts again.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from spacemesh_core.crypto.signing import Signer, is_valid_ed25519_signature
from spacemesh_core.poet import rest_api as api
from spacemesh_core.poet.certificate import CERT_KEY_HINT_SIZE, CertificateError, verify_certificate
from spacemesh_core.poet.proof import PoetProof, ProofFormatError, RoundProof, decode_base64, encode_base64
from spacemesh_core.poet.prover import RoundProver
from spacemesh_core.poet.reference import compute_pow_hash, compute_statement, is_leading_zero_bits
from spacemesh_plugins.poet_builtin.config import PoetServerConfig
from spacemesh_plugins.poet_builtin.storage import ConflictingRegistrationError, PoetStorage, RoundFullError

LOG = logging.getLogger(__name__)

CHALLENGE_SIZE = 32
NODE_ID_SIZE = 32
_META_SEED = "service_seed"
_META_POW_CURRENT = "pow_current"
_META_POW_PREVIOUS = "pow_previous"


def load_trusted_keys(config: PoetServerConfig) -> dict[bytes, list[bytes]]:
    """Return certifier keys by 4-byte hint: the configured certifier and ``*.key`` files (base64).

    :raises ValueError: a key file that is not a base64 32-byte key.
    """
    keys: dict[bytes, list[bytes]] = {}
    if config.certifier_pubkey:
        keys.setdefault(config.certifier_pubkey[:CERT_KEY_HINT_SIZE], []).append(config.certifier_pubkey)
    if config.trusted_keys_dir:
        for path in sorted(Path(config.trusted_keys_dir).rglob("*.key")):
            key = base64.b64decode(path.read_text(encoding="ascii").strip())
            if len(key) != 32:
                raise ValueError(f"{path}: not a 32-byte ed25519 public key")
            keys.setdefault(key[:CERT_KEY_HINT_SIZE], []).append(key)
    return keys


class PoetServer:
    """A PoET service: REST API on ``config.host:config.port`` plus the round scheduler."""

    name = "poet-server"

    def __init__(self, config: PoetServerConfig, *, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self._clock = clock
        self.storage: PoetStorage | None = None
        self._signer: Signer | None = None
        self._pow_current = b""
        self._pow_previous: bytes | None = None
        self._trusted_keys: dict[bytes, list[bytes]] = {}
        self._open_round = 0
        self._workers: dict[int, asyncio.Task[None]] = {}
        self._stop_events: dict[int, threading.Event] = {}
        self._proof_events: dict[int, asyncio.Event] = {}
        self._scheduler: asyncio.Task[None] | None = None
        self._runner: web.AppRunner | None = None
        self.port = config.port

    # -- lifecycle ----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL of the REST API (valid once started)."""
        return f"http://{self.config.host}:{self.port}"

    @property
    def service_pubkey(self) -> bytes:
        """The server's ed25519 public key (its identity in proofs)."""
        assert self._signer is not None, "server not started"
        return self._signer.public_key

    @property
    def open_round(self) -> int:
        """The round currently open for registration."""
        return self._open_round

    async def start(self) -> None:
        """Open the database, resume unfinished rounds, start the scheduler and the REST API."""
        self.config.datadir.mkdir(parents=True, exist_ok=True)
        self.storage = PoetStorage(self.config.datadir / "poet.sqlite")
        seed = self.storage.get_meta(_META_SEED)
        if seed is None:
            seed = os.urandom(32)
            self.storage.set_meta({_META_SEED: seed})
        self._signer = Signer.from_seed(seed)
        current = self.storage.get_meta(_META_POW_CURRENT)
        if current is None:
            current = os.urandom(32)
            self.storage.set_meta({_META_POW_CURRENT: current})
        self._pow_current = current
        self._pow_previous = self.storage.get_meta(_META_POW_PREVIOUS)
        self._trusted_keys = load_trusted_keys(self.config)

        now = self._clock()
        self._open_round = self.config.get_open_round_id(now)
        for round_id, statement in self.storage.get_executing_rounds():
            self._start_worker(round_id, statement)
        previous = self._open_round - 1
        # A round whose registration closed while the server was down is executed now.
        if previous >= 0 and self.storage.get_round(previous) is None and self.storage.count_members(previous):
            self._close_round(previous)
        self._scheduler = asyncio.create_task(self._run_schedule(), name="poet-round-scheduler")

        app = self.create_app()
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.host, self.config.port)
        await site.start()
        addresses = self._runner.addresses
        if addresses:
            self.port = int(addresses[0][1])
        LOG.info(
            "PoET serving on %s, open round %d, service key %s", self.url, self._open_round, self.service_pubkey.hex()
        )

    async def stop(self) -> None:
        """Stop the API and the scheduler, checkpoint running rounds and close the database."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._scheduler is not None:
            self._scheduler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._scheduler
            self._scheduler = None
        for event in self._stop_events.values():
            event.set()
        workers = list(self._workers.values())
        if workers:
            await asyncio.gather(*workers, return_exceptions=True)
        self._workers.clear()
        if self.storage is not None:
            self.storage.close()
            self.storage = None

    async def wait_for_proof(self, round_id: int) -> RoundProof:
        """Wait until round ``round_id`` has a stored proof and return it."""
        assert self.storage is not None, "server not started"
        event = self._proof_events.setdefault(round_id, asyncio.Event())
        while (found := self.storage.get_proof(round_id)) is None:
            await event.wait()
        return found

    # -- rounds -----------------------------------------------------------------------------

    async def _run_schedule(self) -> None:
        while True:
            round_id = self._open_round
            start = self.config.get_round_start(round_id)
            while (delay := start - self._clock()) > 0:
                await asyncio.sleep(min(delay, 60.0))
            try:
                self._close_round(round_id)
            except Exception:  # keep the scheduler alive; the round is lost, the log says why
                LOG.exception("failed to close round %d", round_id)
            self._open_round = max(round_id + 1, self.config.get_open_round_id(self._clock()))
            LOG.info("opened round %d", self._open_round)

    def _close_round(self, round_id: int) -> None:
        assert self.storage is not None
        members = self.storage.get_members(round_id)
        if not members:
            LOG.info("round %d closed without members; nothing to prove", round_id)
            return
        statement = compute_statement(members)
        self.storage.mark_round_executing(round_id, statement)
        LOG.info("closing round %d with %d members, statement %s", round_id, len(members), statement.hex())
        self._start_worker(round_id, statement)

    def _start_worker(self, round_id: int, statement: bytes) -> None:
        if round_id in self._workers:
            return
        self._stop_events[round_id] = threading.Event()
        self._workers[round_id] = asyncio.create_task(
            self._execute_round(round_id, statement), name=f"poet-round-{round_id}"
        )

    def _compute_round_proof(self, round_id: int, statement: bytes, stop: threading.Event) -> PoetProof | None:
        prover = RoundProver(
            self.config.get_round_dir(round_id),
            statement,
            checkpoint_leaves=self.config.checkpoint_leaves,
            implementation=self.config.implementation,
        )
        if prover.resumed_from:
            LOG.warning("resuming round %d from leaf %d", round_id, prover.resumed_from)
        deadline = self.config.get_round_end(round_id)
        leaves = prover.run(deadline, min_leaves=self.config.min_leaves, stop_event=stop)
        if leaves is None:
            LOG.info("round %d stopped at leaf %d (checkpointed)", round_id, prover.chain.next_leaf)
            return None
        return prover.generate_proof()

    async def _execute_round(self, round_id: int, statement: bytes) -> None:
        stop = self._stop_events[round_id]
        try:
            proof = await asyncio.to_thread(self._compute_round_proof, round_id, statement, stop)
            if proof is None or self.storage is None:
                return
            members = self.storage.get_members(round_id)
            self.storage.save_proof(round_id, RoundProof(proof, members, self.service_pubkey))
            # The registration PoW challenge rotates to the newest proof root; the old one stays valid.
            self._pow_previous, self._pow_current = self._pow_current, proof.root
            self.storage.set_meta({_META_POW_CURRENT: self._pow_current, _META_POW_PREVIOUS: self._pow_previous})
            LOG.info("round %d proof stored: %d leaves, root %s", round_id, proof.leaves, proof.root.hex())
            shutil.rmtree(self.config.get_round_dir(round_id), ignore_errors=True)
            self._proof_events.setdefault(round_id, asyncio.Event()).set()
        except Exception:
            LOG.exception("round %d failed", round_id)
        finally:
            self._workers.pop(round_id, None)
            self._stop_events.pop(round_id, None)

    # -- REST API -------------------------------------------------------------------------------

    def create_app(self) -> web.Application:
        """Return the aiohttp application serving the reference REST routes."""
        app = web.Application(client_max_size=1 << 20)
        app.add_routes(
            [
                web.get("/v1/info", self._handle_info),
                web.get("/v1/pow_params", self._handle_pow_params),
                web.post("/v1/submit", self._handle_submit),
                web.get("/v1/proofs/{round_id}", self._handle_proof),
            ]
        )
        return app

    @staticmethod
    def _error(error: api.ApiError) -> web.Response:
        return web.json_response(error.to_json(), status=error.http_status)

    async def _handle_info(self, request: web.Request) -> web.Response:
        certifier = None
        if self.config.certifier_pubkey:
            certifier = {"url": self.config.certifier_url, "pubkey": encode_base64(self.config.certifier_pubkey)}
        return web.json_response(
            {
                "servicePubkey": encode_base64(self.service_pubkey),
                "phaseShift": api.format_duration(self.config.phase_shift),
                "cycleGap": api.format_duration(self.config.cycle_gap),
                "certifier": certifier,
            }
        )

    async def _handle_pow_params(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"powParams": {"difficulty": self.config.pow_difficulty, "challenge": encode_base64(self._pow_current)}}
        )

    async def _handle_proof(self, request: web.Request) -> web.Response:
        assert self.storage is not None
        text = request.match_info["round_id"]
        found = self.storage.get_proof(int(text)) if text.isdigit() else None
        if found is None:
            return self._error(api.ApiError(api.NOT_FOUND, "proof not found"))
        return web.json_response(found.to_rest_dict())

    async def _handle_submit(self, request: web.Request) -> web.Response:
        try:
            document = json.loads(await request.read())
            if not isinstance(document, dict):
                raise api.ApiError(api.INVALID_ARGUMENT, "request body must be a JSON object")
            round_id, round_end = self.submit(document)
        except api.ApiError as error:
            LOG.debug("submit rejected: %s", error.message)
            return self._error(error)
        except (ValueError, ProofFormatError) as exc:
            return self._error(api.ApiError(api.INVALID_ARGUMENT, f"invalid request: {exc}"))
        return web.json_response(
            {"roundId": str(round_id), "roundEnd": api.format_duration(max(0.0, round_end - self._clock()))}
        )

    def submit(self, document: dict[str, Any]) -> tuple[int, float]:
        """Process a ``SubmitRequest`` (JSON form); return ``(round id, round end)``.

        :raises api.ApiError: with the reference's code for each rejection.
        """
        assert self.storage is not None
        pubkey = decode_base64(api.get_field(document, "pubkey", "pubkey", ""))
        if len(pubkey) != NODE_ID_SIZE:
            raise api.ApiError(api.INVALID_ARGUMENT, "invalid public key")
        prefix = decode_base64(api.get_field(document, "prefix", "prefix", ""))
        challenge = decode_base64(api.get_field(document, "challenge", "challenge", ""))
        signature = decode_base64(api.get_field(document, "signature", "signature", ""))
        if not is_valid_ed25519_signature(pubkey, prefix + challenge, signature):
            raise api.ApiError(api.INVALID_ARGUMENT, "invalid signature")
        if len(challenge) != CHALLENGE_SIZE:
            # Stricter than the reference: membership-tree leaves are 32-byte challenges.
            raise api.ApiError(api.INVALID_ARGUMENT, f"challenge must be {CHALLENGE_SIZE} bytes")
        hint_text = api.get_field(document, "certificatePubkeyHint", "certificate_pubkey_hint")
        hint = decode_base64(hint_text) if hint_text is not None else None
        if hint is not None and len(hint) != CERT_KEY_HINT_SIZE:
            raise api.ApiError(api.INVALID_ARGUMENT, "invalid certificate public key hint")
        certificate = api.get_field(document, "certificate", "certificate")
        if self._trusted_keys and certificate:
            self._verify_certificate(certificate, hint, pubkey)
        else:
            self._verify_pow(document, challenge, pubkey)

        round_id = self._open_round
        round_end = self.config.get_round_end(round_id)
        deadline_text = api.get_field(document, "deadline", "deadline")
        if deadline_text:
            deadline = api.parse_timestamp(deadline_text)
            if round_end > deadline:
                raise api.ApiError(api.FAILED_PRECONDITION, "too late to register for the desired round")
        try:
            self.storage.add_registration(round_id, pubkey, challenge, self.config.max_round_members)
        except ConflictingRegistrationError as exc:
            raise api.ApiError(api.ALREADY_EXISTS, str(exc)) from None
        except RoundFullError as exc:
            raise api.ApiError(api.RESOURCE_EXHAUSTED, str(exc)) from None
        return round_id, round_end

    def _verify_certificate(self, certificate: dict[str, Any], hint: bytes | None, node_id: bytes) -> None:
        data = decode_base64(certificate.get("data") or "")
        signature = decode_base64(certificate.get("signature") or "")
        if hint is None:
            candidates = [self.config.certifier_pubkey] if self.config.certifier_pubkey else []
        else:
            candidates = self._trusted_keys.get(hint, [])
        if not candidates:
            raise api.ApiError(api.UNAUTHENTICATED, "invalid certificate: no matching cert public keys")
        last_error = "invalid certificate"
        for key in candidates:
            try:
                verify_certificate(data, signature, key, node_id, now=self._clock())
                return
            except CertificateError as exc:
                last_error = f"invalid certificate: {exc}"
        raise api.ApiError(api.UNAUTHENTICATED, last_error)

    def _verify_pow(self, document: dict[str, Any], challenge: bytes, node_id: bytes) -> None:
        params = api.get_field(document, "powParams", "pow_params") or {}
        pow_challenge = decode_base64(params.get("challenge") or "")
        difficulty = int(params.get("difficulty") or 0)
        accepted = [self._pow_current] + ([self._pow_previous] if self._pow_previous else [])
        if difficulty != self.config.pow_difficulty or pow_challenge not in accepted:
            raise api.ApiError(api.INVALID_ARGUMENT, "invalid proof of work parameters")
        nonce = int(document.get("nonce") or 0)
        if not 0 <= nonce < 1 << 64:
            raise api.ApiError(api.INVALID_ARGUMENT, "invalid proof of work: nonce out of range")
        digest = compute_pow_hash(pow_challenge, node_id, challenge, nonce)
        if not is_leading_zero_bits(digest, difficulty):
            raise api.ApiError(api.INVALID_ARGUMENT, "invalid proof of work: invalid leading zero bits")
