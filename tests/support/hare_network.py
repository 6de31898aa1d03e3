"""An in-process network of hare engines with random message delays and adversaries (for tests).

Every broadcast reaches every node at a random time within ``max_delay`` seconds of being sent (the
synchrony bound: gossip relaying is folded into that bound, so both halves of an equivocation reach
everyone). At equal times deliveries happen before round executions. Adversarial identities follow
one of the strategies in :data:`ADVERSARY_STRATEGIES` instead of running the protocol honestly.
"""

from __future__ import annotations

import hashlib
import heapq
import random
from collections.abc import Callable, Sequence
from typing import Any

import attrs

from spacemesh_core.consensus.hare3 import (
    COMMIT,
    NOTIFY,
    PREROUND,
    PROPOSE,
    Hare3Engine,
    HareConfig,
    HareOracle,
    create_hare_message,
)
from spacemesh_core.consensus.malfeasance import MalfeasanceRegistry
from spacemesh_core.crypto.signing import Signer
from spacemesh_core.types.hare import HareMessage

GENESIS_ID = bytes(range(20))
BEACON = b"\x01\x02\x03\x04"
LAYER = 9000

ADVERSARY_STRATEGIES = ("withhold", "equivocate", "against")


def make_signer(index: int, seed: int = 0) -> Signer:
    """Return a deterministic signer."""
    return Signer.from_seed(hashlib.sha256(f"hare-node-{seed}-{index}".encode()).digest())


def make_proposal_ids(count: int, seed: int = 0) -> list[bytes]:
    """Return ``count`` deterministic 20-byte proposal ids."""
    return [hashlib.sha256(f"proposal-{seed}-{i}".encode()).digest()[:20] for i in range(count)]


@attrs.define
class NetworkResult:
    """The outcome of one simulated hare instance."""

    results: dict[int, tuple[bytes, ...] | None]  # per honest node
    coins: dict[int, bool | None]
    proofs: dict[int, list[Any]]  # per honest node: malfeasance proofs it built
    registry: MalfeasanceRegistry
    honest: list[int]
    adversaries: dict[int, str]
    signers: list[Signer]


class HareNetwork:
    """N nodes (one identity each) running hare for one layer under a virtual clock."""

    def __init__(
        self,
        weights: Sequence[int],
        initial_sets: Sequence[Sequence[bytes]],
        *,
        adversaries: dict[int, str] | None = None,
        config: HareConfig | None = None,
        max_delay: float | None = None,
        seed: int = 0,
        engine_factory: Callable[..., Any] = Hare3Engine,
        verify_signatures: bool = False,
    ) -> None:
        self.config = config or HareConfig(committee=200, leaders=5)
        self.max_delay = self.config.round_duration if max_delay is None else max_delay
        self.rng = random.Random(seed)
        self.signers = [make_signer(i, seed) for i in range(len(weights))]
        self.adversaries = dict(adversaries or {})
        self.weights = {s.node_id: w for s, w in zip(self.signers, weights, strict=True)}
        self.oracle = HareOracle(self.weights, BEACON, self.config)
        self.registry = MalfeasanceRegistry()
        self.initial_sets = [list(s) for s in initial_sets]
        self.engines: dict[int, Any] = {}
        for i, signer in enumerate(self.signers):
            if i in self.adversaries:
                continue
            engine = engine_factory(
                self.config,
                LAYER,
                self.oracle,
                GENESIS_ID,
                [signer],
                self.registry.is_malicious,
                verify_signatures=verify_signatures,
            )
            engine.set_initial(self.initial_sets[i])
            self.engines[i] = engine
        self._queue: list[tuple[float, int, int, Any]] = []
        self._sequence = 0

    # -- scheduling --------------------------------------------------------------------------

    def _push(self, when: float, kind: int, payload: Any) -> None:
        # kind 0 = delivery, 1 = round execution: deliveries first at equal times
        self._sequence += 1
        heapq.heappush(self._queue, (when, kind, self._sequence, payload))

    def broadcast(self, now: float, message: Any, sender: int) -> None:
        """Schedule delivery of ``message`` to every honest node within ``max_delay``."""
        for node in self.engines:
            delay = 0.0 if node == sender else self.rng.uniform(0.0, self.max_delay)
            self._push(now + delay, 0, (node, message))

    # -- adversaries -------------------------------------------------------------------------

    def _adversary_messages(self, index: int, iter_: int, round_: int, honest_value: Any) -> list[HareMessage]:
        strategy = self.adversaries[index]
        if strategy == "withhold" or round_ not in (PREROUND, PROPOSE, COMMIT, NOTIFY):
            return []
        signer = self.signers[index]
        eligibility = self.oracle.compute_eligibility(signer, LAYER, iter_, round_)
        if eligibility is None:
            return []
        bogus_ids = [hashlib.sha256(f"bogus-{index}-{iter_}".encode()).digest()[:20]]
        bogus_ref = hashlib.sha256(f"bogus-ref-{index}-{iter_}-{round_}".encode()).digest()

        def build(proposals: Sequence[bytes] = (), reference: bytes | None = None) -> HareMessage:
            return create_hare_message(
                signer, GENESIS_ID, LAYER, iter_, round_, eligibility, proposals=sorted(proposals), reference=reference
            )

        if round_ in (PREROUND, PROPOSE):
            honest = list(honest_value or [])
            against = honest[: len(honest) // 2] + bogus_ids
            if strategy == "equivocate":
                return [build(honest), build(against)]
            return [build(against)]
        ref = honest_value if isinstance(honest_value, bytes) else None
        if strategy == "equivocate":
            return [build(reference=ref or bogus_ref), build(reference=bogus_ref[::-1])]
        return [build(reference=bogus_ref)]

    # -- run ---------------------------------------------------------------------------------

    def run(self) -> NetworkResult:
        """Run the instance to completion and return the honest nodes' outcomes."""
        for node, engine in self.engines.items():
            self._push(engine.get_next_round_offset(), 1, node)
        # adversaries act at the round starts of the honest schedule
        reference_engine = next(iter(self.engines.values()))
        schedule = []
        probe = reference_engine.protocol_class(self.config.get_threshold(LAYER))
        for _ in range(64):
            schedule.append(probe.current)
            if probe.current[0] > self.config.iterations_limit:
                break
            probe.next_round()
        for iter_, round_ in schedule:
            for index in self.adversaries:
                self._push(self.config.compute_round_start(iter_, round_), 1, ("adv", index, iter_, round_))
        while self._queue:
            now, kind, _, payload = heapq.heappop(self._queue)
            if kind == 0:
                node, message = payload
                engine = self.engines[node]
                if engine.finished:
                    continue
                verdict = self.deliver(engine, message)
                if verdict is not None and verdict.proof is not None:
                    self.registry.add_proof(verdict.proof, now)
                continue
            if isinstance(payload, tuple):
                _, index, iter_, round_ = payload
                honest_value = self._honest_value(iter_, round_)
                for message in self._adversary_messages(index, iter_, round_, honest_value):
                    self.broadcast(now, message, index)
                continue
            engine = self.engines[payload]
            if engine.finished:
                continue
            output = engine.advance()
            for message in output.messages:
                self.broadcast(now, message, payload)
            if not engine.finished:
                self._push(engine.get_next_round_offset(), 1, payload)
        return NetworkResult(
            results={node: engine.result for node, engine in self.engines.items()},
            coins={node: engine.coin for node, engine in self.engines.items()},
            proofs={node: list(engine.proofs) for node, engine in self.engines.items()},
            registry=self.registry,
            honest=sorted(self.engines),
            adversaries=self.adversaries,
            signers=self.signers,
        )

    def deliver(self, engine: Any, message: Any) -> Any:
        """Hand one message to one engine (hook for hare4's resolution step)."""
        return engine.on_message(message)

    def _honest_value(self, iter_: int, round_: int) -> Any:
        """What an honest node would send (for adversaries that mimic part of it)."""
        engine = next(iter(self.engines.values()))
        if round_ == PREROUND:
            return engine.protocol._initial
        if round_ == PROPOSE:
            return engine.protocol.get_threshold_proposals((0, PREROUND), 4)
        refs = engine.protocol.get_threshold_references((iter_, COMMIT), 5) if round_ == NOTIFY else []
        return refs[0] if refs else None
