"""Hash functions used by the protocol: BLAKE3 (32-byte digests, 20-byte ids) and SHA-256."""

from __future__ import annotations

import hashlib

import blake3 as _blake3

HASH_SIZE = 32
ID20_SIZE = 20


def compute_blake3(*parts: bytes) -> bytes:
    """Return the 32-byte BLAKE3 digest of the concatenation of ``parts``."""
    hasher = _blake3.blake3()
    for part in parts:
        hasher.update(part)
    return hasher.digest()


def compute_blake3_id20(*parts: bytes) -> bytes:
    """Return the first 20 bytes of the BLAKE3 digest of ``parts`` (the reference's ``Hash20``)."""
    return compute_blake3(*parts)[:ID20_SIZE]


def compute_sha256(*parts: bytes) -> bytes:
    """Return the 32-byte SHA-256 digest of the concatenation of ``parts``."""
    hasher = hashlib.sha256()
    for part in parts:
        hasher.update(part)
    return hasher.digest()
