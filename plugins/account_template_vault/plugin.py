"""Registers the vault template through the ``account_template`` category."""

from __future__ import annotations

from typing import Any

from spacemesh_hooks import hookimpl


def create_vault_template() -> Any:
    """Return the vault :class:`~spacemesh_core.vm.template.Template`."""
    from spacemesh_plugins.account_template_vault.template import VaultTemplate

    return VaultTemplate()


@hookimpl
def spacemesh_register_implementations(registries: Any) -> None:
    """Register ``account_template`` ``vault``."""
    registries.register(
        "account_template",
        "vault",
        create_vault_template,
        description="linear vesting vault (template address 4)",
    )
