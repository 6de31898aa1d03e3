"""Registers the zarr/post-rs label store as the ``label_store`` default."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from spacemesh_core.post.store import LabelStore
from spacemesh_hooks import hookimpl

if TYPE_CHECKING:
    from spacemesh_core.kernel.registry import Registries


def open_label_store(directory: str | os.PathLike[str]) -> LabelStore:
    """Open the PoST data in ``directory`` (post-rs files; ``get_zarr_array()`` gives the zarr view).

    :raises spacemesh_core.post.store.PostDataError: when the directory holds no PoST metadata.
    """
    return LabelStore(directory)


@hookimpl
def spacemesh_register_implementations(registries: Registries) -> None:
    """Register ``label_store:zarr`` (the default)."""
    registries.register(
        "label_store",
        "zarr",
        open_label_store,
        description="post-rs postdata_<k>.bin files read through memory maps, also a zarr v3 array",
        default=True,
    )
