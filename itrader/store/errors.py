"""Errors raised by the store. None of them carries a secret in its message.

Meanings (itrader.errors): configuration and data problems are permanent (a human acts);
StaleTransition is temporary (nothing was written: re-read the deal and decide again);
StaleLeaseEpoch is fenced off (another process holds the account now: stand down).
"""
from __future__ import annotations

from itrader import errors as meaning


class StoreError(meaning.ITraderError):
    """Base of every store error."""


class UnsupportedDatabaseUrl(StoreError, meaning.PermanentError, ValueError):
    """DATABASE_URL names a backend we do not support."""


class SchemaOutOfDate(StoreError, meaning.PermanentError):
    """The database has not been migrated to the version this code needs."""


class InvalidEncryptionKey(StoreError, meaning.PermanentError, ValueError):
    """ENCRYPTION_KEY is not 32 bytes in one of the accepted spellings."""


class MissingEncryptionKey(StoreError, meaning.PermanentError):
    """An account secret was needed but no ENCRYPTION_KEY was configured."""


class SecretDecryptionError(StoreError, meaning.PermanentError):
    """A stored secret cannot be decrypted: wrong ENCRYPTION_KEY or tampered data."""


class NotFound(StoreError, meaning.PermanentError, LookupError):
    """The requested row does not exist."""


class AccountNotFound(NotFound):
    pass


class DealNotFound(NotFound):
    pass


class AccountExists(StoreError, meaning.PermanentError):
    """An account of this kind and name is already stored."""


class StaleTransition(StoreError, meaning.TemporaryError):
    """The deal is no longer in the state the caller expected (optimistic concurrency)."""

    def __init__(self, deal_id: int, expected: str, actual: str) -> None:
        super().__init__(f"deal {deal_id} is in state {actual}, not {expected}; transition refused")
        self.deal_id = deal_id
        self.expected = expected
        self.actual = actual


class DuplicateReceipt(StoreError, meaning.PermanentError):
    """The receipt number or the file hash was already claimed (money-safety invariant 2).

    `existing_deal_id` equal to the caller's deal means the same receipt was
    claimed again for the same deal (e.g. a retry after a crash).
    """

    def __init__(self, field: str, value: str, existing_deal_id: int | None) -> None:
        super().__init__(f"receipt {field} {value!r} already claimed by deal {existing_deal_id}")
        self.field = field
        self.value = value
        self.existing_deal_id = existing_deal_id


class StaleLeaseEpoch(StoreError, meaning.FencedOff):
    """A write under a lease epoch older than the newest the store has seen for that lease: the writer's
    lease was taken over by another process. Nothing was written (DESIGN §9, itrader.store.fences)."""

    def __init__(self, key: str, epoch: int, newest: int) -> None:
        super().__init__(f"lease {key}: epoch {epoch} is older than epoch {newest} already recorded; "
                         "another process holds the account now, nothing written")
        self.key = key
        self.epoch = epoch
        self.newest = newest
