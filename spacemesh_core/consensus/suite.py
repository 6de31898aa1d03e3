"""What a ``consensus`` plugin registers: a suite naming the engines and their parameters.

A factory registered in the ``consensus`` category returns a :class:`ConsensusSuite`. Part A fills in
the hare engine class and the eligibility, hare and beacon parameters; the tortoise/blocks side may
extend the suite with its own fields.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import attrs

from spacemesh_core.consensus.beacon import MAINNET_BEACON, BeaconConfig, BeaconEngine
from spacemesh_core.consensus.eligibility import MAINNET_ELIGIBILITY, EligibilityConfig
from spacemesh_core.consensus.hare3 import MAINNET_HARE3, Hare3Engine, HareConfig, HareOracle
from spacemesh_core.consensus.malfeasance import MalfeasanceRegistry
from spacemesh_core.crypto.signing import Signer

__all__ = ["ConsensusSuite"]


@attrs.frozen
class ConsensusSuite:
    """The consensus rules of a node: engine classes and parameters (see ``docs/consensus.md``)."""

    name: str
    hare_engine_class: type[Hare3Engine] = Hare3Engine
    hare_config: HareConfig = MAINNET_HARE3
    beacon_engine_class: type[BeaconEngine] = BeaconEngine
    beacon_config: BeaconConfig = MAINNET_BEACON
    eligibility_config: EligibilityConfig = MAINNET_ELIGIBILITY
    extras: dict[str, Any] = attrs.field(factory=dict)

    def create_hare_engine(
        self,
        layer: int,
        weights: dict[bytes, int],
        beacon: bytes,
        genesis_id: bytes,
        signers: Sequence[Signer] = (),
        registry: MalfeasanceRegistry | None = None,
        **kwargs: Any,
    ) -> Hare3Engine:
        """Build this suite's hare engine for ``layer`` over an active set's ``weights``."""
        oracle = HareOracle(weights, beacon, self.hare_config)
        is_malicious: Callable[[bytes], bool] = registry.is_malicious if registry else (lambda node_id: False)
        return self.hare_engine_class(self.hare_config, layer, oracle, genesis_id, signers, is_malicious, **kwargs)
