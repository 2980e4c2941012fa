"""Gate, Bybit and mailbox accounts; their secrets stay encrypted until asked for."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Callable

import peewee

from .crypto import Secret, SecretBox
from .database import Database
from .errors import AccountExists, AccountNotFound, MissingEncryptionKey
from .fields import utc_now
from .records import ACCOUNT_KINDS, Account


def _secret_context(kind: str, name: str) -> str:
    """Associated data binding a ciphertext to its account row."""
    return f"account {kind}/{name}"


class AccountStore:
    def __init__(self, db: Database, box: SecretBox | None, clock: Callable[[], datetime] = utc_now) -> None:
        self._db = db
        self._box = box
        self._clock = clock
        self._rows = db.tables.account

    def __repr__(self) -> str:
        return f"AccountStore({self._db!r})"

    def _require_box(self) -> SecretBox:
        if self._box is None:
            raise MissingEncryptionKey("ENCRYPTION_KEY is not set: account secrets cannot be read or written")
        return self._box

    def add(self, kind: str, name: str, secret: Any, settings: dict[str, Any] | None = None) -> Account:
        """Store a new account. `secret` is any JSON value (API secret, cookies, password)."""
        if kind not in ACCOUNT_KINDS:
            raise ValueError(f"account kind must be one of {sorted(ACCOUNT_KINDS)}, not {kind!r}")
        if not name:
            raise ValueError("account name must not be empty")
        sealed = self._require_box().encrypt(secret, _secret_context(kind, name))
        now = self._clock()
        try:
            with self._db.transaction():
                account_id = self._rows.insert(
                    kind=kind, name=name, settings=settings or {}, secret=sealed,
                    enabled=True, created_at=now, updated_at=now,
                ).execute()
        except peewee.IntegrityError:
            raise AccountExists(f"account {kind}/{name} already exists") from None
        return self.get(account_id)

    def get(self, account_id: int) -> Account:
        with self._db.connection():
            row = self._rows.get_or_none(self._rows.id == account_id)
        if row is None:
            raise AccountNotFound(f"no account with id {account_id}")
        return _account(row)

    def find(self, kind: str, name: str) -> Account | None:
        with self._db.connection():
            row = self._rows.get_or_none((self._rows.kind == kind) & (self._rows.name == name))
        return None if row is None else _account(row)

    def list(self, kind: str | None = None, enabled_only: bool = False) -> list[Account]:
        query = self._rows.select().order_by(self._rows.kind, self._rows.name)
        if kind is not None:
            query = query.where(self._rows.kind == kind)
        if enabled_only:
            query = query.where(self._rows.enabled == True)  # noqa: E712 (SQL expression)
        with self._db.connection():
            return [_account(row) for row in query]

    def disable(self, account_id: int) -> Account:
        return self._set_enabled(account_id, False)

    def enable(self, account_id: int) -> Account:
        return self._set_enabled(account_id, True)

    def _set_enabled(self, account_id: int, enabled: bool) -> Account:
        self._update(account_id, enabled=enabled)
        return self.get(account_id)

    def secret(self, account_id: int) -> Secret:
        """Decrypt on demand. Raises SecretDecryptionError on a wrong ENCRYPTION_KEY."""
        box = self._require_box()
        with self._db.connection():
            row = self._rows.get_or_none(self._rows.id == account_id)
        if row is None:
            raise AccountNotFound(f"no account with id {account_id}")
        return box.decrypt(row.secret, _secret_context(row.kind, row.name))

    def replace_secret(self, account_id: int, secret: Any) -> None:
        """E.g. refreshed Gate session cookies."""
        account = self.get(account_id)
        sealed = self._require_box().encrypt(secret, _secret_context(account.kind, account.name))
        self._update(account_id, secret=sealed)

    def _update(self, account_id: int, **columns: Any) -> None:
        with self._db.transaction():
            changed = (
                self._rows.update(updated_at=self._clock(), **columns)
                .where(self._rows.id == account_id)
                .execute()
            )
        if changed == 0:
            raise AccountNotFound(f"no account with id {account_id}")


def _account(row: peewee.Model) -> Account:
    return Account(
        id=row.id, kind=row.kind, name=row.name, settings=row.settings, enabled=bool(row.enabled),
        created_at=row.created_at, updated_at=row.updated_at,
    )
