"""Wallet key files: an ed25519 seed encrypted under a passphrase.

The passphrase is stretched with Argon2id (libsodium ``crypto_pwhash``, memory-hard) into a
32-byte key; the seed is sealed with libsodium ``secretbox`` (XSalsa20-Poly1305). A key file is
JSON and holds the public key in clear so addresses can be shown without the passphrase::

    {"version": 1, "kind": "spacemesh-wallet-key", "name": ..., "public_key": hex,
     "kdf": {"name": "argon2id", "opslimit": n, "memlimit": n, "salt": hex},
     "cipher": {"name": "xsalsa20poly1305", "nonce": hex, "ciphertext": hex}}

Files are written atomically with mode 0600.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import nacl.exceptions
import nacl.pwhash
import nacl.secret
import nacl.utils
from nacl import bindings as _sodium

from spacemesh_core.fsutil import write_file_atomic

KEYSTORE_VERSION = 1
KEYSTORE_KIND = "spacemesh-wallet-key"
#: Argon2id cost presets: (opslimit, memlimit). "min" is only for tests.
KDF_PRESETS: dict[str, tuple[int, int]] = {
    "sensitive": (nacl.pwhash.argon2id.OPSLIMIT_SENSITIVE, nacl.pwhash.argon2id.MEMLIMIT_SENSITIVE),
    "moderate": (nacl.pwhash.argon2id.OPSLIMIT_MODERATE, nacl.pwhash.argon2id.MEMLIMIT_MODERATE),
    "interactive": (nacl.pwhash.argon2id.OPSLIMIT_INTERACTIVE, nacl.pwhash.argon2id.MEMLIMIT_INTERACTIVE),
    "min": (nacl.pwhash.argon2id.OPSLIMIT_MIN, nacl.pwhash.argon2id.MEMLIMIT_MIN),
}
_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class KeystoreError(ValueError):
    """A key file is missing, malformed, or the passphrase is wrong."""


def get_default_wallet_dir() -> Path:
    """Return ``$SPACEMESH_WALLET_DIR`` or ``~/.spacemesh/wallet``."""
    return Path(os.environ.get("SPACEMESH_WALLET_DIR", str(Path.home() / ".spacemesh" / "wallet")))


def get_key_path(wallet_dir: Path, name: str) -> Path:
    """Return the file of key ``name``. :raises KeystoreError: for a name that is not a plain word."""
    if not _NAME_RE.match(name):
        raise KeystoreError(f"invalid key name {name!r}: use letters, digits, '_', '-', '.' (max 64)")
    return wallet_dir / f"{name}.json"


def compute_public_key(seed: bytes) -> bytes:
    """Return the ed25519 public key of a 32-byte seed."""
    public_key, _ = _sodium.crypto_sign_seed_keypair(bytes(seed))
    return bytes(public_key)


def _derive_key(passphrase: str, salt: bytes, opslimit: int, memlimit: int) -> bytes:
    return bytes(
        nacl.pwhash.argon2id.kdf(
            nacl.secret.SecretBox.KEY_SIZE, passphrase.encode("utf-8"), salt, opslimit=opslimit, memlimit=memlimit
        )
    )


def encrypt_seed(seed: bytes, passphrase: str, name: str, kdf: str = "moderate") -> dict[str, Any]:
    """Return the key-file object holding ``seed`` sealed under ``passphrase``.

    :raises KeystoreError: for a seed that is not 32 bytes, an empty passphrase or an unknown preset.
    """
    if len(seed) != 32:
        raise KeystoreError("a wallet seed is 32 bytes")
    if not passphrase:
        raise KeystoreError("the passphrase must not be empty")
    if kdf not in KDF_PRESETS:
        raise KeystoreError(f"unknown kdf preset {kdf!r}; choose one of {sorted(KDF_PRESETS)}")
    opslimit, memlimit = KDF_PRESETS[kdf]
    salt = nacl.utils.random(nacl.pwhash.argon2id.SALTBYTES)
    box = nacl.secret.SecretBox(_derive_key(passphrase, salt, opslimit, memlimit))
    nonce = nacl.utils.random(nacl.secret.SecretBox.NONCE_SIZE)
    ciphertext = box.encrypt(bytes(seed), nonce).ciphertext
    return {
        "version": KEYSTORE_VERSION,
        "kind": KEYSTORE_KIND,
        "name": name,
        "public_key": compute_public_key(seed).hex(),
        "kdf": {"name": "argon2id", "opslimit": opslimit, "memlimit": memlimit, "salt": salt.hex()},
        "cipher": {"name": "xsalsa20poly1305", "nonce": nonce.hex(), "ciphertext": ciphertext.hex()},
    }


def decrypt_seed(document: dict[str, Any], passphrase: str) -> bytes:
    """Return the seed of a key-file object. :raises KeystoreError: wrong passphrase or malformed file."""
    try:
        if document["version"] != KEYSTORE_VERSION or document["kind"] != KEYSTORE_KIND:
            raise KeystoreError("unsupported key file version or kind")
        kdf, cipher = document["kdf"], document["cipher"]
        if kdf["name"] != "argon2id" or cipher["name"] != "xsalsa20poly1305":
            raise KeystoreError("unsupported key file algorithms")
        key = _derive_key(passphrase, bytes.fromhex(kdf["salt"]), int(kdf["opslimit"]), int(kdf["memlimit"]))
        nonce = bytes.fromhex(cipher["nonce"])
        ciphertext = bytes.fromhex(cipher["ciphertext"])
        public_key = bytes.fromhex(document["public_key"])
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, KeystoreError):
            raise
        raise KeystoreError(f"malformed key file: {exc}") from None
    try:
        seed = nacl.secret.SecretBox(key).decrypt(ciphertext, nonce)
    except nacl.exceptions.CryptoError:
        raise KeystoreError("wrong passphrase (or a corrupted key file)") from None
    if compute_public_key(seed) != public_key:
        raise KeystoreError("the key file's public key does not match its secret")
    return bytes(seed)


def save_key(wallet_dir: Path, name: str, seed: bytes, passphrase: str, kdf: str = "moderate") -> dict[str, Any]:
    """Encrypt and store ``seed`` as key ``name``; return the key-file object.

    :raises KeystoreError: when the name is taken or invalid.
    """
    path = get_key_path(wallet_dir, name)
    if path.exists():
        raise KeystoreError(f"key {name!r} already exists at {path}")
    document = encrypt_seed(seed, passphrase, name, kdf)
    write_file_atomic(path, json.dumps(document, indent=1).encode())
    os.chmod(path, 0o600)
    return document


def load_key_document(wallet_dir: Path, name: str) -> dict[str, Any]:
    """Return the key-file object of ``name``. :raises KeystoreError: when absent or not JSON."""
    path = get_key_path(wallet_dir, name)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise KeystoreError(f"no key named {name!r} in {wallet_dir}") from None
    except ValueError as exc:
        raise KeystoreError(f"key file {path} is not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise KeystoreError(f"key file {path} is not a JSON object")
    return document


def list_keys(wallet_dir: Path) -> list[dict[str, Any]]:
    """Return the key-file objects in ``wallet_dir`` (sorted by name); unreadable files are skipped."""
    documents = []
    for path in sorted(wallet_dir.glob("*.json")):
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(document, dict) and document.get("kind") == KEYSTORE_KIND:
            documents.append(document)
    return documents
