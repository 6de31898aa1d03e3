"""Consensus engines: deterministic, I/O-free state machines for eligibility, beacon, hare,
malfeasance (part A) and tortoise, blocks, certificates and rewards (part B).

Engines take messages and time (layer and round numbers or timestamps passed in by the caller) and
return the messages to send and the decisions made; see ``docs/consensus.md``.
"""
