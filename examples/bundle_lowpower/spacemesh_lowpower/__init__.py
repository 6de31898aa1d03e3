"""Example third-party spacemesh plugin: a bundle for small, quiet machines."""
