from __future__ import annotations

from pathlib import Path

import pytest

from itrader.store import UnsupportedDatabaseUrl, open_database, parse_database_target


def test_plain_path_and_sqlite_urls_select_sqlite():
    assert parse_database_target("var/itrader.sqlite3").sqlite_path == "var/itrader.sqlite3"
    assert parse_database_target("sqlite:///var/x.db").sqlite_path == "var/x.db"
    assert parse_database_target("sqlite:////abs/x.db").sqlite_path == "/abs/x.db"
    assert parse_database_target("sqlite:///:memory:").sqlite_path == ":memory:"


def test_postgresql_url_selects_postgresql_and_hides_the_password():
    target = parse_database_target("postgresql://trader:s3cr%40t@127.0.0.1:5544/itrader?sslmode=disable")
    assert target.backend == "postgresql"
    assert target.postgres_params == {
        "database": "itrader", "user": "trader", "password": "s3cr@t",
        "host": "127.0.0.1", "port": 5544, "sslmode": "disable",
    }
    assert "s3cr" not in target.display and "s3cr" not in repr(target)
    assert target.display == "postgresql://trader@127.0.0.1:5544/itrader"


def test_unsupported_scheme_is_a_clear_error():
    with pytest.raises(UnsupportedDatabaseUrl, match="unsupported database URL scheme 'mysql'"):
        parse_database_target("mysql://root@localhost/db")
    with pytest.raises(UnsupportedDatabaseUrl, match="database name"):
        parse_database_target("postgresql://u@127.0.0.1:5432/")


def test_sqlite_file_is_created_with_wal_and_foreign_keys(tmp_path: Path):
    path = tmp_path / "nested" / "dir" / "itrader.sqlite3"
    db = open_database(path)
    try:
        with db.connection() as conn:
            assert conn.execute_sql("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert conn.execute_sql("PRAGMA foreign_keys").fetchone()[0] == 1
            assert conn.execute_sql("PRAGMA busy_timeout").fetchone()[0] == 5000
        assert path.exists()
    finally:
        db.close()


def test_repr_of_a_postgresql_database_has_no_password(postgres_server):
    db = open_database(f"postgresql://postgres:hunter2@127.0.0.1:{postgres_server.port}/postgres")
    try:
        assert "hunter2" not in repr(db)
    finally:
        db.close()
