"""Database selection: a SQLite file by default, PostgreSQL when the URL says so.

Concurrency model under gevent:
* SQLite: one shared connection guarded by a (gevent-patched) lock. SQLite
  calls block the hub briefly anyway; serialising them in-process means a
  greenlet never sits in SQLite's busy-wait (which would block the hub)
  waiting for a lock held by another greenlet. The busy timeout only covers
  other processes (e.g. the CLI beside the daemon). A COMMIT waits for its
  fsync (synchronous=FULL, a few ms each, a dozen per deal): it runs in
  gevent's thread pool, so the loop goes on meanwhile — the status page and
  the platform calls — while the lock still keeps the connection to one
  greenlet at a time.
* PostgreSQL: a bounded pool; each operation checks a connection out for its
  own greenlet and returns it. psycogreen makes psycopg2 wait on the hub
  instead of blocking it.
Every store operation is one small transaction (`Database.transaction`).

A process frozen inside a transaction (SIGSTOP, a VM pause) would hold its row
locks for as long as it is frozen, and the daemon that took its account leases
over (DESIGN §9) would wait on them. PostgreSQL ends a session that sits idle in
a transaction for POSTGRES_IDLE_IN_TRANSACTION_MS: its transaction rolls back,
its locks go, and the frozen process finds its connection gone when it wakes.
"""
from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Literal
from urllib.parse import parse_qsl, unquote, urlsplit

import gevent
import peewee
from gevent import monkey
from playhouse.pool import PooledPostgresqlDatabase

from .errors import UnsupportedDatabaseUrl
from .tables import Tables, define_tables

Backend = Literal["sqlite", "postgresql"]

# synchronous=FULL: with WAL, NORMAL may lose the last commits on power loss, and a
# lost "intent" journal row would let a money step run twice after restart.
SQLITE_PRAGMAS = {"journal_mode": "wal", "foreign_keys": 1, "busy_timeout": 5000, "synchronous": "full"}
SQLITE_BUSY_TIMEOUT_S = 5
POSTGRES_SCHEMES = ("postgresql", "postgres")
# Our transactions are a few statements sent back to back: idle for this long inside one means the
# process is frozen (module docstring), far longer than any greenlet waits for its turn.
POSTGRES_IDLE_IN_TRANSACTION_MS = 5000


@dataclass(frozen=True)
class DatabaseTarget:
    """Where the data lives, parsed from DATABASE_URL or a path."""

    backend: Backend
    display: str  # safe to log: no password
    sqlite_path: str | None = None
    postgres_params: dict[str, Any] = field(default_factory=dict, repr=False)


def parse_database_target(url_or_path: str | Path) -> DatabaseTarget:
    """`postgresql://user:pw@host:port/db?opt=v`, `sqlite:///path`, or a plain file path."""
    text = str(url_or_path)
    if "://" not in text:
        return DatabaseTarget("sqlite", display=f"sqlite:///{text}", sqlite_path=text)
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme == "sqlite":
        path = unquote(parts.path[1:] if parts.path.startswith("/") else parts.path)
        if not path:
            raise UnsupportedDatabaseUrl("sqlite URL needs a path: sqlite:///relative/file or sqlite:////abs/file")
        return DatabaseTarget("sqlite", display=f"sqlite:///{path}", sqlite_path=path)
    if scheme in POSTGRES_SCHEMES:
        dbname = unquote(parts.path.lstrip("/"))
        if not dbname:
            raise UnsupportedDatabaseUrl("PostgreSQL URL needs a database name: postgresql://user@host:port/dbname")
        params: dict[str, Any] = {"database": dbname}
        if parts.username:
            params["user"] = unquote(parts.username)
        if parts.password:
            params["password"] = unquote(parts.password)
        if parts.hostname:
            params["host"] = parts.hostname
        if parts.port:
            params["port"] = parts.port
        params.update(parse_qsl(parts.query))
        user = f"{params['user']}@" if "user" in params else ""
        where = f"{parts.hostname or ''}{':' + str(parts.port) if parts.port else ''}"
        return DatabaseTarget("postgresql", display=f"postgresql://{user}{where}/{dbname}", postgres_params=params)
    raise UnsupportedDatabaseUrl(
        f"unsupported database URL scheme {scheme!r}: use a file path, sqlite:///PATH or postgresql://..."
    )


class Database:
    """An open database: the peewee handle, its tables and the transaction discipline."""

    def __init__(self, target: DatabaseTarget, peewee_db: peewee.Database) -> None:
        self.target = target
        self.backend: Backend = target.backend
        self.peewee = peewee_db
        self.tables: Tables = define_tables(peewee_db)
        # created here, after gevent patched threading, so it is a greenlet lock
        self._sqlite_lock = threading.RLock() if target.backend == "sqlite" else None

    def __repr__(self) -> str:
        return f"Database({self.target.display!r})"

    @contextlib.contextmanager
    def connection(self) -> Iterator[peewee.Database]:
        """A connection for a few reads (no transaction)."""
        if self._sqlite_lock is not None:
            with self._sqlite_lock:
                yield self.peewee
        else:
            with self.peewee.connection_context():
                yield self.peewee

    @contextlib.contextmanager
    def transaction(self) -> Iterator[peewee.Database]:
        """One small transaction; commits on success, rolls back on any exception."""
        with self.connection(), self.peewee.atomic():
            yield self.peewee

    def close(self) -> None:
        if self._sqlite_lock is not None:
            with self._sqlite_lock:
                self.peewee.close()
        else:
            self.peewee.close_all()


def open_database(url_or_path: str | Path, *, max_connections: int = 20) -> Database:
    """Open (not migrate) the database named by DATABASE_URL or a SQLite file path."""
    target = parse_database_target(url_or_path)
    if target.backend == "sqlite":
        return Database(target, _open_sqlite(target.sqlite_path or ""))
    _make_psycopg2_cooperative()
    params = dict(target.postgres_params)
    dbname = params.pop("database")
    params["options"] = " ".join(filter(None, (
        params.get("options"), f"-c idle_in_transaction_session_timeout={POSTGRES_IDLE_IN_TRANSACTION_MS}")))
    pool = PooledPostgresqlDatabase(
        dbname, max_connections=max_connections, stale_timeout=300, timeout=30, **params
    )
    return Database(target, pool)


class _SqliteCommittingOffTheLoop(peewee.SqliteDatabase):
    def commit(self) -> None:
        if self.is_closed() or not monkey.is_module_patched("threading"):
            return super().commit()  # not under gevent (a plain script): as peewee does
        cursor = self.cursor()
        with peewee.__exception_wrapper__:
            gevent.get_hub().threadpool.apply(cursor.execute, ("COMMIT",))
        return None


def _open_sqlite(path: str) -> peewee.SqliteDatabase:
    if path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    return _SqliteCommittingOffTheLoop(
        path,
        pragmas=SQLITE_PRAGMAS,
        timeout=SQLITE_BUSY_TIMEOUT_S,
        # IMMEDIATE takes the write lock at BEGIN, so a transaction never fails
        # half-way when it upgrades from reading to writing.
        lock_type="IMMEDIATE",
        thread_safe=False,  # one connection shared by all greenlets, guarded by our lock
        check_same_thread=False,
    )


def _make_psycopg2_cooperative() -> None:
    try:
        import psycogreen.gevent
    except ImportError:
        raise UnsupportedDatabaseUrl(
            "PostgreSQL needs psycopg2 and psycogreen: pip install 'itrader[postgres]'"
        ) from None
    # psycopg2 is a C driver: without this wait callback every query blocks the gevent hub.
    psycogreen.gevent.patch_psycopg()
