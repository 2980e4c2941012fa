"""Gate, Bybit and mailbox accounts; their secrets stay encrypted until asked for.

Two kinds of change, told apart by `revision`: an operator's (add, a new secret, new settings, a revival)
bumps it, and a running daemon restarts the account's actor when it sees a new revision; the daemon's
own (a renewed Gate session, `save_session`) keeps it, and is written only while the revision is still
the one the daemon started the account with — an operator's newer secret is never overwritten.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Callable, Collection

import peewee

from .crypto import Secret, SecretBox
from .database import Database
from .errors import AccountExists, AccountNotFound, MissingEncryptionKey, SecretDecryptionError
from .fields import utc_now
from .records import ACCOUNT_KINDS, REMOVED_SETTING, Account

ERASED = ""  # the secret column of a removed account that deals still name


def _secret_context(kind: str, name: str) -> str:
    """Associated data binding a ciphertext to its account row."""
    return f"account {kind}/{name}"


class AccountStore:
    def __init__(self, db: Database, box: SecretBox | None, clock: Callable[[], datetime] = utc_now) -> None:
        self._db = db
        self._box = box
        self._clock = clock
        self._rows = db.tables.account
        self._deals = db.tables.deal

    def __repr__(self) -> str:
        return f"AccountStore({self._db!r})"

    @property
    def can_decrypt(self) -> bool:
        return self._box is not None

    def _require_box(self) -> SecretBox:
        if self._box is None:
            raise MissingEncryptionKey("ENCRYPTION_KEY is not set: account secrets cannot be read or written")
        return self._box

    def add(self, kind: str, name: str, secret: Any, settings: dict[str, Any] | None = None) -> Account:
        """Store a new account. `secret` is any JSON value (API secret, cookies, password).
        A removed account of that name (kept for its deals) is revived with the new secret."""
        if kind not in ACCOUNT_KINDS:
            raise ValueError(f"account kind must be one of {sorted(ACCOUNT_KINDS)}, not {kind!r}")
        if not name:
            raise ValueError("account name must not be empty")
        sealed = self._require_box().encrypt(secret, _secret_context(kind, name))
        now = self._clock()
        existing = self.find(kind, name)
        if existing is not None:
            if not existing.removed:
                raise AccountExists(f"account {kind}/{name} already exists")
            self._update(existing.id, bump=True, settings=settings or {}, secret=sealed, enabled=True)
            return self.get(existing.id)
        try:
            with self._db.transaction():
                account_id = self._rows.insert(
                    kind=kind, name=name, settings=settings or {}, secret=sealed,
                    enabled=True, created_at=now, updated_at=now, revision=1,
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

    def list(self, kind: str | None = None, enabled_only: bool = False, include_removed: bool = True) -> list[Account]:
        query = self._rows.select().order_by(self._rows.kind, self._rows.name)
        if kind is not None:
            query = query.where(self._rows.kind == kind)
        if enabled_only:
            query = query.where(self._rows.enabled == True)  # noqa: E712 (SQL expression)
        with self._db.connection():
            accounts = [_account(row) for row in query]
        return [a for a in accounts if include_removed or not a.removed]

    def disable(self, account_id: int) -> Account:
        return self._set_enabled(account_id, False)

    def enable(self, account_id: int) -> Account:
        if self.get(account_id).removed:
            raise AccountNotFound(f"account {account_id} was removed; add it again")
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
        if row.secret == ERASED:
            raise SecretDecryptionError(f"the secret of account {row.kind}/{row.name} was erased when it was removed")
        return box.decrypt(row.secret, _secret_context(row.kind, row.name))

    def replace_secret(self, account_id: int, secret: Any, settings: dict[str, Any] | None = None) -> Account:
        """An operator's new secret (and settings, when given): a running daemon restarts the account."""
        account = self.get(account_id)
        sealed = self._require_box().encrypt(secret, _secret_context(account.kind, account.name))
        columns: dict[str, Any] = {"secret": sealed}
        if settings is not None:
            columns["settings"] = settings
        self._update(account_id, bump=True, **columns)
        return self.get(account_id)

    def update_settings(self, account_id: int, settings: dict[str, Any]) -> Account:
        self._update(account_id, bump=True, settings=settings)
        return self.get(account_id)

    def save_session(self, account_id: int, revision: int, secret: Any) -> bool:
        """The daemon's own renewal (refreshed Gate cookies): written only if the account is still at
        `revision`; False when an operator changed it meanwhile (the daemon restarts it with theirs)."""
        account = self.get(account_id)
        sealed = self._require_box().encrypt(secret, _secret_context(account.kind, account.name))
        with self._db.transaction():
            changed = (self._rows.update(secret=sealed, updated_at=self._clock())
                       .where((self._rows.id == account_id) & (self._rows.revision == revision))
                       .execute())
        return changed == 1

    def deals_naming(self, account_id: int) -> int:
        """How many deals recorded this account (as their Gate or Bybit account)."""
        deals = self._deals
        with self._db.connection():
            return (deals.select().where((deals.gate_account_id == account_id) | (deals.bybit_account_id == account_id))
                    .count())

    def live_deals(self, account_id: int, ended_states: Collection[str]) -> int:
        """Deals on this account (Gate or Bybit) not in one of `ended_states`: what a disabled account
        still has to finish."""
        deals = self._deals
        with self._db.connection():
            return (deals.select()
                    .where(((deals.gate_account_id == account_id) | (deals.bybit_account_id == account_id))
                           & deals.state.not_in(list(ended_states)))
                    .count())

    def remove(self, account_id: int) -> bool:
        """Delete the account and its secret. One that deals name is kept as a record instead: disabled,
        its secret erased, marked removed. True when the row was deleted."""
        account = self.get(account_id)
        if self.deals_naming(account_id) == 0:
            with self._db.transaction():
                self._rows.delete().where(self._rows.id == account_id).execute()
            return True
        self._update(account_id, bump=True, enabled=False, secret=ERASED,
                     settings={**account.settings, REMOVED_SETTING: True})
        return False

    def _update(self, account_id: int, bump: bool = False, **columns: Any) -> None:
        if bump:
            columns["revision"] = self._rows.revision + 1
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
        created_at=row.created_at, updated_at=row.updated_at, revision=int(row.revision),
    )
