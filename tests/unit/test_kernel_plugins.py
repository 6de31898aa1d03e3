"""The plugin manager: entry points, switches, check_pending, tracing, typed hook calls."""

from __future__ import annotations

import io
import types

import pytest

from spacemesh_core.kernel.plugins import PluginLoadError, PluginManager, load_plugin_manager
from spacemesh_core.kernel.registry import UnknownNameError
from spacemesh_hooks import hookimpl


def test_builtin_plugins_load_through_entry_points() -> None:
    manager = load_plugin_manager(environ={})
    names = {info.name for info in manager.get_plugin_infos()}
    assert "bundles_builtin" in names
    info = next(i for i in manager.get_plugin_infos() if i.name == "bundles_builtin")
    assert info.distribution == "spacemesh"
    assert "spacemesh_register_bundles" in info.hooks


def test_disable_switch_blocks_a_plugin() -> None:
    manager = load_plugin_manager(environ={"SPACEMESH_DISABLE_PLUGINS": "bundles_builtin"})
    assert "bundles_builtin" not in {i.name for i in manager.get_plugin_infos()}
    with pytest.raises(UnknownNameError, match="unknown bundle 'default'"):
        manager.get_bundles().get("default")


def test_load_switch_is_an_allow_list() -> None:
    manager = load_plugin_manager(environ={"SPACEMESH_LOAD_PLUGINS": "bundles_builtin"})
    assert [i.name for i in manager.get_plugin_infos()] == ["bundles_builtin"]
    empty = load_plugin_manager(environ={"SPACEMESH_LOAD_PLUGINS": ""})
    assert empty.get_plugin_infos() == []


def test_check_pending_rejects_a_misspelt_hook() -> None:
    manager = PluginManager(environ={})
    bad = types.ModuleType("bad_plugin")

    @hookimpl
    def spacemesh_register_bundle(bundles: object) -> None:  # missing the trailing "s"
        raise AssertionError("never called")

    bad.spacemesh_register_bundle = spacemesh_register_bundle  # type: ignore[attr-defined]
    manager.register(bad, "bad")
    with pytest.raises(PluginLoadError, match="spacemesh_register_bundle"):
        manager.check_pending()


def test_duplicate_plugin_name_is_an_error() -> None:
    manager = PluginManager(environ={})
    manager.register(types.ModuleType("a"), "same")
    with pytest.raises(PluginLoadError, match="same"):
        manager.register(types.ModuleType("b"), "same")


def test_trace_switch_reports_hook_calls() -> None:
    stream = io.StringIO()
    manager = PluginManager(environ={"SPACEMESH_TRACE_PLUGINS": "1"}, trace_stream=stream)
    manager.load_entry_points()
    manager.get_bundles()
    trace = stream.getvalue()
    assert "call spacemesh_register_bundles" in trace
    assert "bundles_builtin" in trace


def test_registrations_are_attributed_to_their_plugin() -> None:
    manager = PluginManager(environ={})
    plugin = types.ModuleType("impls")

    @hookimpl
    def spacemesh_register_implementations(registries: object) -> None:
        registries.register("prover", "toy", lambda: "toy-prover", default=True)  # type: ignore[attr-defined]

    plugin.spacemesh_register_implementations = spacemesh_register_implementations  # type: ignore[attr-defined]
    manager.register(plugin, "toy_plugin", "toy-dist", "1.2.3")
    registries = manager.get_registries()
    item = registries.get("prover")
    assert (item.name, item.plugin, item.factory()) == ("toy", "toy_plugin", "toy-prover")
    info = next(i for i in manager.get_plugin_infos() if i.name == "toy_plugin")
    assert info.categories == ("prover",)
    assert (info.distribution, info.version) == ("toy-dist", "1.2.3")
