"""Node identities on disk: ``<data>/identities/<name>.key`` holds the hex ed25519 private key.

``local.key`` is the identity the node smeshes with itself; further ``.key`` files are identities
served by remote PoST services (1:N smeshing), as in the reference node.
"""

from __future__ import annotations

import os
from pathlib import Path

from spacemesh_core.crypto.signing import Signer
from spacemesh_core.fsutil import write_file_atomic

IDENTITIES_DIR = "identities"
LOCAL_IDENTITY = "local"


class IdentityError(ValueError):
    """A key file that cannot be read as an ed25519 private key."""


def get_key_path(data_dir: str | Path, name: str = LOCAL_IDENTITY) -> Path:
    """Return the path of identity ``name``'s key file."""
    return Path(data_dir).expanduser() / IDENTITIES_DIR / f"{name}.key"


def load_identity(path: str | Path) -> Signer:
    """Read the signer stored at ``path``.

    :raises IdentityError: when the file does not hold a 64-byte hex private key.
    """
    text = Path(path).read_text(encoding="ascii").strip()
    try:
        key = bytes.fromhex(text)
        return Signer.from_private_key(key)
    except ValueError as exc:
        raise IdentityError(f"{path} does not hold a hex ed25519 private key: {exc}") from None


def load_or_create_identity(data_dir: str | Path, name: str = LOCAL_IDENTITY) -> Signer:
    """Return identity ``name``, creating (and atomically saving, mode 0600) a new key if absent."""
    path = get_key_path(data_dir, name)
    if path.exists():
        return load_identity(path)
    signer = Signer.generate()
    write_file_atomic(path, signer.private_key.hex().encode("ascii"))
    os.chmod(path, 0o600)
    return signer


def get_identity_names(data_dir: str | Path) -> list[str]:
    """Return the names of the identities stored under ``data_dir``, sorted."""
    folder = Path(data_dir).expanduser() / IDENTITIES_DIR
    return sorted(p.stem for p in folder.glob("*.key")) if folder.is_dir() else []


P2P_KEY_PATH = ("p2p", "p2p.key")


def load_or_create_secret_key(path: str | Path, what: str = "secret key") -> bytes:
    """Return the 32-byte secret key stored (hex, mode 0600) at ``path``, creating a random one once.

    :param what: names the key in the error message.
    :raises IdentityError: the file exists but does not hold 32 hex-encoded bytes.
    """
    target = Path(path).expanduser()
    if target.exists():
        try:
            key = bytes.fromhex(target.read_text(encoding="ascii").strip())
        except (ValueError, UnicodeDecodeError):
            key = b""
        if len(key) != 32:
            raise IdentityError(f"{target} does not hold a 32-byte hex {what}")
        return key
    key = os.urandom(32)
    write_file_atomic(target, key.hex().encode("ascii"))
    os.chmod(target, 0o600)
    return key


def load_or_create_p2p_key(data_dir: str | Path) -> bytes:
    """Return the node's 32-byte transport secret key (``<data>/p2p/p2p.key``, hex), creating it once.

    It is separate from the smeshing identity, as in the reference node.
    """
    return load_or_create_secret_key(Path(data_dir).expanduser().joinpath(*P2P_KEY_PATH), "key")
