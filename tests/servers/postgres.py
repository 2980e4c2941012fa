"""Fixtures for a private postgres server on loopback (filled in by its owner)."""
