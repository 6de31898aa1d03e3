"""Registers the wallet template (the ``account_template`` default) like any third-party template."""

from __future__ import annotations

from typing import Any

from spacemesh_hooks import hookimpl


def create_wallet_template() -> Any:
    """Return the wallet :class:`~spacemesh_core.vm.template.Template`."""
    from spacemesh_plugins.account_template_wallet.template import WalletTemplate

    return WalletTemplate()


@hookimpl
def spacemesh_register_implementations(registries: Any) -> None:
    """Register ``account_template`` ``wallet``."""
    registries.register(
        "account_template",
        "wallet",
        create_wallet_template,
        description="single-key wallet (template address 1)",
        default=True,
    )
