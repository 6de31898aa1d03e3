"""The mesh service of a node: proposals, hare, blocks, tortoise and the VM over the real network."""
