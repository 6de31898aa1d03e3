"""The node API against a real node on loopback: routes, OpenAPI, access control, events, metrics, fuzzing."""

from __future__ import annotations

import base64
import io
import json
import logging
import socket
import time
import urllib.request
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spacemesh_core.config.schema import ConfigError
from spacemesh_core.crypto.address import Address, compute_wallet_principal
from spacemesh_core.kernel_events import LayerTicked
from spacemesh_core.storage.state import AtxRecord
from spacemesh_plugins.api_http.logs import LoggingSetup, parse_module_levels
from spacemesh_plugins.api_http.routes import ROUTES
from spacemesh_plugins.api_http.schema import SchemaViolation, obj, uint64_value, verify_schema
from spacemesh_plugins.api_http.server import check_private_access, get_all_routes, is_loopback, parse_listener
from tests.support.api_node import ApiNode

V2 = "/spacemesh.v2alpha1."
V1 = "/spacemesh.v1."
OTHER_ADDRESS = Address(bytes(compute_wallet_principal(bytes(range(32))))).to_string("smdev")


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiNode]:
    node = ApiNode(tmp_path_factory.mktemp("api-node"), with_vm=True)
    try:
        yield node
    finally:
        assert node.close() == []


def get(api: ApiNode, path: str, *, private: bool = False, **kwargs: Any) -> tuple[int, Any]:
    return api.call(path, method="GET", private=private, **kwargs)


# --- the document ------------------------------------------------------------------------------


def test_openapi_document_validates_and_covers_every_mounted_route(api: ApiNode) -> None:
    from openapi_spec_validator import validate

    for access in ("public", "private"):
        status, document = get(api, "/openapi.json", private=access == "private")
        assert status == 200
        validate(document)
        mounted = {(r.method, r.resource.canonical) for r in api.node.api.apps[access].router.routes()
                   if r.method != "HEAD"}
        documented = {(m.upper(), path) for path, ops in document["paths"].items() for m in ops}
        assert mounted and mounted <= documented, mounted - documented
    assert {(r.method, r.path) for r in get_all_routes()} == documented
    # private routes are mounted only on the private listener
    public = {r.resource.canonical for r in api.node.api.apps["public"].router.routes()}
    assert all(r.path not in public for r in get_all_routes() if r.access == "private")


# --- public routes -----------------------------------------------------------------------------


def test_node_status_and_network_info(api: ApiNode) -> None:
    status, answer = api.call(V2 + "NodeService/Status")
    assert status == 200 and answer["nodeId"] == api.node.identity.node_id.hex()
    assert answer["currentLayer"] == api.node.clock.get_current_layer() or answer["currentLayer"] >= 0
    assert answer["connectedPeers"] == "0"
    assert base64.b64decode(answer["genesisId"]) == api.node.genesis_id
    status, info = api.call(V2 + "NetworkService/Info")
    assert status == 200 and info["hrp"] == "smdev" and info["layersPerEpoch"] == 6


def test_stored_chain_data_is_served(api: ApiNode) -> None:
    state = api.node.storage.state
    node_id = bytes([7]) * 32
    atx = AtxRecord(id=bytes([9]) * 32, publish_epoch=0, node_id=node_id, num_units=3, tick_count=5, weight=15,
                    received=1.0, blob=b"atx")
    state.add_atx(atx)
    state.add_block(bytes([1]) * 32, 0, b"block")
    state.add_malfeasance_proof(node_id, b"proof", 2.0)
    status, answer = api.call(V2 + "ActivationService/List", {"startEpoch": 0, "endEpoch": 0})
    assert status == 200 and answer["activations"][0]["id"] == base64.b64encode(atx.id).decode()
    assert api.call(V2 + "ActivationService/ActivationsCount", {"epoch": 0}) == (200, {"count": 1})
    assert api.call(V2 + "ActivationService/Highest")[1]["activation"]["numUnits"] == 3
    status, answer = api.call(V2 + "ActivationService/List", {"smesherId": [bytes(32).hex()]})
    assert status == 200 and answer["activations"] == []
    status, answer = api.call(V2 + "BlockService/List", {"layer": 0})
    assert status == 200 and answer["blocks"][0]["raw"] == base64.b64encode(b"block").decode()
    status, answer = api.call(V2 + "MalfeasanceService/List")
    assert status == 200 and answer["proofs"] == [{"smesher": base64.b64encode(node_id).decode(),
                                                  "proof": base64.b64encode(b"proof").decode()}]
    status, answer = api.call(V2 + "LayerService/List", {"startLayer": 0, "endLayer": 0})
    assert status == 200 and answer["layers"][0]["blockIds"] == [base64.b64encode(bytes([1]) * 32).decode()]


def test_missing_subsystems_answer_503_with_a_reason(tmp_path: Path) -> None:
    node = ApiNode(tmp_path)
    saved = node.node.vm, node.node.mempool
    node.node.vm = node.node.mempool = None  # as in a node whose bundle runs no mesh service
    try:
        status, answer = node.call(V2 + "TransactionService/SubmitTransaction", {"transaction": "AAAA"})
        assert status == 503 and answer == {"error": "unavailable", "reason": "no mempool runs in this node"}
        status, answer = node.call(V1 + "AdminService/CheckpointStream", {"snapshotLayer": 1}, private=True)
        assert status == 503 and "checkpoint" in answer["reason"]
        status, answer = node.call("/api/v1/wallet", private=True)
        assert status == 503 and "VM" in answer["reason"]
    finally:
        node.node.vm, node.node.mempool = saved
        assert node.close() == []


# --- transactions and the node wallet --------------------------------------------------------


def test_wallet_send_reaches_the_mempool_and_is_applied(api: ApiNode) -> None:
    status, wallet = api.call("/api/v1/wallet", private=True)
    assert status == 200 and wallet["spawned"] is False
    address = bytes(Address.from_string(wallet["address"], "smdev"))

    async def fund() -> None:
        api.node.vm.apply_genesis([(address, 10**9)])
        api.node.mempool.update_from_state()

    api.run(fund())
    status, sent = api.call("/api/v1/wallet/send", {"to": OTHER_ADDRESS, "amount": "1234"}, private=True)
    assert status == 200, sent
    # a new wallet: the spawn goes to the mempool now, the spend waits until the spawn is applied
    assert [s["kind"] for s in sent["submitted"]] == ["spawn"] and sent["deferred"][0]["amount"] == "1234"
    ids = [s["txId"] for s in sent["submitted"]]
    status, states = api.call(V2 + "TransactionService/TransactionsState", {"txid": ids})
    assert [s["state"] for s in states["transactionsState"]] == ["TRANSACTION_STATE_MEMPOOL"]
    coinbase = api.call(V1 + "SmesherService/Coinbase", private=True)[1]["accountId"]["address"]
    assert coinbase == wallet["address"]  # the node wallet is the default coinbase
    from spacemesh_core.vm.vm import CoinbaseReward

    assert len(api.apply_mempool_layer().executed) == 1
    status, wallet = api.call("/api/v1/wallet", private=True)  # reading the wallet submits the deferred spend
    assert wallet["spawned"] is True and wallet["deferred"] == [] and wallet["deferredErrors"] == []
    result = api.apply_mempool_layer([CoinbaseReward(address, Fraction(1))])
    assert len(result.executed) == 1
    status, sent = api.call("/api/v1/wallet/send", {"to": OTHER_ADDRESS, "amount": 6}, private=True)
    assert [s["kind"] for s in sent["submitted"]] == ["spend"] and sent["deferred"] == []
    assert len(api.apply_mempool_layer().executed) == 1
    status, answer = api.call(V2 + "AccountService/List", {"addresses": [OTHER_ADDRESS]})
    assert answer["accounts"][0]["current"]["balance"] == "1240"
    status, history = api.call(V2 + "TransactionService/List", {"address": wallet["address"]})
    assert [t["txState"] for t in history["transactions"]] == ["TRANSACTION_STATE_PROCESSED"] * 3
    status, rewards = api.call(V2 + "RewardService/List", {"coinbase": wallet["address"]})
    assert status == 200 and rewards["total"] == 1 and int(rewards["rewards"][0]["total"]) > 0
    # the wallet CLI's client reads the same routes
    from spacemesh_plugins.wallet_cli.node_client import NodeClient

    client = NodeClient(api.public)
    assert client.get_account(OTHER_ADDRESS)["stateCurrent"]["balance"] == "1240"
    assert client.get_genesis_id() == api.node.genesis_id


def test_rejected_transactions_get_400_with_the_reason(api: ApiNode) -> None:
    status, answer = api.call(V2 + "TransactionService/SubmitTransaction", {"transaction": "AAAA"})
    assert status == 400 and answer["error"] == "invalid_argument" and answer["reason"]
    status, answer = api.call(V2 + "TransactionService/SubmitTransaction", {"transaction": "not base64!"})
    assert status == 400 and "transaction" in answer["reason"]
    status, answer = api.call(V2 + "TransactionService/ParseTransaction", {"transaction": "AAAA"})
    assert status == 400 and "does not parse" in answer["reason"]
    status, answer = api.call("/api/v1/wallet/send", {"to": "sm1qqqq", "amount": "1"}, private=True)
    assert status == 400 and "to" in answer["reason"]


# --- PoST setup through the private routes --------------------------------------------------


def test_post_setup_runs_and_reports_progress(api: ApiNode, tmp_path: Path) -> None:
    folder = tmp_path / "post"
    status, info = get(api, f"/api/v1/post/folder?path={folder}", private=True)
    assert status == 200 and info["writable"] and info["freeBytes"] > 0 and info["exists"] is False
    status, probe = api.call("/api/v1/post/probe", {"seconds": 0.05}, private=True)
    assert status == 200 and probe["labelsPerSecond"] > 0
    bad = [({"opts": {"dataDir": "relative/path", "numUnits": 1}}, "absolute"),
           ({"opts": {"dataDir": str(folder), "numUnits": 0}}, "numUnits"),
           ({"opts": {"dataDir": str(folder)}}, "numUnits"),
           ({"opts": {"dataDir": str(folder), "numUnits": 1}, "coinbase": "x"}, "coinbase")]
    for body, word in bad:
        status, answer = api.call(V1 + "SmesherService/StartSmeshing", body, private=True)
        assert status == 400 and word in answer["reason"], answer
    status, answer = api.call(V1 + "SmesherService/StartSmeshing", {"opts": {"dataDir": str(folder), "numUnits": 2}},
                              private=True)
    assert status == 200, answer
    deadline = time.monotonic() + 60
    while True:
        post = api.call(V1 + "SmesherService/PostSetupStatus", private=True)[1]["status"]
        if post["state"] == "STATE_COMPLETE" or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert post["state"] == "STATE_COMPLETE" and post["numLabelsWritten"] == str(2 * 4096)
    assert (folder / "postdata_metadata.json").is_file()
    assert sum(p.stat().st_size for p in folder.glob("postdata_*.bin")) == 2 * 4096 * 16
    overview = api.call("/api/v1/smeshing/overview", private=True)[1]
    assert overview["postSetup"]["state"] == "STATE_COMPLETE" and overview["eligibilities"] is None
    assert overview["eligibilitiesReason"] and overview["poet"]["openRound"] >= 0


def test_a_node_without_the_smeshing_plugin_says_so_instead_of_smeshing(tmp_path: Path) -> None:
    node = ApiNode(tmp_path, disabled=("smeshing",))
    try:
        assert node.node.smeshing is None
        for method, body in (("IsSmeshing", {}), ("PostSetupStatus", {}), ("StopSmeshing", {}),
                             ("StartSmeshing", {"opts": {"dataDir": str(tmp_path / "post"), "numUnits": 2}})):
            status, answer = node.call(V1 + "SmesherService/" + method, body, private=True)
            assert status == 503 and "no smeshing plugin" in answer["reason"], (method, answer)
        assert not (tmp_path / "post").exists()  # nothing was prepared
        overview = node.call("/api/v1/smeshing/overview", private=True)[1]
        assert overview["postSetup"] is None and overview["isSmeshing"] is False and overview["atxBuilder"] is False
        # the wizard's helpers still work: they only look at folders and this machine's speed
        status, info = get(node, "/api/v1/post/folder", private=True)
        assert status == 200 and info["path"] == str((tmp_path / "post").resolve())
    finally:
        assert node.close() == []


# --- access control ----------------------------------------------------------------------------


def test_private_routes_are_not_served_on_the_public_listener(api: ApiNode) -> None:
    status, answer = api.call(V1 + "SmesherService/PostSetupStatus")
    assert status == 404 and answer["reason"]
    assert get(api, "/api/v1/events")[0] == 404


def test_loopback_needs_no_token_but_a_loopback_host_name(api: ApiNode) -> None:
    assert api.call(V1 + "SmesherService/IsSmeshing", private=True)[0] == 200
    status, answer = api.call(V1 + "SmesherService/IsSmeshing", private=True, headers={"Host": "evil.example"})
    assert status == 403 and "loopback" in answer["reason"]
    status, _ = api.call(V1 + "SmesherService/IsSmeshing", private=True,
                         headers={"Host": "evil.example", "Authorization": f"Bearer {api.token}"})
    assert status == 200


def test_forged_remote_address_needs_the_token() -> None:
    from aiohttp.test_utils import make_mocked_request

    def request(remote: str, headers: dict[str, str]) -> Any:
        req = make_mocked_request("POST", "/x", headers={"Host": "127.0.0.1", **headers})
        return req.clone(remote=remote)

    assert check_private_access(request("127.0.0.1", {}), "tok", False) is None
    denied = check_private_access(request("192.0.2.7", {}), "tok", False)
    assert denied is not None and denied.status == 401
    assert check_private_access(request("192.0.2.7", {"Authorization": "Bearer nope"}), "tok", False).status == 401
    assert check_private_access(request("192.0.2.7", {"Authorization": "Bearer tok"}), "tok", False) is None
    assert check_private_access(request("192.0.2.7", {"Cookie": "spacemesh_token=tok"}), "tok", False) is None
    # bound off loopback: even loopback callers need the token
    assert check_private_access(request("127.0.0.1", {}), "tok", True).status == 401


def _get_non_loopback_ip() -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(("192.0.2.1", 9))  # no packet is sent; this picks the outgoing interface
            address = sock.getsockname()[0]
        except OSError:
            return None
    return None if is_loopback(address) or address == "0.0.0.0" else address


def test_private_listener_on_a_non_loopback_address_requires_the_token(tmp_path: Path) -> None:
    address = _get_non_loopback_ip()
    if address is None:
        pytest.skip("this machine has no non-loopback IPv4 address to bind the private listener to")
    node = ApiNode(tmp_path, flags=(f"api.private_listener={address}:0",))
    try:
        path = V1 + "SmesherService/IsSmeshing"
        status, answer = node.call(path, private=True)
        assert status == 401 and answer["error"] == "unauthorized" and "token" in answer["reason"]
        assert node.call(path, private=True, headers={"Authorization": "Bearer wrong"})[0] == 401
        assert node.call(path, private=True, headers={"Authorization": f"Bearer {node.token}"})[0] == 200
        assert node.call("/", private=True, method="GET")[0] == 200  # the page (no data) asks for the token
        assert node.call("/api/v1/post/folder", private=True, method="GET")[0] == 401
        assert (tmp_path / "api" / "token").read_text() == node.token
        assert (tmp_path / "api" / "token").stat().st_mode & 0o077 == 0
    finally:
        assert node.close() == []


# --- events, metrics, logs -------------------------------------------------------------------


def test_event_stream_relays_bus_events_by_topic(api: ApiNode) -> None:
    assert get(api, "/api/v1/events?topics=no.such_topic", private=True)[0] == 400
    request = urllib.request.Request(api.private + "/api/v1/events?topics=clock.layer_ticked")
    with urllib.request.urlopen(request, timeout=20) as stream:
        assert stream.headers["Content-Type"].startswith("text/event-stream")
        assert stream.readline() == b": subscribed\n"  # the subscription is confirmed: no event is missed now
        api.run(api.node.bus.publish(LayerTicked(layer=12345, epoch=2057)))
        lines: list[bytes] = []
        while not lines or lines[-1] != b"\n" or not any(b"12345" in line for line in lines):
            line = stream.readline()
            if line.startswith(b":"):
                continue
            lines.append(line)
    text = b"".join(lines).decode()
    assert "event: clock.layer_ticked" in text
    data = json.loads(next(line for line in text.splitlines() if line.startswith("data: "))[6:])
    if data["body"]["layer"] != 12345:  # a real tick may come first; the published one follows
        data = json.loads([line for line in text.splitlines() if line.startswith("data: ")][-1][6:])
    assert data == {"topic": "clock.layer_ticked", "body": {"layer": 12345, "epoch": 2057}}


def test_metrics_endpoint_has_node_gauges(api: ApiNode) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    api.call(V2 + "NodeService/Status")
    status, text = get(api, "/metrics")
    assert status == 200
    names = {family.name for family in text_string_to_metric_families(text)}
    assert {"spacemesh_layer_current", "spacemesh_peers_connected", "spacemesh_bus_dropped",
            "spacemesh_loop_lag_max_seconds", "spacemesh_api_requests", "spacemesh_vm_layer_applied"} <= names


def test_logging_json_format_and_module_levels() -> None:
    stream = io.StringIO()
    setup = LoggingSetup({"format": "json", "level": "warning", "modules": ["spacemesh_test.chatty=debug"],
                          "file": ""}, stream=stream)
    setup.apply()
    try:
        logging.getLogger("spacemesh_test.chatty").debug("hello %s", "there", extra={"layer": 7})
        logging.getLogger("spacemesh_test.quiet").info("not shown")
        logging.getLogger("spacemesh_test.quiet").warning("shown")
    finally:
        setup.remove()
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(line["module"], line["level"], line["msg"]) for line in lines] == [
        ("spacemesh_test.chatty", "debug", "hello there"), ("spacemesh_test.quiet", "warning", "shown")]
    assert lines[0]["layer"] == 7
    assert logging.getLogger("spacemesh_test.chatty").level == logging.NOTSET  # restored
    with pytest.raises(ConfigError, match="modules"):
        parse_module_levels(["no-equals-sign"])
    with pytest.raises(ConfigError, match="unknown log level"):
        LoggingSetup({"format": "json", "level": "loud", "modules": [], "file": ""})
    with pytest.raises(ConfigError, match="format"):
        LoggingSetup({"format": "xml", "level": "info", "modules": [], "file": ""})


# --- input validation ----------------------------------------------------------------------------


def test_schema_validator_names_the_field() -> None:
    schema = obj({"n": {"type": "integer", "minimum": 1}, "amount": uint64_value("smidge")}, ("n",))
    verify_schema({"n": 1, "amount": "18446744073709551615"}, schema)
    for bad, word in [({}, "body.n is required"), ({"n": True}, "integer"), ({"n": 0}, ">= 1"),
                      ({"n": 1, "x": 1}, "unknown field 'x'"), ({"n": 1, "amount": "-1"}, "smidge"), ([], "object")]:
        with pytest.raises(SchemaViolation, match=word):
            verify_schema(bad, schema)
    assert parse_listener("[::1]:9093", "k") == ("::1", 9093)
    with pytest.raises(ValueError, match="api.k"):
        parse_listener("nohost", "k")


def test_malformed_bodies_get_a_clear_4xx(api: ApiNode) -> None:
    path = V2 + "LayerService/List"
    not_json = {"error": "invalid_argument", "reason": "the request body is not JSON"}
    assert api.call(path, raw=b"{not json")[1] == not_json
    assert api.call(path, raw=b"[1, 2]")[1]["reason"] == "body must be a JSON object, got an array"
    status, answer = api.call(path, raw=b'{"limit": 1}', headers={"Content-Type": "text/plain"})
    assert status == 415 and answer["reason"]
    status, answer = api.call(path, raw=b"x" * (300 * 1024))
    assert status == 413 and answer["reason"]
    assert api.call(path, {"limit": 5000})[0] == 400
    status, answer = get(api, "/api/v1/post/folder?path=/tmp&path=/", private=True)
    assert status == 400 and "more than once" in answer["reason"]
    assert get(api, "/dashboard/..%2Fserver.py", private=True)[0] == 404


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.floats(allow_nan=False)
    | st.text(max_size=80),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)
FIELD_NAMES = sorted({name for route in ROUTES if route.body for name in route.body.get("properties", {})})
BODIES = st.one_of(
    JSON_VALUES,
    st.dictionaries(st.sampled_from(FIELD_NAMES), JSON_VALUES, max_size=5),
    st.fixed_dictionaries({"opts": st.dictionaries(st.sampled_from(["dataDir", "numUnits", "maxFileSize"]),
                                                   JSON_VALUES, max_size=3)}),
)
# routes whose valid inputs start long work are fuzzed only with invalid inputs
LONG_WORK = {V1 + "SmesherService/StartSmeshing", "/api/v1/post/probe"}


@settings(max_examples=250, deadline=None, suppress_health_check=list(HealthCheck))
@given(route_index=st.integers(min_value=0, max_value=len(ROUTES) - 1), body=BODIES,
       raw=st.one_of(st.none(), st.binary(max_size=64)), query=st.dictionaries(st.text(max_size=6),
                                                                                 st.text(max_size=20), max_size=2))
def test_fuzzed_requests_never_get_a_500(api: ApiNode, route_index: int, body: Any, raw: bytes | None,
                                         query: dict[str, str]) -> None:
    import urllib.parse

    route = ROUTES[route_index]
    if route.path in LONG_WORK and isinstance(body, dict) and ("opts" in body or "seconds" in body):
        body = {**body, "unknown": 1}
    suffix = "?" + urllib.parse.urlencode(query) if query else ""
    private = route.access == "private"
    if route.method == "GET":
        status, answer = api.call(route.path + suffix, private=private, method="GET")
    elif raw is not None:
        status, answer = api.call(route.path + suffix, private=private, raw=raw)
    else:
        status, answer = api.call(route.path + suffix, body, private=private)
    assert status < 500 or status == 503, (route.path, body, raw, status, answer)
    if status >= 400:
        assert isinstance(answer, dict) and answer["reason"] and answer["error"], answer


def test_api_cli_prints_the_token_and_routes(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from spacemesh_core.cli import cli

    runner = CliRunner()
    result = runner.invoke(cli, ["api", "token", "--set", f"node.data_dir={tmp_path}", "--json"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    assert printed["token"] == (tmp_path / "api" / "token").read_text()
    again = runner.invoke(cli, ["api", "token", "--set", f"node.data_dir={tmp_path}"])
    assert again.output.strip() == printed["token"]
    routes = runner.invoke(cli, ["api", "routes"])
    assert routes.exit_code == 0 and "/spacemesh.v2alpha1.NodeService/Status" in routes.output
