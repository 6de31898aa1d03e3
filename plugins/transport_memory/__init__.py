"""In-memory transport for simulations and tests: the same gossip rules, no sockets."""
