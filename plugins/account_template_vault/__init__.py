"""The vault account template (template address 4): coins that vest linearly by layer."""
