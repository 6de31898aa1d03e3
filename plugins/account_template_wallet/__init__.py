"""The wallet account template (template address 1): one ed25519 key, spawn and spend."""
