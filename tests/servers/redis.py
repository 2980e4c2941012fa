"""Fixtures for a private redis server on loopback (filled in by its owner)."""
