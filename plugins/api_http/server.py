"""The API service: a public and a private aiohttp listener over one route table.

* public listener (default ``127.0.0.1:9092``): the v2alpha1 routes, ``/openapi.json``, ``/metrics``
  and routes other plugins contribute through ``spacemesh_api_routes``;
* private listener (default ``127.0.0.1:9093``): everything public plus smeshing, PoST setup,
  wallet, the event stream and the dashboard.

Access to the private listener: a request from a non-loopback address, or any request when the
listener is bound to a non-loopback address, must carry the token of ``<data dir>/api/token``
(``Authorization: Bearer <token>`` or the ``spacemesh_token`` cookie). Tokenless loopback requests
must name a loopback host (a guard against DNS rebinding), and POST bodies must be JSON (so a web
page elsewhere cannot post a form to the node without a CORS preflight).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import json
import logging
import secrets
from pathlib import Path
from typing import Any

from aiohttp import web

from spacemesh_core.crypto.address import AddressError, parse_address
from spacemesh_core.fsutil import write_file_atomic
from spacemesh_core.kernel.services import cancel_task
from spacemesh_hooks.interfaces import SmeshingConflictError
from spacemesh_plugins.api_http.metrics import CONTENT_TYPE, NodeMetrics
from spacemesh_plugins.api_http.openapi import compute_openapi_document
from spacemesh_plugins.api_http.routes import (
    PRIVATE,
    PUBLIC,
    ApiError,
    BadRequest,
    NotFound,
    Route,
    Unavailable,
    get_route_table,
)
from spacemesh_plugins.api_http.schema import SchemaViolation, string, verify_schema
from spacemesh_plugins.api_http.wallet import NodeWallet, WalletKeyError
from spacemesh_plugins.api_http.wizard import PostWizard

log = logging.getLogger(__name__)

TOKEN_FILE = Path("api") / "token"
COINBASE_FILE = Path("api") / "coinbase"
TOKEN_COOKIE = "spacemesh_token"
STATIC_DIR = Path(__file__).parent / "static"
STATIC_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
OPENAPI_KEY: web.AppKey[dict[str, Any]] = web.AppKey("openapi", dict)
LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "[::1]", "::1"}


class ListenerError(ValueError):
    """A listener address that cannot be used (the message names the config key)."""


def parse_listener(text: str, key: str) -> tuple[str, int]:
    """Return ``(host, port)`` of ``host:port`` (``[v6]:port`` for IPv6). :raises ListenerError: when malformed."""
    host, sep, port_text = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ListenerError(f"api.{key}: expected host:port, got {text!r}")
    return host, int(port_text)


def is_loopback(host: str | None) -> bool:
    """Return whether ``host`` (an IP address or ``localhost``) is a loopback address."""
    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def load_or_create_token(data_dir: str | Path) -> str:
    """Return the private-API token of ``data_dir``, creating it (0600) on first use."""
    path = Path(data_dir) / TOKEN_FILE
    if path.exists():
        token = path.read_text().strip()
        if token:
            return token
    token = secrets.token_urlsafe(32)
    write_file_atomic(path, token.encode())  # mkstemp files are created 0600
    return token


class ApiContext:
    """What handlers see: the node, the hrp, the PoST setup, the wallet, the coinbase."""

    def __init__(self, node: Any, section: Any) -> None:
        self.node = node
        self.section = section
        self.hrp = str(node.config.network.hrp)
        self.post_wizard = PostWizard(node)
        self.metrics = NodeMetrics(node)
        self._wallet: NodeWallet | None = None
        self._coinbase: bytes | None = None
        self.streams: set[asyncio.Task[Any]] = set()
        #: spends from the node wallet waiting for its spawn to be applied: (destination, amount, gas price)
        self.deferred_spends: list[tuple[bytes, int, int]] = []
        #: why deferred spends were refused when they were finally submitted
        self.deferred_errors: list[str] = []

    # -- subsystems ----------------------------------------------------------------------------

    def require(self, attribute: str, reason: str) -> Any:
        """Return ``node.<attribute>``. :raises Unavailable: with ``reason`` when the node has none."""
        value = getattr(self.node, attribute, None)
        if value is None:
            raise Unavailable(reason)
        return value

    def require_state(self, reason: str = "no state storage is open in this node") -> Any:
        """Return the node's state store. :raises Unavailable: when there is none."""
        storage = self.node.storage
        if storage is None or getattr(storage, "state", None) is None:
            raise Unavailable(reason)
        return storage.state

    def get_smeshing(self) -> Any:
        """Return the node's smeshing control when it has one (``node.smeshing``, a
        :class:`spacemesh_hooks.interfaces.SmeshingControl`), else None."""
        return getattr(self.node, "smeshing", None)

    def parse_address(self, text: str) -> bytes:
        """Return the 24 bytes of a bech32 address of this network. :raises BadRequest: naming why not."""
        try:
            return bytes(parse_address(text, self.hrp))
        except AddressError as exc:
            raise BadRequest(f"invalid address {text!r}: {exc}") from None

    def get_wallet(self) -> NodeWallet:
        """Return the node wallet (created on first use). :raises Unavailable: when its key file is broken."""
        if self._wallet is None:
            try:
                self._wallet = NodeWallet(self.node.data_dir)
            except WalletKeyError as exc:
                raise Unavailable(f"the node wallet cannot be used: {exc}") from None
        return self._wallet

    def get_saved_coinbase(self) -> bytes | None:
        """Return the coinbase set through the API (kept in ``<data dir>/api/coinbase``), or None."""
        if self._coinbase is None:
            path = Path(self.node.data_dir) / COINBASE_FILE
            with contextlib.suppress(OSError, ValueError, AddressError):
                self._coinbase = bytes(parse_address(path.read_text().strip(), self.hrp))
        return self._coinbase

    def get_coinbase(self) -> bytes:
        """Return the coinbase: the one set through the API, else the smeshing control's (``[smeshing]
        coinbase``, else the identity's wallet — the node wallet's address), running or not."""
        saved = self.get_saved_coinbase()
        if saved is not None:
            return saved
        smeshing = self.get_smeshing()
        if smeshing is not None:
            with contextlib.suppress(SmeshingConflictError):  # no identity yet: the wallet creates it
                return bytes(smeshing.get_coinbase())
        return self.get_wallet().address

    def set_coinbase(self, address: bytes) -> None:
        """Set and remember the coinbase (and tell the smeshing control when there is one)."""
        from spacemesh_core.crypto.address import Address

        write_file_atomic(Path(self.node.data_dir) / COINBASE_FILE, Address(address).to_string(self.hrp).encode())
        self._coinbase = address
        smeshing = self.get_smeshing()
        if smeshing is not None:
            smeshing.set_coinbase(address)

    async def flush_deferred_spends(self) -> None:
        """Submit the node wallet's deferred spends once its spawn is applied."""
        vm, mempool = getattr(self.node, "vm", None), getattr(self.node, "mempool", None)
        if not self.deferred_spends or vm is None or mempool is None:
            return
        wallet = self.get_wallet()
        if vm.get_account(wallet.address).template is None:
            return
        from spacemesh_core.vm.mempool import MempoolRejection

        waiting, self.deferred_spends = self.deferred_spends, []
        for destination, amount, gas_price in waiting:
            nonce, _ = mempool.get_projection(wallet.address)
            raw = wallet.compute_spend(self.node.genesis_id, destination, amount, nonce, gas_price)
            try:
                mempool.add(raw)
            except MempoolRejection as exc:
                self.deferred_errors.append(f"{exc.reason.value}: {exc}")
                continue
            await self.on_transaction_accepted(raw)

    async def on_transaction_accepted(self, raw: bytes) -> None:
        """Hand an accepted transaction to the node's gossip when it has a publisher (``node.publish_transaction``)."""
        publish = getattr(self.node, "publish_transaction", None)
        if publish is not None:
            await publish(raw)


# -------------------------------------------------------------------------------------------------
# the routes the server itself adds: events, metrics, OpenAPI, dashboard
# -------------------------------------------------------------------------------------------------


def _event_json(registry: Any, evt: Any) -> dict[str, Any]:
    def convert(value: Any) -> Any:
        if isinstance(value, bytes):
            return value.hex()
        if isinstance(value, list | tuple):
            return [convert(v) for v in value]
        if isinstance(value, dict):
            return {str(k): convert(v) for k, v in value.items()}
        return value

    return convert(registry.compute_body(evt))


async def event_stream(api: ApiContext, request: web.Request, body: dict[str, Any], query: dict[str, str]) -> Any:
    """Server-sent events relaying bus events, filtered by ``topics`` (comma-separated; empty: all)."""
    node = api.node
    topics = [t for t in query.get("topics", "").split(",") if t]
    for topic in topics:
        if not node.events.is_registered(topic):
            raise BadRequest(f"unknown topic {topic!r}; topics are: {', '.join(node.events.get_topics())}")
    bus = api.require("bus", "the node's bus is not running")
    from spacemesh_core.bus.client import BusTimeoutError

    subscription = await bus.subscribe(topics, telemetry_hwm=int(api.section["events_queue"]))
    task = asyncio.current_task()
    if task is not None:
        api.streams.add(task)
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                                           "X-Accel-Buffering": "no"})
    try:
        await response.prepare(request)
        await response.write(b": subscribed\n\n")
        sequence = 0
        while True:
            try:
                evt = await subscription.get(timeout=15.0)
            except BusTimeoutError:
                await response.write(b": keep-alive\n\n")
                continue
            from spacemesh_core.events import get_topic

            topic = get_topic(evt)
            data = json.dumps({"topic": topic, "body": _event_json(node.events, evt)})
            sequence += 1
            await response.write(f"id: {sequence}\nevent: {topic}\ndata: {data}\n\n".encode())
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        subscription.close()
        if task is not None:
            api.streams.discard(task)
    return response


async def metrics_route(api: ApiContext, request: web.Request, body: dict[str, Any], query: dict[str, str]) -> Any:
    """Prometheus text exposition."""
    return web.Response(body=api.metrics.compute_exposition(), headers={"Content-Type": CONTENT_TYPE})


async def openapi_route(api: ApiContext, request: web.Request, body: dict[str, Any], query: dict[str, str]) -> Any:
    """The OpenAPI document."""
    return web.json_response(request.app[OPENAPI_KEY])


async def dashboard_index(api: ApiContext, request: web.Request, body: dict[str, Any], query: dict[str, str]) -> Any:
    """The dashboard page."""
    return web.Response(body=(STATIC_DIR / "index.html").read_bytes(), content_type="text/html")


async def dashboard_asset(api: ApiContext, request: web.Request, body: dict[str, Any], query: dict[str, str]) -> Any:
    """A dashboard asset (script, style), served from the package: nothing comes from the internet."""
    name = request.match_info["name"]
    path = STATIC_DIR / name
    if "/" in name or name.startswith(".") or path.suffix not in STATIC_TYPES or not path.is_file():
        raise NotFound(f"no dashboard asset {name!r}")
    return web.Response(body=path.read_bytes(), headers={"Content-Type": STATIC_TYPES[path.suffix]})


SERVER_ROUTES: tuple[Route, ...] = (
    Route("GET", "/openapi.json", openapi_route, "This OpenAPI document", PUBLIC, "Meta", kind="text"),
    Route("GET", "/metrics", metrics_route, "Prometheus metrics", PUBLIC, "Meta", kind="text"),
    Route("GET", "/api/v1/events", event_stream, "Server-sent events of the node's bus, filtered by topic", PRIVATE,
          "Events", query={"topics": string("comma-separated topics (empty: all)", max_length=4096,
                                            pattern="^[\\x21-\\x7e]*$")}, kind="stream", needs=("bus",)),
    Route("GET", "/", dashboard_index, "The dashboard", PRIVATE, "Dashboard", kind="html", needs_token=False),
    Route("GET", "/dashboard/{name}", dashboard_asset, "Dashboard scripts and styles", PRIVATE, "Dashboard",
          kind="static", needs_token=False),
)


def get_all_routes() -> tuple[Route, ...]:
    """Return every route the server mounts from its table (plugin routes come on top)."""
    return get_route_table() + SERVER_ROUTES


# -------------------------------------------------------------------------------------------------
# request handling
# -------------------------------------------------------------------------------------------------


def _error(status: int, code: str, reason: str, extra: dict[str, Any] | None = None,
           headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": code, "reason": reason, **(extra or {})}, status=status, headers=headers)


def wrap_route(api: ApiContext, route: Route) -> Any:
    """Return the aiohttp handler of ``route``: parse and validate input, call, map errors to 4xx/503."""

    async def handle(request: web.Request) -> web.StreamResponse:
        try:
            query: dict[str, str] = {}
            for key in request.query:
                values = request.query.getall(key)
                if key not in route.query:
                    raise BadRequest(f"unknown query parameter {key!r}")
                if len(values) > 1:
                    raise BadRequest(f"query parameter {key!r} given more than once")
                verify_schema(values[0], route.query[key], key)
                query[key] = values[0]
            for key in route.required_query:
                if key not in query:
                    raise BadRequest(f"query parameter {key!r} is required")
            body: dict[str, Any] = {}
            if route.body is not None:
                raw = await request.read()
                if raw.strip():
                    try:
                        body = json.loads(raw)
                    except (ValueError, UnicodeDecodeError):
                        raise BadRequest("the request body is not JSON") from None
                verify_schema(body, route.body, "body")
            result = await route.handler(api, request, body, query)
        except SchemaViolation as exc:
            return _error(400, "invalid_argument", str(exc))
        except ApiError as exc:
            return _error(exc.status, exc.code, exc.reason, exc.extra)
        if isinstance(result, web.StreamResponse):
            return result
        return web.json_response(result)

    return handle


def create_middleware(
    api: ApiContext, access: str, token: str, bound_host: str, token_free: frozenset[tuple[str, str]] = frozenset()
) -> Any:
    """Return the middleware of a listener: access control (private), content type, metrics, last-resort errors.

    :param token_free: ``(method, path)`` of the private routes served without the token (the dashboard's
        page and assets: they hold no data, and the page must load to ask for the token).
    """
    token_required_always = access == PRIVATE and not is_loopback(bound_host)

    @web.middleware
    async def middleware(request: web.Request, handler: Any) -> web.StreamResponse:
        resource = request.match_info.route.resource
        route_name = resource.canonical if resource is not None else "unmatched"
        response = await _dispatch(request, handler, route_name)
        api.metrics.requests.labels(route_name, str(response.status)).inc()
        return response

    async def _dispatch(request: web.Request, handler: Any, route_name: str) -> web.StreamResponse:
        if access == PRIVATE and (request.method, route_name) not in token_free:
            denied = check_private_access(request, token, token_required_always)
            if denied is not None:
                return denied
        if request.method == "POST" and request.can_read_body and request.content_type != "application/json":
            return _error(415, "unsupported_media_type", "send the body as application/json")
        try:
            response: web.StreamResponse = await handler(request)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            return _error(exc.status, "http_error", exc.reason or str(exc))
        except Exception:  # a bug: keep serving, say so, never leak a traceback
            log.exception("API route %s failed", route_name)
            return _error(500, "internal", "the node failed to answer this request; see its log")
        return response

    return middleware


def get_host_name(host_header: str) -> str:
    """Return the host part of a ``Host`` header (``[::1]`` keeps its brackets)."""
    if host_header.startswith("["):
        return host_header.split("]")[0] + "]"
    return host_header.rsplit(":", 1)[0] if ":" in host_header else host_header


def check_private_access(request: web.Request, token: str, token_required_always: bool) -> web.Response | None:
    """Return a 401/403 response when ``request`` may not use the private listener, else None.

    A wrong token (header or cookie) is refused wherever the request comes from, so a misconfigured
    client notices; a missing one only where a token is needed (``token_required_always``, or a
    non-loopback peer).
    """
    peer = request.remote
    needs_token = token_required_always or not is_loopback(peer)
    presented = None
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        presented = header[len("Bearer "):].strip()
    elif TOKEN_COOKIE in request.cookies:
        presented = request.cookies[TOKEN_COOKIE]
    if presented is not None and hmac.compare_digest(presented.encode(), token.encode()):
        return None
    if needs_token or presented is not None:
        reason = "the token is not valid" if presented is not None else "a bearer token is required"
        return _error(401, "unauthorized", f"{reason} (private API from {peer}); run `spacemesh api token`",
                      headers={"WWW-Authenticate": 'Bearer realm="spacemesh"'})
    if get_host_name(request.host or "") not in LOOPBACK_HOSTS:
        return _error(403, "forbidden", f"host {request.host!r} is not a loopback name; use 127.0.0.1 or a token")
    return None


class ApiService:
    """The ``api`` node service: both listeners, started and stopped with the node.

    :param node: the node (its ``config.api`` section configures the listeners).
    """

    name = "api"

    def __init__(self, node: Any) -> None:
        self.node = node
        self.section = node.config["api"]
        self.context = ApiContext(node, self.section)
        self.public_host, self.public_port = parse_listener(self.get_listener("public_listener"), "public_listener")
        self.private_host, self.private_port = parse_listener(self.get_listener("private_listener"),
                                                              "private_listener")
        self.token = ""
        self._runners: list[web.AppRunner] = []
        self._ticks: Any = None
        self._tick_task: asyncio.Task[None] | None = None
        #: the running applications by access (``public``, ``private``)
        self.apps: dict[str, web.Application] = {}
        #: the bound addresses once started: {"public": "http://h:p", "private": "http://h:p"}
        self.urls: dict[str, str] = {}

    def get_listener(self, key: str) -> str:
        """Return the ``host:port`` of listener ``key`` (port 0 binds a free port; the bound URLs
        are in ``status.json`` under ``api``)."""
        return str(self.section[key])

    def get_plugin_routes(self) -> list[Route]:
        """Return routes contributed by other plugins (``spacemesh_api_routes``) as table entries."""
        routes = []
        plugins = getattr(self.node, "plugins", None)
        if plugins is None:
            return []
        for result in plugins.pm.hook.spacemesh_api_routes(node=self.node):
            for definition in result or ():
                handler = definition.handler

                async def call(api: Any, request: web.Request, body: Any, query: Any, _h: Any = handler) -> Any:
                    return await _h(request)

                routes.append(Route(definition.method, definition.path, call,
                                    (handler.__doc__ or "contributed by a plugin").strip().splitlines()[0],
                                    PUBLIC, "Plugins", kind="text"))
        return routes

    def build_app(self, access: str, routes: list[Route], bound_host: str) -> web.Application:
        """Return the aiohttp application of one listener."""
        mounted = [r for r in routes if access == PRIVATE or r.access == PUBLIC]
        token_free = frozenset((r.method, r.path) for r in mounted if not r.needs_token)
        app = web.Application(
            client_max_size=int(self.section["max_body_bytes"]),
            middlewares=[create_middleware(self.context, access, self.token, bound_host, token_free)],
        )
        for route in mounted:
            app.router.add_route(route.method, route.path, wrap_route(self.context, route))
        app[OPENAPI_KEY] = self.get_openapi_document(routes)
        return app

    def get_openapi_document(self, routes: list[Route]) -> dict[str, Any]:
        """Return the OpenAPI document of ``routes``."""
        from spacemesh_core.cli import get_version

        document = compute_openapi_document(routes, get_version())
        document["servers"] = [{"url": url, "description": name} for name, url in self.urls.items()]
        return document

    async def start(self) -> None:
        """Create the token, bind both listeners and publish their URLs in the node status."""
        self.token = load_or_create_token(self.node.data_dir)
        routes = list(get_all_routes()) + self.get_plugin_routes()
        listeners = [(PRIVATE, self.private_host, self.private_port)]
        if self.section["public_enabled"]:
            listeners.insert(0, (PUBLIC, self.public_host, self.public_port))
        try:
            for access, host, port in listeners:
                app = self.build_app(access, routes, host)
                self.apps[access] = app
                runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
                await runner.setup()
                self._runners.append(runner)
                site = web.TCPSite(runner, host, port)
                await site.start()
                bound = runner.addresses[0]
                url_host = f"[{bound[0]}]" if ":" in bound[0] else bound[0]
                self.urls[access] = f"http://{url_host}:{bound[1]}"
        except OSError as exc:
            await self.stop()
            raise ListenerError(f"cannot listen: {exc}") from exc
        for runner in self._runners:
            runner.app[OPENAPI_KEY]["servers"] = [{"url": url, "description": name} for name, url in self.urls.items()]
        self.node.status_providers["api"] = lambda: dict(self.urls)
        saved, smeshing = self.context.get_saved_coinbase(), self.context.get_smeshing()
        if saved is not None and smeshing is not None:
            smeshing.set_coinbase(saved)  # a coinbase set through the API outlives restarts
        if self.node.bus is not None:
            from spacemesh_core.kernel_events import LayerTicked

            self._ticks = await self.node.bus.subscribe([LayerTicked])
            self._tick_task = asyncio.create_task(self._on_ticks(), name="api-ticks")
        self.node.api = self
        log.info("API listening: %s", ", ".join(f"{k} {v}" for k, v in self.urls.items()))

    async def _on_ticks(self) -> None:
        assert self._ticks is not None
        while True:
            await self._ticks.get()
            try:
                await self.context.flush_deferred_spends()
            except Exception:  # keep the loop alive; the wallet page shows deferred errors
                log.exception("submitting deferred wallet spends failed")

    async def stop(self) -> None:
        """Close the event streams and both listeners."""
        await cancel_task(self._tick_task)
        self._tick_task = None
        if self._ticks is not None:
            self._ticks.close()
            self._ticks = None
        for task in list(self.context.streams):
            task.cancel()
        while self._runners:
            await self._runners.pop().cleanup()
        self.node.status_providers.pop("api", None)
