"""``spacemesh wallet``: encrypted keys, addresses, offline signing, multisig workflow, and the node
commands against a real VM + mempool served over HTTP (spacemesh_core.vm.api) by aiohttp."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web
from click.testing import CliRunner, Result

from spacemesh_core.cli import cli
from spacemesh_core.crypto.address import compute_wallet_principal, parse_address
from spacemesh_core.genesis import MAINNET_GENESIS_ID
from spacemesh_core.testing.vectors import load_vectors
from spacemesh_core.vm.api import create_vm_api_app
from spacemesh_core.vm.mempool import Mempool
from spacemesh_core.vm.template import load_template_registry
from spacemesh_core.vm.vm import VM, TxStatus

GENESIS_ID = b"\x5a" * 20


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    passphrase = tmp_path / "pass.txt"
    passphrase.write_text("correct horse\n")
    return {"dir": str(tmp_path / "keys"), "pass": str(passphrase), "tmp": str(tmp_path)}


def run(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, ["wallet", *args], input=input, catch_exceptions=False)


def new_key(env: dict[str, str], name: str) -> dict:
    result = run("new", name, "--wallet-dir", env["dir"], "--passphrase-file", env["pass"], "--kdf", "min", "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_new_key_is_encrypted_and_needs_the_passphrase(env: dict[str, str]) -> None:
    created = new_key(env, "alice")
    path = Path(env["dir"]) / "alice.json"
    document = json.loads(path.read_text())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert document["kdf"]["name"] == "argon2id" and document["cipher"]["name"] == "xsalsa20poly1305"
    assert compute_wallet_principal(bytes.fromhex(created["public_key"])).to_string() == created["address"]
    wrong = Path(env["tmp"]) / "wrong.txt"
    wrong.write_text("nope")
    result = run("sign", "alice", "--wallet-dir", env["dir"], "--passphrase-file", str(wrong), "--spawn",
                 "--nonce", "0")
    assert result.exit_code == 1 and "wrong passphrase" in result.output
    again = run("new", "alice", "--wallet-dir", env["dir"], "--passphrase-file", env["pass"], "--kdf", "min")
    assert again.exit_code == 1 and "already exists" in again.output
    listed = json.loads(run("list", "--wallet-dir", env["dir"], "--json").output)
    assert [row["name"] for row in listed] == ["alice"]


def test_import_seed_and_private_key(env: dict[str, str]) -> None:
    seed = bytes(range(32))
    result = run("import", "bob", "--wallet-dir", env["dir"], "--passphrase-file", env["pass"], "--kdf", "min",
                 "--json", input=seed.hex() + "\n")
    assert result.exit_code == 0, result.output
    imported = json.loads(result.output)
    from spacemesh_plugins.wallet_cli.keystore import compute_public_key

    assert imported["public_key"] == compute_public_key(seed).hex()
    private = seed + compute_public_key(seed)
    result = run("import", "bob2", "--wallet-dir", env["dir"], "--passphrase-file", env["pass"], "--kdf", "min",
                 "--json", input=private.hex() + "\n")
    assert json.loads(result.output)["address"] == imported["address"]
    bad = run("import", "bob3", "--wallet-dir", env["dir"], "--passphrase-file", env["pass"], input="abcd\n")
    assert bad.exit_code == 1 and "32-byte seed" in bad.output


def test_address_of_public_keys_matches_vectors() -> None:
    cases = load_vectors("scale_and_tx")["cases"]
    wallet = next(c for c in cases if c["kind"] == "principal_derivation" and "public_key_hex" in c)
    result = run("address", "--public-key", wallet["public_key_hex"], "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["address"] == wallet["address"]
    plain = run("address", "--public-key", wallet["public_key_hex"])
    assert plain.output.strip() == wallet["address"]
    testnet = json.loads(run("address", "--public-key", wallet["public_key_hex"], "--hrp", "stest", "--json").output)
    assert testnet["address"].startswith("stest1")
    assert bytes(parse_address(testnet["address"], "stest")).hex() == wallet["address_hex"]
    vesting = next(c for c in cases if c["kind"] == "principal_derivation" and "vesting" in c)["vesting"]
    result = run("address", "--template", "vesting", "--required", "1", "--public-key",
                 vesting["public_keys_hex"][0], "--json")
    assert json.loads(result.output)["address"] == vesting["address"]
    assert run("address", "--public-key", "zz").exit_code == 2


@pytest.mark.parametrize(
    "case", [c for c in load_vectors("scale_and_tx")["cases"] if c["kind"] == "address_parse"],
    ids=lambda c: c["input"],
)
def test_sign_checks_the_destination_address(env: dict[str, str], case: dict) -> None:
    new_key(env, "carol")
    result = run("sign", "carol", "--wallet-dir", env["dir"], "--passphrase-file", env["pass"], "--to",
                 case["input"], "--amount", "5", "--nonce", "1", "--hrp", case["hrp"], "--json")
    if case["expected_error"] is None:
        assert result.exit_code == 0, result.output
        raw = bytes.fromhex(json.loads(result.output)["raw_hex"])
        assert bytes.fromhex(case["address_hex"]) in raw
    else:
        assert result.exit_code == 2 and case["expected_error"] in result.output


def test_offline_signature_verifies_in_the_vm(env: dict[str, str]) -> None:
    created = new_key(env, "dave")
    result = run("sign", "dave", "--wallet-dir", env["dir"], "--passphrase-file", env["pass"], "--spawn",
                 "--nonce", "0", "--json")
    raw = bytes.fromhex(json.loads(result.output)["raw_hex"])
    vm = VM(load_template_registry(), genesis_id=MAINNET_GENESIS_ID, effective_genesis=1)
    parsed = vm.validate(raw)
    assert parsed.is_self_spawn and parsed.header.principal == bytes(parse_address(created["address"]))


# --- against a node API -----------------------------------------------------------------------


class Node:
    """A VM and a mempool behind the v2alpha1-shaped HTTP routes, in a background thread."""

    def __init__(self) -> None:
        self.vm = VM(load_template_registry(), genesis_id=GENESIS_ID, effective_genesis=1)
        self.mempool = Mempool(self.vm)
        self.layer = 0
        self._loop = asyncio.new_event_loop()
        self._runner = web.AppRunner(create_vm_api_app(self.vm, self.mempool, hrp="smdev"))
        started = threading.Event()

        def serve() -> None:
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            self._loop.run_until_complete(site.start())
            started.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=serve, daemon=True)
        self._thread.start()
        assert started.wait(10)
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"

    def apply_pending(self) -> list[TxStatus]:
        """Apply the mempool's block candidates as the next layer (what a node's block would do)."""
        self.layer += 1
        candidates = self.mempool.get_block_candidates()
        result = self.vm.apply_layer(self.layer, candidates)
        self.mempool.update_from_state()
        return [executed.status for executed in result.executed]

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.run_until_complete(self._runner.cleanup())
        self._loop.close()


@pytest.fixture
def node() -> Iterator[Node]:
    server = Node()
    try:
        yield server
    finally:
        server.close()


def test_send_balance_history_through_the_node(env: dict[str, str], node: Node) -> None:
    alice = new_key(env, "alice")
    bob = new_key(env, "bob")
    alice_address = parse_address(alice["address"])  # mainnet form; the node speaks smdev
    node.vm.apply_genesis([(bytes(alice_address), 10**9)])
    common = ["--wallet-dir", env["dir"], "--node", node.url]
    result = run("send", "alice", "--spawn", "--passphrase-file", env["pass"], *common, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["nonce"] == 0
    assert node.apply_pending() == [TxStatus.SUCCESS]
    bob_dev = json.loads(run("address", "bob", "--wallet-dir", env["dir"], "--hrp", "smdev", "--json").output)
    result = run("send", "alice", "--to", bob_dev["address"], "--amount", "1234", "--gas-price", "2",
                 "--passphrase-file", env["pass"], *common, "--json")
    assert result.exit_code == 0, result.output
    pending = json.loads(run("history", "alice", *common, "--json").output)
    states = [row["state"] for row in pending["transactions"]]
    assert states == ["TRANSACTION_STATE_PROCESSED", "TRANSACTION_STATE_MEMPOOL"]
    balance = json.loads(run("balance", "alice", *common, "--json").output)
    assert balance["projected_nonce"] == 2 and balance["nonce"] == 1
    assert node.apply_pending() == [TxStatus.SUCCESS]
    assert json.loads(run("balance", bob_dev["address"], *common, "--json").output)["balance"] == 1234
    history = json.loads(run("history", "bob", *common, "--json").output)
    (row,) = history["transactions"]
    assert row["status"] == "TRANSACTION_STATUS_SUCCESS" and row["contents"]["send"]["amount"] == "1234"
    text = run("balance", "alice", *common)
    assert text.exit_code == 0 and "smidge" in text.output
    # the node refuses a replayed nonce, and the CLI says why in one line
    replay = run("send", "alice", "--to", bob_dev["address"], "--amount", "1", "--nonce", "0",
                 "--passphrase-file", env["pass"], *common)
    assert replay.exit_code == 1 and "nonce_too_low" in replay.output
    assert bob["address"] != alice["address"]


def test_unreachable_node_is_one_clear_error(env: dict[str, str]) -> None:
    result = run("balance", "sm1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqg56ypy7", "--node", "http://127.0.0.1:9")
    assert result.exit_code == 1 and "cannot reach the node" in result.output


def test_multisig_build_cosign_combine_submit(env: dict[str, str], node: Node) -> None:
    keys = [new_key(env, name)["public_key"] for name in ("m0", "m1", "m2")]
    members = [arg for key in keys for arg in ("--public-key", key)]
    address = json.loads(run("address", "--required", "2", *members, "--hrp", "smdev", "--json").output)["address"]
    node.vm.apply_genesis([(bytes(parse_address(address, "smdev")), 10**9)])
    partial = str(Path(env["tmp"]) / "spawn.json")
    genesis = ["--genesis-id", GENESIS_ID.hex(), "--hrp", "smdev"]
    built = run("multisig", "build", "--required", "2", *members, "--method", "spawn", "--nonce", "0", *genesis,
                "--out", partial, "--json")
    assert built.exit_code == 0, built.output
    assert json.loads(built.output)["principal"] == address
    sign = ["--wallet-dir", env["dir"], "--passphrase-file", env["pass"]]
    assert run("multisig", "sign", partial, "m2", *sign).exit_code == 0
    short = run("multisig", "combine", partial)
    assert short.exit_code == 1 and "1 of 2" in short.output
    outsider = new_key(env, "outsider")
    assert outsider
    assert "not a member" in run("multisig", "sign", partial, "outsider", *sign).output
    assert run("multisig", "sign", partial, "m0", *sign).exit_code == 0
    combined = json.loads(run("multisig", "combine", partial, "--json").output)
    assert node.vm.validate(bytes.fromhex(combined["raw_hex"])).is_self_spawn
    submitted = run("multisig", "submit", partial, "--node", node.url, "--json")
    assert submitted.exit_code == 0, submitted.output
    assert node.apply_pending() == [TxStatus.SUCCESS]
    spend = str(Path(env["tmp"]) / "spend.json")
    destination = json.loads(run("address", "--public-key", keys[0], "--hrp", "smdev", "--json").output)["address"]
    run("multisig", "build", "--required", "2", *members, "--method", "spend", "--to", destination, "--amount", "77",
        "--nonce", "1", *genesis, "--out", spend)
    run("multisig", "sign", spend, "m1", *sign)
    run("multisig", "sign", spend, "m2", *sign)
    assert run("multisig", "submit", spend, "--node", node.url).exit_code == 0
    assert node.apply_pending() == [TxStatus.SUCCESS]
    assert node.vm.get_balance(bytes(parse_address(destination, "smdev"))) == 77
    assert os.path.exists(spend)
