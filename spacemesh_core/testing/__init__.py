"""Test support shared by the project's suite and by third-party plugin authors."""
