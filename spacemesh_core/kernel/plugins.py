"""The plugin manager: pluggy under the project name ``spacemesh``, loading the ``spacemesh.plugins``
entry-point group (built-in plugins use it exactly as third-party ones do).

Environment switches:

``SPACEMESH_DISABLE_PLUGINS``
    comma-separated entry-point names that are not loaded (blocked).
``SPACEMESH_LOAD_PLUGINS``
    comma-separated allow-list; when set, only these entry points are loaded (empty: none).
``SPACEMESH_TRACE_PLUGINS``
    when set to a true value, every hook call, its implementations and results are written to stderr.
"""

from __future__ import annotations

import importlib.metadata
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TextIO

import attrs
import click
import pluggy

from spacemesh_core.config import ConfigSection, Schema
from spacemesh_core.config.sections import CORE_SECTIONS
from spacemesh_core.events import EventRegistry
from spacemesh_core.kernel.registry import BundleRegistry, Registries
from spacemesh_hooks import PROJECT_NAME, specs

ENTRY_POINT_GROUP = "spacemesh.plugins"
ENV_DISABLE = "SPACEMESH_DISABLE_PLUGINS"
ENV_LOAD = "SPACEMESH_LOAD_PLUGINS"
ENV_TRACE = "SPACEMESH_TRACE_PLUGINS"


class PluginLoadError(RuntimeError):
    """A plugin could not be imported or registered; the message names the entry point."""


@attrs.frozen
class PluginInfo:
    """What ``spacemesh plugins list`` shows about one loaded plugin."""

    name: str
    module: str
    distribution: str
    version: str
    categories: tuple[str, ...] = ()
    implementations: tuple[str, ...] = ()
    hooks: tuple[str, ...] = ()


def _split_names(value: str) -> set[str]:
    return {item.strip() for item in value.split(",") if item.strip()}


def _is_true(value: str | None) -> bool:
    return value is not None and value.strip().lower() not in ("", "0", "false", "no", "off")


class PluginManager:
    """A typed façade over :class:`pluggy.PluginManager` with the spacemesh hookspecs."""

    def __init__(self, environ: Mapping[str, str] | None = None, trace_stream: TextIO | None = None) -> None:
        self._environ = os.environ if environ is None else environ
        self.pm = pluggy.PluginManager(PROJECT_NAME)
        self.pm.add_hookspecs(specs)
        self._dists: dict[str, tuple[str, str, str]] = {}
        self._undo_trace: Callable[[], None] | None = None
        if _is_true(self._environ.get(ENV_TRACE)):
            self.enable_tracing(trace_stream or sys.stderr)

    # -- loading -------------------------------------------------------------------------------

    def load_entry_points(self) -> list[str]:
        """Load every plugin of the ``spacemesh.plugins`` group that the switches allow.

        Runs ``check_pending`` afterwards so that a hook implementation with a misspelt name is an
        error, not silently ignored.

        :return: the names of the plugins loaded.
        :raises PluginLoadError: when a plugin fails to import or register, or implements an unknown hook.
        """
        disabled = _split_names(self._environ.get(ENV_DISABLE, ""))
        allow_text = self._environ.get(ENV_LOAD)
        allowed = _split_names(allow_text) if allow_text is not None else None
        loaded: list[str] = []
        seen: set[str] = set()
        for ep in sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            if ep.name in seen:
                continue  # the same distribution can be visible twice on sys.path
            seen.add(ep.name)
            if ep.name in disabled or (allowed is not None and ep.name not in allowed):
                self.pm.set_blocked(ep.name)
                continue
            if self.pm.has_plugin(ep.name):
                continue
            try:
                plugin = ep.load()
            except Exception as exc:
                raise PluginLoadError(f"plugin {ep.name!r} ({ep.value}) failed to import: {exc}") from exc
            self.register(plugin, ep.name, ep.dist.name if ep.dist else "", ep.dist.version if ep.dist else "")
            loaded.append(ep.name)
        self.check_pending()
        return loaded

    def register(self, plugin: object, name: str, distribution: str = "", version: str = "") -> None:
        """Register ``plugin`` (a module or object with hook implementations) under ``name``.

        :raises PluginLoadError: when the name is taken or pluggy rejects the plugin.
        """
        try:
            self.pm.register(plugin, name=name)
        except ValueError as exc:
            raise PluginLoadError(f"plugin {name!r} cannot be registered: {exc}") from exc
        module = getattr(plugin, "__name__", type(plugin).__qualname__)
        self._dists[name] = (module, distribution, version)

    def check_pending(self) -> None:
        """Raise :class:`PluginLoadError` if any plugin implements a hook that has no spec."""
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            raise PluginLoadError(str(exc)) from exc

    def enable_tracing(self, stream: TextIO) -> None:
        """Write every hook call, its implementations and results to ``stream``."""

        def before(hook_name: str, hook_impls: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
            names = ", ".join(impl.plugin_name for impl in hook_impls)
            stream.write(f"[spacemesh-trace] call {hook_name}({', '.join(kwargs)}) -> [{names}]\n")

        def after(outcome: Any, hook_name: str, hook_impls: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
            exc = outcome.exception
            result = f"raised {exc!r}" if exc is not None else f"returned {outcome.get_result()!r:.200}"
            stream.write(f"[spacemesh-trace] done {hook_name}: {result}\n")

        self._undo_trace = self.pm.add_hookcall_monitoring(before, after)

    # -- typed hook calls ----------------------------------------------------------------------

    def get_registries(self) -> Registries:
        """Call ``spacemesh_register_implementations`` on every plugin and return the registries."""
        registries = Registries()
        for name, plugin in self._plugins_with_hook("spacemesh_register_implementations"):
            registries.current_plugin = name
            self.pm.subset_hook_caller("spacemesh_register_implementations", self._others(plugin))(
                registries=registries
            )
        registries.current_plugin = ""
        return registries

    def get_bundles(self) -> BundleRegistry:
        """Call ``spacemesh_register_bundles`` and return the bundle registry."""
        bundles = BundleRegistry()
        self.pm.hook.spacemesh_register_bundles(bundles=bundles)
        return bundles

    def get_config_schema(self) -> Schema:
        """Return the core sections plus every plugin's ``spacemesh_config_sections``."""
        schema = Schema(CORE_SECTIONS)
        for name, plugin in self._plugins_with_hook("spacemesh_config_sections"):
            caller = self.pm.subset_hook_caller("spacemesh_config_sections", self._others(plugin))
            for result in caller():
                for section in result:
                    schema.add(attrs.evolve(section, owner=name) if isinstance(section, ConfigSection) else section)
        return schema

    def get_event_registry(self) -> EventRegistry:
        """Return an event registry holding the core events and every plugin's events."""
        events = EventRegistry.with_core_events()
        self.pm.hook.spacemesh_register_events(events=events)
        return events

    def add_cli_commands(self, cli: click.Group) -> None:
        """Let every plugin add its subcommands to ``cli``."""
        self.pm.hook.spacemesh_cli_commands(cli=cli)

    def get_plugin_infos(self) -> list[PluginInfo]:
        """Describe every registered plugin: distribution, version, categories it implements, hooks."""
        registries = self.get_registries()
        by_plugin: dict[str, list[tuple[str, str]]] = {}
        for item in registries.get_all():
            by_plugin.setdefault(item.plugin, []).append((item.category, item.name))
        infos = []
        for name, plugin in sorted(self.pm.list_name_plugin()):
            if plugin is None:
                continue
            module, dist, version = self._dists.get(name, (str(plugin), "", ""))
            impls = by_plugin.get(name, [])
            hooks = sorted(caller.name for caller in self.pm.get_hookcallers(plugin) or [])
            infos.append(
                PluginInfo(
                    name=name,
                    module=module,
                    distribution=dist,
                    version=version,
                    categories=tuple(sorted({c for c, _ in impls})),
                    implementations=tuple(sorted(f"{c}:{n}" for c, n in impls)),
                    hooks=tuple(hooks),
                )
            )
        return infos

    # -- helpers -------------------------------------------------------------------------------

    def _plugins_with_hook(self, hook_name: str) -> list[tuple[str, object]]:
        caller = getattr(self.pm.hook, hook_name)
        result = []
        for impl in caller.get_hookimpls():
            result.append((impl.plugin_name, impl.plugin))
        return result

    def _others(self, keep: object) -> list[object]:
        return [p for p in self.pm.get_plugins() if p is not keep]


def load_plugin_manager(environ: Mapping[str, str] | None = None) -> PluginManager:
    """Create a plugin manager and load the installed plugins (honouring the environment switches)."""
    manager = PluginManager(environ)
    manager.load_entry_points()
    return manager
