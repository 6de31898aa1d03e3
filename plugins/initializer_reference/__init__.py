"""Plugin ``initializer_reference``: the pure-Python label function (the oracle; slow)."""
