"""A small client for the node's v2alpha1-shaped HTTP JSON API (see :mod:`spacemesh_core.vm.api`)."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from typing import Any


class NodeError(RuntimeError):
    """The node could not be reached or answered with an error."""


class NodeClient:
    """POSTs JSON to ``<url>/spacemesh.v2alpha1.<Service>/<Method>``."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        """Talk to the node API at ``url`` (e.g. ``http://127.0.0.1:9092``)."""
        self.url = url.rstrip("/")
        self.timeout = timeout

    def call(self, service: str, method: str, body: dict[str, Any]) -> dict[str, Any]:
        """Return the JSON answer of ``service``/``method``. :raises NodeError: on any failure."""
        request = urllib.request.Request(
            f"{self.url}/spacemesh.v2alpha1.{service}/{method}",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                answer = json.loads(response.read().decode())
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")
            raise NodeError(f"node API error {exc.code} on {service}/{method}: {detail}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise NodeError(f"cannot reach the node at {self.url}: {exc}") from None
        except ValueError:
            raise NodeError(f"the node's answer to {service}/{method} is not JSON") from None
        if not isinstance(answer, dict):
            raise NodeError(f"unexpected answer to {service}/{method}")
        return answer

    def get_network_info(self) -> dict[str, Any]:
        """Return ``NetworkService/Info`` (genesis id, hrp)."""
        return self.call("NetworkService", "Info", {})

    def get_genesis_id(self) -> bytes:
        """Return the node's 20-byte genesis id."""
        return base64.b64decode(self.get_network_info()["genesisId"])

    def get_account(self, address: str) -> dict[str, Any]:
        """Return the ``AccountV1`` object of ``address`` (current and projected state)."""
        accounts = self.call("AccountService", "List", {"address": [address]}).get("accounts", [])
        if not accounts:
            raise NodeError(f"the node returned no account for {address}")
        return dict(accounts[0]["v1"])

    def submit(self, raw: bytes) -> bytes:
        """Submit ``raw``; return its id. :raises NodeError: when the node rejects it."""
        answer = self.call("TransactionService", "SubmitTransaction", {"transaction": base64.b64encode(raw).decode()})
        status = answer.get("status", {})
        if status.get("code", 0) != 0:
            raise NodeError(f"the node rejected the transaction: {status.get('message', '')}")
        return base64.b64decode(answer["txId"])

    def list_transactions(self, address: str, limit: int = 100, offset: int = 0) -> dict[str, Any]:
        """Return ``TransactionService/List`` for ``address``."""
        body = {"address": address, "limit": limit, "offset": offset, "includeResult": True, "includeState": True}
        return self.call("TransactionService", "List", body)
