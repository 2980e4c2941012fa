"""The desk's switches (table `desk_switches`): settings an operator flips on a running desk that must
outlive a restart and hold for every daemon sharing the database. Today one: the pause."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Callable

from peewee import EXCLUDED

from .database import Database
from .fields import utc_now

PAUSE = "pause"


class SwitchStore:
    def __init__(self, db: Database, clock: Callable[[], datetime] = utc_now) -> None:
        self._db = db
        self._clock = clock
        self._rows = db.tables.desk_switch

    def __repr__(self) -> str:
        return f"SwitchStore({self._db!r})"

    def get(self, name: str) -> dict[str, Any] | None:
        rows = self._rows
        with self._db.connection():
            row = rows.get_or_none(rows.name == name)
        return row.value if row is not None else None

    def set(self, name: str, value: dict[str, Any]) -> None:
        rows = self._rows
        with self._db.transaction():
            (rows.insert(name=name, value=value, updated_at=self._clock())
             .on_conflict(conflict_target=[rows.name],
                          update={rows.value: EXCLUDED.value, rows.updated_at: EXCLUDED.updated_at})
             .execute())
