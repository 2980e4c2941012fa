"""Errors raised by the store. None of them carries a secret in its message."""
from __future__ import annotations


class StoreError(Exception):
    """Base of every store error."""


class UnsupportedDatabaseUrl(StoreError, ValueError):
    """DATABASE_URL names a backend we do not support."""


class SchemaOutOfDate(StoreError):
    """The database has not been migrated to the version this code needs."""


class InvalidEncryptionKey(StoreError, ValueError):
    """ENCRYPTION_KEY is not 32 bytes in one of the accepted spellings."""


class MissingEncryptionKey(StoreError):
    """An account secret was needed but no ENCRYPTION_KEY was configured."""


class SecretDecryptionError(StoreError):
    """A stored secret cannot be decrypted: wrong ENCRYPTION_KEY or tampered data."""


class NotFound(StoreError, LookupError):
    """The requested row does not exist."""


class AccountNotFound(NotFound):
    pass


class DealNotFound(NotFound):
    pass


class AccountExists(StoreError):
    """An account of this kind and name is already stored."""


class StaleTransition(StoreError):
    """The deal is no longer in the state the caller expected (optimistic concurrency)."""

    def __init__(self, deal_id: int, expected: str, actual: str) -> None:
        super().__init__(f"deal {deal_id} is in state {actual}, not {expected}; transition refused")
        self.deal_id = deal_id
        self.expected = expected
        self.actual = actual


class DuplicateReceipt(StoreError):
    """The receipt number or the file hash was already claimed (money-safety invariant 2).

    `existing_deal_id` equal to the caller's deal means the same receipt was
    claimed again for the same deal (e.g. a retry after a crash).
    """

    def __init__(self, field: str, value: str, existing_deal_id: int | None) -> None:
        super().__init__(f"receipt {field} {value!r} already claimed by deal {existing_deal_id}")
        self.field = field
        self.value = value
        self.existing_deal_id = existing_deal_id
