"""Proofs of Space-Time: labels, initialization, the label store, proving and verification."""
