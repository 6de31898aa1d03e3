"""The reference PoST prover plugin: the pure-Python proving scan (slow; the oracle)."""
