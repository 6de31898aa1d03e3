"""Registers the daily-limit template: exactly what the built-in templates do."""

from __future__ import annotations

from typing import Any

from spacemesh_hooks import hookimpl


def create_dailylimit_template() -> Any:
    """Return the template object (the factory the ``account_template`` registry calls)."""
    from spacemesh_dailylimit.template import DailyLimitTemplate

    return DailyLimitTemplate()


@hookimpl
def spacemesh_register_implementations(registries: Any) -> None:
    """Register ``account_template`` ``dailylimit``."""
    registries.register(
        "account_template",
        "dailylimit",
        create_dailylimit_template,
        description="wallet with a daily spending limit (example)",
    )
