"""Identity key files."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from spacemesh_core.identity import (
    IdentityError,
    get_identity_names,
    get_key_path,
    load_identity,
    load_or_create_identity,
)


def test_identity_is_created_once_and_kept_private(tmp_path: Path) -> None:
    first = load_or_create_identity(tmp_path)
    path = get_key_path(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(bytes.fromhex(path.read_text())) == 64
    assert load_or_create_identity(tmp_path).node_id == first.node_id
    load_or_create_identity(tmp_path, "remote1")
    assert get_identity_names(tmp_path) == ["local", "remote1"]


def test_a_corrupt_key_file_is_a_clear_error(tmp_path: Path) -> None:
    path = get_key_path(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text("not hex")
    with pytest.raises(IdentityError, match="local.key"):
        load_identity(path)
