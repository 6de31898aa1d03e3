"""The default consensus rules: hare3 with the reference's mainnet parameters."""
