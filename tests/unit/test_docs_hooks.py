"""Every hookspec is documented with its exact signature in the plugin author's guide."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from spacemesh_hooks import specs

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"


def get_hookspecs() -> dict[str, str]:
    result = {}
    for name, func in inspect.getmembers(specs, inspect.isfunction):
        if name.startswith("spacemesh_"):
            signature = str(inspect.signature(func)).replace("'", "")
            result[name] = f"{name}{signature}"
    return result


def test_every_hookspec_has_a_docstring_documenting_each_argument() -> None:
    for name, func in inspect.getmembers(specs, inspect.isfunction):
        if not name.startswith("spacemesh_"):
            continue
        doc = inspect.getdoc(func) or ""
        assert doc, f"{name} has no docstring"
        for arg in inspect.signature(func).parameters:
            assert f":param {arg}:" in doc, f"{name} does not document argument {arg!r}"


def test_guide_documents_every_hook_with_its_exact_signature() -> None:
    text = GUIDE.read_text(encoding="utf-8")
    headings = re.findall(r"^### `(.+)`$", text, flags=re.MULTILINE)
    documented = {h.split("(")[0]: h for h in headings}
    expected = get_hookspecs()
    assert set(documented) == set(expected), "hooks missing from or stale in docs/plugins.md"
    for name, signature in expected.items():
        assert documented[name] == signature, f"docs/plugins.md has {documented[name]!r}, code has {signature!r}"
