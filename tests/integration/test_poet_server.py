"""The built-in PoET server on loopback: registration, a short round, proofs, tampering, crash recovery."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from nacl.signing import SigningKey

from spacemesh_core.crypto.signing import Domain, Signer
from spacemesh_core.poet import native
from spacemesh_core.poet.certificate import Certificate
from spacemesh_core.poet.client import (
    PoetCertificate,
    PoetClient,
    PoetClientError,
    PoetHttpClient,
    PoetInfo,
    solve_pow,
)
from spacemesh_core.poet.proof import MembershipProof, PoetProof, RoundProof, encode_base64
from spacemesh_core.poet.reference import compute_pow_hash, compute_statement, is_leading_zero_bits
from spacemesh_core.poet.verify import (
    LabelMismatchError,
    MembershipProofError,
    MerkleRootMismatchError,
    verify_membership_proof,
    verify_poet_proof,
)
from spacemesh_plugins.poet_builtin.config import build_config
from spacemesh_plugins.poet_builtin.server import PoetServer

pytestmark = pytest.mark.skipif(not native.is_native_available(), reason="native PoET module not built")

GENESIS_ID = bytes(range(20))
POW_DIFFICULTY = 6
CERTIFIER_SEED = b"\x42" * 32


def _challenge(index: int) -> bytes:
    return bytes([index]) * 32


def _make_server(
    tmp_path: Path, name: str, *, phase_shift: float, epoch: float, gap: float, **extra: Any
) -> PoetServer:
    config = build_config(
        {
            "datadir": str(tmp_path / name),
            "genesis": time.time(),
            "phase_shift": phase_shift,
            "epoch_duration": epoch,
            "cycle_gap": gap,
            "listen": "127.0.0.1:0",
            "pow_difficulty": POW_DIFFICULTY,
            "checkpoint_leaves": 4096,
            **extra,
        }
    )
    return PoetServer(config)


async def _post(url: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as session, session.post(url + "/v1/submit", json=body) as response:
        return response.status, await response.json(content_type=None)


def _signed_body(signer: Signer, challenge: bytes, **extra: Any) -> dict[str, Any]:
    return {
        "prefix": encode_base64(GENESIS_ID + bytes([Domain.POET])),
        "challenge": encode_base64(challenge),
        "pubkey": encode_base64(signer.public_key),
        "signature": encode_base64(signer.sign(Domain.POET, challenge, GENESIS_ID)),
        **extra,
    }


async def test_round_with_several_clients(tmp_path: Path) -> None:
    certifier = SigningKey(CERTIFIER_SEED)
    certifier_pubkey = bytes(certifier.verify_key)
    # Two PoETs: "long" proves for about 3 s, "short" for about 1 s, so their leaf counts differ.
    long_poet = _make_server(
        tmp_path, "long", phase_shift=2.0, epoch=4.0, gap=1.0,
        certifier_pubkey=certifier_pubkey.hex(), certifier_url="http://certifier.invalid",
    )  # fmt: skip
    short_poet = _make_server(tmp_path, "short", phase_shift=2.0, epoch=4.0, gap=3.0)
    await long_poet.start()
    await short_poet.start()
    try:
        signers = [Signer.from_seed(bytes([i + 1]) * 32) for i in range(3)]

        def certificate_for(signer: Signer) -> Any:
            def provide(url: str, info: PoetInfo) -> PoetCertificate | None:
                assert info.certifier_pubkey == certifier_pubkey
                data = Certificate(signer.node_id, expiration=int(time.time()) + 3600).encode()
                return PoetCertificate(data, certifier.sign(data).signature, certifier_pubkey[:4])

            return provide

        clients = [
            # client 0 authorises with a certificate where the PoET accepts one, the others with PoW
            PoetClient(
                [long_poet.url, short_poet.url],
                signer,
                GENESIS_ID,
                certificate_provider=certificate_for(signer) if index == 0 else None,
            )
            for index, signer in enumerate(signers)
        ]
        registrations = await asyncio.gather(*(c.register(_challenge(i)) for i, c in enumerate(clients)))
        for regs in registrations:
            assert {r.poet_url for r in regs} == {long_poet.url, short_poet.url}
            assert {r.round_id for r in regs} == {"0"}

        await _check_api_answers(long_poet, signers)

        results = await asyncio.gather(
            *(
                c.fetch_best_proof(regs, _challenge(i), poll_interval=0.2, timeout=60)
                for i, (c, regs) in enumerate(zip(clients, registrations, strict=True))
            )
        )
        assert long_poet.storage is not None and short_poet.storage is not None
        proofs = {
            url: found
            for url, server in ((long_poet.url, long_poet), (short_poet.url, short_poet))
            if (found := server.storage.get_proof(0)) is not None
        }
        assert set(proofs) == {long_poet.url, short_poet.url}
        best_leaves = max(p.proof.leaves for p in proofs.values())
        members = sorted(range(3), key=lambda i: signers[i].node_id)
        for index, result in enumerate(results):
            # The client kept the proof with the most leaves, and it checks out.
            assert result.proof.leaves == best_leaves
            assert result.members == tuple(_challenge(i) for i in members)
            assert result.statement == compute_statement(list(result.members))
            verify_poet_proof(result.proof, result.statement, min_leaves=150)
            verify_membership_proof(_challenge(index), result.membership_proof, result.statement)
            assert result.membership_proof.leaf_index == members.index(index)

        # Tampering is caught: a proven leaf, a proof node, a membership path.
        proof = results[0].proof
        bad_leaf = PoetProof(proof.root, (bytes(32), *proof.proven_leaves[1:]), proof.proof_nodes, proof.leaves)
        with pytest.raises(MerkleRootMismatchError):
            verify_poet_proof(bad_leaf, results[0].statement)
        flipped = bytes([proof.proof_nodes[0][0] ^ 0x80]) + proof.proof_nodes[0][1:]
        bad_node = PoetProof(proof.root, proof.proven_leaves, (flipped, *proof.proof_nodes[1:]), proof.leaves)
        with pytest.raises((MerkleRootMismatchError, LabelMismatchError)):
            verify_poet_proof(bad_node, results[0].statement)
        membership = results[0].membership_proof
        bad_path = MembershipProof(membership.leaf_index, (bytes(32), *membership.nodes[1:]))
        with pytest.raises(MembershipProofError):
            verify_membership_proof(_challenge(0), bad_path, results[0].statement)
        tampered_round = RoundProof(bad_leaf, results[0].members, results[0].service_pubkey)
        assert clients[0].check_round_proof(tampered_round, _challenge(0)) is None
        assert clients[0].check_round_proof(proofs[long_poet.url], _challenge(7)) is None  # not a member

        # The PoW challenge rotated to the proof root; the previous challenge is still accepted.
        async with aiohttp.ClientSession() as session:
            params = await PoetHttpClient(long_poet.url, session).get_pow_params()
        assert params.challenge == proofs[long_poet.url].proof.root
    finally:
        await long_poet.stop()
        await short_poet.stop()


async def _check_api_answers(server: PoetServer, signers: list[Signer]) -> None:
    """Shapes and error codes of the REST API while round 0 is open."""
    async with aiohttp.ClientSession() as session:
        async with session.get(server.url + "/v1/info") as response:
            info = await response.json()
        assert set(info) == {"servicePubkey", "phaseShift", "cycleGap", "certifier"}
        assert info["phaseShift"] == "2s" and info["cycleGap"] == "1s"
        async with session.get(server.url + "/v1/pow_params") as response:
            pow_params = (await response.json())["powParams"]
        assert pow_params["difficulty"] == POW_DIFFICULTY
        async with session.get(server.url + "/v1/proofs/0") as response:
            assert response.status == 404
            assert await response.json() == {"code": 5, "message": "proof not found", "details": []}
        client = PoetHttpClient(server.url, session)
        params = await client.get_pow_params()

    signer = signers[1]
    nonce = await solve_pow(params, signer.node_id, _challenge(1))
    pow_fields = {"powParams": pow_params, "nonce": str(nonce)}
    # Re-submitting the same challenge is idempotent; a different one conflicts.
    status, body = await _post(server.url, _signed_body(signer, _challenge(1), **pow_fields))
    assert status == 200 and body["roundId"] == "0" and body["roundEnd"].endswith("s")
    nonce_99 = await solve_pow(params, signer.node_id, _challenge(99))
    status, body = await _post(
        server.url, _signed_body(signer, _challenge(99), powParams=pow_params, nonce=str(nonce_99))
    )
    assert (status, body["code"]) == (409, 6)
    # A bad signature, a bad PoW, stale PoW parameters, a bad certificate, a passed deadline.
    newcomer = Signer.from_seed(b"\x77" * 32)
    bad_signature = _signed_body(newcomer, _challenge(50), **pow_fields)
    bad_signature["signature"] = encode_base64(bytes(64))
    assert (await _post(server.url, bad_signature))[0] == 400

    def is_solution(nonce: int) -> bool:
        digest = compute_pow_hash(params.challenge, newcomer.node_id, _challenge(50), nonce)
        return is_leading_zero_bits(digest, POW_DIFFICULTY)

    wrong_nonce = next(n for n in range(1000) if not is_solution(n))
    status, body = await _post(
        server.url, _signed_body(newcomer, _challenge(50), powParams=pow_params, nonce=str(wrong_nonce))
    )
    assert (status, body["code"]) == (400, 3) and "proof of work" in body["message"]
    stale = {"powParams": {"challenge": encode_base64(b"\x00" * 32), "difficulty": POW_DIFFICULTY}, "nonce": "0"}
    status, body = await _post(server.url, _signed_body(newcomer, _challenge(50), **stale))
    assert (status, body["code"]) == (400, 3) and "parameters" in body["message"]
    forged = {
        "certificate": {
            "data": encode_base64(Certificate(newcomer.node_id).encode()),
            "signature": encode_base64(bytes(64)),
        }
    }
    status, body = await _post(server.url, _signed_body(newcomer, _challenge(50), **forged))
    assert (status, body["code"]) == (401, 16)
    nonce_50 = await solve_pow(params, newcomer.node_id, _challenge(50))
    early = _signed_body(
        newcomer, _challenge(50), deadline="2000-01-01T00:00:00Z", powParams=pow_params, nonce=str(nonce_50)
    )
    status, body = await _post(server.url, early)
    assert (status, body["code"]) == (400, 9)
    assert (await _post(server.url, {"pubkey": encode_base64(b"short")}))[0] == 400
    assert server.storage is not None and server.storage.count_members(0) == 3


# --- crash recovery: a server process killed mid-round resumes ---------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_server_process(config_path: Path, log_path: Path) -> subprocess.Popen[bytes]:
    log = log_path.open("ab")
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen(
        [sys.executable, "-m", "spacemesh_plugins.poet_builtin", "serve", "--config", str(config_path)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )


async def _wait_until_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    give_up = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < give_up:
            assert process.poll() is None, "the PoET process exited"
            try:
                async with session.get(url + "/v1/info") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise TimeoutError(f"{url} did not become ready")


async def _wait_for_checkpoint(path: Path, process: subprocess.Popen[bytes], timeout: float = 60.0) -> int:
    give_up = time.monotonic() + timeout
    while time.monotonic() < give_up:
        assert process.poll() is None, "the PoET process exited"
        if path.exists():
            next_leaf = int(json.loads(path.read_text())["next_leaf"])
            if next_leaf > 0:
                return next_leaf
        await asyncio.sleep(0.02)
    raise TimeoutError(f"no checkpoint at {path}")


async def test_killed_server_resumes_round(tmp_path: Path) -> None:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    datadir = tmp_path / "poet"
    config_path = tmp_path / "poet.toml"
    # Registration for round 0 stays open 4 s (the process needs to start first); the work runs 7 s.
    config_path.write_text(
        "[poet_server]\n"
        f'datadir = "{datadir}"\n'
        f"genesis = {time.time()}\n"
        'phase_shift = "4s"\nepoch_duration = "8s"\ncycle_gap = "1s"\n'
        f'listen = "127.0.0.1:{port}"\n'
        f"pow_difficulty = {POW_DIFFICULTY}\ncheckpoint_leaves = 2048\n"
    )
    log_path = tmp_path / "poet.log"
    process = _start_server_process(config_path, log_path)
    try:
        await _wait_until_ready(url, process)
        signers = [Signer.from_seed(bytes([0x30 + i]) * 32) for i in range(2)]
        registrations = []
        for index, signer in enumerate(signers):
            registrations += await PoetClient([url], signer, GENESIS_ID).register(_challenge(index))
        round_id = registrations[0].round_id
        assert {r.round_id for r in registrations} == {round_id}

        checkpoint = datadir / "rounds" / round_id / "checkpoint.json"
        checkpointed = await _wait_for_checkpoint(checkpoint, process)
        os.killpg(process.pid, signal.SIGKILL)  # mid-round, no chance to clean up
        process.wait(timeout=30)
        assert process.returncode == -signal.SIGKILL
        assert checkpointed < 10_000_000

        process = _start_server_process(config_path, log_path)
        await _wait_until_ready(url, process)
        client = PoetClient([url], signers[0], GENESIS_ID, min_leaves=150)
        result = await client.fetch_best_proof(registrations[:1], _challenge(0), poll_interval=0.1, timeout=90)
        verify_poet_proof(result.proof, result.statement, min_leaves=150)
        assert result.proof.leaves >= checkpointed
        verify_membership_proof(_challenge(0), result.membership_proof, result.statement)
        assert set(result.members) == {_challenge(0), _challenge(1)}
        assert f"resuming round {round_id} from leaf" in log_path.read_text()
        # The round's files are gone once its proof is stored.
        assert not (datadir / "rounds" / round_id).exists()
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


async def test_clean_stop_and_restart_keeps_state(tmp_path: Path) -> None:
    server = _make_server(tmp_path, "restart", phase_shift=60.0, epoch=120.0, gap=10.0)
    await server.start()
    signer = Signer.from_seed(b"\x55" * 32)
    registrations = await PoetClient([server.url], signer, GENESIS_ID).register(_challenge(5))
    pubkey = server.service_pubkey
    await server.stop()
    again = PoetServer(server.config)
    await again.start()
    try:
        assert again.service_pubkey == pubkey
        assert again.storage is not None and again.storage.get_members(0) == [_challenge(5)]
        assert registrations[0].round_id == "0"
        # Registering the same challenge again is idempotent across restarts.
        assert (await PoetClient([again.url], signer, GENESIS_ID).register(_challenge(5)))[0].round_id == "0"
        with pytest.raises(PoetClientError, match="conflicting"):
            await PoetClient([again.url], signer, GENESIS_ID).register(_challenge(6))
    finally:
        await again.stop()


async def test_a_node_hosts_a_poet_server(tmp_path: Path) -> None:
    import aiohttp

    from spacemesh_core.config import build_config as build_node_config
    from spacemesh_core.kernel.plugins import load_plugin_manager
    from spacemesh_core.node import Node

    plugins = load_plugin_manager(environ={})
    config = build_node_config(
        plugins.get_config_schema(),
        preset="devnet",
        flags=[f"node.data_dir={tmp_path}", "poet_server.enabled=true", "smeshing.start=false"],
        environ={},
    )
    node = Node(config, plugins)
    await node.start()
    try:
        url = node.get_status()["poet_server"]["url"]
        async with aiohttp.ClientSession() as session, session.get(f"{url}/v1/info") as response:
            info = await response.json()
        assert response.status == 200 and "servicePubkey" in info
    finally:
        assert await node.stop() == []
