"""Hook specifications of the spacemesh plugin system.

Hooks *build* things: they are synchronous composition calls made while a node or the CLI is put
together.  What *happens* at run time (an ATX arrived, a layer ticked) travels as events on the bus,
never as per-event hook calls.  Every spec below is documented with its exact signature in
``docs/plugins.md``; a test keeps the two in step.

An implementation may accept any subset of a spec's arguments (pluggy's opt-in arguments), so
specs can gain arguments without breaking existing plugins.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from spacemesh_hooks import hookspec

if TYPE_CHECKING:  # pragma: no cover - import for annotations only
    import click

    from spacemesh_core.config import ConfigSection
    from spacemesh_core.events import EventRegistry
    from spacemesh_core.kernel.registry import BundleRegistry, Registries
    from spacemesh_core.kernel.services import ServiceSpec


# --------------------------------------------------------------------------------------------
# Composition: implementations, bundles, configuration, events
# --------------------------------------------------------------------------------------------


@hookspec
def spacemesh_register_implementations(registries: Registries) -> None:
    """Register implementations in the category registries.

    Called once after all plugins are loaded.

    :param registries: the category registries; call
        ``registries.register(category, name, factory, description=..., default=False)`` for each
        implementation this plugin provides. ``category`` is one of ``spacemesh_hooks.CATEGORIES``;
        ``factory`` is a callable that builds the implementation (its arguments are the category's
        contract); ``default=True`` makes it the category's default.
    """


@hookspec
def spacemesh_register_bundles(bundles: BundleRegistry) -> None:
    """Register bundles: named maps from category to implementation name.

    :param bundles: the bundle registry; call ``bundles.register(name, {category: implementation},
        description=...)``. A bundle may leave categories out; they then use the category default.
    """


@hookspec
def spacemesh_config_sections() -> list[ConfigSection]:
    """Contribute configuration sections with their defaults and documentation.

    :return: a list of :class:`spacemesh_core.config.ConfigSection`; each section name must be
        unique across plugins. Keys not declared by any section are rejected when a config is
        loaded.
    """


@hookspec
def spacemesh_register_events(events: EventRegistry) -> None:
    """Register the bus event classes this plugin emits.

    :param events: the event registry; call ``events.register(EventClass)`` for each attrs event
        class decorated with ``@event("topic")``. Topics are unique; a clash is an error.
    """


# --------------------------------------------------------------------------------------------
# Run time composition: CLI, services, API
# --------------------------------------------------------------------------------------------


@hookspec
def spacemesh_cli_commands(cli: click.Group) -> None:
    """Add subcommands to the ``spacemesh`` command line.

    :param cli: the root ``click.Group``; call ``cli.add_command(command)`` with a command or group
        (``spacemesh <noun> <verb>``). Adding a name that already exists is an error.
    """


@hookspec
def spacemesh_node_services(node: Any) -> list[ServiceSpec]:
    """Return the services this plugin runs inside a node.

    :param node: the node being assembled (its ``config``, ``bus`` and resolved ``components``).
    :return: a list of :class:`spacemesh_core.kernel.services.ServiceSpec` naming each service, what
        it depends on and where it runs (in-process or a subprocess).
    """


@hookspec
def spacemesh_api_routes(node: Any) -> list[Any]:
    """Return HTTP API routes this plugin serves from a node.

    :param node: the running node.
    :return: a list of ``aiohttp.web.RouteDef`` (``web.get(...)``, ``web.post(...)``).
    """
