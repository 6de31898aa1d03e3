"""Plugin ``initializer_native``: the native C label initializer (default) and the ``post`` CLI commands
``labels``, ``init`` and ``verify-data``."""
