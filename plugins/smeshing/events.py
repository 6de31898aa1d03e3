"""Bus events of the smeshing plugin (past tense; state events unless marked telemetry)."""

from __future__ import annotations

import attrs

from spacemesh_core.events import Delivery, event


@event("smeshing.post_setup_progressed", Delivery.TELEMETRY)
@attrs.frozen
class PostSetupProgressed:
    """PoST initialization of ``node_id`` progressed (may be dropped under load)."""

    node_id: bytes
    labels_done: int
    labels_total: int


@event("smeshing.post_setup_changed")
@attrs.frozen
class PostSetupChanged:
    """The PoST setup of ``node_id`` changed state (``not_started``, ``initializing``, ``complete``...)."""

    node_id: bytes
    state: str
    error: str | None


@event("smeshing.atx_builder_phase_reached")
@attrs.frozen
class AtxBuilderPhaseReached:
    """The ATX builder of ``node_id`` persisted ``phase`` for ``publish_epoch``."""

    node_id: bytes
    phase: str
    publish_epoch: int


@event("smeshing.poet_registered")
@attrs.frozen
class PoetRegistered:
    """``node_id``'s challenge was registered at the PoETs for ``publish_epoch``."""

    node_id: bytes
    publish_epoch: int
    poets: list[str]
    rounds: list[str]


@event("smeshing.poet_proof_fetched")
@attrs.frozen
class PoetProofFetched:
    """The best PoET proof for ``node_id``'s challenge was fetched (``leaves`` of sequential work)."""

    node_id: bytes
    publish_epoch: int
    poet: str
    leaves: int


@event("smeshing.atx_published")
@attrs.frozen
class AtxPublished:
    """``node_id`` published its ATX ``atx_id`` for ``publish_epoch``."""

    node_id: bytes
    atx_id: bytes
    publish_epoch: int


@event("smeshing.atx_received")
@attrs.frozen
class AtxReceived:
    """An ATX was validated and stored (``weight`` and ``tick_height`` derived)."""

    atx_id: bytes
    node_id: bytes
    publish_epoch: int
    weight: int
    tick_height: int


@event("smeshing.malfeasance_proof_created")
@attrs.frozen
class MalfeasanceProofCreated:
    """ATX handling proved ``node_id`` malicious; ``proof`` is the SCALE malfeasance proof."""

    node_id: bytes
    proof_type: int
    proof: bytes


SMESHING_EVENTS: tuple[type, ...] = (
    PostSetupProgressed,
    PostSetupChanged,
    AtxBuilderPhaseReached,
    PoetRegistered,
    PoetProofFetched,
    AtxPublished,
    AtxReceived,
    MalfeasanceProofCreated,
)
