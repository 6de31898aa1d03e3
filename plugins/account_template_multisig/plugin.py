"""Registers the multisig template through the ``account_template`` category."""

from __future__ import annotations

from typing import Any

from spacemesh_hooks import hookimpl


def create_multisig_template() -> Any:
    """Return the multisig :class:`~spacemesh_core.vm.template.Template`."""
    from spacemesh_plugins.account_template_multisig.template import MultisigTemplate

    return MultisigTemplate()


@hookimpl
def spacemesh_register_implementations(registries: Any) -> None:
    """Register ``account_template`` ``multisig``."""
    registries.register(
        "account_template",
        "multisig",
        create_multisig_template,
        description="k of n multisig, up to 10 keys (template address 2)",
    )
