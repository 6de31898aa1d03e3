"""Test and simulation helpers for the activation pipeline (no network needed).

* :class:`SkippingTime` — a time source whose sleeps jump straight to their deadline;
* :class:`LocalPoetService` — an in-process PoET behind the builder's :class:`PoetService` protocol:
  it collects registrations per round and, when a round's proof is fetched, runs the real
  sequential work (native when built, else the reference) over the round's members;

The PoST prove function and the round-proof conversion they use live in
:mod:`spacemesh_core.activation.adapters` (nodes use them too) and are re-exported here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from spacemesh_core.activation.adapters import convert_round_proof, create_prove_function
from spacemesh_core.activation.builder import (
    FetchedPoetProof,
    PoetProofUnavailableError,
    PoetRegistrationError,
    PoetRoundRegistration,
)
from spacemesh_core.activation.challenge import PoetTiming, compute_epoch_schedule, get_next_publish_epoch
from spacemesh_core.clock import LayerClock
from spacemesh_core.poet import native as poet_native
from spacemesh_core.poet.proof import PoetProof as CorePoetProof
from spacemesh_core.poet.reference import compute_statement, generate_membership_proof
from spacemesh_core.poet.reference import generate_poet_proof as generate_poet_proof_reference


class SkippingTime:
    """A time source for tests: ``sleep_until`` moves time to the deadline at once (monotonic)."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = float(start)

    def now(self) -> float:
        """Return the current (simulated) time."""
        return self._now

    async def sleep_until(self, when: float) -> None:
        """Jump to ``when`` if it is later, then yield to the event loop once."""
        self._now = max(self._now, float(when))
        await asyncio.sleep(0)


class LocalPoetService:
    """An in-process PoET for the builder (see the module doc).

    :param clock: the node's clock (its time source decides when a round has ended).
    :param timing: the PoET round parameters (round ``P - 1`` serves publish epoch ``P``).
    :param leaves: sequential-work leaves per round (the proof's leaf count).
    :param url: the name reported in registrations.
    """

    def __init__(self, clock: LayerClock, timing: PoetTiming, leaves: int = 512, url: str = "local-poet") -> None:
        self.clock = clock
        self.timing = timing
        self.leaves = leaves
        self.url = url
        self.service_pubkey = url.encode()[:32].ljust(32, b"\0")
        self.rounds: dict[str, list[bytes]] = {}
        self._proofs: dict[str, tuple[CorePoetProof, bytes, tuple[bytes, ...]]] = {}
        #: set to make the next registrations fail (tests of retries)
        self.refuse_registrations = False
        self.register_calls = 0
        self.fetch_calls = 0

    def get_open_round(self, now: float) -> tuple[str, float]:
        """Return the id and end of the round open for registration at ``now``."""
        epoch = get_next_publish_epoch(self.clock, self.timing, now)
        return str(epoch - 1), compute_epoch_schedule(self.clock, self.timing, epoch).round_end

    async def register(self, challenge_hash: bytes, deadline: float) -> list[PoetRoundRegistration]:
        """Register ``challenge_hash`` in the open round (idempotent, like a real PoET)."""
        self.register_calls += 1
        if self.refuse_registrations:
            raise PoetRegistrationError("the local PoET refuses registrations")
        round_id, round_end = self.get_open_round(self.clock.time.now())
        if round_end > deadline:
            raise PoetRegistrationError("too late for the desired round")
        members = self.rounds.setdefault(round_id, [])
        if round_id in self._proofs:
            raise PoetRegistrationError(f"round {round_id} is closed")
        if challenge_hash not in members:
            members.append(challenge_hash)
        return [PoetRoundRegistration(self.url, round_id, round_end)]

    def _get_round_proof(self, round_id: str) -> tuple[CorePoetProof, bytes, tuple[bytes, ...]]:
        if round_id not in self._proofs:
            members = tuple(sorted(self.rounds.get(round_id, [])))
            if not members:
                raise PoetProofUnavailableError(f"round {round_id} has no members")
            statement = compute_statement(members)
            if poet_native.is_native_available():
                proof = poet_native.generate_poet_proof(statement, self.leaves)
            else:
                proof = generate_poet_proof_reference(statement, self.leaves)
            self._proofs[round_id] = (proof, statement, members)
        return self._proofs[round_id]

    async def fetch_best_proof(
        self, registrations: Sequence[PoetRoundRegistration], challenge_hash: bytes, timeout: float
    ) -> FetchedPoetProof:
        """Wait (on the clock) for the round's end, then return its proof and the membership proof."""
        self.fetch_calls += 1
        registration = registrations[0]
        await self.clock.time.sleep_until(registration.round_end)
        proof, statement, members = self._get_round_proof(registration.round_id)
        if challenge_hash not in members:
            raise PoetProofUnavailableError("the challenge is not a member of the round")
        membership = generate_membership_proof(members, members.index(challenge_hash))
        message, merkle = convert_round_proof(
            proof, statement, membership, round_id=registration.round_id, service_pubkey=self.service_pubkey
        )
        return FetchedPoetProof(self.url, message, merkle)

__all__ = ["LocalPoetService", "SkippingTime", "convert_round_proof", "create_prove_function"]
