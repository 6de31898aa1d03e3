"""Bus events of the mesh plugin (past tense; state events unless marked telemetry).

Every class listed in :data:`MESH_EVENTS` is registered by the plugin's ``spacemesh_register_events``.
"""

from __future__ import annotations

import attrs

from spacemesh_core.events import event


@event("mesh.block_certified")
@attrs.frozen
class BlockCertified:
    """A certificate for ``block_id`` of ``layer`` was stored.

    ``source`` says how it came: ``gossip`` (certify messages reached the threshold here) or ``sync``
    (a whole certificate fetched from a peer and verified). ``conflicted`` is true when the layer now
    holds certificates for two different blocks (its hare output is then taken as empty).
    """

    layer: int
    block_id: bytes
    eligibilities: int
    source: str
    conflicted: bool


@event("mesh.beacon_decided")
@attrs.frozen
class BeaconDecided:
    """The node fixed the beacon of ``epoch`` and stored it.

    ``source``: ``protocol`` (its run of the beacon protocol in ``epoch − 1``), ``fallback`` (the run
    produced no beacon: the fallback beacon of the epoch) or ``ballots`` (a node that missed the run
    took the beacon most reference ballots of the epoch carry).
    """

    epoch: int
    beacon: bytes
    source: str


MESH_EVENTS: tuple[type, ...] = (BlockCertified, BeaconDecided)
