"""SQLite state storage: ``state.sql`` and ``local.sql`` in the node's data folder, or in memory."""
