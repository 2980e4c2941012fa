"""Lease fencing (DESIGN §9): the highest lease epoch seen per lease key.

A process holding an account's lease gets a new epoch on every acquire (itrader/leases.py). It
records the epoch here when it takes the lease, and every money step's intent carries it
(DealStore.record_intent). Once a newer epoch is recorded for a key, anything under an older one is
refused with StaleLeaseEpoch and nothing is written: a holder that was paused past its ttl and woke
up after another process took the account over cannot journal a money step.

`advance` is one upsert that only ever raises the epoch, then a read in the same transaction: the
upsert locks the key's row on PostgreSQL, so a concurrent writer of the same key waits and then sees
the committed epoch; SQLite takes its write lock at BEGIN.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Callable, Protocol

from peewee import EXCLUDED

from .database import Database
from .errors import StaleLeaseEpoch
from .fields import utc_now


class LeaseFence(Protocol):
    """A lease key and the epoch it was acquired under (itrader.leases.Fence)."""

    key: str
    epoch: int


def advance_epoch(table: Any, fence: LeaseFence, now: datetime) -> None:
    """Inside the caller's transaction: record `fence.epoch` for its key unless a newer one is recorded,
    in which case raise StaleLeaseEpoch (the caller's transaction rolls back)."""
    if int(fence.epoch) < 1:
        raise ValueError(f"lease epoch must be at least 1, not {fence.epoch!r}")
    (table.insert(lease_key=fence.key, epoch=fence.epoch, updated_at=now)
     .on_conflict(conflict_target=[table.lease_key],
                  update={table.epoch: EXCLUDED.epoch, table.updated_at: EXCLUDED.updated_at},
                  where=(table.epoch < EXCLUDED.epoch))
     .execute())
    newest = table.select(table.epoch).where(table.lease_key == fence.key).scalar()
    if newest > fence.epoch:
        raise StaleLeaseEpoch(fence.key, fence.epoch, newest)


class FenceStore:
    def __init__(self, db: Database, clock: Callable[[], datetime] = utc_now) -> None:
        self._db = db
        self._clock = clock
        self._rows = db.tables.lease_epoch

    def __repr__(self) -> str:
        return f"FenceStore({self._db!r})"

    def newest(self, key: str) -> int:
        """The highest epoch recorded for the lease key (0: none yet)."""
        rows = self._rows
        with self._db.connection():
            return rows.select(rows.epoch).where(rows.lease_key == key).scalar() or 0

    def advance(self, fence: LeaseFence) -> None:
        """A lease just taken: from now on nothing under an older epoch of its key is accepted. Raises
        StaleLeaseEpoch (nothing written) if a newer epoch is recorded already."""
        with self._db.transaction():
            advance_epoch(self._rows, fence, self._clock())
