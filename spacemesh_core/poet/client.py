"""The PoET client a node uses: register at every configured PoET, wait, fetch, pick, check.

For each PoET the node signs its challenge with the POET domain (``prefix = genesis id || 0x04``),
authorises itself with a certificate when the PoET names a certifier and one is supplied, or
else solves the registration proof of work, and submits. After the rounds end it fetches every
proof, checks it (the proof of sequential work, and that the member list hashes to the statement),
keeps the one with the most leaves, and builds its membership proof, which goes into the ATX.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import aiohttp
import attrs

from spacemesh_core.crypto.signing import Domain, Signer
from spacemesh_core.poet import rest_api as api
from spacemesh_core.poet.native import find_pow_nonce, is_native_available
from spacemesh_core.poet.proof import MembershipProof, PoetProof, RoundProof, decode_base64, encode_base64
from spacemesh_core.poet.reference import (
    SECURITY_PARAM,
    compute_poet_proof_ref,
    compute_statement,
    generate_membership_proof,
)
from spacemesh_core.poet.reference import find_pow_nonce as find_pow_nonce_reference
from spacemesh_core.poet.verify import PoetVerificationError, verify_membership_proof, verify_poet_proof

LOG = logging.getLogger(__name__)


class PoetClientError(RuntimeError):
    """A PoET answered with an error, or could not be reached; ``code`` is the gRPC code if any."""

    def __init__(self, message: str, code: int | None = None, http_status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.http_status = http_status


class NoPoetProofError(RuntimeError):
    """No PoET delivered a valid proof that includes the node's challenge."""


@attrs.frozen
class PoetInfo:
    """``/v1/info``."""

    service_pubkey: bytes
    phase_shift: float
    cycle_gap: float
    certifier_url: str | None = None
    certifier_pubkey: bytes | None = None


@attrs.frozen
class PowParams:
    """``/v1/pow_params``."""

    challenge: bytes
    difficulty: int


@attrs.frozen
class Registration:
    """A successful registration: which PoET, which round, and when the round's proof is due."""

    poet_url: str
    round_id: str
    round_end: float  # unix seconds


@attrs.frozen
class PoetCertificate:
    """A certificate from a certifier: SCALE data and the certifier's signature."""

    data: bytes
    signature: bytes
    pubkey_hint: bytes | None = None


@attrs.frozen
class PoetResult:
    """The proof the node uses: the best one, its statement, the node's membership proof, the reference."""

    poet_url: str
    round_id: str
    proof: PoetProof
    statement: bytes
    members: tuple[bytes, ...]
    membership_proof: MembershipProof
    proof_ref: bytes
    service_pubkey: bytes


class PoetHttpClient:
    """REST client of one PoET (the reference API, JSON as protojson writes it)."""

    def __init__(self, url: str, session: aiohttp.ClientSession, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self._session = session
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    async def _request(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        try:
            async with self._session.request(method, self.url + path, json=body, timeout=self._timeout) as response:
                text = await response.text()
                try:
                    document = await response.json(content_type=None) if text else {}
                except ValueError:
                    document = {}
                if response.status != 200:
                    message = document.get("message") if isinstance(document, dict) else None
                    code = document.get("code") if isinstance(document, dict) else None
                    raise PoetClientError(
                        f"{self.url}{path}: HTTP {response.status}: {message or text[:200]}",
                        code=code,
                        http_status=response.status,
                    )
                if not isinstance(document, dict):
                    raise PoetClientError(f"{self.url}{path}: response is not a JSON object")
                return document
        except aiohttp.ClientError as exc:
            raise PoetClientError(f"{self.url}{path}: {exc}") from exc

    async def get_info(self) -> PoetInfo:
        """Return the PoET's identity, phase shift, cycle gap and certifier."""
        doc = await self._request("GET", "/v1/info")
        certifier = doc.get("certifier") or None
        return PoetInfo(
            service_pubkey=decode_base64(api.get_field(doc, "servicePubkey", "service_pubkey", "")),
            phase_shift=api.parse_duration(api.get_field(doc, "phaseShift", "phase_shift", "0s")),
            cycle_gap=api.parse_duration(api.get_field(doc, "cycleGap", "cycle_gap", "0s")),
            certifier_url=certifier.get("url") if certifier else None,
            certifier_pubkey=decode_base64(certifier.get("pubkey") or "") if certifier else None,
        )

    async def get_pow_params(self) -> PowParams:
        """Return the current registration PoW challenge and difficulty."""
        doc = await self._request("GET", "/v1/pow_params")
        params = api.get_field(doc, "powParams", "pow_params", {})
        return PowParams(decode_base64(params.get("challenge") or ""), int(params.get("difficulty") or 0))

    async def submit(
        self,
        challenge: bytes,
        signer: Signer,
        genesis_id: bytes,
        *,
        certificate: PoetCertificate | None = None,
        pow_nonce: int | None = None,
        pow_params: PowParams | None = None,
        deadline: float | None = None,
    ) -> Registration:
        """Register ``challenge`` in the open round, signed by ``signer`` in the POET domain.

        :raises PoetClientError: the PoET refused (``code`` tells why) or could not be reached.
        """
        prefix = genesis_id + bytes([Domain.POET])
        body: dict[str, Any] = {
            "prefix": encode_base64(prefix),
            "challenge": encode_base64(challenge),
            "pubkey": encode_base64(signer.public_key),
            "signature": encode_base64(signer.sign(Domain.POET, challenge, genesis_id)),
        }
        if deadline is not None:
            body["deadline"] = api.format_timestamp(deadline)
        if certificate is not None:
            body["certificate"] = {
                "data": encode_base64(certificate.data),
                "signature": encode_base64(certificate.signature),
            }
            if certificate.pubkey_hint is not None:
                body["certificatePubkeyHint"] = encode_base64(certificate.pubkey_hint)
        if pow_params is not None:
            body["powParams"] = {"challenge": encode_base64(pow_params.challenge), "difficulty": pow_params.difficulty}
            body["nonce"] = str(pow_nonce or 0)
        doc = await self._request("POST", "/v1/submit", body)
        remaining = api.parse_duration(api.get_field(doc, "roundEnd", "round_end", "0s"))
        return Registration(self.url, str(api.get_field(doc, "roundId", "round_id", "")), time.time() + remaining)

    async def get_proof(self, round_id: str) -> RoundProof | None:
        """Return the proof of ``round_id``, or None while the PoET has none (NotFound).

        :raises PoetClientError: any other error.
        """
        try:
            doc = await self._request("GET", f"/v1/proofs/{round_id}")
        except PoetClientError as exc:
            if exc.http_status == 404:
                return None
            raise
        return RoundProof.from_rest_dict(doc)


async def solve_pow(params: PowParams, node_id: bytes, challenge: bytes) -> int:
    """Return a registration PoW nonce (native search in a thread when built, else pure Python)."""
    if is_native_available():
        return await asyncio.to_thread(find_pow_nonce, params.challenge, node_id, challenge, params.difficulty)
    return await asyncio.to_thread(find_pow_nonce_reference, params.challenge, node_id, challenge, params.difficulty)


class PoetClient:
    """Registers a node at every configured PoET and fetches the best proof."""

    def __init__(
        self,
        urls: Sequence[str],
        signer: Signer,
        genesis_id: bytes,
        *,
        certificate_provider: Callable[[str, PoetInfo], PoetCertificate | None] | None = None,
        min_leaves: int = 1,
        request_timeout: float = 30.0,
    ) -> None:
        if not urls:
            raise ValueError("at least one PoET url is needed")
        self.urls = [u.rstrip("/") for u in urls]
        self.signer = signer
        self.genesis_id = genesis_id
        self.certificate_provider = certificate_provider
        self.min_leaves = min_leaves
        self.request_timeout = request_timeout

    async def _register_one(
        self, session: aiohttp.ClientSession, url: str, challenge: bytes, deadline: float | None
    ) -> Registration:
        client = PoetHttpClient(url, session, self.request_timeout)
        certificate = None
        if self.certificate_provider is not None:
            info = await client.get_info()
            if info.certifier_pubkey:
                certificate = self.certificate_provider(url, info)
        if certificate is not None:
            return await client.submit(
                challenge, self.signer, self.genesis_id, certificate=certificate, deadline=deadline
            )
        params = await client.get_pow_params()
        nonce = await solve_pow(params, self.signer.node_id, challenge)
        return await client.submit(
            challenge, self.signer, self.genesis_id, pow_nonce=nonce, pow_params=params, deadline=deadline
        )

    async def register(self, challenge: bytes, *, deadline: float | None = None) -> list[Registration]:
        """Register ``challenge`` at every PoET; return the registrations that succeeded.

        :raises PoetClientError: when no PoET accepted the registration.
        """
        async with aiohttp.ClientSession() as session:
            outcomes = await asyncio.gather(
                *(self._register_one(session, url, challenge, deadline) for url in self.urls),
                return_exceptions=True,
            )
        registrations: list[Registration] = []
        errors: list[str] = []
        for url, outcome in zip(self.urls, outcomes, strict=True):
            if isinstance(outcome, Registration):
                registrations.append(outcome)
            elif isinstance(outcome, PoetClientError):
                LOG.warning("registration at %s failed: %s", url, outcome)
                errors.append(str(outcome))
            else:
                assert isinstance(outcome, BaseException)
                raise outcome
        if not registrations:
            raise PoetClientError("no PoET accepted the registration: " + "; ".join(errors))
        return registrations

    def check_round_proof(self, round_proof: RoundProof, challenge: bytes) -> PoetResult | None:
        """Verify a fetched proof and build the membership proof; None if it is unusable.

        Unusable: the challenge is not a member, the members do not hash to a statement the
        proof verifies against, or the proof of sequential work is invalid.
        """
        members = list(round_proof.members)
        if challenge not in members:
            LOG.warning("the PoET proof does not include our challenge")
            return None
        statement = compute_statement(members)
        try:
            verify_poet_proof(round_proof.proof, statement, security_param=SECURITY_PARAM, min_leaves=self.min_leaves)
            membership = generate_membership_proof(members, members.index(challenge))
            verify_membership_proof(challenge, membership, statement)
        except PoetVerificationError as exc:
            LOG.warning("rejecting PoET proof: %s", exc)
            return None
        return PoetResult(
            poet_url="",
            round_id="",
            proof=round_proof.proof,
            statement=statement,
            members=tuple(members),
            membership_proof=membership,
            proof_ref=compute_poet_proof_ref(round_proof.proof),
            service_pubkey=round_proof.service_pubkey,
        )

    async def fetch_best_proof(
        self,
        registrations: Sequence[Registration],
        challenge: bytes,
        *,
        poll_interval: float = 1.0,
        timeout: float | None = None,
    ) -> PoetResult:
        """Wait for every registered round's proof, check each and return the one with the most leaves.

        Waits until each round's end, then polls until the proof appears or ``timeout`` (seconds
        from the call) passes; PoETs that never deliver a valid proof are skipped.

        :raises NoPoetProofError: no valid proof arrived.
        """
        give_up = None if timeout is None else time.monotonic() + timeout

        async def fetch(session: aiohttp.ClientSession, registration: Registration) -> PoetResult | None:
            client = PoetHttpClient(registration.poet_url, session, self.request_timeout)
            wait = registration.round_end - time.time()
            if wait > 0:
                if give_up is not None:
                    wait = min(wait, max(0.0, give_up - time.monotonic()))
                await asyncio.sleep(wait)
            while True:
                try:
                    found = await client.get_proof(registration.round_id)
                except PoetClientError as exc:
                    LOG.warning("fetching proof from %s failed: %s", registration.poet_url, exc)
                    found = None
                if found is not None:
                    result = self.check_round_proof(found, challenge)
                    if result is None:
                        return None
                    return attrs.evolve(result, poet_url=registration.poet_url, round_id=registration.round_id)
                if give_up is not None and time.monotonic() >= give_up:
                    return None
                await asyncio.sleep(poll_interval)

        async with aiohttp.ClientSession() as session:
            results = await asyncio.gather(*(fetch(session, r) for r in registrations))
        valid = [r for r in results if r is not None]
        if not valid:
            raise NoPoetProofError("no PoET delivered a valid proof with our challenge")
        return max(valid, key=lambda r: r.proof.leaves)
