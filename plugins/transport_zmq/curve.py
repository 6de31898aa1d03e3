"""CurveZMQ helpers shared by the transport and other ZeroMQ listeners (the post listener of 1:N smeshing).

Keys are 32 raw bytes. A secret key file holds the key as hex (mode 0600, written atomically); a
public key is shown in Z85 (40 characters, ZeroMQ's usual form) and accepted in Z85 or hex.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator
from zmq.utils import z85

from spacemesh_core.identity import IdentityError, load_or_create_secret_key

LOG = logging.getLogger(__name__)

CURVE_KEY_BYTES = 32


class CurveKeyError(ValueError):
    """A Curve key (text or file) that is not 32 bytes in Z85 or hex."""


def get_curve_public_key(secret_key: bytes) -> bytes:
    """Return the 32-byte Curve public key of ``secret_key``.

    :raises CurveKeyError: ``secret_key`` is not 32 bytes.
    """
    if len(secret_key) != CURVE_KEY_BYTES:
        raise CurveKeyError(f"a Curve secret key is {CURVE_KEY_BYTES} bytes, got {len(secret_key)}")
    return z85.decode(zmq.curve_public(z85.encode(secret_key)))


def format_curve_key(key: bytes) -> str:
    """Return ``key`` (32 bytes) in Z85, the form ``--node-key`` and ``post_service_keys`` take."""
    return z85.encode(key).decode("ascii")


def parse_curve_key(text: str) -> bytes:
    """Return the 32-byte key written in ``text``: 40 Z85 characters or 64 hex digits.

    :raises CurveKeyError: anything else.
    """
    value = text.strip()
    if len(value) == 2 * CURVE_KEY_BYTES:
        try:
            return bytes.fromhex(value)
        except ValueError:
            pass
    if len(value) == 40:
        try:
            return z85.decode(value.encode("ascii"))
        except (ValueError, UnicodeEncodeError, KeyError, IndexError):
            pass
    raise CurveKeyError(f"a Curve key is 40 Z85 characters or 64 hex digits, got {value[:80]!r}")


def read_curve_key(text_or_path: str) -> bytes:
    """Return the key in ``text_or_path``: the key itself (Z85 or hex) or a file holding it.

    :raises CurveKeyError: neither a key nor a readable file holding one.
    """
    try:
        return parse_curve_key(text_or_path)
    except CurveKeyError:
        pass
    path = Path(text_or_path).expanduser()
    if not path.is_file():
        raise CurveKeyError(f"{text_or_path!r} is neither a Curve key (40 Z85 characters, 64 hex digits) nor a file")
    try:
        return parse_curve_key(path.read_text(encoding="ascii"))
    except (CurveKeyError, UnicodeDecodeError) as exc:
        raise CurveKeyError(f"{path} does not hold a Curve key: {exc}") from None


def load_or_create_curve_key(path: str | os.PathLike[str]) -> bytes:
    """Return the 32-byte Curve secret key stored (hex) at ``path``, creating it (mode 0600) if absent.

    (Any 32 random bytes are a Curve25519 secret key: libsodium clamps them.)

    :raises CurveKeyError: the file exists but does not hold a 32-byte hex key.
    """
    try:
        return load_or_create_secret_key(Path(path), "Curve secret key")
    except IdentityError as exc:
        raise CurveKeyError(str(exc)) from None


def set_curve_server(sock: zmq.Socket[Any], secret_key: bytes) -> None:
    """Make ``sock`` a CurveZMQ server with ``secret_key`` (set before bind)."""
    sock.curve_server = True
    sock.curve_secretkey = z85.encode(secret_key)
    sock.curve_publickey = z85.encode(get_curve_public_key(secret_key))


def set_curve_client(sock: zmq.Socket[Any], secret_key: bytes, server_key: bytes) -> None:
    """Make ``sock`` a CurveZMQ client with ``secret_key`` that only talks to ``server_key`` (set before connect)."""
    sock.curve_serverkey = z85.encode(server_key)
    sock.curve_publickey = z85.encode(get_curve_public_key(secret_key))
    sock.curve_secretkey = z85.encode(secret_key)


class _KeyCheck:
    """A pyzmq credentials provider calling ``is_allowed(raw client key)``."""

    def __init__(self, is_allowed: Callable[[bytes], bool]) -> None:
        self.is_allowed = is_allowed

    def callback(self, domain: str, key: bytes) -> bool:
        try:
            return bool(self.is_allowed(z85.decode(key)))
        except Exception:  # a broken check must refuse, never crash the ZAP thread
            LOG.exception("Curve key check failed; refusing the client")
            return False


def start_curve_authenticator(
    context: zmq.Context[Any], is_allowed: Callable[[bytes], bool] | None = None
) -> ThreadAuthenticator:
    """Start a ZAP handler for the CurveZMQ servers of ``context``; stop it with ``.stop()``.

    It runs in its own thread (pyzmq's asyncio one stops answering for every later context on the
    same event loop once one has been stopped). Every inbound message then carries the client's
    Z85 public key as its ``User-Id`` property.

    :param is_allowed: called (in the handler's thread) with each client's 32-byte public key;
        False refuses the handshake (the client sees an authentication failure). None: any key.
    """
    auth = ThreadAuthenticator(context)
    auth.start()
    if is_allowed is None:
        auth.configure_curve(domain="*", location=zmq.auth.CURVE_ALLOW_ANY)
    else:
        auth.configure_curve_callback(domain="*", credentials_provider=_KeyCheck(is_allowed))
    return auth


def get_client_key(frame: zmq.Frame) -> bytes | None:
    """Return the authenticated 32-byte Curve key of the sender of ``frame`` (None without Curve)."""
    try:
        user_id = frame.get("User-Id")
        key = z85.decode(str(user_id))
    except Exception:
        return None
    return key if len(key) == CURVE_KEY_BYTES else None
