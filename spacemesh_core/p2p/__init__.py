"""Peer-to-peer logic shared by every transport: gossip deduplication, validation before
forwarding, per-peer scores and rate limits."""
