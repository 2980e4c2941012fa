from __future__ import annotations

import gevent
import pytest

from itrader.store import (
    LATEST_VERSION, MIGRATIONS, Migration, SchemaOutOfDate, applied_versions, migrate, require_current_schema,
)


def _add_nickname_column(db) -> None:
    db.peewee.execute_sql("ALTER TABLE accounts ADD COLUMN nickname TEXT")


def test_migrate_applies_every_version_once(fresh_db):
    assert applied_versions(fresh_db) == []
    with pytest.raises(SchemaOutOfDate, match="run `itrader migrate`"):
        require_current_schema(fresh_db)

    assert migrate(fresh_db) == [m.version for m in MIGRATIONS]
    assert migrate(fresh_db) == []
    assert applied_versions(fresh_db) == [m.version for m in MIGRATIONS]
    require_current_schema(fresh_db)
    for table in ("accounts", "deals", "deal_events", "receipts", "processed_emails", "schema_version"):
        assert fresh_db.peewee.table_exists(table)


def test_a_new_migration_applies_only_itself(db):
    newer = (*MIGRATIONS, Migration(LATEST_VERSION + 1, "account nickname", _add_nickname_column))
    assert migrate(db, newer) == [LATEST_VERSION + 1]
    assert migrate(db, newer) == []
    assert applied_versions(db)[-1] == LATEST_VERSION + 1
    assert "nickname" in [c.name for c in db.peewee.get_columns("accounts")]
    with pytest.raises(SchemaOutOfDate, match=f"version {LATEST_VERSION + 1}"):
        require_current_schema(db)  # the code is older than the database


def test_a_failing_migration_leaves_nothing_half_applied(fresh_db):
    def broken(db) -> None:
        db.peewee.execute_sql("CREATE TABLE half_done (x INTEGER)")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        migrate(fresh_db, (*MIGRATIONS, Migration(LATEST_VERSION + 1, "broken", broken)))
    assert applied_versions(fresh_db) == []
    assert not fresh_db.peewee.table_exists("half_done")


def test_migration_list_must_be_ordered(fresh_db):
    with pytest.raises(ValueError, match="ascending"):
        migrate(fresh_db, (MIGRATIONS[0], MIGRATIONS[0]))


def test_concurrent_migrate_from_two_handles_applies_once(open_db):
    first, second = open_db(), open_db()
    results = [job.get() for job in gevent.joinall(
        [gevent.spawn(migrate, first), gevent.spawn(migrate, second)], raise_error=True)]
    assert sorted(results, key=len) == [[], [m.version for m in MIGRATIONS]]
    assert applied_versions(first) == [m.version for m in MIGRATIONS]
