"""The route table of the node API: every route once, with its schemas, access and handler.

The server mounts routes from this table and the OpenAPI document is generated from it, so the
two cannot drift. Public routes mirror go-spacemesh's v2alpha1 JSON gateway (``POST
/spacemesh.v2alpha1.<Service>/<Method>``, proto3 JSON: camelCase, uint64 as strings, bytes as
base64); private routes mirror the v1 ``SmesherService``/``AdminService`` plus a few dashboard
helpers under ``/api/v1``. A route whose subsystem does not run in this node answers 503 with
``{"error": "unavailable", "reason": ...}``; it never makes data up.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import attrs
from aiohttp import web

from spacemesh_core.crypto.address import Address
from spacemesh_hooks.interfaces import SmeshingConflictError, SmeshingRequestError
from spacemesh_plugins.api_http.schema import (
    ADDRESS,
    ANY_OBJECT,
    BASE64,
    BOOL,
    EPOCH,
    LAYER,
    LIMIT,
    OFFSET,
    JsonSchema,
    array,
    integer,
    obj,
    string,
    uint64_value,
)

PUBLIC = "public"
PRIVATE = "private"
V2 = "/spacemesh.v2alpha1"
V1 = "/spacemesh.v1"


class ApiError(Exception):
    """An error answered to the client: HTTP ``status`` with ``{"error": code, "reason": reason}``."""

    status = 400
    code = "invalid_argument"

    def __init__(self, reason: str, *, extra: dict[str, Any] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.extra = extra or {}


class BadRequest(ApiError):
    """The request is malformed or names something impossible (400)."""


class NotFound(ApiError):
    """The object asked for is not known to this node (404)."""

    status = 404
    code = "not_found"


class Conflict(ApiError):
    """The request conflicts with the node's current state (409)."""

    status = 409
    code = "conflict"


class Unavailable(ApiError):
    """The subsystem that would answer does not run in this node (503)."""

    status = 503
    code = "unavailable"


Handler = Callable[[Any, web.Request, dict[str, Any], dict[str, str]], Awaitable[Any]]


@attrs.frozen
class Route:
    """One API route.

    :param kind: ``json`` (the handler returns JSON-ready data), ``stream`` (server-sent events),
        ``text``/``html``/``static`` (the handler returns a ready ``web.Response``).
    :param body: the JSON schema of the request body (POST routes; None: no body).
    :param query: query parameters: name -> string schema (GET routes).
    """

    method: str
    path: str
    handler: Handler
    summary: str
    access: str
    tag: str
    body: JsonSchema | None = None
    query: dict[str, JsonSchema] = attrs.field(factory=dict)
    required_query: tuple[str, ...] = ()
    response: JsonSchema = ANY_OBJECT
    kind: str = "json"
    #: subsystems the answer depends on (documented as the 503 cause)
    needs: tuple[str, ...] = ()
    #: False only for the dashboard's static page and assets (no node data in them): served on the
    #: private listener without the token, so a browser can load the page that asks for it
    needs_token: bool = True

    @property
    def operation_id(self) -> str:
        """A unique operation id derived from the path."""
        name = self.path.strip("/").replace("spacemesh.", "").replace("/", "_").replace(".", "_")
        return f"{self.method.lower()}_{name.replace('{', '').replace('}', '')}" if name else "get_root"


# -------------------------------------------------------------------------------------------------
# helpers
# -------------------------------------------------------------------------------------------------


def b64(data: bytes | None) -> str | None:
    """Return base64 text of ``data`` (None stays None)."""
    return None if data is None else base64.b64encode(data).decode()


def decode_b64(value: str, name: str, size: int | None = None) -> bytes:
    """Decode base64 ``value`` of field ``name``. :raises BadRequest: malformed or of the wrong size."""
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest(f"{name} is not valid base64") from None
    if size is not None and len(raw) != size:
        raise BadRequest(f"{name} must decode to {size} bytes, got {len(raw)}")
    return raw


def parse_id(value: str, name: str, size: int = 32) -> bytes:
    """Accept an id as hex (2*size digits) or base64. :raises BadRequest: otherwise."""
    if len(value) == 2 * size:
        try:
            return bytes.fromhex(value)
        except ValueError:
            pass
    return decode_b64(value, name, size)


def get_syncer(node: Any) -> Any:
    """Return the node's syncer (``node.sync.syncer`` of the mesh plugin, or ``node.syncer``), or None."""
    sync = getattr(node, "sync", None)
    return getattr(sync, "syncer", None) if sync is not None else getattr(node, "syncer", None)


def get_page(body: dict[str, Any], default_limit: int = 100) -> tuple[int, int]:
    """Return ``(offset, limit)`` of a list request."""
    return int(body.get("offset", 0)), int(body.get("limit", default_limit))


def to_uint(value: Any) -> int:
    """Return a validated uint64 (decimal string or integer) as int."""
    return int(value)


ID_LIST = array(string("an id as 64 hex digits or base64 of 32 bytes", max_length=64), max_items=100)
TX_ID_LIST = array(string("a transaction id as 64 hex digits or base64 of 32 bytes", max_length=64), max_items=100)
PAGE = {"limit": LIMIT, "offset": OFFSET}


# -------------------------------------------------------------------------------------------------
# public handlers (v2alpha1)
# -------------------------------------------------------------------------------------------------


async def node_status(api: Any, request: web.Request, body: dict[str, Any], query: dict[str, str]) -> Any:
    """NodeService/Status."""
    node = api.node
    current = node.clock.get_current_layer()
    syncer = get_syncer(node)
    answer: dict[str, Any] = {
        "currentLayer": max(current, 0),
        "currentEpoch": node.clock.get_epoch(max(current, 0)),
        "connectedPeers": str(len(node.transport.get_peers())) if node.transport is not None else None,
        "nodeId": node.identity.node_id.hex() if node.identity is not None else None,
        "genesisId": b64(node.genesis_id),
    }
    if syncer is not None:
        state = getattr(getattr(syncer, "state", None), "value", None)
        answer["status"] = {"synced": "SYNC_STATUS_SYNCED", "gossip_sync": "SYNC_STATUS_SYNCING",
                            "not_synced": "SYNC_STATUS_OFFLINE"}.get(str(state), "SYNC_STATUS_UNSPECIFIED")
        answer["syncState"] = state
    else:
        answer["status"] = "SYNC_STATUS_UNSPECIFIED"
        answer["syncState"] = None
        answer["syncReason"] = "no syncer runs in this node"
    storage = node.storage
    applied = storage.state.get_last_applied_layer() if storage is not None else None
    vm = getattr(node, "vm", None)
    if vm is not None:
        applied = max(applied or 0, vm.store.last_layer)
    answer["appliedLayer"] = applied
    answer["latestLayer"] = applied
    answer["processedLayer"] = applied
    if node.transport is None:
        answer["peersReason"] = "no transport runs in this node"
    return answer


async def network_info(api: Any, request: web.Request, body: dict[str, Any], query: dict[str, str]) -> Any:
    """NetworkService/Info."""
    config = api.node.config
    vm = getattr(api.node, "vm", None)
    return {
        "genesisTime": config.network.genesis_time,
        "layerDuration": f"{config.network.layer_duration_s}s",
        "genesisId": b64(api.node.genesis_id),
        "hrp": api.hrp,
        "effectiveGenesisLayer": vm.effective_genesis if vm is not None else 0,
        "layersPerEpoch": config.network.layers_per_epoch,
        "labelsPerUnit": str(config.post.labels_per_unit),
        "networkName": config.network.name,
    }


def _layer_json(api: Any, number: int) -> dict[str, Any]:
    state = api.require_state()
    record = state.get_layer(number)
    blocks = state.get_blocks_in_layer(number)
    if record.state_hash is not None:
        status = "LAYER_STATUS_APPLIED"
    elif record.hare_done:
        status = "LAYER_STATUS_APPROVED"
    else:
        status = "LAYER_STATUS_UNSPECIFIED"
    return {
        "number": number,
        "status": status,
        "consensusHash": None,
        "stateHash": b64(record.state_hash),
        "block": {"id": b64(record.applied_block)} if record.applied_block else None,
        "hareOutput": b64(record.hare_output),
        "blockIds": [b64(block.id) for block in blocks],
    }


async def layer_list(api: Any, request: web.Request, body: dict[str, Any], query: dict[str, str]) -> Any:
    """LayerService/List: layers ``startLayer..endLayer`` (inclusive; end defaults to the current layer)."""
    api.require_state()
    offset, limit = get_page(body)
    current = max(api.node.clock.get_current_layer(), 0)
    start = body.get("startLayer", 0)
    end = min(body.get("endLayer", current), current)
    if start > end and "startLayer" in body and "endLayer" in body:
        raise BadRequest("startLayer must not be after endLayer")
    descending = body.get("sortOrder") == "DESC"
    numbers = range(end, start - 1, -1) if descending else range(start, end + 1)
    page = numbers[offset : offset + limit]
    return {"layers": [_layer_json(api, n) for n in page], "total": len(numbers)}


async def block_list(api: Any, request: web.Request, body: dict[str, Any], query: dict[str, str]) -> Any:
    """BlockService/List: the blocks of one layer, or blocks by id (this project's addition)."""
    state = api.require_state()
    blocks = []
    if "id" in body:
        for value in body["id"]:
            record = state.get_block(parse_id(value, "id"))
            if record is not None:
                blocks.append(record)
    elif "layer" in body:
        blocks = state.get_blocks_in_layer(body["layer"])
    else:
        raise BadRequest("give layer or id")
    return {
        "blocks": [
            {"id": b64(b.id), "layer": b.layer, "valid": b.validity, "size": len(b.blob), "raw": b64(b.blob)}
            for b in blocks
        ]
    }


def _account_json(api: Any, address: bytes) -> dict[str, Any]:
    vm = getattr(api.node, "vm", None)
    mempool = getattr(api.node, "mempool", None)
    text = Address(address).to_string(api.hrp)
    if vm is not None:
        account = vm.get_account(address)
        nonce, balance = mempool.get_projection(address) if mempool is not None else (account.next_nonce,
                                                                                      account.balance)
        current = {"counter": str(account.next_nonce), "balance": str(account.balance), "layer": account.layer}
        projected = {"counter": str(nonce), "balance": str(balance), "layer": account.layer}
        template = Address(account.template).to_string(api.hrp) if account.template else None
    else:
        record = api.require_state().get_account(address)
        current = {"counter": str(record.next_nonce if record else 0), "balance": str(record.balance if record else 0),
                   "layer": record.layer if record else 0}
        projected = dict(current)
        template = Address(record.template).to_string(api.hrp) if record and record.template else None
    return {"address": text, "template": template, "current": current, "projected": projected,
            # the v1-shaped copy the wallet CLI reads
            "v1": {"accountId": text, "stateCurrent": current, "stateProjected": projected}}


async def account_list(api: Any, request: web.Request, body: dict[str, Any], query: dict[str, str]) -> Any:
    """AccountService/List: the given accounts, or every account (paged)."""
    vm = getattr(api.node, "vm", None)
    if vm is None:
        api.require_state(reason="no VM runs in this node and no state storage is open")
    offset, limit = get_page(body)
    texts = list(body.get("addresses", [])) + list(body.get("address", []))
    if texts:
        addresses = [api.parse_address(text) for text in texts]
    elif vm is not None:
        addresses = sorted(account.address for account in vm.store.iter_accounts())
    else:
        addresses = [record.address for record in api.require_state().get_accounts()]
    page = addresses[offset : offset + limit]
    return {"accounts": [_account_json(api, address) for address in page], "total": len(addresses)}


async def tx_submit(api: Any, request: web.Request, body: dict[str, Any], query: dict[str, str]) -> Any:
    """TransactionService/SubmitTransaction: hand a signed transaction to the mempool."""
    mempool = api.require("mempool", "no mempool runs in this node")
    raw = decode_b64(body["transaction"], "transaction")
    if not raw:
        raise BadRequest("transaction is empty")
    from spacemesh_core.vm.mempool import MempoolRejection

    try:
        entry = mempool.add(raw)
    except MempoolRejection as exc:
        raise BadRequest(f"{exc.reason.value}: {exc}", extra={"status": {"code": 3, "message": str(exc),
                                                                          "reason": exc.reason.value}}) from None
    await api.on_transaction_accepted(raw)
    return {"status": {"code": 0, "message": ""}, "txId": b64(entry.tx_id)}


async def tx_parse(api: Any, request: web.Request, body: dict[str, Any], query: dict[str, str]) -> Any:
    """TransactionService/ParseTransaction: decode (and with ``verify`` check) a transaction."""
    vm = api.require("vm", "no VM runs in this node")
    raw = decode_b64(body["transaction"], "transaction")
    from spacemesh_core.vm.api import encode_transaction_json
    from spacemesh_core.vm.transaction import TransactionError
    from spacemesh_core.vm.vm import InvalidSignatureError

    try:
        parsed = vm.validate(raw) if body.get("verify") else vm.parse(raw)
    except (TransactionError, InvalidSignatureError) as exc:
        raise BadRequest(f"the transaction does not parse: {exc}") from None
    except Exception as exc:  # the parser's lower layers (SCALE) may raise their own errors on garbage
        raise BadRequest(f"the transaction does not parse: {exc}") from None
    tx = encode_transaction_json(parsed.raw, parsed.tx_id, parsed.header, parsed.args, api.hrp,
                                 self_spawn=parsed.is_self_spawn)
    return {"status": {"code": 0, "message": ""}, "tx": tx}


def _tx_result_json(api: Any, result: Any) -> dict[str, Any]:
    from spacemesh_core.vm.vm import TxStatus

    return {
        "status": "TRANSACTION_STATUS_SUCCESS" if result.status is TxStatus.SUCCESS else "TRANSACTION_STATUS_FAILURE",
        "message": result.message,
        "gasConsumed": str(result.gas_consumed),
        "fee": str(result.fee),
        "layer": result.layer,
        "touchedAddresses": [Address(a).to_string(api.hrp) for a in result.touched],
    }


def _collect_transactions(api: Any, address: bytes | None, ids: set[bytes] | None) -> list[dict[str, Any]]:
    from spacemesh_core.vm.api import encode_transaction_json

    vm = getattr(api.node, "vm", None)
    mempool = getattr(api.node, "mempool", None)
    items: list[dict[str, Any]] = []
    if vm is not None:
        for record in vm.store.iter_layer_records():
            for result in record.results:
                if address is not None and address not in result.touched and result.header.principal != address:
                    continue
                if ids is not None and result.tx_id not in ids:
                    continue
                items.append({
                    "tx": encode_transaction_json(result.raw, result.tx_id, result.header, result.args, api.hrp),
                    "txResult": _tx_result_json(api, result),
                    "txState": "TRANSACTION_STATE_PROCESSED",
                })
        if mempool is not None:
            from spacemesh_core.vm.api import encode_transaction_json as enc

            entries = []
            if address is not None:
                entries = mempool.get_pending(address)
            elif ids is not None:
                entries = [e for e in (mempool.get(i) for i in ids) if e is not None]
            for entry in entries:
                parsed = entry.parsed
                items.append({"tx": enc(parsed.raw, parsed.tx_id, parsed.header, parsed.args, api.hrp,
                                        self_spawn=parsed.is_self_spawn),
                              "txState": "TRANSACTION_STATE_MEMPOOL"})
        return items
    state = api.require_state(reason="no VM runs in this node and no state storage is open")
    records = []
    if ids is not None:
        records = [r for r in (state.get_transaction(i) for i in ids) if r is not None]
    elif address is not None:
        records = state.get_transactions_of(address)
    for rec in records:
        items.append({
            "tx": {"id": b64(rec.id), "principal": Address(rec.principal).to_string(api.hrp),
                   "nonce": {"counter": str(rec.nonce)}, "raw": b64(rec.blob)},
            "txState": "TRANSACTION_STATE_PROCESSED" if rec.layer is not None else "TRANSACTION_STATE_MEMPOOL",
            "layer": rec.layer,
        })
    return items


async def tx_list(api: Any, request: web.Request, body: dict[str, Any], query: dict[str, str]) -> Any:
    """TransactionService/List: executed then pending transactions of an address, or by id."""
    offset, limit = get_page(body)
    address = api.parse_address(body["address"]) if "address" in body else None
    ids = {parse_id(v, "txid") for v in body["txid"]} if body.get("txid") else None
    if address is None and ids is None:
        raise BadRequest("give address or txid")
    items = _collect_transactions(api, address, ids)
    return {"transactions": items[offset : offset + limit], "total": len(items)}


async def tx_state(api: Any, request: web.Request, body: dict[str, Any], query: dict[str, str]) -> Any:
    """TransactionService/TransactionsState: where each transaction is (mempool, processed, unknown)."""
    ids = [parse_id(v, "txid") for v in body["txid"]]
    found = {item["tx"]["id"]: item["txState"] for item in _collect_transactions(api, None, set(ids))}
    return {"transactionsState": [{"id": b64(i), "state": found.get(b64(i), "TRANSACTION_STATE_UNSPECIFIED")}
                                  for i in ids]}


async def reward_list(api: Any, request: web.Request, body: dict[str, Any], query: dict[str, str]) -> Any:
    """RewardService/List: rewards paid to a coinbase (or a smesher), by layer."""
    offset, limit = get_page(body)
    coinbase = api.parse_address(body["coinbase"]) if "coinbase" in body else None
    smesher = parse_id(body["smesher"], "smesher") if "smesher" in body else None
    if coinbase is None and smesher is None:
        raise BadRequest("give coinbase or smesher")
    start, end = body.get("startLayer", 0), body.get("endLayer", 2**32 - 1)
    rewards: list[dict[str, Any]] = []
    vm = getattr(api.node, "vm", None)
    if vm is not None:
        for record in vm.store.iter_layer_records():
            for reward in record.rewards:
                if coinbase is not None and reward.coinbase != coinbase:
                    continue
                if smesher is not None and reward.smesher_id != smesher:
                    continue
                rewards.append({"layer": reward.layer, "total": str(reward.total_reward),
                                "layerReward": str(reward.layer_reward),
                                "coinbase": Address(reward.coinbase).to_string(api.hrp),
                                "smesher": b64(reward.smesher_id)})
    else:
        state = api.require_state(reason="no VM runs in this node and no state storage is open")
        if coinbase is None:
            raise Unavailable("rewards by smesher need the VM; this node only stores them by coinbase")
        for r in state.get_rewards(coinbase):
            rewards.append({"layer": r.layer, "total": str(r.total), "layerReward": str(r.layer_reward),
                            "coinbase": Address(r.coinbase).to_string(api.hrp), "smesher": None})
    rewards = [r for r in rewards if start <= r["layer"] <= end]
    return {"rewards": rewards[offset : offset + limit], "total": len(rewards)}


def _atx_json(record: Any) -> dict[str, Any]:
    return {"id": b64(record.id), "smesherId": b64(record.node_id), "publishEpoch": record.publish_epoch,
            "numUnits": record.num_units, "tickCount": str(record.tick_count), "weight": str(record.weight),
            "received": record.received}


async def activation_list(api: Any, request: web.Request, body: dict[str, Any], query: dict[str, str]) -> Any:
    """ActivationService/List: ATXs of an epoch range, filtered by smesher or id."""
    state = api.require_state()
    offset, limit = get_page(body)
    current_epoch = api.node.clock.get_epoch(max(api.node.clock.get_current_layer(), 0))
    records = []
    if body.get("id"):
        records = [r for r in (state.get_atx(parse_id(v, "id")) for v in body["id"]) if r is not None]
    else:
        start = body.get("startEpoch", 0)
        end = min(body.get("endEpoch", current_epoch + 1), current_epoch + 1)
        if end - start > 10_000:
            raise BadRequest("at most 10000 epochs at a time")
        smeshers = {parse_id(v, "smesherId") for v in body.get("smesherId", [])}
        for epoch in range(start, end + 1):
            for atx_id in state.get_atx_ids_in_epoch(epoch):
                record = state.get_atx(atx_id)
                if record is not None and (not smeshers or record.node_id in smeshers):
                    records.append(record)
    return {"activations": [_atx_json(r) for r in records[offset : offset + limit]], "total": len(records)}


async def activation_count(api: Any, request: web.Request, body: dict[str, Any], query: dict[str, str]) -> Any:
    """ActivationService/ActivationsCount: ATXs published in one epoch."""
    return {"count": len(api.require_state().get_atx_ids_in_epoch(body["epoch"]))}


async def activation_highest(api: Any, request: web.Request, body: dict[str, Any], query: dict[str, str]) -> Any:
    """ActivationService/Highest: the heaviest ATX of the latest epoch that has any."""
    state = api.require_state()
    epoch = api.node.clock.get_epoch(max(api.node.clock.get_current_layer(), 0)) + 1
    for candidate in range(epoch, -1, -1):
        ids = state.get_atx_ids_in_epoch(candidate)
        if ids:
            records = [r for r in (state.get_atx(i) for i in ids) if r is not None]
            best = max(records, key=lambda r: (r.tick_count, r.weight, r.id))
            return {"activation": _atx_json(best)}
    raise NotFound("no ATX is known yet")


async def malfeasance_list(api: Any, request: web.Request, body: dict[str, Any], query: dict[str, str]) -> Any:
    """MalfeasanceService/List: identities with a malfeasance proof."""
    state = api.require_state()
    offset, limit = get_page(body)
    wanted = {parse_id(v, "smesherId") for v in body.get("smesherId", [])}
    ids = [i for i in state.get_malicious_ids() if not wanted or i in wanted]
    proofs = [{"smesher": b64(i), "proof": b64(state.get_malfeasance_proof(i))} for i in ids[offset : offset + limit]]
    return {"proofs": proofs, "total": len(ids)}


# -------------------------------------------------------------------------------------------------
# private handlers: smeshing, PoST setup, identities, coinbase, checkpoint, wallet
# -------------------------------------------------------------------------------------------------


#: why the smeshing routes answer 503 on a node without the smeshing plugin (it owns PoST setup)
NO_SMESHING = "no smeshing runs in this node (its bundle has no smeshing plugin)"


async def is_smeshing(api: Any, request: web.Request, body: dict[str, Any], query: dict[str, str]) -> Any:
    """SmesherService/IsSmeshing."""
    smeshing = api.require("smeshing", NO_SMESHING)
    return {"isSmeshing": bool(smeshing.is_smeshing()), "atxBuilder": True}


async def start_smeshing(api: Any, request: web.Request, body: dict[str, Any], query: dict[str, str]) -> Any:
    """SmesherService/StartSmeshing: start PoST setup, then the ATX builder."""
    opts = body["opts"]
    coinbase = api.parse_address(body["coinbase"]) if "coinbase" in body else None
    smeshing = api.require("smeshing", NO_SMESHING)
    try:
        await smeshing.start_smeshing(coinbase=coinbase or api.get_coinbase(), **opts)
    except SmeshingConflictError as exc:
        raise Conflict(str(exc)) from None
    except SmeshingRequestError as exc:
        raise BadRequest(str(exc)) from None
    if coinbase is not None:
        api.set_coinbase(coinbase)
    return {"status": {"code": 0}, "atxBuilder": True}


async def stop_smeshing(api: Any, request: web.Request, body: dict[str, Any], query: dict[str, str]) -> Any:
    """SmesherService/StopSmeshing."""
    smeshing = api.require("smeshing", NO_SMESHING)
    try:
        await smeshing.stop_smeshing(delete_files=bool(body.get("deleteFiles")))
    except SmeshingConflictError as exc:
        raise Conflict(str(exc)) from None
    return {"status": {"code": 0}}


async def post_setup_status(api: Any, request: web.Request, body: dict[str, Any], query: dict[str, str]) -> Any:
    """SmesherService/PostSetupStatus."""
    return {"status": api.require("smeshing", NO_SMESHING).get_post_setup_status()}


async def post_config(api: Any, request: web.Request, body: dict[str, Any], query: dict[str, str]) -> Any:
    """SmesherService/PostConfig: the network's PoST parameters."""
    post = api.node.config.post
    return {"labelsPerUnit": str(post.labels_per_unit), "minNumUnits": post.min_num_units,
            "maxNumUnits": post.max_num_units, "scryptN": post.scrypt_n, "k1": post.k1, "k2": post.k2,
            "k3": post.k3, "powDifficulty": post.pow_difficulty, "maxFileSize": str(post.max_file_size),
            "unitBytes": str(int(post.labels_per_unit) * 16)}


async def smesher_ids(api: Any, request: web.Request, body: dict[str, Any], query: dict[str, str]) -> Any:
    """SmesherService/SmesherIDs: the identities this node smeshes with."""
    smeshing = api.get_smeshing()
    if smeshing is not None:
        ids = list(smeshing.get_identities())
    elif api.node.identity is not None:
        ids = [api.node.identity.node_id]
    else:
        raise Unavailable("the node has not loaded its identity yet")
    return {"publicKeys": [b64(i) for i in ids], "hex": [i.hex() for i in ids]}


async def get_coinbase(api: Any, request: web.Request, body: dict[str, Any], query: dict[str, str]) -> Any:
    """SmesherService/Coinbase."""
    return {"accountId": {"address": Address(api.get_coinbase()).to_string(api.hrp)}}


async def set_coinbase(api: Any, request: web.Request, body: dict[str, Any], query: dict[str, str]) -> Any:
    """SmesherService/SetCoinbase: where the rewards of the next ATX go."""
    api.set_coinbase(api.parse_address(body["id"]["address"]))
    return {"status": {"code": 0}}


async def smesher_eligibilities(api: Any, request: web.Request, body: dict[str, Any], query: dict[str, str]) -> Any:
    """The proposal eligibilities of this node's identities in the current epoch, or why there are none."""
    smeshing = api.require("smeshing", NO_SMESHING)
    smesher = parse_id(body["smesherId"], "smesherId") if "smesherId" in body else None
    try:
        answer: dict[str, Any] = smeshing.get_eligibilities(smesher)
    except SmeshingRequestError as exc:
        raise NotFound(str(exc)) from None
    return answer


def compute_upcoming_eligibilities(answer: dict[str, Any]) -> tuple[list[dict[str, int]], str | None]:
    """Return the upcoming ``{layer, count}`` of every identity (merged by layer) and, when there are
    none, the identities' reasons in one line."""
    by_layer: dict[int, int] = {}
    for identity in answer["identities"]:
        for item in identity["upcoming"]:
            by_layer[item["layer"]] = by_layer.get(item["layer"], 0) + item["count"]
    upcoming = [{"layer": layer, "count": count} for layer, count in sorted(by_layer.items())]
    reasons = list(dict.fromkeys(i["reason"] for i in answer["identities"] if i["reason"]))
    if upcoming:
        return upcoming, None
    return upcoming, "; ".join(reasons) or "this node has no identity yet"


async def checkpoint(api: Any, request: web.Request, body: dict[str, Any], query: dict[str, str]) -> Any:
    """AdminService/CheckpointStream."""
    maker = getattr(api.node, "checkpoint", None)
    if maker is None:
        raise Unavailable("checkpoints are not supported by this node yet")
    return await maker(snapshot_layer=body["snapshotLayer"], num_atxs=body.get("numAtxs", 2))


async def post_folder(api: Any, request: web.Request, body: dict[str, Any], query: dict[str, str]) -> Any:
    """Check a folder for PoST data: writable, free space (``path`` defaults to :func:`get_default_post_folder`)."""
    from spacemesh_plugins.api_http.wizard import PostFolderError

    path = query.get("path") or str(get_default_post_folder(api))
    try:
        return api.post_wizard.get_folder_info(path)
    except PostFolderError as exc:
        raise BadRequest(str(exc)) from None


def get_default_post_folder(api: Any) -> Path:
    """Return the PoST folder the wizard proposes: the one the node's smeshers use already (the smeshing
    control's :meth:`get_default_data_dir`, e.g. ``<data dir>/post/local``), so the data is not
    prepared twice; without a smeshing plugin, ``<data dir>/post``."""
    smeshing = api.get_smeshing()
    get_folder = getattr(smeshing, "get_default_data_dir", None)
    folder = get_folder() if get_folder is not None else None
    if folder is not None:
        return Path(folder).expanduser().resolve()
    return Path(api.node.data_dir).expanduser().resolve() / "post"


async def post_probe(api: Any, request: web.Request, body: dict[str, Any], query: dict[str, str]) -> Any:
    """Measure this machine's label speed with the node's initializer (for the time estimate)."""
    return await api.post_wizard.probe_speed(float(body.get("seconds", 0.3)))


def compute_poet_schedule(node: Any, now: float | None = None) -> dict[str, Any]:
    """Return the open PoET round and when it starts and ends (post-poet.md: phase shift, cycle gap)."""
    from spacemesh_core.clock import parse_genesis_time

    config = node.config
    genesis = parse_genesis_time(config.network.genesis_time)
    epoch_s = config.network.layer_duration_s * config.network.layers_per_epoch
    now = time.time() if now is None else now
    shift, gap = config.poet.phase_shift_s, config.poet.cycle_gap_s
    open_round = 0 if now - genesis < shift else int((now - genesis - shift) // epoch_s) + 1
    start = genesis + shift + open_round * epoch_s
    return {"openRound": open_round, "registrationDeadline": start, "roundEnd": start + epoch_s - gap,
            "secondsToDeadline": max(start - now, 0.0), "servers": list(config.poet.servers)}


#: what the dashboard says when a smeshing node has no PoET (the smesher's note says it in the log and
#: in ``PostSetupStatus.atxBuilder``: "no PoET server is configured ([poet] servers), so no ATX can be built")
NO_POET_PROBLEM = ("No PoET server is configured: this node cannot publish activations. "
                   "Add [poet] servers to the config.")


def get_activation_problem(node: Any, smeshing: Any) -> str | None:
    """Return, in plain words, why this smeshing node cannot publish activations, or None when nothing
    in its configuration prevents it (a node without smeshing says so elsewhere: ``atxBuilder``)."""
    if smeshing is not None and not list(node.config.poet.servers):
        return NO_POET_PROBLEM
    return None


async def smeshing_overview(api: Any, request: web.Request, body: dict[str, Any], query: dict[str, str]) -> Any:
    """Everything the dashboard's smeshing panel shows, each part with its source or the reason it is missing."""
    node = api.node
    smeshing = api.get_smeshing()
    post = smeshing.get_post_setup_status() if smeshing is not None else None
    answer: dict[str, Any] = {"postSetup": post, "poet": compute_poet_schedule(node)}
    if node.storage is not None and node.identity is not None:
        last = node.storage.state.get_last_atx_of_node(node.identity.node_id)
        answer["lastAtx"] = _atx_json(last) if last is not None else None
    else:
        answer["lastAtx"] = None
        answer["lastAtxReason"] = "no state storage is open"
    if smeshing is not None:
        upcoming, reason = compute_upcoming_eligibilities(smeshing.get_eligibilities())
        answer["eligibilities"] = upcoming or None
        if reason is not None:
            answer["eligibilitiesReason"] = reason
    else:
        answer["eligibilities"] = None
        answer["eligibilitiesReason"] = NO_SMESHING
    answer["atxBuilder"] = smeshing is not None
    answer["isSmeshing"] = bool(smeshing.is_smeshing()) if smeshing is not None else False
    answer["activationProblem"] = get_activation_problem(node, smeshing)
    provider = node.status_providers.get("smeshing")
    # the smeshing plugin's own view (identities, builder phase, ATXs published) when it runs in this node
    answer["smeshers"] = provider() if provider is not None else None
    return answer


async def wallet_get(api: Any, request: web.Request, body: dict[str, Any], query: dict[str, str]) -> Any:
    """The node wallet: address, balances, whether it is spawned."""
    wallet = api.get_wallet()
    vm = api.require("vm", "no VM runs in this node, so there are no balances to show")
    await api.flush_deferred_spends()
    account = vm.get_account(wallet.address)
    answer = _account_json(api, wallet.address)
    answer["deferred"] = [{"to": Address(to).to_string(api.hrp), "amount": str(amount)}
                          for to, amount, _ in api.deferred_spends]
    answer["deferredErrors"] = list(api.deferred_errors)
    answer["spawned"] = account.template is not None
    answer["publicKey"] = wallet.public_key.hex()
    return answer


async def wallet_send(api: Any, request: web.Request, body: dict[str, Any], query: dict[str, str]) -> Any:
    """Send smidge from the node wallet.

    A wallet must be spawned before it can spend, and the mempool only accepts a spend once the spawn
    is applied. So for a new wallet the node submits the self-spawn now and keeps the spend until the
    spawn is applied (it is submitted at the next layer); the answer lists both.
    """
    wallet = api.get_wallet()
    mempool = api.require("mempool", "no mempool runs in this node")
    vm = api.require("vm", "no VM runs in this node")
    destination = api.parse_address(body["to"])
    amount = to_uint(body["amount"])
    gas_price = int(body.get("gasPrice", 1))
    if amount <= 0:
        raise BadRequest("amount must be more than 0")
    from spacemesh_core.vm.mempool import MempoolRejection

    submitted: list[dict[str, Any]] = []
    try:
        if vm.get_account(wallet.address).template is None:
            if not mempool.get_pending(wallet.address):
                raw = wallet.compute_spawn(api.node.genesis_id, gas_price)
                submitted.append({"kind": "spawn", "txId": b64(mempool.add(raw).tx_id)})
                await api.on_transaction_accepted(raw)
            api.deferred_spends.append((destination, amount, gas_price))
            return {"submitted": submitted, "deferred": [{"to": body["to"], "amount": str(amount)}]}
        nonce, _ = mempool.get_projection(wallet.address)
        raw = wallet.compute_spend(api.node.genesis_id, destination, amount, nonce, gas_price)
        submitted.append({"kind": "spend", "txId": b64(mempool.add(raw).tx_id)})
        await api.on_transaction_accepted(raw)
    except MempoolRejection as exc:
        raise BadRequest(f"{exc.reason.value}: {exc}", extra={"submitted": submitted}) from None
    return {"submitted": submitted, "deferred": []}


# -------------------------------------------------------------------------------------------------
# the table
# -------------------------------------------------------------------------------------------------

TX_BODY = obj({"transaction": BASE64}, ("transaction",))
EMPTY = obj({})
STATUS_RESPONSE: JsonSchema = {"type": "object", "properties": {"status": {"type": "object"}}}


def _v2(service: str, method: str, handler: Handler, summary: str, body: JsonSchema = EMPTY,
        needs: tuple[str, ...] = (), response: JsonSchema = ANY_OBJECT) -> Route:
    return Route("POST", f"{V2}.{service}/{method}", handler, summary, PUBLIC, service, body=body, needs=needs,
                 response=response)


def _v1(service: str, method: str, handler: Handler, summary: str, body: JsonSchema = EMPTY,
        needs: tuple[str, ...] = (), response: JsonSchema = ANY_OBJECT) -> Route:
    return Route("POST", f"{V1}.{service}/{method}", handler, summary, PRIVATE, service, body=body, needs=needs,
                 response=response)


LAYER_RANGE = {"startLayer": LAYER, "endLayer": LAYER}
SMESHING_OPTS = obj(
    {
        "dataDir": string("absolute path of the PoST folder", max_length=4096),
        "numUnits": integer(1, 2**32 - 1, "space units to commit"),
        "maxFileSize": integer(16, 2**40, "largest postdata file in bytes"),
        "provider": string("initializer implementation (`spacemesh plugins list`; empty: the bundle's)",
                           pattern="^[A-Za-z0-9_.-]*$", max_length=64),
    },
    ("dataDir", "numUnits"),
)

ROUTES: tuple[Route, ...] = (
    _v2("NodeService", "Status", node_status, "Layer, epoch, peers and sync state of this node",
        response={"type": "object", "properties": {"currentLayer": {"type": "integer"}, "status": {"type": "string"},
                                                   "connectedPeers": {}}}),
    _v2("NetworkService", "Info", network_info, "Genesis id and time, layer duration, address prefix"),
    _v2("LayerService", "List", layer_list, "Layers with their status, block and state hash",
        obj({**LAYER_RANGE, **PAGE, "sortOrder": {"type": "string", "enum": ["ASC", "DESC"]}}), ("storage",)),
    _v2("BlockService", "List", block_list, "Blocks of a layer or by id (an addition to v2alpha1)",
        obj({"layer": LAYER, "id": ID_LIST}), ("storage",)),
    _v2("AccountService", "List", account_list, "Accounts: current and projected balance and counter",
        obj({"addresses": array(ADDRESS, 100), "address": array(ADDRESS, 100), **PAGE}), ("vm", "storage")),
    _v2("TransactionService", "SubmitTransaction", tx_submit, "Submit a signed transaction to the mempool",
        TX_BODY, ("mempool",), STATUS_RESPONSE),
    _v2("TransactionService", "ParseTransaction", tx_parse, "Decode a transaction; verify its signature if asked",
        obj({"transaction": BASE64, "verify": BOOL}, ("transaction",)), ("vm",)),
    _v2("TransactionService", "List", tx_list, "Transactions of an address or by id, with results and state",
        obj({"address": ADDRESS, "txid": TX_ID_LIST, "includeResult": BOOL, "includeState": BOOL, **PAGE}),
        ("vm", "storage")),
    _v2("TransactionService", "TransactionsState", tx_state, "Where transactions are: mempool, processed, unknown",
        obj({"txid": array(TX_ID_LIST["items"], 100, 1)}, ("txid",)), ("vm", "storage")),
    _v2("RewardService", "List", reward_list, "Rewards paid to a coinbase or a smesher",
        obj({"coinbase": ADDRESS, "smesher": string("node id, hex or base64", max_length=64), **LAYER_RANGE, **PAGE}),
        ("vm", "storage")),
    _v2("ActivationService", "List", activation_list, "Activations (ATXs) by epoch range, smesher or id",
        obj({"startEpoch": EPOCH, "endEpoch": EPOCH, "smesherId": ID_LIST, "id": ID_LIST, **PAGE}), ("storage",)),
    _v2("ActivationService", "ActivationsCount", activation_count, "Number of ATXs published in an epoch",
        obj({"epoch": EPOCH}, ("epoch",)), ("storage",)),
    _v2("ActivationService", "Highest", activation_highest, "The heaviest ATX of the latest epoch", EMPTY,
        ("storage",)),
    _v2("MalfeasanceService", "List", malfeasance_list, "Identities proven malicious, with their proofs",
        obj({"smesherId": ID_LIST, **PAGE}), ("storage",)),
    _v1("SmesherService", "IsSmeshing", is_smeshing, "Whether this node is smeshing", needs=("smeshing",)),
    _v1("SmesherService", "StartSmeshing", start_smeshing, "Start PoST setup, then ATX building",
        obj({"coinbase": ADDRESS, "opts": SMESHING_OPTS}, ("opts",)), response=STATUS_RESPONSE, needs=("smeshing",)),
    _v1("SmesherService", "StopSmeshing", stop_smeshing, "Stop smeshing; optionally delete the PoST data",
        obj({"deleteFiles": BOOL}), response=STATUS_RESPONSE, needs=("smeshing",)),
    _v1("SmesherService", "PostSetupStatus", post_setup_status, "PoST setup state and progress", needs=("smeshing",)),
    _v1("SmesherService", "PostConfig", post_config, "The network's PoST parameters"),
    _v1("SmesherService", "SmesherIDs", smesher_ids, "The identities this node smeshes with"),
    _v1("SmesherService", "Coinbase", get_coinbase, "Where this node's rewards go"),
    _v1("SmesherService", "SetCoinbase", set_coinbase, "Change where rewards go",
        obj({"id": obj({"address": ADDRESS}, ("address",))}, ("id",)), response=STATUS_RESPONSE),
    Route("POST", "/api/v1/smeshing/eligibilities", smesher_eligibilities, "Proposal eligibilities of this node's "
          "identities in the current epoch (layer and count), or why there are none yet", PRIVATE, "SmesherService",
          body=obj({"smesherId": string("node id, hex or base64", max_length=64)}), needs=("smeshing",)),
    _v1("AdminService", "CheckpointStream", checkpoint, "Export a checkpoint of the state",
        obj({"snapshotLayer": LAYER, "numAtxs": integer(1, 1000)}, ("snapshotLayer",)), ("checkpoint",)),
    Route("GET", "/api/v1/post/folder", post_folder, "Check a folder for PoST data: writable, free space", PRIVATE,
          "Dashboard", query={"path": string("absolute folder path", max_length=4096)}),
    Route("POST", "/api/v1/post/probe", post_probe, "Measure the label speed of this machine", PRIVATE, "Dashboard",
          body=obj({"seconds": {"type": "number", "minimum": 0.05, "maximum": 5}})),
    Route("POST", "/api/v1/smeshing/overview", smeshing_overview, "PoST progress, PoET round, ATX state, "
          "eligibilities", PRIVATE, "Dashboard", body=EMPTY),
    Route("POST", "/api/v1/wallet", wallet_get, "The node wallet: address and balances", PRIVATE, "Dashboard",
          body=EMPTY, needs=("vm",)),
    Route("POST", "/api/v1/wallet/send", wallet_send, "Send smidge from the node wallet", PRIVATE, "Dashboard",
          body=obj({"to": ADDRESS, "amount": uint64_value("amount in smidge"),
                    "gasPrice": integer(1, 2**32 - 1, "gas price")}, ("to", "amount")), needs=("vm", "mempool")),
)


def get_route_table() -> tuple[Route, ...]:
    """Return the JSON routes (the server adds the event stream, metrics, OpenAPI and dashboard routes)."""
    return ROUTES
