"""Node state in SQLite: the shared chain state (``state.sql``) and node-private data (``local.sql``).

One writer, WAL journaling, every change inside a transaction, schema versions with migrations.
``:memory:`` databases serve simulations with the very same code.
"""

from spacemesh_core.storage.database import Database, MigrationError, StorageError
from spacemesh_core.storage.local import LocalStore
from spacemesh_core.storage.state import StateStore

__all__ = ["Database", "LocalStore", "MigrationError", "StateStore", "StorageError"]
