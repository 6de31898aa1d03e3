"""Registers ``consensus``/``hare3`` (the default): the reference rules of go-spacemesh mainnet."""

from __future__ import annotations

from typing import Any

import attrs

from spacemesh_core.consensus.hare3 import MAINNET_HARE3, Hare3Engine
from spacemesh_core.consensus.suite import ConsensusSuite
from spacemesh_core.kernel.registry import Registries
from spacemesh_hooks import hookimpl


def create_hare3_suite(**hare_overrides: Any) -> ConsensusSuite:
    """Return the hare3 suite; keyword arguments override :class:`HareConfig` fields (e.g. ``committee``)."""
    return ConsensusSuite("hare3", Hare3Engine, attrs.evolve(MAINNET_HARE3, **hare_overrides))


@hookimpl
def spacemesh_register_implementations(registries: Registries) -> None:
    """Register ``consensus``/``hare3``: factory ``(**hare_overrides) -> ConsensusSuite``."""
    registries.register(
        "consensus",
        "hare3",
        create_hare3_suite,
        description="hare3 + beacon + eligibility with the reference mainnet rules",
        default=True,
    )
