"""Smeshing driven from the API: the service manager's one-by-one start/stop, and the smeshing
control (``node.smeshing``) through the private routes of a real node with a hosted PoET."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from spacemesh_core.activation.post_setup import PostDataLock
from spacemesh_core.crypto.address import Address, compute_wallet_principal
from spacemesh_core.kernel.services import ServiceError, ServiceManager, ServiceSpec, compute_start_order
from spacemesh_hooks.interfaces import SmeshingControl
from spacemesh_plugins.devnet.supervisor import get_free_port
from spacemesh_plugins.smeshing.control import compute_post_dir, delete_post_data
from tests.support.api_node import ApiNode
from tests.support.services import RecordingService

V1 = "/spacemesh.v1."
HRP = "smdev"


def spec(name: str, log: list[str], *deps: str, after: tuple[str, ...] = ()) -> ServiceSpec:
    return ServiceSpec(name, lambda node: RecordingService(name, log), depends_on=deps, after=after,
                       stop_timeout_s=2.0)


# --- the service manager ---------------------------------------------------------------------------


def test_after_orders_without_requiring() -> None:
    log: list[str] = []
    order = compute_start_order([spec("status", log, after=("api", "db", "ghost")), spec("api", log),
                                 spec("db", log)])
    assert [s.name for s in order] == ["api", "db", "status"]  # "ghost" is not in the set: ignored
    with pytest.raises(ServiceError, match="cycle"):
        compute_start_order([spec("a", log, after=("b",)), spec("b", log, "a")])


async def test_a_service_started_alone_joins_the_running_set_and_stops_with_it() -> None:
    log: list[str] = []
    manager = ServiceManager([spec("db", log), spec("status", log, after=("db",))])
    await manager.start()
    with pytest.raises(ServiceError, match="needs ghost running first"):
        await manager.start_service(spec("smesher", log, "ghost"))
    service = await manager.start_service(spec("smesher", log, "db"))
    assert manager.get_service("smesher") is service and manager.running == ["db", "status", "smesher"]
    with pytest.raises(ServiceError, match="already running"):
        await manager.start_service(spec("smesher", log, "db"))
    with pytest.raises(ServiceError, match="smesher depend on it"):
        await manager.stop_service("db")
    assert await manager.stop_service("smesher") is True
    assert manager.get_service("smesher") is None and manager.running == ["db", "status"]
    with pytest.raises(ServiceError, match="not running"):
        await manager.stop_service("smesher")
    await manager.start_service(spec("smesher", log, "db"))
    assert await manager.stop() == []
    # the one started last stops first; "status" only ordered itself after "db"
    assert log == ["start db", "start status", "start smesher", "stop smesher", "start smesher",
                   "stop smesher", "stop status", "stop db"]
    with pytest.raises(ServiceError, match="stopping"):
        await manager.start_service(spec("late", log))


async def test_a_service_failing_to_start_alone_is_not_kept() -> None:
    log: list[str] = []
    manager = ServiceManager([spec("db", log)])
    await manager.start()
    broken = ServiceSpec("broken", lambda node: RecordingService("broken", log, fail_start=True))
    with pytest.raises(ServiceError, match="refuses to start") as caught:
        await manager.start_service(broken)
    assert isinstance(caught.value.__cause__, RuntimeError)
    assert manager.running == ["db"] and await manager.stop() == []


def test_post_directories_and_deleting_only_post_files(tmp_path: Path) -> None:
    assert compute_post_dir(tmp_path, "local", 1) == tmp_path
    assert compute_post_dir(tmp_path, "second", 2) == tmp_path / "second"
    for name in ("postdata_0.bin", "postdata_1.bin", "postdata_metadata.json", "zarr.json", "smeshing.lock",
                 "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    removed = delete_post_data(tmp_path)
    assert sorted(p.name for p in removed) == ["postdata_0.bin", "postdata_1.bin", "postdata_metadata.json",
                                               "smeshing.lock", "zarr.json"]
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


# --- the control through the private routes -----------------------------------------------------------


@pytest.fixture
def smesher_node(tmp_path: Path) -> Iterator[ApiNode]:
    """A node that does not smesh at start, with a PoET server of its own (so a builder can run)."""
    port = get_free_port()
    node = ApiNode(tmp_path / "node", flags=(
        "smeshing.start=false", "poet_server.enabled=true", f"poet_server.listen=127.0.0.1:{port}",
        "poet_server.pow_difficulty=4", f"poet.servers=http://127.0.0.1:{port}", "post.max_num_units=100000"))
    try:
        yield node
    finally:
        node.close()


def call(node: ApiNode, method: str, body: Any = None) -> tuple[int, Any]:
    path = method if method.startswith("/") else V1 + "SmesherService/" + method
    return node.call(path, body or {}, private=True)


def wait_for(what: str, predicate: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def get_post_status(node: ApiNode) -> dict[str, Any]:
    status, answer = call(node, "PostSetupStatus")
    assert status == 200, answer
    result: dict[str, Any] = answer["status"]
    return result


def is_locked(folder: Path, node_id: bytes) -> bool:
    lock = PostDataLock(folder, node_id)
    try:
        lock.acquire()
    except Exception:
        return True
    lock.release()
    return False


def test_start_stop_and_coinbase_drive_the_node_smesher(smesher_node: ApiNode, tmp_path: Path) -> None:
    node = smesher_node
    control = node.node.smeshing
    assert isinstance(control, SmeshingControl)
    node_id = node.node.identity.node_id
    assert call(node, "IsSmeshing") == (200, {"isSmeshing": False, "atxBuilder": True})
    assert get_post_status(node)["state"] == "STATE_NOT_STARTED"
    assert call(node, "SmesherIDs")[1]["hex"] == [node_id.hex()]
    folder = tmp_path / "my post"
    coinbase = Address(bytes(compute_wallet_principal(bytes(range(32))))).to_string(HRP)

    status, answer = call(node, "StartSmeshing", {"coinbase": coinbase, "opts": {"dataDir": str(folder),
                                                                               "numUnits": 2}})
    assert status == 200 and answer["atxBuilder"] is True, answer
    assert "smeshing-local" in node.node.services.running  # started through the node's service manager
    assert call(node, "IsSmeshing")[1]["isSmeshing"] is True
    wait_for("PoST setup to complete", lambda: get_post_status(node)["state"] == "STATE_COMPLETE")
    post = get_post_status(node)
    assert post["numLabelsWritten"] == post["numLabelsTotal"] == str(2 * 4096)
    assert post["opts"]["dataDir"] == str(folder) and post["opts"]["numUnits"] == 2
    assert (folder / "postdata_metadata.json").is_file()
    assert sum(p.stat().st_size for p in folder.glob("postdata_*.bin")) == 2 * 4096 * 16
    # with a PoET configured the ATX builder runs next, with the coinbase given at the start
    smesher = control.get_smeshers()[0]
    wait_for("the ATX builder", lambda: smesher.builder is not None)
    assert call(node, "IsSmeshing")[1]["isSmeshing"] is True
    assert smesher.builder.coinbase == bytes(Address.from_string(coinbase, HRP))
    assert "building ATXs" in get_post_status(node)["atxBuilder"]
    metrics = node.call("/metrics", method="GET")[1]
    assert f"spacemesh_post_setup_labels_written {2 * 4096}.0" in metrics and "spacemesh_smeshing 1.0" in metrics
    other = Address(bytes(compute_wallet_principal(bytes(32)))).to_string(HRP)
    assert call(node, "SetCoinbase", {"id": {"address": other}})[0] == 200
    assert smesher.builder.coinbase == bytes(Address.from_string(other, HRP))  # the next ATX names it
    assert call(node, "Coinbase")[1]["accountId"]["address"] == other
    status, answer = call(node, "StartSmeshing", {"opts": {"dataDir": str(tmp_path / "elsewhere"), "numUnits": 1}})
    assert status == 409 and "already smeshing" in answer["reason"]

    assert call(node, "StopSmeshing") == (200, {"status": {"code": 0}})
    assert call(node, "IsSmeshing")[1]["isSmeshing"] is False
    assert "smeshing-local" not in node.node.services.running and control.get_smeshers() == []
    assert (folder / "postdata_metadata.json").is_file() and not is_locked(folder, node_id)  # data kept, unlocked
    assert get_post_status(node)["state"] == "STATE_COMPLETE"

    # started again on the same folder: the data is checked, not remade; the coinbase set before is kept
    assert call(node, "StartSmeshing", {"opts": {"dataDir": str(folder), "numUnits": 2}})[0] == 200
    wait_for("the ATX builder again", lambda: bool(control.get_smeshers()) and
             control.get_smeshers()[0].builder is not None)
    assert control.get_smeshers()[0].builder.coinbase == bytes(Address.from_string(other, HRP))
    assert is_locked(folder, node_id)
    assert call(node, "StopSmeshing", {"deleteFiles": True})[0] == 200
    assert not list(folder.glob("postdata_*")) and not (folder / "zarr.json").exists()
    assert get_post_status(node)["state"] == "STATE_NOT_STARTED"


def test_bad_start_requests_get_a_4xx_and_change_nothing(smesher_node: ApiNode, tmp_path: Path) -> None:
    node = smesher_node
    file_path = tmp_path / "a-file"
    file_path.write_text("x")
    bad = [({"opts": {"dataDir": "relative/path", "numUnits": 1}}, "absolute"),
           ({"opts": {"dataDir": str(tmp_path), "numUnits": 100001}}, "numUnits"),
           ({"opts": {"dataDir": str(file_path / "sub"), "numUnits": 1}}, "is a file"),
           ({"opts": {"dataDir": str(tmp_path), "numUnits": 1, "provider": "no-such-initializer"}}, "provider"),
           ({"opts": {"dataDir": str(tmp_path), "numUnits": 1}, "coinbase": "sm1nope"}, "coinbase")]
    for body, word in bad:
        status, answer = call(node, "StartSmeshing", body)
        assert status == 400 and word in answer["reason"], (body, answer)
    assert call(node, "IsSmeshing")[1]["isSmeshing"] is False
    assert node.node.smeshing.get_smeshers() == []


def test_eligibilities_say_none_yet_before_the_first_proposal_layer(smesher_node: ApiNode) -> None:
    node = smesher_node
    node_id = node.node.identity.node_id
    status, answer = call(node, "/api/v1/smeshing/eligibilities")
    assert status == 200, answer
    (identity,) = answer["identities"]
    assert identity["smesherId"] == node_id.hex() and identity["eligibilities"] == [] and identity["upcoming"] == []
    first = node.node.mesh.effective_genesis + 1
    assert identity["reason"].startswith("none yet") and f"layer {first}" in identity["reason"]
    assert call(node, "/api/v1/smeshing/eligibilities", {"smesherId": node_id.hex()})[1] == answer
    status, answer = call(node, "/api/v1/smeshing/eligibilities", {"smesherId": "ab" * 32})
    assert status == 404 and "not an identity of this node" in answer["reason"]
    assert call(node, "/api/v1/smeshing/eligibilities", {"smesherId": "xyz"})[0] == 400
    overview = call(node, "/api/v1/smeshing/overview")[1]
    assert overview["eligibilities"] is None and overview["eligibilitiesReason"].startswith("none yet")


def test_stopping_the_node_stops_a_smesher_started_from_the_api(tmp_path: Path) -> None:
    before = set(threading.enumerate())
    port = get_free_port()
    node = ApiNode(tmp_path / "node", flags=(
        "smeshing.start=false", "poet_server.enabled=true", f"poet_server.listen=127.0.0.1:{port}",
        "poet_server.pow_difficulty=4", f"poet.servers=http://127.0.0.1:{port}", "post.max_num_units=100000"))
    folder = tmp_path / "post"
    try:
        # far more work than the test waits for: the node is stopped in the middle of initialization
        assert call(node, "StartSmeshing", {"opts": {"dataDir": str(folder), "numUnits": 5000}})[0] == 200
        wait_for("labels being written", lambda: int(get_post_status(node)["numLabelsWritten"]) > 0)
        assert get_post_status(node)["state"] == "STATE_IN_PROGRESS"
    finally:
        unclean = node.close()
    assert unclean == []
    assert not is_locked(folder, node.node.identity.node_id)
    wait_for("the node's threads to end", lambda: not [t for t in set(threading.enumerate()) - before
                                                         if t.is_alive()], timeout=20)


def test_a_start_or_stop_from_the_api_is_remembered_across_a_restart(tmp_path: Path) -> None:
    from spacemesh_plugins.smeshing.control import CHOICE_FILE_NAME, load_smeshing_choice

    port = get_free_port()
    flags = ("smeshing.start=false", "poet_server.enabled=true", f"poet_server.listen=127.0.0.1:{port}",
             "poet_server.pow_difficulty=4", f"poet.servers=http://127.0.0.1:{port}", "post.max_num_units=100000")
    folder = tmp_path / "chosen"
    node = ApiNode(tmp_path / "node", flags=flags)
    try:
        assert load_smeshing_choice(node.node.data_dir) is None  # nothing chosen yet: the config decides
        assert "smeshing-local" not in node.node.services.running
        assert call(node, "StartSmeshing", {"opts": {"dataDir": str(folder), "numUnits": 2}})[0] == 200
        assert load_smeshing_choice(node.node.data_dir) == (True, {"dataDir": str(folder), "numUnits": 2})
        wait_for("PoST setup to complete", lambda: get_post_status(node)["state"] == "STATE_COMPLETE")
    finally:
        assert node.close() == []

    # restarted with start=false in its config: it smeshes again, on the folder and size chosen before
    node = ApiNode(tmp_path / "node", flags=flags)
    try:
        assert "smeshing-local" in node.node.services.running
        (smesher,) = node.node.smeshing.get_smeshers()
        assert smesher.get_post_dir() == folder and smesher.num_units == 2
        wait_for("the ATX builder", lambda: smesher.builder is not None)  # the data was reused, not remade
        assert call(node, "StopSmeshing")[0] == 200
        assert load_smeshing_choice(node.node.data_dir) == (False, {"dataDir": str(folder), "numUnits": 2})
    finally:
        assert node.close() == []

    # stopped before the restart: it stays stopped even with start=true in the config
    node = ApiNode(tmp_path / "node", flags=(*flags, "smeshing.start=true"))
    try:
        assert "smeshing-local" not in node.node.services.running
        assert call(node, "IsSmeshing")[1]["isSmeshing"] is False
    finally:
        assert node.close() == []
    (tmp_path / "node" / CHOICE_FILE_NAME).write_text("{not json")
    assert load_smeshing_choice(tmp_path / "node") is None  # a broken file is ignored: the config decides


def test_the_coinbase_route_reports_the_configured_coinbase_before_smeshing_starts(tmp_path: Path) -> None:
    configured = Address(bytes(compute_wallet_principal(bytes(range(32, 64))))).to_string(HRP)
    node = ApiNode(tmp_path / "node", flags=("smeshing.start=false", f"smeshing.coinbase={configured}"))
    try:
        assert call(node, "IsSmeshing")[1]["isSmeshing"] is False
        assert call(node, "Coinbase")[1]["accountId"]["address"] == configured  # what a start will use
    finally:
        assert node.close() == []
    plain = ApiNode(tmp_path / "plain", flags=("smeshing.start=false",))
    try:  # none configured: the identity's wallet, which is the dashboard's wallet
        wallet = Address(bytes(compute_wallet_principal(plain.node.identity.node_id))).to_string(HRP)
        assert call(plain, "Coinbase")[1]["accountId"]["address"] == wallet
    finally:
        assert plain.close() == []
