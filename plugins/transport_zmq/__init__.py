"""ZeroMQ TCP transport: CurveZMQ-encrypted links, gossip with validation before forwarding,
request/response fetch, peer discovery from bootnodes and peer exchange."""
