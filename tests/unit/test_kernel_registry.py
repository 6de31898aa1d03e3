"""Category registries and bundles."""

from __future__ import annotations

import pytest

from spacemesh_core.kernel.registry import BundleRegistry, RegistrationError, Registries, UnknownNameError


def make_registries() -> Registries:
    registries = Registries()
    registries.register("prover", "native", lambda: "n", default=True)
    registries.register("prover", "reference", lambda: "r")
    registries.register("transport", "memory", lambda: "m", default=True)
    return registries


def test_default_and_named_lookup() -> None:
    registries = make_registries()
    assert registries.get("prover").name == "native"
    assert registries.get("prover", "reference").factory() == "r"
    assert registries.get_names("prover") == ["native", "reference"]


def test_unknown_names_list_the_choices() -> None:
    registries = make_registries()
    with pytest.raises(UnknownNameError, match=r"unknown prover implementation 'gpu'; choices are: native, reference"):
        registries.get("prover", "gpu")
    with pytest.raises(UnknownNameError, match="categories are:.*prover"):
        registries.get("provers")
    with pytest.raises(UnknownNameError, match="no default; choose one of"):
        registries.get("consensus")


def test_conflicting_registrations_are_rejected() -> None:
    registries = make_registries()
    with pytest.raises(RegistrationError, match="registered twice"):
        registries.register("prover", "native", lambda: None)
    with pytest.raises(RegistrationError, match="already has default"):
        registries.register("prover", "gpu", lambda: None, default=True)
    with pytest.raises(RegistrationError, match="unknown category"):
        registries.register("nonsense", "x", lambda: None)


def test_bundles_resolve_against_registries() -> None:
    registries = make_registries()
    bundles = BundleRegistry()
    bundles.register("default", {})
    bundles.register("sim", {"prover": "reference"})
    bundles.register("broken", {"prover": "gpu"})
    default = bundles.resolve("default", registries)
    assert {c: i.name for c, i in default.items()} == {"prover": "native", "transport": "memory"}
    sim = bundles.resolve("sim", registries)
    assert sim["prover"].name == "reference" and sim["transport"].name == "memory"
    with pytest.raises(UnknownNameError, match="'gpu'; choices are: native, reference"):
        bundles.resolve("broken", registries)
    with pytest.raises(UnknownNameError, match="unknown bundle 'fast'; choices are: broken, default, sim"):
        bundles.get("fast")
    with pytest.raises(RegistrationError):
        bundles.register("sim", {})


def test_builtin_bundles_exist() -> None:
    from spacemesh_core.kernel.plugins import load_plugin_manager

    names = load_plugin_manager(environ={}).get_bundles().get_names()
    assert {"default", "devnet", "sim"} <= set(names)
