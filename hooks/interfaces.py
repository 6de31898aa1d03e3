"""typing.Protocol interfaces of plugin categories whose contract the core relies on.

Implementations need not inherit from these; structural typing checks them.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from typing import Protocol, runtime_checkable

import attrs


class ValidationResult(enum.Enum):
    """What a gossip validator decided about a message."""

    #: valid: deliver it and forward it to the other peers
    ACCEPT = "accept"
    #: not useful (late, duplicate content): neither forward nor punish the sender
    IGNORE = "ignore"
    #: invalid: drop it and lower the sender's score
    REJECT = "reject"


#: ``validator(peer_id, data) -> ValidationResult``; it runs before anything is forwarded
GossipValidator = Callable[[bytes, bytes], Awaitable[ValidationResult]]
#: ``handler(peer_id, request) -> response``; raising sends an error response
RequestHandler = Callable[[bytes, bytes], Awaitable[bytes]]


@attrs.frozen
class PeerInfo:
    """A connected peer as a transport sees it."""

    peer_id: bytes
    address: str
    score: float
    outbound: bool


class TransportError(RuntimeError):
    """A transport request failed: unknown peer, timeout, remote error, oversized message."""


@runtime_checkable
class Transport(Protocol):
    """Category ``transport``: gossip with validation before forwarding, and request/response."""

    peer_id: bytes

    async def start(self) -> None:
        """Start listening and dial the bootnodes."""

    async def stop(self) -> None:
        """Close every connection and socket."""

    def get_address(self) -> str:
        """Return the address other peers dial to reach this one (``<hex peer id>@<endpoint>``)."""

    def register_gossip(self, topic: str, validator: GossipValidator) -> None:
        """Accept gossip on ``topic``; ``validator`` decides delivery and forwarding."""

    async def publish(self, topic: str, data: bytes) -> None:
        """Gossip ``data`` on ``topic`` to every peer (our own message: no validation)."""

    def register_handler(self, protocol: str, handler: RequestHandler) -> None:
        """Answer requests of ``protocol`` with ``handler``."""

    async def request(self, peer_id: bytes, protocol: str, data: bytes, timeout: float = 10.0) -> bytes:
        """Send a request to ``peer_id`` and return the response.

        :raises TransportError: unknown peer, timeout, remote error or oversized message.
        """

    async def connect(self, address: str) -> bytes:
        """Dial ``address`` and return the peer id once the connection is established."""

    def get_peers(self) -> list[PeerInfo]:
        """Return the connected peers."""


class SmeshingRequestError(ValueError):
    """A smeshing request that cannot be honoured as asked (bad folder, size, provider, address)."""


class SmeshingConflictError(SmeshingRequestError):
    """A smeshing request that conflicts with what runs (already smeshing, data in use elsewhere)."""


@runtime_checkable
class SmeshingControl(Protocol):
    """What ``node.smeshing`` offers the API: start and stop smeshing, PoST setup, coinbase, eligibilities.

    The smeshing plugin provides it; the API's private smeshing routes drive it. Answers are
    JSON-ready (go-spacemesh field names where the reference has them).
    """

    async def start_smeshing(self, coinbase: bytes | None = None, **opts: object) -> None:
        """Start PoST setup and the ATX builder of the node's identities with the API's ``opts``.

        :raises SmeshingRequestError: bad options; :raises SmeshingConflictError: it already runs.
        """

    async def stop_smeshing(self, delete_files: bool = False) -> None:
        """Stop setup and builders; with ``delete_files`` also remove the identities' PoST data."""

    def is_smeshing(self) -> bool:
        """Return whether PoST setup or an ATX builder is at work."""

    def get_post_setup_status(self) -> dict[str, object]:
        """Return the PoST setup status in the shape of go-spacemesh's ``PostSetupStatus``."""

    def get_identities(self) -> list[bytes]:
        """Return the node ids this node smeshes with."""

    def get_coinbase(self) -> bytes:
        """Return the address the next ATX names for rewards."""

    def set_coinbase(self, address: bytes) -> None:
        """Use the 24-byte ``address`` from the next ATX on. :raises SmeshingRequestError: not 24 bytes."""

    def get_eligibilities(self, smesher_id: bytes | None = None) -> dict[str, object]:
        """Return the proposal eligibilities of the current epoch per identity, or why there are none."""
