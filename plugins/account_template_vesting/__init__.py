"""The vesting account template (template address 3): multisig plus "drain vault"."""
