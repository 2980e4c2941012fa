"""Every store test that takes `db` runs twice: on a SQLite file and on the private PostgreSQL."""
from __future__ import annotations

from typing import Iterator

import pytest

from itrader.store import Database, SecretBox, Store, migrate, open_database

KEY = "0123456789abcdef0123456789abcdef"  # 32 ASCII characters


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "var" / "itrader.sqlite3")
    return request.getfixturevalue("fresh_postgres_url")


@pytest.fixture
def open_db(db_url: str) -> Iterator:
    """Opens extra handles on the same database (another process would do the same); closes them all."""
    opened: list[Database] = []

    def _open() -> Database:
        handle = open_database(db_url)
        opened.append(handle)
        return handle

    yield _open
    for handle in opened:
        handle.close()


@pytest.fixture
def fresh_db(open_db) -> Database:
    """Opened, not migrated."""
    return open_db()


@pytest.fixture
def db(fresh_db: Database) -> Database:
    migrate(fresh_db)
    return fresh_db


@pytest.fixture
def store(db: Database) -> Store:
    return Store(db, SecretBox(KEY))
