"""MT19937-64: the 64-bit Mersenne Twister (Matsumoto & Nishimura, 2004).

go-spacemesh orders the transactions of a block with a Fisher-Yates shuffle driven by this generator
(``seehuhn/mt19937``, seeded with ``init_by_array`` over the little-endian 64-bit words of the block
seed, protocol spec §7.1). Python's :mod:`random` is the 32-bit MT19937 with a different seeding, so
this module implements the 64-bit variant from its published definition.

The class also offers the Go ``rand.Source64`` interface (``int63``, ``uint64``, ``seed``) so that
:class:`spacemesh_core.determinism.go_rand.GoRand` can draw from it exactly as Go's ``math/rand``
draws from ``*mt19937.MT19937``.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "DEFAULT_SEED",
    "MASK64",
    "STATE_WORDS",
    "InvalidSeedError",
    "MersenneTwister64",
    "compute_seed_words",
]

#: Number of 64-bit words in the generator state (``NN`` in mt19937-64.c).
STATE_WORDS = 312
#: Offset of the "middle word" used by the recurrence (``MM``).
_MIDDLE = 156
#: Twist matrix coefficient (``MATRIX_A``).
_MATRIX_A = 0xB5026F5AA96619E9
_UPPER_MASK = 0xFFFFFFFF80000000  # most significant 33 bits
_LOWER_MASK = 0x000000007FFFFFFF  # least significant 31 bits
#: Seed used when a generator is read before being seeded (as mt19937-64.c and seehuhn/mt19937 do).
DEFAULT_SEED = 5489
#: Seed of the scalar initialisation that ``init_by_array`` starts from.
_ARRAY_BASE_SEED = 19650218
MASK64 = (1 << 64) - 1
_INT63_MASK = (1 << 63) - 1
_INIT_MULT = 6364136223846793005
_ARRAY_MULT_1 = 3935559000370003845
_ARRAY_MULT_2 = 2862933555777941757


class InvalidSeedError(ValueError):
    """A seed or seed key that the generator cannot take (empty key, word out of range)."""


def compute_seed_words(seed: bytes) -> list[int]:
    """Split ``seed`` into little-endian unsigned 64-bit words for :meth:`MersenneTwister64.init_by_array`.

    This is go-spacemesh's ``toUint64Slice`` for the block seed. A trailing chunk shorter than eight
    bytes is read as if zero-padded on the right. (The reference would panic on such a chunk; its block
    seed is always a 32-byte BLAKE3 digest, so the two agree on every input the reference accepts.)

    Raises :class:`InvalidSeedError` for an empty seed, which gives no key words.
    """
    if not seed:
        raise InvalidSeedError("seed must not be empty")
    return [int.from_bytes(seed[i : i + 8], "little") for i in range(0, len(seed), 8)]


class MersenneTwister64:
    """The 64-bit Mersenne Twister, usable as a Go ``rand.Source64``.

    Create it unseeded (the first draw then seeds it with :data:`DEFAULT_SEED`, as the reference does),
    with ``seed=`` (``init_genrand64``) or with ``key=`` (``init_by_array64``).
    """

    __slots__ = ("_index", "_state")

    def __init__(self, seed: int | None = None, key: Sequence[int] | None = None) -> None:
        if seed is not None and key is not None:
            raise InvalidSeedError("give either seed or key, not both")
        self._state = [0] * STATE_WORDS
        self._index = STATE_WORDS + 1  # "not seeded" marker
        if seed is not None:
            self.seed(seed)
        elif key is not None:
            self.init_by_array(key)

    @classmethod
    def from_seed_bytes(cls, seed: bytes) -> MersenneTwister64:
        """Return a generator keyed with the little-endian words of ``seed`` (the block-order rule).

        Raises :class:`InvalidSeedError` for an empty seed.
        """
        return cls(key=compute_seed_words(seed))

    def seed(self, seed: int) -> None:
        """Initialise the state from one 64-bit value (``init_genrand64``; Go's ``Seed(int64)``).

        A negative ``seed`` is taken as its two's-complement 64-bit pattern, as Go's ``uint64(seed)``.
        Raises :class:`InvalidSeedError` when ``seed`` is outside the signed/unsigned 64-bit range.
        """
        if not -(1 << 63) <= seed <= MASK64:
            raise InvalidSeedError(f"seed {seed} does not fit in 64 bits")
        state = self._state
        previous = seed & MASK64
        state[0] = previous
        for i in range(1, STATE_WORDS):
            previous = (_INIT_MULT * (previous ^ (previous >> 62)) + i) & MASK64
            state[i] = previous
        self._index = STATE_WORDS

    def init_by_array(self, key: Sequence[int]) -> None:
        """Initialise the state from a key of unsigned 64-bit words (``init_by_array64``).

        Raises :class:`InvalidSeedError` for an empty key or a word outside ``[0, 2**64)``.
        """
        words = list(key)
        if not words:
            raise InvalidSeedError("init_by_array needs at least one key word")
        for word in words:
            if not 0 <= word <= MASK64:
                raise InvalidSeedError(f"key word {word} is not an unsigned 64-bit value")
        self.seed(_ARRAY_BASE_SEED)
        state = self._state
        i, j = 1, 0
        for _ in range(max(STATE_WORDS, len(words))):
            prev = state[i - 1]
            state[i] = ((state[i] ^ ((prev ^ (prev >> 62)) * _ARRAY_MULT_1)) + words[j] + j) & MASK64
            i += 1
            if i >= STATE_WORDS:
                state[0] = state[STATE_WORDS - 1]
                i = 1
            j += 1
            if j >= len(words):
                j = 0
        for _ in range(STATE_WORDS - 1):
            prev = state[i - 1]
            state[i] = ((state[i] ^ ((prev ^ (prev >> 62)) * _ARRAY_MULT_2)) - i) & MASK64
            i += 1
            if i >= STATE_WORDS:
                state[0] = state[STATE_WORDS - 1]
                i = 1
        state[0] = 1 << 63  # MSB set: guarantees a non-zero initial state
        self._index = STATE_WORDS

    def _twist(self) -> None:
        """Regenerate all state words (the generator's linear recurrence)."""
        state = self._state
        n, m = STATE_WORDS, _MIDDLE
        for i in range(n):
            y = (state[i] & _UPPER_MASK) | (state[(i + 1) % n] & _LOWER_MASK)
            state[i] = state[(i + m) % n] ^ (y >> 1) ^ (_MATRIX_A if y & 1 else 0)
        self._index = 0

    def uint64(self) -> int:
        """Return the next output, uniform in ``[0, 2**64)`` (``genrand64_int64``; Go's ``Uint64``)."""
        if self._index >= STATE_WORDS:
            if self._index == STATE_WORDS + 1:
                self.seed(DEFAULT_SEED)
            self._twist()
        y = self._state[self._index]
        self._index += 1
        # Tempering.
        y ^= (y >> 29) & 0x5555555555555555
        y ^= (y << 17) & 0x71D67FFFEDA60000
        y ^= (y << 37) & 0xFFF7EEE000000000
        y ^= y >> 43
        return y

    def int63(self) -> int:
        """Return the next output with its top bit cleared, in ``[0, 2**63)`` (Go's ``Source.Int63``)."""
        return self.uint64() & _INT63_MASK

    def get_state(self) -> tuple[tuple[int, ...], int]:
        """Return a snapshot ``(state words, index)`` that :meth:`set_state` restores."""
        return tuple(self._state), self._index

    def set_state(self, snapshot: tuple[Sequence[int], int]) -> None:
        """Restore a snapshot taken by :meth:`get_state`.

        Raises :class:`InvalidSeedError` when the snapshot has the wrong shape or out-of-range words.
        """
        words, index = snapshot
        words = list(words)
        if len(words) != STATE_WORDS or not 0 <= index <= STATE_WORDS + 1:
            raise InvalidSeedError("not a MersenneTwister64 snapshot")
        if any(not 0 <= w <= MASK64 for w in words):
            raise InvalidSeedError("snapshot words must be unsigned 64-bit values")
        self._state = words
        self._index = index
