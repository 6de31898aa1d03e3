"""``spacemesh wallet``: encrypted keys, addresses, signing, multisig workflows, node queries."""
