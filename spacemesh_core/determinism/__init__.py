"""Bit-exact deterministic helpers that consensus depends on.

* :mod:`.mt19937_64` — the 64-bit Mersenne Twister (block transaction order seed source);
* :mod:`.go_rand` — Go ``math/rand`` methods (``Shuffle``, ``Int31n``, ``Int63n``...) over a source;
* :mod:`.fixed` — the reference's 56-bit fixed-point arithmetic, ``BinCDF`` and the hare eligibility
  count.

The emission curve lives in :mod:`spacemesh_core.economics`.
"""

from spacemesh_core.determinism.fixed import (
    EligibilityInputError,
    Fixed,
    FixedDivisionByZeroError,
    FixedOverflowError,
    compute_bin_cdf,
    compute_hare_eligibility_count,
    compute_vrf_fraction56,
    is_hare_eligibility_count_valid,
)
from spacemesh_core.determinism.go_rand import (
    GoRand,
    InvalidArgumentError,
    Source,
    Source64,
    apply_go_shuffle,
    compute_shuffle_permutation,
    new_mt19937_rand,
)
from spacemesh_core.determinism.mt19937_64 import InvalidSeedError, MersenneTwister64, compute_seed_words

__all__ = [
    "EligibilityInputError",
    "Fixed",
    "FixedDivisionByZeroError",
    "FixedOverflowError",
    "GoRand",
    "InvalidArgumentError",
    "InvalidSeedError",
    "MersenneTwister64",
    "Source",
    "Source64",
    "apply_go_shuffle",
    "compute_bin_cdf",
    "compute_hare_eligibility_count",
    "compute_seed_words",
    "compute_shuffle_permutation",
    "compute_vrf_fraction56",
    "is_hare_eligibility_count_valid",
    "new_mt19937_rand",
]
