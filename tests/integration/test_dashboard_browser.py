"""The dashboard in real headless Chromium (Debian ``chromium``) against real devnet nodes on loopback,
and the smeshing API (eligibilities, coinbase) of a devnet node that applies its own blocks.

Every node here is a real process of a one-node devnet (a PoET process and a node with the devnet
preset): alone it holds all the weight, so once its first ATX counts (epoch 2) it is eligible, runs
the hare, makes blocks and applies them, transactions included.

CI installs the browser with the apt line in the README/CI config (``apt-get install -y chromium``);
where it is absent the browser tests skip and say so. Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import base64
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from spacemesh_core.config.presets import DEVNET_FAUCET_ADDRESS
from spacemesh_core.consensus.eligibility import compute_eligibilities
from spacemesh_core.crypto.address import Address, compute_wallet_principal
from spacemesh_core.identity import get_key_path, load_identity
from spacemesh_core.post.store import read_metadata
from spacemesh_core.types.atx import ActivationTxV1
from spacemesh_core.types.ballot import Ballot
from tests.support.devnet_node import V1, V2, DevnetNodes
from tests.support.faucet import make_faucet_txs

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
HRP = "smdev"
#: short layers keep the test short; a one-node devnet still makes a block in every layer at 2 s
LAYER_S = 2.0
FIRST_BLOCK_LAYER = 12  # the devnet's first layer after the two genesis epochs (6 layers each)
FUNDS = 5 * 10**9
#: where the devnet node's rewards go (set through the API before its first ATX is built)
REWARD_ADDRESS = bytes(compute_wallet_principal(bytes(range(100, 132))))

pytestmark = pytest.mark.slow


@pytest.fixture
def browser_page() -> Iterator[Any]:
    if shutil.which(CHROMIUM) is None and not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed (apt-get install -y chromium)")
    playwright_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1400})
            yield page
        finally:
            browser.close()


@pytest.fixture(scope="module")
def smeshing_devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevnetNodes]:
    """A one-node devnet that smeshes from the start; its rewards go to :data:`REWARD_ADDRESS`."""
    net = DevnetNodes(tmp_path_factory.mktemp("devnet"), layer_duration_s=LAYER_S)
    try:
        net.start()
        # before genesis, long before the first ATX is built (after the first PoET round)
        address = Address(REWARD_ADDRESS).to_string(HRP)
        status, answer = net.call(V1 + "SmesherService/SetCoinbase", {"id": {"address": address}}, private=True)
        assert status == 200, answer
        yield net
    finally:
        assert net.stop() == []


@pytest.fixture
def wizard_devnet(tmp_path: Path) -> Iterator[DevnetNodes]:
    """A one-node devnet whose node does not smesh until the wizard starts it.

    Labels cost what they cost on mainnet (N = 8192), so a few space units take seconds to prepare and
    the progress visibly moves; few units also keep the ATX builder's first proof short (its k2pow
    grows with the units and is not interrupted by a stop, which would delay the node's exit).
    """
    net = DevnetNodes(tmp_path / "devnet", extra_flags=("smeshing.start=false", "post.scrypt_n=8192",
                                                        "post.max_num_units=100000"))
    try:
        net.start()
        yield net
    finally:
        assert net.stop() == []


def screenshot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"dashboard-{name}.png"), full_page=True)


def get_balance(net: DevnetNodes, address: bytes) -> int:
    status, answer = net.call(V2 + "AccountService/List", {"addresses": [Address(address).to_string(HRP)]})
    assert status == 200, answer
    return int(answer["accounts"][0]["current"]["balance"]) if answer["accounts"] else 0


def get_counter(net: DevnetNodes, address: bytes) -> int:
    status, answer = net.call(V2 + "AccountService/List", {"addresses": [Address(address).to_string(HRP)]})
    assert status == 200, answer
    return int(answer["accounts"][0]["current"]["counter"]) if answer["accounts"] else 0


def submit(net: DevnetNodes, raw: bytes) -> None:
    status, answer = net.call(V2 + "TransactionService/SubmitTransaction",
                              {"transaction": base64.b64encode(raw).decode()})
    assert status == 200, answer


def read_rows(data_dir: Path, query: str) -> list[tuple[Any, ...]]:
    """Read a running node's state database (read-only; WAL readers do not block it)."""
    conn = sqlite3.connect(f"file:{data_dir / 'state.sql'}?mode=ro", uri=True)
    try:
        return conn.execute(query).fetchall()
    finally:
        conn.close()


def test_wizard_starts_post_initialization_and_progress_moves(wizard_devnet: DevnetNodes, browser_page: Any,
                                                              tmp_path: Path) -> None:
    net, page = wizard_devnet, browser_page
    private = net.get_urls()["private"]
    requests_elsewhere: list[str] = []
    page.on("request", lambda r: None if r.url.startswith(private) else requests_elsewhere.append(r.url))
    assert net.call(V1 + "SmesherService/IsSmeshing", private=True)[1]["isSmeshing"] is False
    # a stale token cookie: the node refuses it even on loopback; the page asks for the token, then goes on
    page.context.add_cookies([{"name": "spacemesh_token", "value": "stale", "url": private}])
    page.goto(private + "/")
    page.wait_for_selector("#token-box:not(.hidden)", timeout=20_000)
    page.fill("#token-input", (net.get_data_dir() / "api" / "token").read_text().strip())
    page.click("#token-save")
    page.wait_for_selector("body[data-ready='yes']", timeout=20_000)
    page.fill("#wiz-folder", str(tmp_path / "my-post-data"))
    page.click("#wiz-check")
    page.wait_for_selector("#wiz-folder-info.ok", timeout=10_000)
    page.click("#wiz-estimate")
    page.wait_for_function("document.getElementById('wiz-estimate-out').textContent.includes('takes about')",
                           timeout=15_000)
    rate = float(net.call("/api/v1/post/probe", {"seconds": 0.2}, private=True)[1]["labelsPerSecond"])
    units = max(2, int(rate * 8 / 4096))  # about eight seconds of work on this machine
    page.fill("#wiz-space", str(units))
    page.dispatch_event("#wiz-space", "input")
    screenshot(page, "1-wizard")
    page.click("#wiz-start")
    page.wait_for_selector("#post-state[data-state='STATE_IN_PROGRESS']", timeout=15_000)
    # the node's own smesher runs it (started through its service manager), not a side job of the API
    assert net.call(V1 + "SmesherService/IsSmeshing", private=True)[1]["isSmeshing"] is True
    page.wait_for_function("Number(document.getElementById('post-bar').dataset.done) > 0", timeout=20_000)
    first = int(page.get_attribute("#post-bar", "data-done") or 0)
    screenshot(page, "2-progress")
    page.wait_for_function(
        f"Number(document.getElementById('post-bar').dataset.done) > {first} || "
        "document.getElementById('post-state').dataset.state === 'STATE_COMPLETE'", timeout=30_000)
    later = int(page.get_attribute("#post-bar", "data-done") or 0)
    assert later > first or page.get_attribute("#post-state", "data-state") == "STATE_COMPLETE"
    page.wait_for_selector("#post-state[data-state='STATE_COMPLETE']", timeout=90_000)
    # once the data is ready the one button stops smeshing itself, and says so
    page.wait_for_selector("#smesh-stop[data-action='stop']:not([disabled])", timeout=10_000)
    assert page.text_content("#smesh-stop") == "Stop smeshing"
    screenshot(page, "3-complete")
    assert (tmp_path / "my-post-data" / "postdata_metadata.json").is_file()
    status = net.call(V1 + "SmesherService/PostSetupStatus", private=True)[1]["status"]
    assert status["opts"]["dataDir"] == str(tmp_path / "my-post-data") and status["opts"]["numUnits"] == units
    assert requests_elsewhere == []  # offline: nothing but the node was asked for anything


def test_transaction_sent_from_the_page_is_applied(smeshing_devnet: DevnetNodes, browser_page: Any) -> None:
    net, page = smeshing_devnet, browser_page
    status, wallet = net.call("/api/v1/wallet", private=True)
    assert status == 200 and wallet["spawned"] is False, wallet
    address = bytes(Address.from_string(wallet["address"], HRP))
    destination = bytes(compute_wallet_principal(bytes(range(7, 39))))
    # the devnet faucet (a genesis account) pays the page's wallet: its spawn now, its spend once that is applied
    spawn, spend = make_faucet_txs(net.genesis_id, address, FUNDS)
    submit(net, spawn)
    page.goto(net.get_urls()["private"] + "/")
    page.wait_for_selector("body[data-ready='yes']", timeout=20_000)
    faucet = bytes(DEVNET_FAUCET_ADDRESS)
    net.wait_for("the faucet's spawn to be applied", lambda: get_counter(net, faucet) >= 1,
                 timeout=(FIRST_BLOCK_LAYER + 8) * LAYER_S + 30)
    submit(net, spend)
    page.wait_for_function(f"document.getElementById('wallet-balance').dataset.smidge === '{FUNDS}'",
                           timeout=int((8 * LAYER_S + 20) * 1000))
    page.fill("#send-to", Address(destination).to_string(HRP))
    page.fill("#send-amount", "777")
    page.click("#send-form button[type=submit]")
    page.wait_for_selector("#send-message.ok", timeout=15_000)
    screenshot(page, "4-sent")
    # a new wallet: its spawn goes first and the spend follows once the spawn is applied
    net.wait_for("the payment to be applied", lambda: get_balance(net, destination) == 777,
                 timeout=12 * LAYER_S + 30)
    status, history = net.call(V2 + "TransactionService/List", {"address": wallet["address"], "includeResult": True})
    assert status == 200 and len(history["transactions"]) == 3, history  # received, spawn, spend
    assert all(t["txState"] == "TRANSACTION_STATE_PROCESSED" for t in history["transactions"]), history
    # the page shows the applied history after the next layer tick
    page.wait_for_function("document.querySelectorAll('#history tr[data-state=done]').length >= 3",
                           timeout=int((4 * LAYER_S + 20) * 1000))
    assert page.get_attribute("#wallet-balance", "data-smidge") != str(FUNDS)  # 777 and the fees left
    # the smeshing panel says in plain words where the node will propose next
    page.wait_for_function("(document.getElementById('elig-line').dataset.layers || '') !== ''",
                           timeout=int((4 * LAYER_S + 10) * 1000))
    assert (page.text_content("#elig-line") or "").startswith("You will propose in layer")
    screenshot(page, "5-applied")


def test_eligibilities_and_coinbase_of_a_smeshing_devnet_node(smeshing_devnet: DevnetNodes) -> None:
    net = smeshing_devnet
    data_dir = net.get_data_dir()
    signer = load_identity(get_key_path(data_dir))
    node_id = signer.node_id
    assert net.call(V1 + "SmesherService/SmesherIDs", private=True)[1]["hex"] == [node_id.hex()]
    assert net.call(V1 + "SmesherService/IsSmeshing", private=True)[1]["isSmeshing"] is True
    assert net.call(V1 + "SmesherService/PostSetupStatus", private=True)[1]["status"]["state"] == "STATE_COMPLETE"
    epoch = FIRST_BLOCK_LAYER // net.plan.layers_per_epoch
    answer: dict[str, Any] = {}

    def has_eligibilities() -> bool:
        nonlocal answer
        status, answer = net.call("/api/v1/smeshing/eligibilities", {"smesherId": node_id.hex()}, private=True)
        assert status == 200, answer
        return answer["epoch"] >= epoch and bool(answer["identities"][0]["eligibilities"])

    net.wait_for("the node's eligibilities", has_eligibilities, timeout=(FIRST_BLOCK_LAYER + 6) * LAYER_S + 30)
    (identity,) = answer["identities"]
    assert identity["smesherId"] == node_id.hex() and identity["activeSetSize"] == 1 and identity["atxId"]
    route_layers = {e["layer"]: e["count"] for e in identity["eligibilities"]}
    assert identity["upcoming"] == [e for e in identity["eligibilities"] if e["layer"] >= answer["layer"]]
    first_epoch = answer["epoch"]
    # the same eligibilities, computed here from what the node published: its VRF nonce (PoST
    # metadata), and the beacon and slot count its reference ballot of the epoch declares
    ballots: list[Ballot] = []

    def has_reference_ballot() -> bool:
        ballots[:] = get_own_ballots(net, node_id, first_epoch)
        return any(b.inner.epoch_data is not None for b in ballots)

    net.wait_for("the node's reference ballot", has_reference_ballot, timeout=6 * LAYER_S + 10)
    reference = next(b for b in ballots if b.inner.epoch_data is not None)
    epoch_data = reference.inner.epoch_data
    assert epoch_data is not None
    nonce = read_metadata(data_dir / "post" / "local").nonce
    assert nonce is not None
    expected = compute_eligibilities(signer, bytes(epoch_data.beacon), first_epoch, nonce,
                                     int(epoch_data.eligibility_count), net.plan.layers_per_epoch)
    assert route_layers == {layer: len(proofs) for layer, proofs in expected.items()}
    # and the node proposed in exactly those layers, with that many proofs, as far as the epoch went
    for ballot in ballots:
        assert route_layers.get(ballot.layer) == len(ballot.eligibility_proofs), ballot.layer
    # the coinbase set through the API before the first ATX is the one its ATXs name and rewards reach
    atxs = [ActivationTxV1.from_bytes(blob) for (blob,) in
            read_rows(data_dir, f"SELECT blob FROM atxs WHERE node_id = x'{node_id.hex()}'")]
    assert atxs and all(bytes(atx.inner.coinbase) == REWARD_ADDRESS for atx in atxs)
    coinbase = Address(REWARD_ADDRESS).to_string(HRP)
    assert net.call(V1 + "SmesherService/Coinbase", private=True)[1]["accountId"]["address"] == coinbase

    def has_rewards() -> bool:
        status, rewards = net.call(V2 + "RewardService/List", {"coinbase": coinbase})
        assert status == 200, rewards
        return int(rewards["total"]) > 0

    net.wait_for("rewards at the coinbase", has_rewards, timeout=4 * LAYER_S + 20)



def get_own_ballots(net: DevnetNodes, node_id: bytes, epoch: int) -> list[Ballot]:
    """Return the ballots node ``node_id`` stored for ``epoch`` (its own proposals' ballots)."""
    first = epoch * net.plan.layers_per_epoch
    rows = read_rows(net.get_data_dir(), f"SELECT blob FROM ballots WHERE layer >= {first} AND layer < "
                                         f"{first + net.plan.layers_per_epoch} AND node_id = x'{node_id.hex()}'")
    return [Ballot.from_bytes(blob) for (blob,) in rows]
