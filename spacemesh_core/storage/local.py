"""Node-private data (``local.sql``): ATX-builder phases and PoET registrations per identity.

Persisted phase by phase so that a restarted node resumes its ATX pipeline instead of starting over.
"""

from __future__ import annotations

from pathlib import Path

import attrs

from spacemesh_core.storage.database import Database

LOCAL_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE nipost_state (
        node_id BLOB PRIMARY KEY, publish_epoch INTEGER NOT NULL, phase TEXT NOT NULL, data BLOB NOT NULL
    );
    CREATE TABLE poet_registrations (
        node_id BLOB NOT NULL, poet_url TEXT NOT NULL, round_id TEXT NOT NULL, challenge_hash BLOB NOT NULL,
        registered_at REAL NOT NULL, PRIMARY KEY (node_id, poet_url, round_id)
    )
    """,
)


@attrs.frozen
class NipostState:
    """Where an identity's ATX pipeline stands: its target epoch, phase and phase data."""

    node_id: bytes
    publish_epoch: int
    phase: str
    data: bytes


@attrs.frozen
class PoetRegistration:
    """A registration of an identity's challenge at a PoET round."""

    node_id: bytes
    poet_url: str
    round_id: str
    challenge_hash: bytes
    registered_at: float


class LocalStore:
    """Typed access to ``local.sql``."""

    def __init__(self, path: str | Path = ":memory:") -> None:
        self.db = Database(path, LOCAL_MIGRATIONS)

    def close(self) -> None:
        """Close the database."""
        self.db.close()

    def set_nipost_state(self, state: NipostState) -> None:
        """Record ``state`` as the identity's current phase (replaces the previous one atomically)."""
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO nipost_state VALUES (?, ?, ?, ?)",
                (state.node_id, state.publish_epoch, state.phase, state.data),
            )

    def get_nipost_state(self, node_id: bytes) -> NipostState | None:
        """Return the identity's recorded phase or None."""
        row = self.db.conn.execute("SELECT * FROM nipost_state WHERE node_id = ?", (node_id,)).fetchone()
        return NipostState(*row) if row else None

    def clear_nipost_state(self, node_id: bytes) -> None:
        """Forget the identity's phase (its ATX was published) and its PoET registrations."""
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM nipost_state WHERE node_id = ?", (node_id,))
            conn.execute("DELETE FROM poet_registrations WHERE node_id = ?", (node_id,))

    def add_poet_registration(self, registration: PoetRegistration) -> bool:
        """Record a registration; return False when that (identity, PoET, round) was already recorded."""
        with self.db.transaction() as conn:
            cursor = conn.execute(
                "INSERT OR IGNORE INTO poet_registrations VALUES (?, ?, ?, ?, ?)",
                (registration.node_id, registration.poet_url, registration.round_id,
                 registration.challenge_hash, registration.registered_at),
            )
        return cursor.rowcount == 1

    def get_poet_registrations(self, node_id: bytes) -> list[PoetRegistration]:
        """Return the identity's registrations, by PoET and round."""
        rows = self.db.conn.execute(
            "SELECT * FROM poet_registrations WHERE node_id = ? ORDER BY poet_url, round_id", (node_id,)
        ).fetchall()
        return [PoetRegistration(*r) for r in rows]
