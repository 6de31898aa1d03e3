"""Access to the shared known-answer vectors (``../shared/vectors`` beside the checkout)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

#: Override with SPACEMESH_VECTORS_DIR; by default the ``shared/vectors`` folder beside the checkout.
_DEFAULT_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "vectors"


def get_vectors_dir() -> Path:
    """Return the directory holding the known-answer vector files."""
    return Path(os.environ.get("SPACEMESH_VECTORS_DIR", str(_DEFAULT_DIR)))


def load_vectors(name: str) -> Any:
    """Load ``<vectors dir>/<name>`` (``.json`` appended when missing) as parsed JSON.

    Inside pytest a missing file skips the calling test with a clear reason; elsewhere it raises
    :class:`FileNotFoundError`.
    """
    filename = name if name.endswith(".json") else f"{name}.json"
    path = get_vectors_dir() / filename
    if not path.is_file():
        try:
            import pytest
        except ImportError:  # pragma: no cover - only outside the test environment
            raise FileNotFoundError(f"vector file {path} is absent") from None
        pytest.skip(f"vector file {path} is absent (expected ../shared/vectors beside the checkout)")
    with path.open(encoding="utf-8") as handle:
        return json.load(handle)
