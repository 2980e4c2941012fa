"""Storage: peewee over a SQLite file (default) or PostgreSQL (DATABASE_URL).

Typical wiring:

    db = open_database(os.environ.get("DATABASE_URL", "var/itrader.sqlite3"))
    migrate(db)                                   # or `itrader migrate`
    store = Store(db, SecretBox(os.environ["ENCRYPTION_KEY"]))
    deal, created = store.deals.create_deal(payout_id, amount_rub)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable

from .accounts import AccountStore
from .crypto import Secret, SecretBox, parse_encryption_key
from .database import Database, DatabaseTarget, open_database, parse_database_target
from .deals import CHANGEABLE_FIELDS, DealStore, open_intents
from .emails import EmailStore
from .fences import FenceStore
from .errors import (
    AccountExists,
    AccountNotFound,
    DealNotFound,
    DuplicateReceipt,
    InvalidEncryptionKey,
    MissingEncryptionKey,
    NotFound,
    SchemaOutOfDate,
    SecretDecryptionError,
    StaleLeaseEpoch,
    StaleTransition,
    StoreError,
    UnsupportedDatabaseUrl,
)
from .fields import utc_now
from .migrations import LATEST_VERSION, MIGRATIONS, Migration, applied_versions, migrate, require_current_schema
from .receipts import ReceiptStore
from .switches import SwitchStore
from .records import (
    ACCOUNT_KINDS,
    PAYMENT_METHODS,
    TERMINAL_STATES,
    Account,
    Deal,
    EventKind,
    JournalEntry,
    Receipt,
)


@dataclass
class Store:
    """All repositories over one database. `secret_box` may be None when no
    ENCRYPTION_KEY is configured; account secrets then cannot be read or written."""

    db: Database
    secret_box: SecretBox | None = None
    clock: Callable[[], datetime] = utc_now
    accounts: AccountStore = field(init=False)
    deals: DealStore = field(init=False)
    receipts: ReceiptStore = field(init=False)
    emails: EmailStore = field(init=False)
    fences: FenceStore = field(init=False)
    switches: SwitchStore = field(init=False)

    def __post_init__(self) -> None:
        self.accounts = AccountStore(self.db, self.secret_box, self.clock)
        self.deals = DealStore(self.db, self.clock)
        self.receipts = ReceiptStore(self.db, self.clock)
        self.emails = EmailStore(self.db, self.clock)
        self.fences = FenceStore(self.db, self.clock)
        self.switches = SwitchStore(self.db, self.clock)


__all__ = [
    "ACCOUNT_KINDS", "CHANGEABLE_FIELDS", "LATEST_VERSION", "MIGRATIONS", "PAYMENT_METHODS", "TERMINAL_STATES",
    "Account", "AccountExists", "AccountNotFound", "AccountStore", "Database", "DatabaseTarget", "Deal",
    "DealNotFound", "DealStore", "DuplicateReceipt", "EmailStore", "EventKind", "FenceStore",
    "InvalidEncryptionKey", "JournalEntry", "Migration", "MissingEncryptionKey", "NotFound", "Receipt",
    "ReceiptStore", "SchemaOutOfDate", "Secret", "SecretBox", "SecretDecryptionError", "StaleLeaseEpoch", "StaleTransition", "Store", "StoreError", "SwitchStore",
    "UnsupportedDatabaseUrl", "applied_versions", "migrate", "open_database", "open_intents",
    "parse_database_target", "parse_encryption_key", "require_current_schema", "utc_now",
]
