"""A SQLite database with versioned migrations and explicit transactions."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path


class StorageError(RuntimeError):
    """The database cannot be used: locked by another process, corrupt, or from a newer version."""


class MigrationError(StorageError):
    """A schema migration failed; the database is left at its previous version."""


class Database:
    """One SQLite connection (the single writer) with WAL and ordered migrations.

    :param path: file path, or ``":memory:"``.
    :param migrations: SQL scripts; script ``i`` moves the schema from version ``i`` to ``i + 1``.
    :raises StorageError: when the file is newer than this code or cannot be opened.
    :raises MigrationError: when a migration fails (nothing of it is kept).
    """

    def __init__(self, path: str | Path, migrations: Sequence[str]) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self.conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=10)
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open database {self.path}: {exc}") from exc
        self._lock = threading.RLock()
        self._depth = 0
        self.conn.execute("PRAGMA foreign_keys = ON")
        if self.path != ":memory:":
            mode = self.conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode.lower() != "wal":
                raise StorageError(f"database {self.path} cannot use WAL journaling (got {mode})")
            self.conn.execute("PRAGMA synchronous = NORMAL")
        self._migrate(migrations)

    def get_version(self) -> int:
        """Return the schema version stored in the file."""
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self, migrations: Sequence[str]) -> None:
        current = self.get_version()
        if current > len(migrations):
            raise StorageError(
                f"database {self.path} has schema version {current}, newer than this node knows "
                f"({len(migrations)}); upgrade the node"
            )
        for version in range(current, len(migrations)):
            try:
                with self.transaction():
                    for statement in _split_statements(migrations[version]):
                        self.conn.execute(statement)
                    self.conn.execute(f"PRAGMA user_version = {version + 1}")
            except sqlite3.Error as exc:
                raise MigrationError(
                    f"migration of {self.path} from version {version} to {version + 1} failed: {exc}"
                ) from exc

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Run the block in one write transaction (``BEGIN IMMEDIATE``); nested blocks join it.

        Any exception rolls everything back, so a failed operation leaves no trace.
        """
        with self._lock:
            if self._depth == 0:
                self.conn.execute("BEGIN IMMEDIATE")
            self._depth += 1
            try:
                yield self.conn
            except BaseException:
                self._depth -= 1
                if self._depth == 0:
                    self.conn.execute("ROLLBACK")
                raise
            self._depth -= 1
            if self._depth == 0:
                self.conn.execute("COMMIT")

    def close(self) -> None:
        """Checkpoint the WAL and close the connection."""
        with self._lock:
            if self.path != ":memory:":
                with contextlib.suppress(sqlite3.Error):
                    self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self.conn.close()


def _split_statements(script: str) -> list[str]:
    """Split a migration script into statements (ours contain no semicolons inside literals)."""
    return [s.strip() for s in script.split(";") if s.strip()]
