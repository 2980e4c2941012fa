"""Receipts bound to deals. A receipt serves one deal, ever (money-safety invariant 2):
its number and its file hash are each UNIQUE in the database, so the rule holds
across processes sharing the database, not just inside one."""
from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Callable

import peewee

from .database import Database
from .errors import DuplicateReceipt
from .fields import utc_now
from .records import Receipt

SHA256_HEX = re.compile(r"[0-9a-f]{64}")


class ReceiptStore:
    def __init__(self, db: Database, clock: Callable[[], datetime] = utc_now) -> None:
        self._db = db
        self._clock = clock
        self._rows = db.tables.receipt

    def __repr__(self) -> str:
        return f"ReceiptStore({self._db!r})"

    def claim_receipt(self, receipt_number: str, sha256: str, deal_id: int, *, source: str,
                      parsed: Any, verdict: str) -> Receipt:
        """Bind a receipt to a deal, or raise DuplicateReceipt if its number or hash was seen.

        `sha256` is the hex digest of the receipt file; `source` says where it
        came from (e.g. "email", "chat", "operator").
        """
        if not receipt_number:
            raise ValueError("a receipt without a number cannot be claimed")
        digest = sha256.lower()
        if not SHA256_HEX.fullmatch(digest):
            raise ValueError("sha256 must be 64 hex digits")
        try:
            with self._db.transaction():
                receipt_id = self._rows.insert(
                    receipt_number=receipt_number, sha256=digest, deal_id=deal_id, source=source,
                    parsed=parsed, verdict=verdict, created_at=self._clock(),
                ).execute()
        except peewee.IntegrityError:
            duplicate = self._duplicate(receipt_number, digest)
            if duplicate is None:
                raise  # another constraint failed, e.g. an unknown deal id
            raise duplicate from None
        return self._get(receipt_id)

    def find(self, *, receipt_number: str | None = None, sha256: str | None = None) -> Receipt | None:
        """The receipt with this number, or else with this hash."""
        rows = self._rows
        with self._db.connection():
            row = None
            if receipt_number is not None:
                row = rows.get_or_none(rows.receipt_number == receipt_number)
            if row is None and sha256 is not None:
                row = rows.get_or_none(rows.sha256 == sha256.lower())
        return None if row is None else _receipt(row)

    def for_deal(self, deal_id: int) -> list[Receipt]:
        rows = self._rows
        with self._db.connection():
            return [_receipt(row) for row in rows.select().where(rows.deal_id == deal_id).order_by(rows.id)]

    def _get(self, receipt_id: int) -> Receipt:
        with self._db.connection():
            return _receipt(self._rows.get_by_id(receipt_id))

    def _duplicate(self, receipt_number: str, digest: str) -> DuplicateReceipt | None:
        by_number = self.find(receipt_number=receipt_number)
        if by_number is not None:
            return DuplicateReceipt("receipt_number", receipt_number, by_number.deal_id)
        by_hash = self.find(sha256=digest)
        if by_hash is not None:
            return DuplicateReceipt("sha256", digest, by_hash.deal_id)
        return None


def _receipt(row: peewee.Model) -> Receipt:
    return Receipt(
        id=row.id, receipt_number=row.receipt_number, sha256=row.sha256, deal_id=row.deal_id,
        source=row.source, parsed=row.parsed, verdict=row.verdict, created_at=row.created_at,
    )
