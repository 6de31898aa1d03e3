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


# -- remote proving (1:N): what a post service and the node's post listener say over the one link the
# service opens at ``post_listen`` (remote.py) ----------------------------------------------------------------


@event("smeshing.post_service_announced")
@attrs.frozen
class PostServiceAnnounced:
    """Request of a post service: it holds the PoST data of ``node_id`` described by the other fields."""

    node_id: bytes
    commitment_atx_id: bytes
    num_units: int
    labels_per_unit: int
    max_file_size: int
    vrf_nonce: int
    scrypt_n: int
    service: str


@event("smeshing.post_service_accepted")
@attrs.frozen
class PostServiceAccepted:
    """Reply: the node accepted the post service as the prover of ``node_id`` for ``session``.

    It carries the proving parameters; proof requests follow on the same connection.
    """

    node_id: bytes
    session: str
    k1: int
    k2: int
    pow_difficulty: bytes
    heartbeat_interval_s: float


@event("smeshing.post_service_rejected")
@attrs.frozen
class PostServiceRejected:
    """Reply: the node refused the post service (``retry_after_s`` 0: permanently, fix the data or config)."""

    node_id: bytes
    reason: str
    retry_after_s: float


@event("smeshing.post_service_heartbeat_sent", Delivery.TELEMETRY)
@attrs.frozen
class PostServiceHeartbeatSent:
    """Request of a post service: ``session`` is alive and proving ``proving`` (a challenge; empty: idle)."""

    node_id: bytes
    session: str
    proving: bytes


@event("smeshing.post_service_heartbeat_answered", Delivery.TELEMETRY)
@attrs.frozen
class PostServiceHeartbeatAnswered:
    """Reply to a heartbeat: whether the node still knows the session (False after a node restart)."""

    session_valid: bool
    reason: str


@event("smeshing.post_proof_requested")
@attrs.frozen
class PostProofRequested:
    """The node wants a PoST proof of ``node_id``'s data for ``challenge``: pushed to the connected post
    service over its link and published on the node's own bus."""

    node_id: bytes
    request_id: str
    challenge: bytes


@event("smeshing.post_proof_generated")
@attrs.frozen
class PostProofGenerated:
    """Request of a post service: the proof (PostV1 fields) answering ``request_id``."""

    node_id: bytes
    session: str
    request_id: str
    nonce: int
    indices: bytes
    pow: int


@event("smeshing.post_proof_failed")
@attrs.frozen
class PostProofFailed:
    """Request of a post service: it could not prove ``request_id`` (``reason``)."""

    node_id: bytes
    session: str
    request_id: str
    reason: str


@event("smeshing.post_proof_answered")
@attrs.frozen
class PostProofAnswered:
    """Reply to a proof or a failure report: whether the node took it, and why not."""

    request_id: str
    accepted: bool
    reason: str


#: the remote-proving events (a post service registers only these)
REMOTE_PROVING_EVENTS: tuple[type, ...] = (
    PostServiceAnnounced,
    PostServiceAccepted,
    PostServiceRejected,
    PostServiceHeartbeatSent,
    PostServiceHeartbeatAnswered,
    PostProofRequested,
    PostProofGenerated,
    PostProofFailed,
    PostProofAnswered,
)

SMESHING_EVENTS: tuple[type, ...] = (
    PostSetupProgressed,
    PostSetupChanged,
    AtxBuilderPhaseReached,
    PoetRegistered,
    PoetProofFetched,
    AtxPublished,
    AtxReceived,
    MalfeasanceProofCreated,
    *REMOTE_PROVING_EVENTS,
)
