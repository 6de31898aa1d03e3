"""Registers the vesting template through the ``account_template`` category."""

from __future__ import annotations

from typing import Any

from spacemesh_hooks import hookimpl


def create_vesting_template() -> Any:
    """Return the vesting :class:`~spacemesh_core.vm.template.Template`."""
    from spacemesh_plugins.account_template_vesting.template import VestingTemplate

    return VestingTemplate()


@hookimpl
def spacemesh_register_implementations(registries: Any) -> None:
    """Register ``account_template`` ``vesting``."""
    registries.register(
        "account_template",
        "vesting",
        create_vesting_template,
        description="vesting multisig with drain vault (template address 3)",
    )
