"""``spacemesh devnet``: a PoET and N node processes on loopback, supervised until done."""
