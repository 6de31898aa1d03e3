"""Cryptographic primitives of the protocol: hashes, signatures with domains, VRF, addresses."""
