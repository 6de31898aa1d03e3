"""The smeshing node services: the ATX handler, and PoST setup + ATX builder for each identity.

* ``atx-handler`` validates and stores ATXs (:class:`~spacemesh_core.activation.handler.AtxHandler`);
  it is reachable as ``node.atx_handler`` for the transport wiring (gossip ``ax1``, sync) and
  publishes :class:`AtxReceived` / :class:`MalfeasanceProofCreated`. It also reports the
  ``smeshing`` field of the node status (units, ATXs published, per-identity state).
* ``smeshing-<identity>`` (one per name in ``[smeshing] identities``; ``local`` is the node's own
  key, others are ``identities/<name>.key``): locks the identity's PoST directory (refusing a key
  already running on that data), initializes the data in a worker thread, then runs the ATX builder.
  Its ATXs are stored through the handler and gossiped on ``ax1`` when the node has a transport.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs

from spacemesh_core.activation.adapters import convert_round_proof, create_prove_function
from spacemesh_core.activation.builder import (
    AtxBuilder,
    BuilderError,
    BuilderEvent,
    FetchedPoetProof,
    PoetProofUnavailableError,
    PoetRegistrationError,
    PoetRoundRegistration,
    PostInfo,
    ProveFunction,
)
from spacemesh_core.activation.challenge import PoetTiming
from spacemesh_core.activation.handler import (
    AtxDependencyError,
    AtxHandler,
    AtxStatus,
    AtxValidationConfig,
    AtxValidationError,
)
from spacemesh_core.activation.post_setup import PostSetup, PostSetupOptions, PostSetupState
from spacemesh_core.crypto.address import compute_wallet_principal, parse_address
from spacemesh_core.crypto.signing import Signer
from spacemesh_core.identity import LOCAL_IDENTITY, load_or_create_identity
from spacemesh_core.kernel.services import cancel_task
from spacemesh_core.poet.client import NoPoetProofError, PoetClient, PoetClientError, Registration
from spacemesh_core.post.initialize import InitProgress
from spacemesh_core.post.prover import ProvingParams
from spacemesh_core.sync.wire import Hint
from spacemesh_hooks.interfaces import ValidationResult
from spacemesh_plugins.smeshing.events import (
    AtxBuilderPhaseReached,
    AtxPublished,
    AtxReceived,
    MalfeasanceProofCreated,
    PoetProofFetched,
    PoetRegistered,
    PostSetupChanged,
    PostSetupProgressed,
)

LOG = logging.getLogger(__name__)

ATX_GOSSIP_TOPIC = "ax1"


class PoetClientAdapter:
    """Adapts the PoET REST client (every configured PoET, reference API) to the builder's ``PoetService``."""

    def __init__(self, urls: Sequence[str], signer: Signer, genesis_id: bytes, poll_interval_s: float = 1.0) -> None:
        self.client = PoetClient(urls, signer, genesis_id)
        self.poll_interval_s = poll_interval_s

    async def register(self, challenge_hash: bytes, deadline: float) -> list[PoetRoundRegistration]:
        """Register at every PoET; :raises PoetRegistrationError: when none accepted."""
        try:
            registrations = await self.client.register(challenge_hash, deadline=deadline)
        except PoetClientError as exc:
            raise PoetRegistrationError(str(exc)) from exc
        return [PoetRoundRegistration(r.poet_url, r.round_id, r.round_end) for r in registrations]

    async def fetch_best_proof(
        self, registrations: Sequence[PoetRoundRegistration], challenge_hash: bytes, timeout: float
    ) -> FetchedPoetProof:
        """Fetch, check and pick the proof with the most leaves; :raises PoetProofUnavailableError:."""
        wanted = [Registration(r.poet_url, r.round_id, r.round_end) for r in registrations]
        try:
            result = await self.client.fetch_best_proof(
                wanted, challenge_hash, poll_interval=self.poll_interval_s, timeout=timeout
            )
        except NoPoetProofError as exc:
            raise PoetProofUnavailableError(str(exc)) from exc
        message, membership = convert_round_proof(
            result.proof,
            result.statement,
            result.membership_proof,
            round_id=result.round_id,
            service_pubkey=result.service_pubkey,
        )
        return FetchedPoetProof(result.poet_url, message, membership)


class AtxHandlerService:
    """Runs the node's ATX handler and the ``smeshing`` status field (see the module doc)."""

    name = "atx-handler"

    def __init__(self, node: Any) -> None:
        self.node = node
        self.handler: AtxHandler | None = None
        self.smeshers: list[SmeshingService] = []

    async def start(self) -> None:
        """Create the handler over the node's state and publish it as ``node.atx_handler``."""
        node = self.node
        self.handler = AtxHandler(
            node.storage.state,
            node.genesis_id,
            node.golden_atx,
            node.clock,
            AtxValidationConfig.from_config(node.config),
            local_id=node.identity.node_id if node.identity is not None else b"",
            fetch_atx=self._fetch_atx if getattr(node, "fetcher", None) is not None else None,
            fetch_poet_proof=self._fetch_poet_proof if getattr(node, "fetcher", None) is not None else None,
        )
        node.atx_handler = self.handler
        node.atx_handler_service = self
        from spacemesh_plugins.smeshing.control import SmeshingControl

        # what the API's smeshing routes drive (start/stop smeshers through the service manager)
        node.smeshing = SmeshingControl(node, self)
        node.status_providers["smeshing"] = self.get_status
        if hasattr(node, "processors"):
            node.processors[Hint.ATX] = self._process_synced_atx
        if getattr(node, "transport", None) is not None:
            node.transport.register_gossip(ATX_GOSSIP_TOPIC, self.handle_gossip)

    async def _fetch_atx(self, atx_id: bytes) -> bytes | None:
        found = await self.node.fetcher.fetch_blobs(Hint.ATX, [atx_id])
        return found.get(atx_id)

    async def _fetch_poet_proof(self, ref: bytes) -> bytes | None:
        found = await self.node.fetcher.fetch_blobs(Hint.POET, [ref])
        return found.get(ref)

    async def handle_gossip(self, peer: bytes, data: bytes) -> ValidationResult:
        """Validate a gossiped ATX (``ax1``): forward only a new, valid one; punish an invalid one."""
        assert self.handler is not None
        try:
            outcome = await self.handler.process_atx(data)
        except AtxDependencyError as exc:
            LOG.info("ATX from %s not checkable yet: %s", peer.hex()[:12], exc)
            return ValidationResult.IGNORE
        except AtxValidationError as exc:
            proof = getattr(exc, "malfeasance_proof", None)
            if proof is not None:
                await self._announce_proof(proof)
            LOG.info("rejected ATX from %s: %s", peer.hex()[:12], exc)
            return ValidationResult.REJECT
        if outcome.malfeasance_proof is not None:
            await self._announce_proof(outcome.malfeasance_proof)
        if outcome.status is not AtxStatus.STORED or outcome.record is None:
            return ValidationResult.IGNORE
        await self._announce_received(outcome.record)
        return ValidationResult.ACCEPT

    async def _process_synced_atx(self, blob: bytes) -> None:
        """Sync's processor: store a fetched ATX or raise why it is not valid."""
        assert self.handler is not None
        outcome = await self.handler.process_atx(blob)
        if outcome.status is AtxStatus.STORED and outcome.record is not None:
            await self._announce_received(outcome.record)

    async def _announce_received(self, record: Any) -> None:
        if self.node.bus is not None:
            await self.node.bus.publish(
                AtxReceived(record.id, record.node_id, record.publish_epoch, record.weight, record.tick_height)
            )

    async def stop(self) -> None:
        """Detach the handler from the node."""
        self.node.status_providers.pop("smeshing", None)
        if hasattr(self.node, "processors"):
            self.node.processors.pop(Hint.ATX, None)
        self.node.atx_handler = None
        self.node.atx_handler_service = None
        self.node.smeshing = None

    async def process_atx(self, blob: bytes) -> bool:
        """Validate and store ``blob``; publish what happened; return True when it is new and valid.

        Invalid ATXs are logged and dropped (False); a malfeasance proof is stored and announced.
        """
        assert self.handler is not None
        try:
            outcome = await self.handler.process_atx(blob)
        except AtxValidationError as exc:
            proof = getattr(exc, "malfeasance_proof", None)
            if proof is not None:
                await self._announce_proof(proof)
            LOG.info("rejected ATX: %s", exc)
            return False
        if outcome.malfeasance_proof is not None:
            await self._announce_proof(outcome.malfeasance_proof)
        if outcome.status is AtxStatus.STORED and outcome.record is not None:
            await self._announce_received(outcome.record)
        return outcome.status is AtxStatus.STORED

    async def _announce_proof(self, proof: Any) -> None:
        from spacemesh_core.consensus.malfeasance import get_accused_node_id

        if self.node.bus is not None:
            await self.node.bus.publish(
                MalfeasanceProofCreated(get_accused_node_id(proof), int(proof.proof_type), proof.to_bytes())
            )

    def get_status(self) -> dict[str, Any]:
        """Return the ``smeshing`` status field."""
        identities = {s.identity_name: s.get_status() for s in self.smeshers}
        return {
            "units": sum(s.num_units for s in self.smeshers),
            "atxs_published": sum(s.atxs_published for s in self.smeshers),
            "identities": identities,
        }


@attrs.frozen
class SmesherOptions:
    """Choices of one start that replace the ``[smeshing]`` values (the API's StartSmeshing opts).

    :param post_dir: the identity's PoST directory itself (not a parent of per-identity folders).
    :param provider: the name of an ``initializer`` implementation.
    """

    post_dir: Path | None = None
    num_units: int | None = None
    max_file_size: int | None = None
    provider: str | None = None


class SmeshingService:
    """PoST setup and the ATX builder of one identity (see the module doc)."""

    #: the builder class (the remote smesher's builder awaits proofs instead of proving in a thread)
    builder_class: type[AtxBuilder] = AtxBuilder

    def __init__(self, node: Any, identity_name: str) -> None:
        self.node = node
        self.identity_name = identity_name
        self.name = f"smeshing-{identity_name}"
        section = node.config.smeshing
        post = node.config.post
        self.num_units = section.num_units or post.min_num_units
        self.atxs_published = 0
        self.signer: Signer | None = None
        self.setup: PostSetup | None = None
        self.builder: AtxBuilder | None = None
        self.error: str | None = None
        #: why no ATX builder runs although the data is ready (None: it runs or will)
        self.note: str | None = None
        #: the reward address set at runtime (the API's SetCoinbase); None: ``[smeshing] coinbase``
        self.coinbase: bytes | None = None
        #: the latest initialization progress (labels per second, time left)
        self.progress: InitProgress | None = None
        self.options = SmesherOptions()
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def set_options(self, options: SmesherOptions) -> None:
        """Use ``options`` instead of the ``[smeshing]`` values (before :meth:`start`)."""
        self.options = options
        if options.num_units:
            self.num_units = options.num_units

    def set_coinbase(self, address: bytes) -> None:
        """Send the rewards of the next ATX (the one being built included) to the 24-byte ``address``."""
        self.coinbase = bytes(address)
        if self.builder is not None:
            self.builder.coinbase = self.coinbase

    def is_running(self) -> bool:
        """Return whether setup or the builder is at work (started, not stopped, not failed)."""
        return self._task is not None and not self._task.done()

    def get_post_dir(self) -> Path:
        """Return the identity's PoST directory (``<smeshing data_dir or node data>/post/<identity>``)."""
        if self.options.post_dir is not None:
            return Path(self.options.post_dir)
        base = self.node.config.smeshing.data_dir
        root = Path(base).expanduser() if base else self.node.data_dir / "post"
        return Path(root) / self.identity_name

    def get_status(self) -> dict[str, Any]:
        """Return this identity's status."""
        setup = self.setup.get_status().to_dict() if self.setup else {"state": PostSetupState.NOT_STARTED.value}
        phase = self.builder.get_phase() if self.builder else None
        return {
            "node_id": self.signer.node_id.hex() if self.signer else None,
            "post_setup": setup,
            "phase": phase[0] if phase else None,
            "publish_epoch": phase[1] if phase else None,
            "atxs_published": self.atxs_published,
            "error": self.error,
        }

    async def start(self) -> None:
        """Load the identity, lock its PoST data, then set up and smesh in the background.

        :raises IdentityInUseError: the data is locked by another running smesher of this key.
        :raises PostSetupError: the data belongs to another identity.
        """
        node = self.node
        if self.identity_name == LOCAL_IDENTITY and node.identity is not None:
            self.signer = node.identity
        else:
            self.signer = load_or_create_identity(node.data_dir, self.identity_name)
        post = node.config.post
        section = node.config.smeshing
        self.setup = PostSetup(
            self.signer.node_id,
            PostSetupOptions(
                self.get_post_dir(),
                self.num_units,
                post.labels_per_unit,
                post.scrypt_n,
                self.options.max_file_size or section.max_file_size or post.max_file_size,
            ),
            provider=self._create_initializer(),
            on_progress=self._on_progress,
        )
        self.setup.lock.acquire()  # fail the start at once when the key already runs on this data
        try:
            self.setup.check_identity()
        except Exception:
            self.setup.close()
            raise
        service = getattr(node, "atx_handler_service", None)
        if service is not None:
            service.smeshers.append(self)
        self._task = asyncio.create_task(self._run(), name=self.name)

    def _create_initializer(self) -> Any:
        component = self.node.components.get("initializer")
        provider = self.options.provider or self.node.config.smeshing.provider
        if provider:
            component = self.node.registries.get("initializer", provider)
        return component.factory() if component is not None else None

    def _on_progress(self, progress: InitProgress) -> None:
        """Called in the initializer's thread: hand the telemetry event to the loop."""
        self.progress = progress
        bus = self.node.bus
        if bus is None or self.signer is None or self._loop is None:
            return
        event = PostSetupProgressed(self.signer.node_id, progress.labels_done, progress.labels_total)
        with contextlib.suppress(RuntimeError):  # the loop is closing
            asyncio.run_coroutine_threadsafe(bus.publish(event), self._loop)

    async def _publish_event(self, event: Any) -> None:
        if self.node.bus is not None:
            await self.node.bus.publish(event)

    async def _run(self) -> None:
        assert self.signer is not None
        self._loop = asyncio.get_running_loop()
        try:
            metadata = await self._prepare_post_data()
            if metadata.nonce is None:
                raise BuilderError("the PoST data has no VRF nonce")
            if not self.node.config.poet.servers:
                self.note = "no PoET server is configured ([poet] servers), so no ATX can be built"
                LOG.warning("identity %s: PoST data ready; %s", self.identity_name, self.note)
                return
            self.builder = self._create_builder(metadata)
            await self.builder.run()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.error = f"{type(exc).__name__}: {exc}"
            LOG.exception("smeshing of identity %s stopped", self.identity_name)
            await self._publish_event(PostSetupChanged(self.signer.node_id, PostSetupState.ERROR.value, self.error))

    async def _prepare_post_data(self) -> Any:
        """Initialize (or resume, or check) the identity's PoST data; return its metadata."""
        assert self.setup is not None and self.signer is not None
        commitment = self.setup.get_commitment_atx_id() or self._choose_commitment_atx()
        await self._publish_event(PostSetupChanged(self.signer.node_id, PostSetupState.INITIALIZING.value, None))
        metadata = await self.setup.run(commitment)
        await self._publish_event(PostSetupChanged(self.signer.node_id, PostSetupState.COMPLETE.value, None))
        return metadata

    def _create_prove_function(self) -> ProveFunction:
        """Return the PoST prove function over the local data (the bundle's prover)."""
        node = self.node
        section = node.config.smeshing
        prover_component = node.components.get("prover")
        if prover_component is None:
            raise BuilderError("the bundle has no prover")
        prover = prover_component.factory(threads=section.proving_threads or None)
        post = node.config.post
        params = ProvingParams(post.k1, post.k2, bytes.fromhex(post.pow_difficulty))
        return create_prove_function(self.get_post_dir(), params, prover, nonces=section.proving_nonces)

    def _choose_commitment_atx(self) -> bytes:
        best = self.node.storage.state.get_highest_tick_atx(1 << 62)
        return best.id if best is not None else self.node.golden_atx

    def _create_builder(self, metadata: Any) -> AtxBuilder:
        assert self.signer is not None
        node = self.node
        config = node.config
        section = config.smeshing
        coinbase = self.coinbase or (
            bytes(parse_address(section.coinbase, config.network.hrp))
            if section.coinbase
            else bytes(compute_wallet_principal(self.signer.node_id))
        )
        return self.builder_class(
            self.signer,
            local=node.storage.local,
            state=node.storage.state,
            clock=node.clock,
            timing=PoetTiming(config.poet.phase_shift_s, config.poet.cycle_gap_s, config.poet.grace_period_s),
            genesis_id=node.genesis_id,
            golden_atx=node.golden_atx,
            coinbase=coinbase,
            post_info=PostInfo(
                metadata.num_units, metadata.labels_per_unit, metadata.commitment_atx_id, int(metadata.nonce)
            ),
            prove=self._create_prove_function(),
            poet=PoetClientAdapter(
                config.poet.servers, self.signer, node.genesis_id, poll_interval_s=section.poet_poll_interval_s
            ),
            publish=self._publish_atx,
            notify=self._on_builder_event,
        )

    async def _publish_atx(self, blob: bytes) -> None:
        service = getattr(self.node, "atx_handler_service", None)
        if service is not None and service.handler is not None:
            try:
                await service.handler.process_atx(blob)
            except AtxValidationError as exc:
                raise BuilderError(f"the node's own ATX does not validate: {exc}") from exc
        transport = self.node.transport
        if transport is not None:
            try:
                await transport.publish(ATX_GOSSIP_TOPIC, blob)
            except Exception as exc:  # peers get it by sync later; the ATX itself is stored
                LOG.warning("gossiping our ATX failed: %s", exc)

    async def _on_builder_event(self, event: BuilderEvent) -> None:
        node_id = event.node_id
        await self._publish_event(AtxBuilderPhaseReached(node_id, event.phase, event.publish_epoch))
        details = event.details
        if event.phase == "registered":
            await self._publish_event(
                PoetRegistered(node_id, event.publish_epoch, list(details["poets"]), list(details["rounds"]))
            )
        elif event.phase == "proof_fetched":
            await self._publish_event(
                PoetProofFetched(node_id, event.publish_epoch, details["poet"], int(details["leaves"]))
            )
        elif event.phase == "published":
            self.atxs_published += 1
            await self._publish_event(AtxPublished(node_id, bytes.fromhex(details["atx_id"]), event.publish_epoch))

    async def stop(self) -> None:
        """Stop initialization or the builder (the proving thread is told to stop) and unlock the data."""
        if self.setup is not None:
            self.setup.stop()
        await cancel_task(self._task)
        self._task = None
        service = getattr(self.node, "atx_handler_service", None)
        if service is not None and self in service.smeshers:
            service.smeshers.remove(self)
        if self.setup is not None:
            self.setup.close()
