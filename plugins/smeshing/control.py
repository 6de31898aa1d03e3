"""The node's smeshing control: what the API's private smeshing routes drive (``node.smeshing``).

The ATX handler service creates one :class:`SmeshingControl` when it starts and publishes it as
``node.smeshing`` (it implements :class:`spacemesh_hooks.interfaces.SmeshingControl`). It starts and
stops the ``smeshing-<identity>`` services of the node's local identities through the node's
:class:`~spacemesh_core.kernel.services.ServiceManager` (``start_service``/``stop_service``), so a
smesher started from the API is stopped with the node like one started from the config, and one
stopped from the API is gone from the manager: no thread keeps running, no PoST data stays locked.

Identities proved by a remote post service (``[smeshing] remote_identities``) are reported but not
started or stopped here: their data lives on another machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from spacemesh_core.activation.post_setup import (
    LOCK_FILE_NAME,
    IdentityInUseError,
    PostDataLock,
    PostSetupError,
    PostSetupState,
)
from spacemesh_core.crypto.address import AddressError, compute_wallet_principal, parse_address
from spacemesh_core.fsutil import write_file_atomic
from spacemesh_core.identity import LOCAL_IDENTITY, get_key_path, load_identity
from spacemesh_core.kernel.registry import UnknownNameError
from spacemesh_core.kernel.services import ServiceError, ServiceSpec
from spacemesh_hooks.interfaces import SmeshingConflictError, SmeshingRequestError
from spacemesh_plugins.smeshing.service import SmesherOptions, SmeshingService

#: go-spacemesh's ``PostSetupStatus.State`` names of the setup states
API_STATES = {
    PostSetupState.NOT_STARTED: "STATE_NOT_STARTED",
    PostSetupState.INITIALIZING: "STATE_IN_PROGRESS",
    PostSetupState.COMPLETE: "STATE_COMPLETE",
    PostSetupState.STOPPED: "STATE_STOPPED",
    PostSetupState.ERROR: "STATE_ERROR",
}
#: the files of a PoST directory that ``stop_smeshing(delete_files=True)`` removes (nothing else)
POST_DATA_PATTERNS = ("postdata_*.bin", "postdata_metadata.json", "zarr.json")
#: the StartSmeshing options understood (go-spacemesh's ``PostSetupOpts`` JSON names)
OPTION_NAMES = ("dataDir", "numUnits", "maxFileSize", "provider")
ADDRESS_SIZE = 24


#: where the node remembers the last start/stop from the API (``<node data dir>/smeshing.json``)
CHOICE_FILE_NAME = "smeshing.json"

LOG = logging.getLogger(__name__)


def save_smeshing_choice(data_dir: Path, smeshing: bool, options: dict[str, Any]) -> None:
    """Remember (atomically) whether the user smeshes and with which StartSmeshing options.

    A node restarted later does what the user last chose in the dashboard or the API, whatever
    ``[smeshing] start`` says (see :func:`load_smeshing_choice`).
    """
    document = {"smeshing": smeshing, "options": {key: options[key] for key in OPTION_NAMES if key in options}}
    write_file_atomic(Path(data_dir) / CHOICE_FILE_NAME, json.dumps(document, indent=1).encode())


def load_smeshing_choice(data_dir: Path) -> tuple[bool, dict[str, Any]] | None:
    """Return ``(smeshing, options)`` last saved by :func:`save_smeshing_choice`, or None.

    A missing file is None; an unreadable or malformed one is logged and ignored (None), so the
    ``[smeshing]`` configuration decides.
    """
    path = Path(data_dir) / CHOICE_FILE_NAME
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        LOG.warning("ignoring %s: %s", path, exc)
        return None
    options = document.get("options") if isinstance(document, dict) else None
    if not isinstance(options, dict) or not isinstance(document.get("smeshing"), bool):
        LOG.warning("ignoring %s: not a saved smeshing choice", path)
        return None
    return document["smeshing"], {key: options[key] for key in OPTION_NAMES if key in options}


def compute_smesher_options(options: dict[str, Any], names: list[str]) -> dict[str, SmesherOptions]:
    """Return each identity's :class:`SmesherOptions` from StartSmeshing ``options`` (already checked)."""
    folder = Path(str(options["dataDir"])).expanduser() if options.get("dataDir") else None
    return {
        name: SmesherOptions(
            post_dir=compute_post_dir(folder, name, len(names)) if folder is not None else None,
            num_units=options.get("numUnits"),
            max_file_size=options.get("maxFileSize"),
            provider=options.get("provider") or None,
        )
        for name in names
    }


def compute_post_dir(data_dir: Path, identity_name: str, identity_count: int) -> Path:
    """Return the PoST directory of ``identity_name`` under the folder the user chose.

    With one identity the chosen folder is the PoST directory itself (as in go-spacemesh); with
    several, each identity gets ``<folder>/<identity>``.
    """
    return data_dir if identity_count == 1 else data_dir / identity_name


def delete_post_data(directory: Path) -> list[Path]:
    """Delete the PoST files of ``directory`` (labels, metadata, zarr metadata, stale lock); return them.

    Other files in the folder are left alone: it may be a folder the user also keeps other things in.
    """
    removed = []
    for pattern in (*POST_DATA_PATTERNS, LOCK_FILE_NAME):
        for path in sorted(directory.glob(pattern)):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed.append(path)
    return removed


class SmeshingControl:
    """Start, stop and report the smeshing of this node's identities (see the module doc).

    :param node: the running node.
    :param handler_service: the ATX handler service; its ``smeshers`` list holds the running smeshers.
    """

    def __init__(self, node: Any, handler_service: Any) -> None:
        self.node = node
        self.handler_service = handler_service
        #: the reward address set through the API (None: ``[smeshing] coinbase`` or the identity's wallet)
        self.coinbase: bytes | None = None
        #: the options of the last start from the API, as given (go-spacemesh names; saved across restarts)
        choice = load_smeshing_choice(node.data_dir)
        self.options: dict[str, Any] = choice[1] if choice is not None else {}
        # statuses of identities stopped through the API, shown until they start again
        self._stopped: dict[str, dict[str, Any]] = {}
        self._lock = asyncio.Lock()

    # -- identities ------------------------------------------------------------------------------

    def get_local_identity_names(self) -> list[str]:
        """Return the identities whose PoST data is on this machine (``identities`` minus remote ones)."""
        section = self.node.config.smeshing
        remote = set(getattr(section, "remote_identities", ()) or ())
        return [name for name in dict.fromkeys(section.identities) if name not in remote]

    def get_identity_names(self) -> list[str]:
        """Return every identity this node smeshes with (local, then remote)."""
        section = self.node.config.smeshing
        remote = list(getattr(section, "remote_identities", ()) or ())
        return list(dict.fromkeys([*section.identities, *remote]))

    def get_smeshers(self) -> list[SmeshingService]:
        """Return the smeshing services that run (or ran and have not been stopped)."""
        return list(self.handler_service.smeshers)

    def _get_smesher(self, name: str) -> SmeshingService | None:
        return next((s for s in self.get_smeshers() if s.identity_name == name), None)

    def _get_node_id(self, name: str) -> bytes | None:
        smesher = self._get_smesher(name)
        if smesher is not None and smesher.signer is not None:
            return smesher.signer.node_id
        if name == LOCAL_IDENTITY and self.node.identity is not None:
            return bytes(self.node.identity.node_id)
        path = get_key_path(self.node.data_dir, name)
        if path.is_file():
            with contextlib.suppress(ValueError, OSError):
                return load_identity(path).node_id
        return None

    def get_identities(self) -> list[bytes]:
        """Return the node ids of the identities this node smeshes with (those with a key so far)."""
        found = (self._get_node_id(name) for name in self.get_identity_names())
        return [node_id for node_id in found if node_id is not None]

    # -- coinbase --------------------------------------------------------------------------------

    def get_coinbase(self) -> bytes:
        """Return the address the next ATX names: the API's, else ``[smeshing] coinbase``, else the
        wallet of the first identity's key."""
        if self.coinbase is not None:
            return self.coinbase
        section = self.node.config.smeshing
        if section.coinbase:
            with contextlib.suppress(AddressError):
                return bytes(parse_address(section.coinbase, self.node.config.network.hrp))
        identities = self.get_identities()
        if not identities:
            raise SmeshingConflictError("the node has no identity yet")
        return bytes(compute_wallet_principal(identities[0]))

    def set_coinbase(self, address: bytes) -> None:
        """Send the rewards of the next ATX of every identity to ``address`` (24 bytes).

        :raises SmeshingRequestError: ``address`` is not 24 bytes.
        """
        if len(address) != ADDRESS_SIZE:
            raise SmeshingRequestError(f"a coinbase is a {ADDRESS_SIZE}-byte address, got {len(address)} bytes")
        self.coinbase = bytes(address)
        for smesher in self.get_smeshers():
            smesher.set_coinbase(self.coinbase)

    # -- start and stop --------------------------------------------------------------------------

    def is_smeshing(self) -> bool:
        """Return whether PoST setup or an ATX builder of some identity is at work."""
        return any(s.is_running() for s in self.get_smeshers())

    def _verify_options(self, opts: dict[str, Any], names: list[str]) -> dict[str, SmesherOptions]:
        """Check the StartSmeshing options; return the options of each identity.

        :raises SmeshingRequestError: naming the option that cannot be used.
        """
        unknown = sorted(set(opts) - set(OPTION_NAMES))
        if unknown:
            raise SmeshingRequestError(f"unknown smeshing options: {', '.join(unknown)}")
        post = self.node.config.post
        num_units = opts.get("numUnits")
        if num_units is not None:
            if isinstance(num_units, bool) or not isinstance(num_units, int):
                raise SmeshingRequestError("numUnits must be an integer")
            if not post.min_num_units <= num_units <= post.max_num_units:
                raise SmeshingRequestError(
                    f"numUnits must be in {post.min_num_units}..{post.max_num_units}, got {num_units}"
                )
        provider = opts.get("provider") or None
        if provider is not None:
            try:
                self.node.registries.get("initializer", str(provider))
            except UnknownNameError as exc:
                raise SmeshingRequestError(f"provider: {exc}") from None
        if opts.get("dataDir"):
            folder = Path(str(opts["dataDir"])).expanduser()
            if not folder.is_absolute():
                raise SmeshingRequestError(f"dataDir: the folder must be an absolute path, got {str(folder)!r}")
            self._verify_folder(folder, (num_units or post.min_num_units) * len(names))
        return compute_smesher_options(opts, names)

    def _verify_folder(self, folder: Path, units: int) -> None:
        probe = folder
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        if not probe.is_dir():
            raise SmeshingRequestError(f"dataDir: {probe} is a file, not a folder")
        if not os.access(probe, os.W_OK | os.X_OK):
            raise SmeshingRequestError(f"dataDir: cannot write to {probe}")
        needed = units * int(self.node.config.post.labels_per_unit) * 16
        free = shutil.disk_usage(probe).free
        has_data = folder.is_dir() and any(folder.rglob("postdata_metadata.json"))
        if not has_data and needed > free:
            raise SmeshingRequestError(f"dataDir: {needed} bytes are needed but only {free} are free there")

    async def start_smeshing(self, coinbase: bytes | None = None, **opts: Any) -> None:
        """Start PoST setup (then the ATX builder) of every local identity that does not run yet.

        :param coinbase: where rewards go (None: keep the current coinbase).
        :param opts: ``dataDir`` (absolute folder; with several identities one sub-folder each),
            ``numUnits``, ``maxFileSize``, ``provider`` (an initializer implementation); an option
            left out keeps the ``[smeshing]`` value.
        :raises SmeshingRequestError: an option cannot be used, or the data is another identity's.
        :raises SmeshingConflictError: an identity smeshes already, its data is in use elsewhere, or
            the node is stopping.
        """
        async with self._lock:
            services = self.node.services
            if services is None or self.node.stopping:
                raise SmeshingConflictError("the node is not running")
            names = self.get_local_identity_names()
            if not names:
                raise SmeshingConflictError("no local identity is configured ([smeshing] identities)")
            busy = [name for name in names if (s := self._get_smesher(name)) is not None and s.is_running()]
            if busy:
                raise SmeshingConflictError(
                    f"already smeshing with {', '.join(busy)}; stop smeshing first to change its data or size"
                )
            per_identity = self._verify_options(opts, names)
            if coinbase is not None:
                self.set_coinbase(coinbase)
            started: list[SmeshingService] = []
            try:
                for name in names:
                    finished = self._get_smesher(name)  # setup done without builder, or failed: replace it
                    if finished is not None:
                        await self._stop_smesher(finished)
                    started.append(await self._start_smesher(name, per_identity[name]))
            except BaseException:
                for smesher in started:
                    with contextlib.suppress(Exception):
                        await self._stop_smesher(smesher)
                raise
            self.options = {key: opts[key] for key in OPTION_NAMES if opts.get(key) is not None}
            for name in names:
                self._stopped.pop(name, None)
            save_smeshing_choice(self.node.data_dir, True, self.options)

    async def _start_smesher(self, name: str, options: SmesherOptions) -> SmeshingService:
        def create(node: Any) -> SmeshingService:
            smesher = SmeshingService(node, name)
            smesher.set_options(options)
            if self.coinbase is not None:
                smesher.set_coinbase(self.coinbase)
            return smesher

        spec = ServiceSpec(f"smeshing-{name}", create, depends_on=("atx-handler",))
        try:
            service = await self.node.services.start_service(spec)
        except ServiceError as exc:
            cause = exc.__cause__
            if isinstance(cause, IdentityInUseError):
                raise SmeshingConflictError(str(cause)) from None
            if isinstance(cause, (PostSetupError, ValueError, OSError)):
                raise SmeshingRequestError(f"identity {name}: {cause}") from None
            raise SmeshingConflictError(str(exc)) from None
        assert isinstance(service, SmeshingService)
        return service

    async def _stop_smesher(self, smesher: SmeshingService) -> None:
        services = self.node.services
        if services is not None and services.get_service(smesher.name) is smesher:
            await services.stop_service(smesher.name)
        else:  # not managed (a test built it by hand): stop it directly
            await smesher.stop()

    async def stop_smeshing(self, delete_files: bool = False) -> None:
        """Stop the setup and builders of the local identities; they leave the service manager.

        :param delete_files: also delete the identities' PoST data (only the PoST files).
        :raises SmeshingConflictError: the data to delete is in use by another process.
        """
        async with self._lock:
            names = self.get_local_identity_names()
            directories = {name: self._get_post_dir(name) for name in names}
            for smesher in [s for s in self.get_smeshers() if s.identity_name in names]:
                status = self._compute_identity_status(smesher)
                if status["state"] == API_STATES[PostSetupState.INITIALIZING]:
                    status["state"] = API_STATES[PostSetupState.STOPPED]
                status["atxBuilder"] = "stopped"
                await self._stop_smesher(smesher)
                self._stopped[smesher.identity_name] = status
            save_smeshing_choice(self.node.data_dir, False, {} if delete_files else self.options)
            if not delete_files:
                return
            for name, directory in directories.items():
                node_id = self._get_node_id(name) or bytes(32)
                if directory.is_dir():
                    lock = PostDataLock(directory, node_id)
                    try:
                        lock.acquire()
                    except IdentityInUseError as exc:
                        raise SmeshingConflictError(f"not deleted: {exc}") from None
                    try:
                        delete_post_data(directory)
                    finally:
                        lock.release()
                        with contextlib.suppress(FileNotFoundError):
                            (directory / LOCK_FILE_NAME).unlink()
                self._stopped[name] = self._compute_idle_status(name, directory)

    def get_default_data_dir(self) -> Path | None:
        """Return the folder to give StartSmeshing as ``dataDir`` so that the local identities keep the
        PoST directories they use now (the last start's folder, else the config's, e.g.
        ``<data dir>/post/local`` for the one identity ``local``); None without a local identity."""
        names = self.get_local_identity_names()
        if not names:
            return None
        directory = self._get_post_dir(names[0])
        return directory if len(names) == 1 else directory.parent

    def _get_post_dir(self, name: str) -> Path:
        smesher = self._get_smesher(name)
        if smesher is not None:
            return smesher.get_post_dir()
        probe = SmeshingService(self.node, name)  # builds nothing: only resolves the directory
        if self.options.get("dataDir"):
            folder = Path(str(self.options["dataDir"])).expanduser()
            count = len(self.get_local_identity_names())
            probe.set_options(SmesherOptions(post_dir=compute_post_dir(folder, name, count)))
        return probe.get_post_dir()

    # -- status ----------------------------------------------------------------------------------

    def _compute_idle_status(self, name: str, directory: Path) -> dict[str, Any]:
        post = self.node.config.post
        num_units = int(self.options.get("numUnits") or self.node.config.smeshing.num_units or post.min_num_units)
        return {
            "state": API_STATES[PostSetupState.NOT_STARTED],
            "numLabelsWritten": "0",
            "numLabelsTotal": str(num_units * int(post.labels_per_unit)),
            "labelsPerSecond": 0.0,
            "secondsLeft": None,
            "opts": {"dataDir": str(directory), "numUnits": num_units,
                     "maxFileSize": int(self.options.get("maxFileSize") or self.node.config.smeshing.max_file_size
                                        or post.max_file_size),
                     "provider": self.options.get("provider") or self.node.config.smeshing.provider or None},
            "error": None,
            "atxBuilder": "not running",
        }

    def _compute_identity_status(self, smesher: SmeshingService) -> dict[str, Any]:
        post = self.node.config.post
        total = smesher.num_units * int(post.labels_per_unit)
        setup = smesher.setup.get_status() if smesher.setup is not None else None
        state = setup.state if setup is not None else PostSetupState.NOT_STARTED
        done = setup.labels_done if setup is not None else 0
        if setup is not None and setup.labels_total:
            total = setup.labels_total
        if state is PostSetupState.NOT_STARTED and smesher.is_running():
            state = PostSetupState.INITIALIZING  # started; the worker thread has not reported yet
        error = smesher.error or (setup.error if setup is not None else None)
        if error and state is not PostSetupState.COMPLETE:
            state = PostSetupState.ERROR
        progress = smesher.progress
        running = state is PostSetupState.INITIALIZING
        phase = smesher.builder.get_phase() if smesher.builder is not None else None
        if smesher.builder is not None and smesher.is_running():
            builder = f"building ATXs (phase {phase[0]}, publish epoch {phase[1]})" if phase else "building ATXs"
        elif smesher.note:
            builder = smesher.note
        elif smesher.error:
            builder = f"stopped: {smesher.error}"
        elif running:
            builder = "waits for the PoST data"
        else:
            builder = "not running"
        options = smesher.options
        return {
            "state": API_STATES[state],
            "numLabelsWritten": str(done),
            "numLabelsTotal": str(total),
            "labelsPerSecond": progress.labels_per_second if progress is not None and running else 0.0,
            "secondsLeft": progress.seconds_left if progress is not None and running else None,
            "opts": {
                "dataDir": str(smesher.get_post_dir()),
                "numUnits": smesher.num_units,
                "maxFileSize": int(options.max_file_size or self.node.config.smeshing.max_file_size
                                   or post.max_file_size),
                "provider": options.provider or self.node.config.smeshing.provider or None,
            },
            "error": error,
            "atxBuilder": builder,
        }

    def get_post_setup_status(self) -> dict[str, Any]:
        """Return the PoST setup status (go-spacemesh ``PostSetupStatus`` JSON names).

        With one local identity it is that identity's status; with several the labels are summed,
        the state is the least advanced one (an error first), and ``identities`` lists each.
        """
        per_identity: dict[str, dict[str, Any]] = {}
        for name in self.get_local_identity_names():
            smesher = self._get_smesher(name)
            if smesher is not None:
                per_identity[name] = self._compute_identity_status(smesher)
            elif name in self._stopped:
                per_identity[name] = self._stopped[name]
            else:
                per_identity[name] = self._compute_idle_status(name, self._get_post_dir(name))
        statuses = list(per_identity.values())
        if not statuses:
            return {"state": API_STATES[PostSetupState.NOT_STARTED], "numLabelsWritten": "0", "numLabelsTotal": "0",
                    "labelsPerSecond": 0.0, "secondsLeft": None, "opts": {}, "error": None,
                    "atxBuilder": "no local identity", "identities": {}}
        if len(statuses) == 1:
            return {**statuses[0], "identities": per_identity}
        order = ["STATE_ERROR", "STATE_IN_PROGRESS", "STATE_STOPPED", "STATE_NOT_STARTED", "STATE_COMPLETE"]
        state = min((s["state"] for s in statuses), key=order.index)
        left = [s["secondsLeft"] for s in statuses if s["secondsLeft"] is not None]
        return {
            "state": state,
            "numLabelsWritten": str(sum(int(s["numLabelsWritten"]) for s in statuses)),
            "numLabelsTotal": str(sum(int(s["numLabelsTotal"]) for s in statuses)),
            "labelsPerSecond": sum(float(s["labelsPerSecond"]) for s in statuses),
            "secondsLeft": max(left) if left else None,
            "opts": dict(self.options) or statuses[0]["opts"],
            "error": next((s["error"] for s in statuses if s["error"]), None),
            "atxBuilder": "; ".join(f"{name}: {s['atxBuilder']}" for name, s in per_identity.items()),
            "identities": per_identity,
        }

    # -- eligibilities ---------------------------------------------------------------------------

    def get_eligibilities(self, smesher_id: bytes | None = None) -> dict[str, Any]:
        """Return the proposal eligibilities of the current epoch for each identity (or ``smesher_id``).

        Each identity has ``eligibilities`` (every layer of the epoch with its count), ``upcoming``
        (those from the current layer on) and, when there are none to come, ``reason`` in plain words.
        They come from the mesh service, which computes them when the epoch starts.

        :raises SmeshingRequestError: ``smesher_id`` is not an identity of this node.
        """
        clock = self.node.clock
        layer = max(clock.get_current_layer(), 0)
        epoch = clock.get_epoch(layer)
        identities = self.get_identities()
        if smesher_id is not None:
            if bytes(smesher_id) not in identities:
                raise SmeshingRequestError(f"{bytes(smesher_id).hex()} is not an identity of this node")
            identities = [bytes(smesher_id)]
        return {
            "epoch": epoch,
            "layer": layer,
            "identities": [self._compute_eligibilities(node_id, epoch, layer) for node_id in identities],
        }

    def _compute_eligibilities(self, node_id: bytes, epoch: int, layer: int) -> dict[str, Any]:
        entry: dict[str, Any] = {"smesherId": node_id.hex(), "epoch": epoch, "atxId": None, "activeSetSize": None,
                                 "eligibilities": [], "upcoming": [], "reason": None}
        mesh = getattr(self.node, "mesh", None)
        own_identity = self.node.identity
        if mesh is None or not hasattr(mesh, "get_own_eligibilities"):
            entry["reason"] = "none: this node runs no consensus (mesh) service, so it makes no proposals"
            return entry
        if own_identity is None or bytes(own_identity.node_id) != node_id:
            entry["reason"] = "none: the mesh service proposes only with the node's own key (identities/local.key)"
            return entry
        first_layer = int(mesh.effective_genesis) + 1
        if layer < first_layer:
            entry["reason"] = (f"none yet: proposals start at layer {first_layer}, after the genesis epochs; "
                               "an ATX published before then gives eligibilities in the epoch after it")
            return entry
        found = mesh.get_own_eligibilities(epoch)
        if found is None:
            entry["reason"] = (f"none yet: the active set of epoch {epoch} is not known here yet "
                               "(the node is catching up with the network, or the epoch has just begun)")
            return entry
        entry["activeSetSize"] = found.active_set_size
        entry["atxId"] = found.atx_id.hex() if found.atx_id is not None else None
        entry["eligibilities"] = [{"layer": lid, "count": count} for lid, count in found.layers.items()]
        entry["upcoming"] = [item for item in entry["eligibilities"] if item["layer"] >= layer]
        if found.atx_id is None:
            entry["reason"] = (f"none in epoch {epoch}: this identity has no ATX in the epoch's active set; "
                               f"an ATX published in epoch {epoch} gives eligibilities in epoch {epoch + 1}")
        elif not entry["upcoming"]:
            next_layer = (epoch + 1) * int(self.node.config.network.layers_per_epoch)
            entry["reason"] = (f"none left in epoch {epoch}; the next epoch's are known when it starts "
                               f"(layer {next_layer})")
        return entry
