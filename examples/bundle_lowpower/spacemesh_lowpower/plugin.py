"""The ``lowpower`` bundle: pure-Python proving backends and a config section for a thread cap.

Install with ``pip install examples/bundle_lowpower``; then ``spacemesh plugins list`` shows it
and ``spacemesh config show --set node.bundle=lowpower`` selects it.
"""

from __future__ import annotations

from spacemesh_core.config import ConfigField, ConfigSection
from spacemesh_core.kernel.registry import BundleRegistry
from spacemesh_hooks import hookimpl


@hookimpl
def spacemesh_register_bundles(bundles: BundleRegistry) -> None:
    """Register the ``lowpower`` bundle."""
    bundles.register(
        "lowpower",
        {"initializer": "reference", "prover": "reference"},
        description="slow but frugal: the pure-Python backends",
    )


@hookimpl
def spacemesh_config_sections() -> list[ConfigSection]:
    """Contribute the ``[lowpower]`` section."""
    return [
        ConfigSection(
            "lowpower",
            {"max_threads": ConfigField(int, 1, "the most worker threads the node may use")},
            doc="settings of the lowpower bundle",
        )
    ]
