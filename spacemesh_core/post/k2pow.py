"""The k2 proof of work: one RandomX search per nonce group before the data is read.

Layout (post-poet.md §2.2, post-rs ``pow/randomx.rs``): RandomX (tevador/RandomX, stock config) keyed
with ASCII ``spacemesh-randomx-cache-key`` hashes the 48-byte input
``LE64(pow)[0..7] || nonce_group (1 byte) || challenge[0..8] || node_id (32)``; ``pow`` is valid iff the
32-byte hash is strictly below the threshold ``U256(pow_difficulty) / num_units``, both compared as
big-endian byte strings.

RandomX comes from the PyPI package ``randomx`` (it builds the RandomX 1.1.10 library from its
sdist; 1.1.10 and 1.2.1 hash identically).  Its calls release the GIL, so the search runs one
virtual machine per Python thread in parallel.  Light mode (256 MiB cache, ~0.5 s to build) is the
verifier's default; fast mode (2080 MiB dataset, tens of seconds to build) hashes ~5x faster and is
worth it for real proving.  Both give identical hashes.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from typing import Any, Literal, Protocol

from spacemesh_core.post.proof import MAX_NONCE_GROUP, MAX_POW_NONCE

RANDOMX_CACHE_KEY = b"spacemesh-randomx-cache-key"
K2POW_INPUT_SIZE = 48
HASH_SIZE = 32
#: Expected hashes above which :func:`choose_randomx_mode` prefers fast mode (the dataset build costs
#: about as much as this many light-mode hashes on one core).
FAST_MODE_BREAK_EVEN_HASHES = 20_000

RandomXMode = Literal["light", "fast"]


class K2PowError(Exception):
    """Base class of k2pow errors."""


class InvalidK2PowError(K2PowError):
    """A pow nonce whose RandomX hash is not below the threshold."""


class K2PowNotFoundError(K2PowError):
    """The search range was exhausted without a valid pow nonce."""


class RandomXUnavailableError(K2PowError):
    """The ``randomx`` package (RandomX library binding) is not installed or cannot allocate."""


def _import_randomx() -> Any:
    try:
        import randomx
    except ImportError as exc:  # pragma: no cover - the package is a declared dependency
        raise RandomXUnavailableError("the 'randomx' package is required for k2pow (pip install randomx)") from exc
    return randomx


class RandomXHasher:
    """RandomX keyed once (cache, and in fast mode the dataset) with one VM per calling thread."""

    def __init__(self, key: bytes = RANDOMX_CACHE_KEY, mode: RandomXMode = "light", init_threads: int | None = None):
        """Build the cache for ``key`` (and the 2080 MiB dataset in fast mode, on ``init_threads``).

        :raises ValueError: unknown mode.
        :raises RandomXUnavailableError: the binding is missing or memory could not be allocated.
        """
        if mode not in ("light", "fast"):
            raise ValueError(f"RandomX mode must be 'light' or 'fast', got {mode!r}")
        rx = _import_randomx()
        self.key = bytes(key)
        self.mode: RandomXMode = mode
        flags = rx.get_flags()
        try:
            self._cache = rx.Cache(flags, self.key)
            self._dataset = None
            if mode == "fast":
                flags |= rx.FLAG_FULL_MEM
                self._dataset = rx.Dataset(flags)
                self._dataset.init_parallel(self._cache, threads=init_threads or (os.cpu_count() or 1))
        except MemoryError as exc:
            raise RandomXUnavailableError(f"RandomX {mode} mode could not allocate its memory") from exc
        self._flags = flags
        self._rx = rx
        self._local = threading.local()

    def _get_vm(self) -> Any:
        vm = getattr(self._local, "vm", None)
        if vm is None:
            vm = self._rx.VM(self._flags, self._cache, self._dataset)
            self._local.vm = vm
        return vm

    def compute_hash(self, data: bytes) -> bytes:
        """Return the 32-byte RandomX hash of ``data`` (GIL released while hashing)."""
        return bytes(self._get_vm().calculate_hash(data))


_HASHERS: dict[tuple[bytes, str], RandomXHasher] = {}
_HASHERS_LOCK = threading.Lock()


def get_randomx_hasher(mode: RandomXMode = "light", key: bytes = RANDOMX_CACHE_KEY) -> RandomXHasher:
    """Return a process-wide shared :class:`RandomXHasher` for ``(key, mode)`` (built on first use)."""
    with _HASHERS_LOCK:
        hasher = _HASHERS.get((key, mode))
        if hasher is None:
            hasher = RandomXHasher(key, mode)
            _HASHERS[(key, mode)] = hasher
        return hasher


def choose_randomx_mode(expected_hashes: float) -> RandomXMode:
    """Return ``'fast'`` when building the dataset pays off for ``expected_hashes`` hashes."""
    return "fast" if expected_hashes > FAST_MODE_BREAK_EVEN_HASHES else "light"


def compute_expected_k2pow_hashes(threshold: bytes) -> float:
    """Return the expected number of RandomX hashes to find one pow below ``threshold``."""
    value = int.from_bytes(threshold, "big")
    return float("inf") if value == 0 else (1 << 256) / value


def _check_inputs(nonce_group: int, challenge: bytes, node_id: bytes) -> None:
    if not 0 <= nonce_group <= MAX_NONCE_GROUP:
        raise ValueError(f"nonce group must be in 0..{MAX_NONCE_GROUP}, got {nonce_group}")
    if len(challenge) < 8:
        raise ValueError(f"challenge must have at least 8 bytes, got {len(challenge)}")
    if len(node_id) != 32:
        raise ValueError(f"node id must be 32 bytes, got {len(node_id)}")


def compute_k2pow_input(pow_nonce: int, nonce_group: int, challenge: bytes, node_id: bytes) -> bytes:
    """Return the 48-byte RandomX input of a k2pow attempt.

    Only the low 7 bytes of ``pow_nonce`` and the first 8 bytes of ``challenge`` enter the hash.

    :raises ValueError: nonce group outside 0..255, pow not a u64, short challenge, node id not 32 bytes.
    """
    _check_inputs(nonce_group, challenge, node_id)
    if not 0 <= pow_nonce < (1 << 64):
        raise ValueError(f"pow must be a u64, got {pow_nonce}")
    return pow_nonce.to_bytes(8, "little")[:7] + bytes([nonce_group]) + bytes(challenge[:8]) + bytes(node_id)


def compute_k2pow_hash(
    pow_nonce: int, nonce_group: int, challenge: bytes, node_id: bytes, hasher: RandomXHasher | None = None
) -> bytes:
    """Return the RandomX hash of a k2pow attempt (light mode shared hasher unless given)."""
    data = compute_k2pow_input(pow_nonce, nonce_group, challenge, node_id)
    return (hasher or get_randomx_hasher("light")).compute_hash(data)


def is_valid_k2pow(
    pow_nonce: int,
    nonce_group: int,
    challenge: bytes,
    node_id: bytes,
    threshold: bytes,
    hasher: RandomXHasher | None = None,
) -> bool:
    """Return whether ``pow_nonce`` solves the k2pow of ``nonce_group`` (hash < threshold, big-endian)."""
    if len(threshold) != HASH_SIZE:
        raise ValueError(f"threshold must be 32 bytes, got {len(threshold)}")
    return compute_k2pow_hash(pow_nonce, nonce_group, challenge, node_id, hasher) < bytes(threshold)


def verify_k2pow(
    pow_nonce: int,
    nonce_group: int,
    challenge: bytes,
    node_id: bytes,
    threshold: bytes,
    hasher: RandomXHasher | None = None,
) -> None:
    """Check a k2pow.

    :raises InvalidK2PowError: the hash is not below ``threshold``.
    :raises ValueError: malformed inputs (see :func:`compute_k2pow_input`).
    """
    if not is_valid_k2pow(pow_nonce, nonce_group, challenge, node_id, threshold, hasher):
        raise InvalidK2PowError(f"invalid k2pow {pow_nonce} for nonce group {nonce_group}")


def find_k2pow(
    nonce_group: int,
    challenge: bytes,
    node_id: bytes,
    threshold: bytes,
    *,
    hasher: RandomXHasher | None = None,
    threads: int = 1,
    start: int = 0,
    limit: int | None = None,
    block: int = 4,
    should_stop: Callable[[], bool] | None = None,
) -> int:
    """Return the smallest pow nonce in ``[start, start + limit)`` whose hash is below ``threshold``.

    The search runs on ``threads`` Python threads (RandomX releases the GIL), handing out blocks of
    ``block`` consecutive nonces in increasing order; a thread stops taking blocks once one above the
    best found so far would come next, so the answer is the smallest valid nonce whatever the thread
    count (the reference returns any valid one; every valid one verifies).

    :raises K2PowNotFoundError: no valid nonce in the range.
    :raises InterruptedError: ``should_stop()`` returned True.
    """
    _check_inputs(nonce_group, challenge, node_id)
    if len(threshold) != HASH_SIZE:
        raise ValueError(f"threshold must be 32 bytes, got {len(threshold)}")
    end = MAX_POW_NONCE + 1 if limit is None else min(MAX_POW_NONCE + 1, start + limit)
    if start < 0 or start >= end:
        raise K2PowNotFoundError("empty pow nonce range")
    rx = hasher or get_randomx_hasher("light")
    prefix_tail = bytes([nonce_group]) + bytes(challenge[:8]) + bytes(node_id)
    bound = bytes(threshold)
    lock = threading.Lock()
    state = {"next": start, "best": end, "stopped": False}
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            while True:
                with lock:
                    first = state["next"]
                    if first >= state["best"] or state["stopped"]:
                        return
                    if should_stop is not None and should_stop():
                        state["stopped"] = True
                        return
                    state["next"] = first + block
                for candidate in range(first, min(first + block, end)):
                    digest = rx.compute_hash(candidate.to_bytes(8, "little")[:7] + prefix_tail)
                    if digest < bound:
                        with lock:
                            state["best"] = min(state["best"], candidate)
                        return
        except BaseException as exc:  # pragma: no cover - surfaced to the caller below
            errors.append(exc)
            with lock:
                state["stopped"] = True

    count = max(1, threads)
    if count == 1:
        worker()
    else:
        workers = [threading.Thread(target=worker, name=f"k2pow-{i}", daemon=True) for i in range(count)]
        for thread in workers:
            thread.start()
        for thread in workers:
            thread.join()
    if errors:
        raise errors[0]
    if state["best"] < end:
        return state["best"]
    if state["stopped"]:
        raise InterruptedError("k2pow search was stopped")
    raise K2PowNotFoundError(f"no valid k2pow for nonce group {nonce_group} in [{start}, {end})")


class K2PowSolver(Protocol):
    """Finds the k2pows of a pass's nonce groups (RandomX on this machine, or a remote service)."""

    def find_k2pows(
        self,
        nonce_groups: Sequence[int],
        challenge: bytes,
        node_id: bytes,
        threshold: bytes,
        *,
        should_stop: Callable[[], bool] | None = None,
    ) -> dict[int, int]:
        """Return ``{nonce_group: pow}`` with each pow's hash below ``threshold``.

        :raises InterruptedError: ``should_stop()`` returned True (checked while searching).
        """
        ...


class RandomXK2PowSolver:
    """k2pow on this machine's CPU with RandomX in light, fast or automatically chosen mode."""

    def __init__(self, mode: RandomXMode | Literal["auto"] = "auto", threads: int | None = None):
        """:param mode: ``light``, ``fast`` or ``auto`` (fast when the expected work pays for the dataset)."""
        if mode not in ("light", "fast", "auto"):
            raise ValueError(f"RandomX mode must be light, fast or auto, got {mode!r}")
        self.mode = mode
        self.threads = threads or (os.cpu_count() or 1)

    def get_hasher(self, threshold: bytes, groups: int = 1) -> RandomXHasher:
        """Return the shared hasher for the configured mode (``auto`` decides from the expected work)."""
        mode: RandomXMode
        if self.mode == "auto":
            mode = choose_randomx_mode(compute_expected_k2pow_hashes(threshold) * groups / self.threads)
        else:
            mode = self.mode
        return get_randomx_hasher(mode)

    def find_k2pows(
        self,
        nonce_groups: Sequence[int],
        challenge: bytes,
        node_id: bytes,
        threshold: bytes,
        *,
        should_stop: Callable[[], bool] | None = None,
    ) -> dict[int, int]:
        """Return the smallest valid pow nonce of each group (see :func:`find_k2pow`).

        :raises InterruptedError: ``should_stop()`` returned True.
        """
        hasher = self.get_hasher(threshold, len(nonce_groups))
        return {
            group: find_k2pow(
                group, challenge, node_id, threshold, hasher=hasher, threads=self.threads, should_stop=should_stop
            )
            for group in nonce_groups
        }
