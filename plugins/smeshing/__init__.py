"""Smeshing: PoST setup and the ATX builder per identity, and the ATX handler, as node services."""
