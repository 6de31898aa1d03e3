"""Durable state of the PoET server: registrations, rounds, proofs, PoW challenges, the service key.

One sqlite database (WAL, one writer: the server's event loop). Every change is one transaction,
so a crash leaves either the old or the new state. The round's sequential work lives in files
beside it (see :mod:`spacemesh_core.poet.prover`).
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

from spacemesh_core.poet.proof import PoetProof, RoundProof

_SCHEMA = """
CREATE TABLE IF NOT EXISTS registrations (
    round INTEGER NOT NULL,
    node_id BLOB NOT NULL,
    challenge BLOB NOT NULL,
    PRIMARY KEY (round, node_id)
);
CREATE TABLE IF NOT EXISTS rounds (
    round INTEGER PRIMARY KEY,
    statement BLOB NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('executing', 'done'))
);
CREATE TABLE IF NOT EXISTS proofs (
    round INTEGER PRIMARY KEY,
    document TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
"""


class ConflictingRegistrationError(ValueError):
    """The node id already registered a different challenge in this round."""


class RoundFullError(ValueError):
    """The round has reached its maximum number of members."""


class PoetStorage:
    """The PoET server database (``<datadir>/poet.sqlite``)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    # -- registrations ---------------------------------------------------------------------

    def add_registration(self, round_id: int, node_id: bytes, challenge: bytes, max_members: int) -> bool:
        """Register ``challenge`` for ``node_id`` in ``round_id``.

        :return: True if stored, False if the same challenge was already registered (idempotent).
        :raises ConflictingRegistrationError: a different challenge is registered for the node.
        :raises RoundFullError: the round already has ``max_members`` members.
        """
        with self._transaction():
            row = self._db.execute(
                "SELECT challenge FROM registrations WHERE round = ? AND node_id = ?", (round_id, node_id)
            ).fetchone()
            if row is not None:
                if bytes(row[0]) == challenge:
                    return False
                raise ConflictingRegistrationError("conflicting registration")
            (count,) = self._db.execute("SELECT COUNT(*) FROM registrations WHERE round = ?", (round_id,)).fetchone()
            if count >= max_members:
                raise RoundFullError("maximum number of round members reached")
            self._db.execute(
                "INSERT INTO registrations (round, node_id, challenge) VALUES (?, ?, ?)",
                (round_id, node_id, challenge),
            )
            return True

    def get_members(self, round_id: int) -> list[bytes]:
        """Return the round's challenges ordered by node id (the membership tree's leaf order)."""
        rows = self._db.execute(
            "SELECT challenge FROM registrations WHERE round = ? ORDER BY node_id", (round_id,)
        ).fetchall()
        return [bytes(r[0]) for r in rows]

    def count_members(self, round_id: int) -> int:
        """Return how many nodes registered in ``round_id``."""
        (count,) = self._db.execute("SELECT COUNT(*) FROM registrations WHERE round = ?", (round_id,)).fetchone()
        return int(count)

    # -- rounds and proofs -------------------------------------------------------------------

    def mark_round_executing(self, round_id: int, statement: bytes) -> None:
        """Record that ``round_id`` closed with ``statement`` and its work started."""
        with self._transaction():
            self._db.execute(
                "INSERT OR IGNORE INTO rounds (round, statement, state) VALUES (?, ?, 'executing')",
                (round_id, statement),
            )

    def get_round(self, round_id: int) -> tuple[bytes, str] | None:
        """Return ``(statement, state)`` of a closed round, or None."""
        row = self._db.execute("SELECT statement, state FROM rounds WHERE round = ?", (round_id,)).fetchone()
        return None if row is None else (bytes(row[0]), str(row[1]))

    def get_executing_rounds(self) -> list[tuple[int, bytes]]:
        """Return ``(round, statement)`` of every round whose work has not finished."""
        rows = self._db.execute(
            "SELECT round, statement FROM rounds WHERE state = 'executing' ORDER BY round"
        ).fetchall()
        return [(int(r[0]), bytes(r[1])) for r in rows]

    def save_proof(self, round_id: int, round_proof: RoundProof) -> None:
        """Store the round's proof and mark the round done, in one transaction."""
        document = json.dumps(
            {
                "proof": round_proof.proof.to_json_dict(),
                "members": [m.hex() for m in round_proof.members],
                "pubkey": round_proof.service_pubkey.hex(),
            }
        )
        with self._transaction():
            self._db.execute("INSERT OR REPLACE INTO proofs (round, document) VALUES (?, ?)", (round_id, document))
            self._db.execute("UPDATE rounds SET state = 'done' WHERE round = ?", (round_id,))

    def get_proof(self, round_id: int) -> RoundProof | None:
        """Return the stored proof of ``round_id``, or None."""
        row = self._db.execute("SELECT document FROM proofs WHERE round = ?", (round_id,)).fetchone()
        if row is None:
            return None
        document = json.loads(row[0])
        return RoundProof(
            proof=PoetProof.from_json_dict(document["proof"]),
            members=[bytes.fromhex(m) for m in document["members"]],
            service_pubkey=bytes.fromhex(document["pubkey"]),
        )

    # -- meta: service key and PoW challenges ------------------------------------------------

    def get_meta(self, key: str) -> bytes | None:
        """Return a stored value, or None."""
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else bytes(row[0])

    def set_meta(self, values: dict[str, bytes]) -> None:
        """Store several values in one transaction."""
        with self._transaction():
            for key, value in values.items():
                self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on error)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._db.execute("ROLLBACK" if exc_type is not None else "COMMIT")
