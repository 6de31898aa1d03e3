"""Go ``math/rand`` (v1) ``Rand`` methods, bit-exact, on top of any ``Source`` / ``Source64``.

Consensus code in go-spacemesh draws from ``rand.New(src)`` with a deterministic source (the block
transaction order, protocol spec §7.1, uses ``rand.New(mt19937)`` and ``Shuffle``). Every method here
consumes the source exactly as Go's does — same number of draws, same rejection loops — so a port
that shuffles with the same seed gets the same order:

* ``Int63`` is the source's ``Int63``; ``Uint32 = Int63 >> 31``; ``Int31 = Int63 >> 32``;
* ``Uint64`` is the source's ``Uint64`` when it is a ``Source64``;
* ``Int31n`` / ``Int63n`` use the modulo-rejection rule (mask when ``n`` is a power of two);
* ``Shuffle`` uses the unexported ``int31n`` (Lemire's multiply-shift with rejection), and
  ``Int63n`` only for indices beyond ``2**31 - 2``;
* ``Intn`` and ``Perm`` go through ``Int31n`` for ``n < 2**31``.

These algorithms have been stable in Go since 1.10 (``Shuffle``'s introduction) and are the ones the
reference node is built with.
"""

from __future__ import annotations

from collections.abc import Callable, MutableSequence
from typing import Protocol, TypeVar, runtime_checkable

from spacemesh_core.determinism.mt19937_64 import MersenneTwister64

__all__ = [
    "MAX_INT31",
    "MAX_INT63",
    "GoRand",
    "InvalidArgumentError",
    "Source",
    "Source64",
    "apply_go_shuffle",
    "compute_shuffle_permutation",
    "new_mt19937_rand",
]

T = TypeVar("T")

MAX_INT31 = (1 << 31) - 1
MAX_INT63 = (1 << 63) - 1
_MASK32 = (1 << 32) - 1
_MASK64 = (1 << 64) - 1


class InvalidArgumentError(ValueError):
    """An argument that Go's ``math/rand`` rejects with a panic (``n <= 0``, a negative length...)."""


@runtime_checkable
class Source(Protocol):
    """Go's ``rand.Source``: a stream of non-negative 63-bit values."""

    def int63(self) -> int:
        """Return the next value in ``[0, 2**63)``."""
        ...

    def seed(self, seed: int) -> None:
        """Reset the stream from a 64-bit seed."""
        ...


@runtime_checkable
class Source64(Source, Protocol):
    """Go's ``rand.Source64``: a ``Source`` that also yields full 64-bit values."""

    def uint64(self) -> int:
        """Return the next value in ``[0, 2**64)``."""
        ...


class GoRand:
    """Go's ``*rand.Rand``: the value-producing methods over a :class:`Source`.

    Method names are the snake_case of Go's (``int31n`` is Go's exported ``Int31n``; the unexported
    Lemire variant that ``Shuffle`` uses is :meth:`int31n_lemire`).
    """

    __slots__ = ("_src", "_src64")

    def __init__(self, source: Source) -> None:
        self._src = source
        self._src64: Source64 | None = source if isinstance(source, Source64) else None

    @property
    def source(self) -> Source:
        """The underlying source."""
        return self._src

    def seed(self, seed: int) -> None:
        """Reseed the source (Go's ``Rand.Seed``)."""
        self._src.seed(seed)

    def int63(self) -> int:
        """Return a value in ``[0, 2**63)`` (Go's ``Int63``)."""
        return self._src.int63()

    def uint32(self) -> int:
        """Return a value in ``[0, 2**32)``: the top 32 of the 63 bits of one ``Int63`` draw."""
        return self.int63() >> 31

    def uint64(self) -> int:
        """Return a value in ``[0, 2**64)``: the source's ``Uint64``, or two ``Int63`` draws combined."""
        if self._src64 is not None:
            return self._src64.uint64()
        low = self.int63() >> 31
        high = (self.int63() << 32) & _MASK64
        return low | high

    def int31(self) -> int:
        """Return a value in ``[0, 2**31)``: the top 31 bits of one ``Int63`` draw (Go's ``Int31``)."""
        return self.int63() >> 32

    def int_(self) -> int:
        """Return a non-negative ``int`` (64-bit platforms: one ``Int63`` draw; Go's ``Int``)."""
        return self.int63()

    def int63n(self, n: int) -> int:
        """Return a value in ``[0, n)`` by Go's ``Int63n`` (mask for powers of two, else reject + modulo).

        Raises :class:`InvalidArgumentError` unless ``0 < n < 2**63``.
        """
        if not 0 < n <= MAX_INT63:
            raise InvalidArgumentError(f"invalid argument to Int63n: {n}")
        if n & (n - 1) == 0:
            return self.int63() & (n - 1)
        limit = MAX_INT63 - (1 << 63) % n
        v = self.int63()
        while v > limit:
            v = self.int63()
        return v % n

    def int31n(self, n: int) -> int:
        """Return a value in ``[0, n)`` by Go's exported ``Int31n`` (mask, or reject + modulo).

        Raises :class:`InvalidArgumentError` unless ``0 < n < 2**31``.
        """
        if not 0 < n <= MAX_INT31:
            raise InvalidArgumentError(f"invalid argument to Int31n: {n}")
        if n & (n - 1) == 0:
            return self.int31() & (n - 1)
        limit = MAX_INT31 - (1 << 31) % n
        v = self.int31()
        while v > limit:
            v = self.int31()
        return v % n

    def int31n_lemire(self, n: int) -> int:
        """Return a value in ``[0, n)`` by Go's unexported ``int31n`` (used by ``Shuffle``).

        Lemire's multiply-shift: ``(Uint32 * n) >> 32``, redrawing while the low 32 bits of the product
        fall below ``2**32 mod n``. Raises :class:`InvalidArgumentError` unless ``0 < n < 2**31`` (Go
        does not check; a non-positive ``n`` there is a caller bug).
        """
        if not 0 < n <= MAX_INT31:
            raise InvalidArgumentError(f"invalid argument to int31n: {n}")
        prod = self.uint32() * n
        low = prod & _MASK32
        if low < n:
            threshold = ((1 << 32) - n) % n
            while low < threshold:
                prod = self.uint32() * n
                low = prod & _MASK32
        return prod >> 32

    def intn(self, n: int) -> int:
        """Return a value in ``[0, n)`` by Go's ``Intn`` (``Int31n`` below ``2**31``, else ``Int63n``).

        Raises :class:`InvalidArgumentError` unless ``0 < n < 2**63``.
        """
        if n <= 0:
            raise InvalidArgumentError(f"invalid argument to Intn: {n}")
        if n <= MAX_INT31:
            return self.int31n(n)
        return self.int63n(n)

    def float64(self) -> float:
        """Return a float in ``[0.0, 1.0)``: ``Int63 / 2**63``, redrawn if it rounds to 1 (Go 1.x)."""
        while True:
            f = float(self.int63()) / float(1 << 63)
            if f != 1.0:
                return f

    def perm(self, n: int) -> list[int]:
        """Return Go's ``Perm(n)``: a permutation of ``0..n-1`` built with ``Intn(i + 1)`` per step.

        Raises :class:`InvalidArgumentError` for a negative ``n`` (Go panics making the slice).
        """
        if n < 0:
            raise InvalidArgumentError(f"invalid argument to Perm: {n}")
        m = [0] * n
        for i in range(n):
            j = self.intn(i + 1)
            m[i] = m[j]
            m[j] = i
        return m

    def shuffle(self, n: int, swap: Callable[[int, int], None]) -> None:
        """Go's ``Shuffle``: Fisher-Yates from the end, calling ``swap(i, j)`` for ``i = n-1 .. 1``.

        ``j`` comes from ``Int63n(i + 1)`` while ``i > 2**31 - 2`` and from the Lemire ``int31n(i + 1)``
        below. Raises :class:`InvalidArgumentError` for a negative ``n``.
        """
        if n < 0:
            raise InvalidArgumentError("invalid argument to Shuffle")
        i = n - 1
        while i > MAX_INT31 - 1:
            swap(i, self.int63n(i + 1))
            i -= 1
        while i > 0:
            swap(i, self.int31n_lemire(i + 1))
            i -= 1


def apply_go_shuffle(rand: GoRand, items: MutableSequence[T]) -> None:
    """Shuffle ``items`` in place exactly as Go's ``rand.Shuffle(len(items), swap)`` would."""

    def swap(i: int, j: int) -> None:
        items[i], items[j] = items[j], items[i]

    rand.shuffle(len(items), swap)


def new_mt19937_rand(seed: bytes) -> GoRand:
    """Return ``rand.New(mt)`` with ``mt`` keyed by ``init_by_array`` over the LE 64-bit words of ``seed``.

    This is the generator go-spacemesh builds for a block's transaction order (spec §7.1).
    Raises :class:`~spacemesh_core.determinism.mt19937_64.InvalidSeedError` for an empty seed.
    """
    return GoRand(MersenneTwister64.from_seed_bytes(seed))


def compute_shuffle_permutation(seed: bytes, n: int) -> list[int]:
    """Return ``[0, 1, .., n-1]`` after Go's ``Shuffle`` with an MT19937-64 keyed by ``seed``.

    Raises :class:`InvalidArgumentError` for a negative ``n`` and
    :class:`~spacemesh_core.determinism.mt19937_64.InvalidSeedError` for an empty seed.
    """
    if n < 0:
        raise InvalidArgumentError("invalid argument to Shuffle")
    items = list(range(n))
    apply_go_shuffle(new_mt19937_rand(seed), items)
    return items
