"""Registers ``consensus``/``hare4``: hare3 rules with compact proposal ids in the preround."""

from __future__ import annotations

from typing import Any

import attrs

from spacemesh_core.consensus.hare3 import HareConfig
from spacemesh_core.consensus.hare4 import Hare4Engine
from spacemesh_core.consensus.suite import ConsensusSuite
from spacemesh_core.kernel.registry import Registries
from spacemesh_hooks import hookimpl

#: hare4's default configuration in the reference: committee 50, otherwise as hare3.
HARE4_CONFIG = HareConfig(committee=50)


def create_hare4_suite(**hare_overrides: Any) -> ConsensusSuite:
    """Return the hare4 suite; keyword arguments override :class:`HareConfig` fields."""
    return ConsensusSuite("hare4", Hare4Engine, attrs.evolve(HARE4_CONFIG, **hare_overrides))


@hookimpl
def spacemesh_register_implementations(registries: Registries) -> None:
    """Register ``consensus``/``hare4``: factory ``(**hare_overrides) -> ConsensusSuite``."""
    registries.register(
        "consensus",
        "hare4",
        create_hare4_suite,
        description="hare4: hare3 with compact proposal ids and full exchange on demand",
    )
