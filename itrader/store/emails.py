"""Processed e-mails, so a message is handled once per mailbox even across restarts.

IMAP identifies a message by (mailbox, UIDVALIDITY, UID); a new UIDVALIDITY
means the server renumbered the folder, so old UIDs no longer count.
"""
from __future__ import annotations

from datetime import datetime
from typing import Callable

import peewee

from .database import Database
from .fields import utc_now


class EmailStore:
    def __init__(self, db: Database, clock: Callable[[], datetime] = utc_now) -> None:
        self._db = db
        self._clock = clock
        self._rows = db.tables.processed_email

    def __repr__(self) -> str:
        return f"EmailStore({self._db!r})"

    def mark_email_processed(self, mailbox: str, uidvalidity: int, uid: int, *,
                             message_id: str | None, outcome: str) -> bool:
        """Record the message as handled; False if it already was (the first outcome stays)."""
        try:
            with self._db.transaction():
                self._rows.insert(
                    mailbox=mailbox, uidvalidity=uidvalidity, uid=uid, message_id=message_id,
                    outcome=outcome, processed_at=self._clock(),
                ).execute()
        except peewee.IntegrityError:
            return False
        return True

    def is_email_processed(self, mailbox: str, uidvalidity: int, uid: int) -> bool:
        rows = self._rows
        with self._db.connection():
            return rows.select().where(
                (rows.mailbox == mailbox) & (rows.uidvalidity == uidvalidity) & (rows.uid == uid)
            ).exists()

    def email_outcome(self, mailbox: str, uidvalidity: int, uid: int) -> str | None:
        rows = self._rows
        with self._db.connection():
            return rows.select(rows.outcome).where(
                (rows.mailbox == mailbox) & (rows.uidvalidity == uidvalidity) & (rows.uid == uid)
            ).scalar()
