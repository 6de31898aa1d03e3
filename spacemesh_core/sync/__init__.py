"""Fetching objects from peers by hash and keeping a node in step with the network."""
