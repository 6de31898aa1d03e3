"""Identity key files."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from spacemesh_core.identity import (
    IdentityError,
    get_identity_names,
    get_key_path,
    load_identity,
    load_or_create_identity,
    load_or_create_p2p_key,
    load_or_create_secret_key,
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


def test_secret_key_files_are_created_once_private_and_checked(tmp_path: Path) -> None:
    key = load_or_create_p2p_key(tmp_path)
    path = tmp_path / "p2p" / "p2p.key"
    assert len(key) == 32 and load_or_create_p2p_key(tmp_path) == key
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    path.write_text("zz")
    with pytest.raises(IdentityError, match="does not hold a 32-byte hex key"):
        load_or_create_p2p_key(tmp_path)
    other = tmp_path / "x.key"
    other.write_bytes(b"\xff\xfe")  # not even ASCII
    with pytest.raises(IdentityError, match="32-byte hex token"):
        load_or_create_secret_key(other, "token")
