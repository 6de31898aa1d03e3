"""PoET registration certificates (poet ``shared/cert.go``).

A certifier vouches that a node id may register: ``data = SCALE(CertOnWire{Pubkey: bytes ≤ 32,
Expiration: Option<compact u64 unix seconds>})`` and ``signature = Ed25519(certifier key, data)``.
The 4-byte *hint* (first bytes of the certifier's public key) picks among trusted certifiers.
"""

from __future__ import annotations

import time

import attrs

from spacemesh_core.codec.scale import ByteSlice, Compact, Option, ScaleError, ScaleReader, encode_value
from spacemesh_core.crypto.signing import is_valid_ed25519_signature

#: Size of a certifier key hint.
CERT_KEY_HINT_SIZE = 4
_PUBKEY = ByteSlice(32)
_EXPIRATION = Option(Compact(64))


class CertificateError(ValueError):
    """A certificate that does not authorise the registration; subclasses say why."""


class CertificateSignatureError(CertificateError):
    """The certifier's signature over the certificate data does not verify."""


class CertificateNodeMismatchError(CertificateError):
    """The certificate names another node id."""


class CertificateExpiredError(CertificateError):
    """The certificate's expiration time has passed."""


@attrs.frozen
class Certificate:
    """A decoded certificate: the node id it is for and its optional expiry (unix seconds)."""

    pubkey: bytes
    expiration: int | None = None

    def encode(self) -> bytes:
        """Return ``SCALE(CertOnWire)``."""
        return encode_value(_PUBKEY, self.pubkey) + encode_value(_EXPIRATION, self.expiration)

    @classmethod
    def decode(cls, data: bytes) -> Certificate:
        """Decode ``SCALE(CertOnWire)``.

        :raises CertificateError: malformed or trailing bytes.
        """
        try:
            reader = ScaleReader(data)
            pubkey = reader.read(_PUBKEY)
            expiration = reader.read(_EXPIRATION)
            reader.expect_end()
        except ScaleError as exc:
            raise CertificateError(f"decoding: {exc}") from None
        return cls(pubkey=pubkey, expiration=expiration)


def verify_certificate(
    data: bytes, signature: bytes, certifier_pubkey: bytes, node_id: bytes, now: float | None = None
) -> Certificate:
    """Check that ``(data, signature)`` is a certificate by ``certifier_pubkey`` for ``node_id``.

    :raises CertificateSignatureError: bad signature.
    :raises CertificateError: undecodable data.
    :raises CertificateNodeMismatchError: the certificate is for another node.
    :raises CertificateExpiredError: it has expired.
    """
    if len(certifier_pubkey) != 32 or not is_valid_ed25519_signature(certifier_pubkey, data, signature):
        raise CertificateSignatureError("signature mismatch")
    certificate = Certificate.decode(data)
    if certificate.pubkey != node_id:
        raise CertificateNodeMismatchError("pubkey mismatch")
    current = time.time() if now is None else now
    if certificate.expiration is not None and certificate.expiration < current:
        raise CertificateExpiredError(f"certificate expired at {certificate.expiration}")
    return certificate
