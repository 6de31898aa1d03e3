"""In-process network simulation of the consensus engines (see :mod:`spacemesh_core.sim.network`)."""

from spacemesh_core.sim.network import ADVERSARY_BEHAVIOURS, SimConfig, SimResult, Simulation, run_simulation

__all__ = ["ADVERSARY_BEHAVIOURS", "SimConfig", "SimResult", "Simulation", "run_simulation"]
