"""The built-in bundles: ``default`` (the full node), ``devnet`` and ``sim``."""
