"""In-process network simulation of the consensus engines (see :mod:`spacemesh_core.sim.network`)."""

from spacemesh_core.sim.network import (
    ADVERSARY_BEHAVIOURS,
    HareDisagreement,
    SimConfig,
    SimResult,
    Simulation,
    is_committee_safe,
    run_simulation,
)

__all__ = [
    "ADVERSARY_BEHAVIOURS",
    "HareDisagreement",
    "SimConfig",
    "SimResult",
    "Simulation",
    "is_committee_safe",
    "run_simulation",
]
