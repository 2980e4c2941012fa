"""Fixtures for a private dovecot server on loopback (filled in by its owner)."""
