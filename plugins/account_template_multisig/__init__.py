"""The multisig account template (template address 2): k of n ed25519 keys, up to 10."""
