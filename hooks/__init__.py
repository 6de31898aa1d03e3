"""The spacemesh plugin contract.

Plugins import only this package and the public ``spacemesh_core`` API.  A plugin is a module (or
object) with functions decorated by :data:`hookimpl`, exposed through the ``spacemesh.plugins``
entry-point group::

    [project.entry-points."spacemesh.plugins"]
    my_template = "my_package.plugin"
"""

import pluggy

PROJECT_NAME = "spacemesh"

#: Marker for hook implementations: ``@hookimpl def spacemesh_register_implementations(registries): ...``
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
#: Marker for hook specifications (used by :mod:`spacemesh_hooks.specs`).
hookspec = pluggy.HookspecMarker(PROJECT_NAME)

#: The plugin categories a node composes; each has a registry with a default and alternatives.
CATEGORIES = (
    "state_storage",
    "label_store",
    "initializer",
    "prover",
    "poet",
    "transport",
    "consensus",
    "account_template",
    "api",
)

__all__ = ["CATEGORIES", "PROJECT_NAME", "hookimpl", "hookspec"]
