"""Transport-independent gossip logic.

A transport hands every incoming gossip message to :meth:`GossipRouter.handle_incoming`, which
decides (dedup, size, rate, validation) and tells the transport whom to forward it to. Scores fall
on rejected, oversized, rate-limited or unknown-topic messages; a peer below the threshold is to be
disconnected and banned for a while.
"""

from __future__ import annotations

import collections
import logging
import time
from collections.abc import Callable
from typing import Any

import attrs

from spacemesh_core.crypto.hashes import compute_blake3
from spacemesh_hooks.interfaces import GossipValidator, ValidationResult

log = logging.getLogger(__name__)

MESSAGE_ID_SIZE = 20


def compute_message_id(topic: str, data: bytes) -> bytes:
    """Return the gossip message id: the first 20 bytes of BLAKE3(topic || 0x00 || data)."""
    return compute_blake3(topic.encode(), b"\x00", data)[:MESSAGE_ID_SIZE]


@attrs.frozen
class GossipPolicy:
    """Limits and penalties of the gossip layer."""

    max_message_bytes: int = 4 * 2**20
    seen_cache_size: int = 100_000
    rate_per_s: float = 500.0
    burst: float = 2000.0
    penalty_reject: float = 10.0
    penalty_oversized: float = 20.0
    penalty_rate: float = 1.0
    penalty_unknown_topic: float = 2.0
    disconnect_score: float = -50.0
    ban_s: float = 600.0


def get_gossip_policy(config: Any) -> GossipPolicy:
    """Return the gossip policy described by the ``[p2p]`` section of ``config``."""
    p2p = config.p2p
    return GossipPolicy(
        max_message_bytes=p2p.max_message_bytes,
        rate_per_s=p2p.gossip_rate_per_s,
        burst=max(4 * p2p.gossip_rate_per_s, 1.0),
        disconnect_score=p2p.disconnect_score,
    )


class _TokenBucket:
    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.stamp = now

    def take(self, now: float) -> bool:
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


@attrs.define
class GossipStats:
    """Counters of what the router decided."""

    delivered: int = 0
    duplicates: int = 0
    rejected: int = 0
    ignored: int = 0
    oversized: int = 0
    rate_limited: int = 0
    unknown_topic: int = 0


class GossipRouter:
    """Decides what to do with gossip; holds scores, bans and the seen cache.

    :param clock: monotonic seconds (injectable for tests).
    """

    def __init__(self, policy: GossipPolicy | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy or GossipPolicy()
        self._clock = clock
        self._validators: dict[str, GossipValidator] = {}
        self._seen: collections.OrderedDict[bytes, None] = collections.OrderedDict()
        self._scores: dict[bytes, float] = collections.defaultdict(float)
        self._buckets: dict[bytes, _TokenBucket] = {}
        self._banned_until: dict[bytes, float] = {}
        self.stats = GossipStats()

    def register(self, topic: str, validator: GossipValidator) -> None:
        """Accept ``topic`` with ``validator``.

        :raises ValueError: when the topic already has a validator.
        """
        if topic in self._validators:
            raise ValueError(f"gossip topic {topic!r} registered twice")
        self._validators[topic] = validator

    def mark_seen(self, topic: str, data: bytes) -> bytes:
        """Record our own message as seen (so its echo is not processed) and return its id."""
        message_id = compute_message_id(topic, data)
        self._remember(message_id)
        return message_id

    def _remember(self, message_id: bytes) -> bool:
        if message_id in self._seen:
            return False
        self._seen[message_id] = None
        if len(self._seen) > self.policy.seen_cache_size:
            self._seen.popitem(last=False)
        return True

    def get_score(self, peer_id: bytes) -> float:
        """Return ``peer_id``'s score (0 for a new peer)."""
        return self._scores.get(peer_id, 0.0)

    def penalize(self, peer_id: bytes, amount: float) -> None:
        """Lower ``peer_id``'s score by ``amount``; ban it when it falls below the threshold."""
        self._scores[peer_id] = self._scores[peer_id] - amount
        if self._scores[peer_id] <= self.policy.disconnect_score and peer_id not in self._banned_until:
            self._banned_until[peer_id] = self._clock() + self.policy.ban_s
            log.info("peer %s banned for %.0f s (score %.1f)", peer_id.hex()[:12], self.policy.ban_s,
                     self._scores[peer_id])

    def is_banned(self, peer_id: bytes) -> bool:
        """Return whether ``peer_id`` is banned now."""
        until = self._banned_until.get(peer_id)
        if until is None:
            return False
        if self._clock() >= until:
            del self._banned_until[peer_id]
            self._scores[peer_id] = 0.0
            return False
        return True

    async def handle_incoming(self, peer_id: bytes, topic: str, data: bytes) -> bool:
        """Process a gossip message from ``peer_id``; return True when it must be forwarded.

        The validator runs only for a new, well-sized, rate-allowed message of a known topic; it is
        forwarded only if the validator accepted it.
        """
        now = self._clock()
        bucket = self._buckets.get(peer_id)
        if bucket is None:
            bucket = self._buckets[peer_id] = _TokenBucket(self.policy.rate_per_s, self.policy.burst, now)
        if not bucket.take(now):
            self.stats.rate_limited += 1
            self.penalize(peer_id, self.policy.penalty_rate)
            return False
        if len(data) > self.policy.max_message_bytes:
            self.stats.oversized += 1
            self.penalize(peer_id, self.policy.penalty_oversized)
            return False
        validator = self._validators.get(topic)
        if validator is None:
            self.stats.unknown_topic += 1
            self.penalize(peer_id, self.policy.penalty_unknown_topic)
            return False
        if not self._remember(compute_message_id(topic, data)):
            self.stats.duplicates += 1
            return False
        result = await validator(peer_id, data)
        if result is ValidationResult.ACCEPT:
            self.stats.delivered += 1
            self._scores[peer_id] += 0.1  # honest traffic slowly restores a score
            return True
        if result is ValidationResult.REJECT:
            self.stats.rejected += 1
            self.penalize(peer_id, self.policy.penalty_reject)
        else:
            self.stats.ignored += 1
        return False
