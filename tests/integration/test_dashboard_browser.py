"""The dashboard in real headless Chromium (Debian ``chromium``) against a running node on loopback.

CI installs the browser with the apt line in the README/CI config (``apt-get install -y chromium``);
where it is absent these tests skip and say so. Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from spacemesh_core.crypto.address import Address
from tests.support.api_node import ApiNode

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = [
    pytest.mark.skipif(shutil.which(CHROMIUM) is None and not Path(CHROMIUM).exists(),
                       reason="Chromium is not installed (apt-get install -y chromium)"),
    pytest.mark.slow,
]


@pytest.fixture
def browser_page() -> Iterator[Any]:
    playwright_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1400})
            yield page
        finally:
            browser.close()


@pytest.fixture
def node(tmp_path: Path) -> Iterator[ApiNode]:
    # a slower label function than the devnet's so that initialization visibly takes a few seconds
    running = ApiNode(tmp_path / "node", with_vm=True, flags=("post.scrypt_n=128", "post.max_num_units=100000"))
    try:
        yield running
    finally:
        assert running.close() == []


def screenshot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"dashboard-{name}.png"), full_page=True)


def test_wizard_starts_post_initialization_and_progress_moves(node: ApiNode, browser_page: Any,
                                                              tmp_path: Path) -> None:
    page = browser_page
    requests_elsewhere: list[str] = []
    page.on("request", lambda r: None if r.url.startswith(node.private) else requests_elsewhere.append(r.url))
    page.goto(node.private + "/")
    page.wait_for_selector("body[data-ready='yes']", timeout=20_000)
    page.fill("#wiz-folder", str(tmp_path / "my-post-data"))
    page.click("#wiz-check")
    page.wait_for_selector("#wiz-folder-info.ok", timeout=10_000)
    page.click("#wiz-estimate")
    page.wait_for_function("document.getElementById('wiz-estimate-out').textContent.includes('takes about')",
                           timeout=15_000)
    rate = float(node.call("/api/v1/post/probe", {"seconds": 0.2}, private=True)[1]["labelsPerSecond"])
    units = max(2, int(rate * 8 / 4096))  # about eight seconds of work on this machine
    page.fill("#wiz-space", str(units))
    page.dispatch_event("#wiz-space", "input")
    screenshot(page, "1-wizard")
    page.click("#wiz-start")
    page.wait_for_selector("#post-state[data-state='STATE_IN_PROGRESS']", timeout=15_000)
    page.wait_for_function("Number(document.getElementById('post-bar').dataset.done) > 0", timeout=20_000)
    first = int(page.get_attribute("#post-bar", "data-done") or 0)
    screenshot(page, "2-progress")
    page.wait_for_function(
        f"Number(document.getElementById('post-bar').dataset.done) > {first} || "
        "document.getElementById('post-state').dataset.state === 'STATE_COMPLETE'", timeout=30_000)
    later = int(page.get_attribute("#post-bar", "data-done") or 0)
    assert later > first or page.get_attribute("#post-state", "data-state") == "STATE_COMPLETE"
    page.wait_for_selector("#post-state[data-state='STATE_COMPLETE']", timeout=90_000)
    screenshot(page, "3-complete")
    assert (tmp_path / "my-post-data" / "postdata_metadata.json").is_file()
    assert requests_elsewhere == []  # offline: nothing but the node was asked for anything


def test_transaction_sent_from_the_page_is_applied(node: ApiNode, browser_page: Any) -> None:
    page = browser_page
    wallet = node.call("/api/v1/wallet", private=True)[1]
    address = bytes(Address.from_string(wallet["address"], "smdev"))
    destination = Address(bytes(4) + bytes(range(20))).to_string("smdev")

    async def fund() -> None:
        node.node.vm.apply_genesis([(address, 5 * 10**9)])
        node.node.mempool.update_from_state()

    node.run(fund())
    page.goto(node.private + "/")
    page.wait_for_selector("body[data-ready='yes']", timeout=20_000)
    page.wait_for_function("document.getElementById('wallet-balance').dataset.smidge === '5000000000'",
                           timeout=15_000)
    page.fill("#send-to", destination)
    page.fill("#send-amount", "777")
    page.click("#send-form button[type=submit]")
    page.wait_for_selector("#send-message.ok", timeout=15_000)
    screenshot(page, "4-sent")

    def wait_for_mempool(count: int) -> None:
        deadline = time.monotonic() + 30
        while len(node.node.mempool) < count:
            assert time.monotonic() < deadline, "the transaction did not reach the mempool"
            node.call("/api/v1/wallet", private=True)  # also submits a spend deferred behind the spawn
            time.sleep(0.1)

    wait_for_mempool(1)
    node.apply_mempool_layer()  # what the node's block for the next layer will do once consensus is wired
    wait_for_mempool(1)
    node.apply_mempool_layer()
    assert node.node.vm.get_balance(bytes(Address.from_string(destination, "smdev"))) == 777
    # the page shows the applied history after the next layer tick
    page.wait_for_function("document.querySelectorAll('#history tr[data-state=done]').length >= 2", timeout=30_000)
    assert "777" not in (page.text_content("#wallet-balance") or "")
    screenshot(page, "5-applied")
