"""Defects found by following the docs: dashboard access without a token, wrong tokens on loopback,
the wizard's default folder, the missing-PoET reason and what the smeshing panel's stop button says."""

from __future__ import annotations

import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from spacemesh_plugins.api_http.openapi import compute_operation
from spacemesh_plugins.api_http.routes import NO_POET_PROBLEM, get_activation_problem
from spacemesh_plugins.api_http.server import TOKEN_COOKIE, check_private_access, get_all_routes
from spacemesh_plugins.smeshing.service import SmeshingService
from tests.support.api_node import ApiNode

V1 = "/spacemesh.v1."
IS_SMESHING = V1 + "SmesherService/IsSmeshing"
#: an address of TEST-NET-1 (RFC 5737): a listener "bound" there must demand the token from everyone
OFF_LOOPBACK_HOST = "192.0.2.1"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiNode]:
    node = ApiNode(tmp_path_factory.mktemp("dashboard-node"))
    try:
        yield node
    finally:
        assert node.close() == []


@pytest.fixture
def off_loopback(api: ApiNode) -> Iterator[str]:
    """The node's private application as it runs on a non-loopback listener (every request needs the
    token), served on a loopback port so the test can reach it on any machine; yields its base URL."""

    async def start() -> web.AppRunner:
        app = api.node.api.build_app("private", list(get_all_routes()), OFF_LOOPBACK_HOST)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        return runner

    runner = api.run(start())
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        api.run(runner.cleanup())


def _mocked_request(remote: str, headers: dict[str, str]) -> Any:
    from aiohttp.test_utils import make_mocked_request

    return make_mocked_request("GET", "/x", headers={"Host": "127.0.0.1", **headers}).clone(remote=remote)


# --- 1. the dashboard page loads without the token; the API still needs it ------------------------


def test_dashboard_files_are_served_without_the_token_where_the_api_needs_it(api: ApiNode, off_loopback: str) -> None:
    status, page = api.call("/", method="GET", base=off_loopback)
    assert status == 200 and 'id="token-box"' in page and "/dashboard/app.js" in page
    for asset in ("app.js", "style.css"):
        status, text = api.call(f"/dashboard/{asset}", method="GET", base=off_loopback)
        assert status == 200 and text
    assert api.call("/dashboard/../token", method="GET", base=off_loopback)[0] in (401, 404)
    # everything with data still needs the token there
    for path, method in ((IS_SMESHING, "POST"), ("/api/v1/smeshing/overview", "POST"), ("/api/v1/events", "GET"),
                         ("/api/v1/post/folder", "GET"), ("/openapi.json", "GET"), ("/metrics", "GET")):
        status, answer = api.call(path, method=method, base=off_loopback)
        assert status == 401 and answer["error"] == "unauthorized", (path, answer)
    headers = {"Authorization": f"Bearer {api.token}"}
    assert api.call(IS_SMESHING, base=off_loopback, headers=headers)[0] == 200
    assert api.call(IS_SMESHING, base=off_loopback, headers={"Cookie": f"{TOKEN_COOKIE}={api.token}"})[0] == 200


def test_openapi_documents_the_token_free_dashboard_files() -> None:
    by_path = {r.path: r for r in get_all_routes()}
    for path in ("/", "/dashboard/{name}"):
        operation = compute_operation(by_path[path])
        assert "401" not in operation["responses"] and "security" not in operation
        assert "no token" in operation["x-access"]
    operation = compute_operation(by_path["/api/v1/smeshing/overview"])
    assert "401" in operation["responses"] and operation["security"]


# --- 2. a wrong token is refused even from loopback ------------------------------------------------


def test_wrong_token_from_loopback_is_refused_with_a_reason(api: ApiNode) -> None:
    assert api.call(IS_SMESHING, private=True)[0] == 200  # a missing token on loopback stays fine
    for headers in ({"Authorization": "Bearer wrong"}, {"Cookie": f"{TOKEN_COOKIE}=wrong"}):
        status, answer = api.call(IS_SMESHING, private=True, headers=headers)
        assert status == 401 and answer["error"] == "unauthorized", answer
        assert "not valid" in answer["reason"] and "spacemesh api token" in answer["reason"]
    assert api.call(IS_SMESHING, private=True, headers={"Authorization": f"Bearer {api.token}"})[0] == 200
    # the page itself still loads with a stale cookie, so that it can ask for the right token
    assert api.call("/", private=True, method="GET", headers={"Cookie": f"{TOKEN_COOKIE}=stale"})[0] == 200


def test_check_private_access_refuses_wrong_tokens_everywhere() -> None:
    assert check_private_access(_mocked_request("127.0.0.1", {}), "tok", False) is None
    for headers in ({"Authorization": "Bearer nope"}, {"Cookie": f"{TOKEN_COOKIE}=nope"}):
        denied = check_private_access(_mocked_request("127.0.0.1", headers), "tok", False)
        assert denied is not None and denied.status == 401
        assert denied.headers["WWW-Authenticate"].startswith("Bearer")
    assert check_private_access(_mocked_request("::1", {"Authorization": "Bearer tok"}), "tok", False) is None


# --- 3. the wizard proposes the folder the node's own smesher uses -----------------------------------


def test_wizard_default_folder_is_the_local_identity_post_directory(api: ApiNode, tmp_path: Path) -> None:
    node = api.node
    expected = SmeshingService(node, "local").get_post_dir().expanduser().resolve()  # what [smeshing] uses
    assert expected == Path(node.data_dir).resolve() / "post" / "local"
    status, info = api.call("/api/v1/post/folder", private=True, method="GET")
    assert status == 200 and Path(info["path"]) == expected
    assert node.smeshing.get_default_data_dir() == SmeshingService(node, "local").get_post_dir()
    # once the user chose another folder (start from the API), that one is proposed
    saved = dict(node.smeshing.options)
    try:
        node.smeshing.options = {"dataDir": str(tmp_path / "chosen"), "numUnits": 1}
        assert Path(api.call("/api/v1/post/folder", private=True, method="GET")[1]["path"]) == tmp_path / "chosen"
    finally:
        node.smeshing.options = saved


def test_default_data_dir_with_several_identities_is_their_common_folder(api: ApiNode,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    control = api.node.smeshing
    monkeypatch.setattr(control, "get_local_identity_names", lambda: ["local", "second"])
    root = Path(api.node.data_dir) / "post"
    assert control.get_default_data_dir() == root  # StartSmeshing puts <folder>/<identity> under it
    monkeypatch.setattr(control, "get_local_identity_names", lambda: [])
    assert control.get_default_data_dir() is None


# --- 4. no PoET server: the smeshing panel says why nothing is published -------------------------------


def test_overview_names_the_missing_poet_in_plain_words(api: ApiNode) -> None:
    assert list(api.node.config.poet.servers) == []
    status, overview = api.call("/api/v1/smeshing/overview", private=True)
    assert status == 200 and overview["activationProblem"] == NO_POET_PROBLEM
    assert NO_POET_PROBLEM.startswith("No PoET server is configured: this node cannot publish activations.")
    assert overview["isSmeshing"] is False


def test_activation_problem_is_none_with_a_poet_or_without_smeshing() -> None:
    def node(servers: list[str]) -> Any:
        return types.SimpleNamespace(config=types.SimpleNamespace(poet=types.SimpleNamespace(servers=servers)))

    assert get_activation_problem(node([]), object()) == NO_POET_PROBLEM
    assert get_activation_problem(node(["http://127.0.0.1:1"]), object()) is None
    assert get_activation_problem(node([]), None) is None

