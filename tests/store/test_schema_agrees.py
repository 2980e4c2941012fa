"""The schema is written twice — DDL in migrations.py, the column map in tables.py — so a migrated
database must hold exactly the tables, columns, nullability and primary keys the models describe.
Runs on SQLite and on PostgreSQL (the `db` fixture is migrated to the latest version)."""
from __future__ import annotations

from dataclasses import fields

from itrader.store import LATEST_VERSION


def _models(db):
    return [getattr(db.tables, f.name) for f in fields(db.tables)]


def _described(model) -> dict[str, tuple[bool, bool]]:
    """column -> (nullable, primary key), as the model says."""
    return {f.column_name: (f.null, f.primary_key) for f in model._meta.sorted_fields}


def _migrated(db, table: str) -> dict[str, tuple[bool, bool]]:
    """column -> (nullable, primary key), as the database says. A primary key is never null,
    whatever the catalogue reports (SQLite's INTEGER PRIMARY KEY says nullable)."""
    return {c.name: (c.null and not c.primary_key, c.primary_key) for c in db.peewee.get_columns(table)}


def test_migrated_tables_are_the_modelled_tables(db):
    modelled = {model._meta.table_name for model in _models(db)}
    migrated = {name for name in db.peewee.get_tables() if not name.startswith("sqlite_")}  # SQLite's own
    assert migrated == modelled


def test_every_column_agrees_with_its_model(db):
    for model in _models(db):
        table = model._meta.table_name
        described = _described(model)
        assert len(described) > 1 and _migrated(db, table) == described, table


def test_the_models_describe_the_latest_migration(db):
    version = db.tables.schema_version
    assert max(row.version for row in version.select()) == LATEST_VERSION
