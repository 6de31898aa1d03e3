"""HTTP JSON routes over a VM and a mempool, shaped like go-spacemesh's v2alpha1 JSON gateway.

Routes (``POST``, JSON bodies, proto3 JSON mapping: camelCase keys, uint64 as strings, bytes as
base64):

* ``/spacemesh.v2alpha1.NetworkService/Info`` → ``genesisId``, ``hrp``, ``effectiveGenesisLayer``
* ``/spacemesh.v2alpha1.AccountService/List`` ``{"address": [...]}`` → current and projected
  ``{counter, balance, layer}`` per account
* ``/spacemesh.v2alpha1.TransactionService/SubmitTransaction`` ``{"transaction": b64}``
* ``/spacemesh.v2alpha1.TransactionService/ParseTransaction`` ``{"transaction": b64, "verify": bool}``
* ``/spacemesh.v2alpha1.TransactionService/List`` ``{"address", "offset", "limit"}`` → executed
  transactions with results (state ``PROCESSED``) then pending ones (state ``MEMPOOL``)

``hrp`` in NetworkService/Info is this project's addition (the reference derives it from the
network). A node mounts these with :func:`create_vm_api_routes`; tests serve them with aiohttp.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from aiohttp import web

from spacemesh_core.crypto.address import WALLET_TEMPLATE_ADDRESS, Address, AddressError, parse_address
from spacemesh_core.types.tx import METHOD_SPAWN, METHOD_SPEND
from spacemesh_core.vm.mempool import Mempool, MempoolRejection
from spacemesh_core.vm.transaction import ParsedTransaction, TransactionError, TxHeader
from spacemesh_core.vm.vm import VM, InvalidSignatureError, TxResult, TxStatus

__all__ = ["API_PREFIX", "create_vm_api_app", "create_vm_api_routes", "encode_transaction_json"]

API_PREFIX = "/spacemesh.v2alpha1"
#: gRPC status codes used in responses.
CODE_OK = 0
CODE_INVALID_ARGUMENT = 3


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _get_tx_type(header: TxHeader, args: Any, self_spawn: bool) -> str:
    single = header.template == WALLET_TEMPLATE_ADDRESS
    kind = "SINGLE_SIG" if single else "MULTI_SIG"
    if header.method == METHOD_SPAWN:
        return f"TRANSACTION_TYPE_{kind}_{'SELFSPAWN' if self_spawn else 'SPAWN'}"
    if header.method == METHOD_SPEND:
        return f"TRANSACTION_TYPE_{kind}_SEND"
    return "TRANSACTION_TYPE_UNSPECIFIED"


def _get_contents(header: TxHeader, args: Any, hrp: str) -> dict[str, Any]:
    if header.method == METHOD_SPEND and hasattr(args, "destination"):
        return {"send": {"destination": Address(args.destination).to_string(hrp), "amount": str(args.amount)}}
    if header.method == METHOD_SPAWN and hasattr(args, "public_keys"):
        return {"multiSigSpawn": {"required": args.required, "pubkey": [key.hex() for key in args.public_keys]}}
    if header.method == METHOD_SPAWN and hasattr(args, "public_key"):
        return {"singleSigSpawn": {"pubkey": args.public_key.hex()}}
    return {}


def encode_transaction_json(
    raw: bytes, tx_id: bytes, header: TxHeader, args: Any, hrp: str, *, self_spawn: bool = False
) -> dict[str, Any]:
    """Return the v2alpha1 ``Transaction`` JSON object of a parsed transaction."""
    return {
        "id": _b64(tx_id),
        "principal": Address(header.principal).to_string(hrp),
        "template": Address(header.template).to_string(hrp),
        "method": header.method,
        "nonce": {"counter": str(header.nonce)},
        "maxGas": str(header.max_gas),
        "gasPrice": str(header.gas_price),
        "maxSpend": str(header.max_spend),
        "raw": _b64(raw),
        "type": _get_tx_type(header, args, self_spawn),
        "contents": _get_contents(header, args, hrp),
    }


def _encode_parsed(parsed: ParsedTransaction, hrp: str) -> dict[str, Any]:
    return encode_transaction_json(
        parsed.raw, parsed.tx_id, parsed.header, parsed.args, hrp, self_spawn=parsed.is_self_spawn
    )


def _encode_result(result: TxResult, hrp: str) -> dict[str, Any]:
    status = "TRANSACTION_STATUS_SUCCESS" if result.status is TxStatus.SUCCESS else "TRANSACTION_STATUS_FAILURE"
    return {
        "status": status,
        "message": result.message,
        "gasConsumed": str(result.gas_consumed),
        "fee": str(result.fee),
        "layer": result.layer,
        "touchedAddresses": [Address(address).to_string(hrp) for address in result.touched],
    }


class _BadRequest(ValueError):
    pass


async def _read_json(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise _BadRequest("the request body is not JSON") from None
    if not isinstance(body, dict):
        raise _BadRequest("the request body must be a JSON object")
    return body


def _decode_b64(value: Any, name: str) -> bytes:
    if not isinstance(value, str):
        raise _BadRequest(f"{name} must be a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise _BadRequest(f"{name} is not valid base64") from None


def create_vm_api_routes(vm: VM, mempool: Mempool, *, hrp: str = "sm") -> list[web.RouteDef]:
    """Return the v2alpha1-shaped routes serving ``vm``'s state and ``mempool``."""

    def parse_address_field(text: Any) -> bytes:
        if not isinstance(text, str):
            raise _BadRequest("addresses are bech32 strings")
        try:
            return bytes(parse_address(text, hrp))
        except AddressError as exc:
            raise _BadRequest(f"invalid address {text!r}: {exc}") from None

    def handle_errors(handler: Any) -> Any:
        async def wrapped(request: web.Request) -> web.Response:
            try:
                return web.json_response(await handler(request))
            except _BadRequest as exc:
                return web.json_response({"code": CODE_INVALID_ARGUMENT, "message": str(exc)}, status=400)

        return wrapped

    async def network_info(request: web.Request) -> dict[str, Any]:
        return {
            "genesisId": _b64(vm.genesis_id),
            "hrp": hrp,
            "effectiveGenesisLayer": vm.effective_genesis,
            "appliedLayer": vm.store.last_layer,
        }

    async def account_list(request: web.Request) -> dict[str, Any]:
        body = await _read_json(request)
        addresses = body.get("address", [])
        if not isinstance(addresses, list) or not addresses:
            raise _BadRequest("address must be a non-empty list of bech32 addresses")
        accounts = []
        for text in addresses:
            address = parse_address_field(text)
            account = vm.get_account(address)
            nonce, balance = mempool.get_projection(address)
            accounts.append(
                {
                    "v1": {
                        "accountId": Address(address).to_string(hrp),
                        "stateCurrent": {
                            "counter": str(account.next_nonce),
                            "balance": str(account.balance),
                            "layer": account.layer,
                        },
                        "stateProjected": {"counter": str(nonce), "balance": str(balance), "layer": account.layer},
                    }
                }
            )
        return {"accounts": accounts}

    async def submit(request: web.Request) -> dict[str, Any]:
        raw = _decode_b64((await _read_json(request)).get("transaction"), "transaction")
        try:
            entry = mempool.add(raw)
        except MempoolRejection as exc:
            return {"status": {"code": CODE_INVALID_ARGUMENT, "message": str(exc), "reason": exc.reason.value}}
        return {"status": {"code": CODE_OK, "message": ""}, "txId": _b64(entry.tx_id)}

    async def parse(request: web.Request) -> dict[str, Any]:
        body = await _read_json(request)
        raw = _decode_b64(body.get("transaction"), "transaction")
        try:
            parsed = vm.validate(raw) if body.get("verify") else vm.parse(raw)
        except (TransactionError, InvalidSignatureError) as exc:
            return {"status": {"code": CODE_INVALID_ARGUMENT, "message": str(exc)}}
        return {"status": {"code": CODE_OK, "message": ""}, "tx": _encode_parsed(parsed, hrp)}

    async def tx_list(request: web.Request) -> dict[str, Any]:
        body = await _read_json(request)
        address = parse_address_field(body.get("address")) if body.get("address") is not None else None
        offset = int(body.get("offset", 0) or 0)
        limit = int(body.get("limit", 100) or 100)
        if offset < 0 or not 0 < limit <= 1000:
            raise _BadRequest("offset must be >= 0 and limit in 1..1000")
        items: list[dict[str, Any]] = []
        for record in vm.store.iter_layer_records():
            for result in record.results:
                if address is not None and address not in result.touched:
                    continue
                items.append(
                    {
                        "tx": encode_transaction_json(result.raw, result.tx_id, result.header, result.args, hrp),
                        "txResult": _encode_result(result, hrp),
                        "txState": "TRANSACTION_STATE_PROCESSED",
                    }
                )
        pending = mempool.get_pending(address) if address is not None else []
        for entry in pending:
            items.append({"tx": _encode_parsed(entry.parsed, hrp), "txState": "TRANSACTION_STATE_MEMPOOL"})
        return {"transactions": items[offset : offset + limit], "total": len(items)}

    return [
        web.post(f"{API_PREFIX}.NetworkService/Info", handle_errors(network_info)),
        web.post(f"{API_PREFIX}.AccountService/List", handle_errors(account_list)),
        web.post(f"{API_PREFIX}.TransactionService/SubmitTransaction", handle_errors(submit)),
        web.post(f"{API_PREFIX}.TransactionService/ParseTransaction", handle_errors(parse)),
        web.post(f"{API_PREFIX}.TransactionService/List", handle_errors(tx_list)),
    ]


def create_vm_api_app(vm: VM, mempool: Mempool, *, hrp: str = "sm") -> web.Application:
    """Return an aiohttp application serving :func:`create_vm_api_routes`."""
    app = web.Application(client_max_size=64 * 1024)
    app.add_routes(create_vm_api_routes(vm, mempool, hrp=hrp))
    return app
