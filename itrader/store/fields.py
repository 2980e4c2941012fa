"""Column types that behave identically on SQLite and PostgreSQL.

Money is TEXT holding the exact Decimal string (SQLite's NUMERIC affinity
would turn it into a float). Times are TEXT in one fixed-width UTC ISO-8601
form, so they sort as text and never meet a session time zone. JSON is TEXT.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from peewee import TextField

TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%f+00:00"


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def decimal_to_text(value: Decimal | int | str) -> str:
    """Exact fixed-point text of a money amount (scale kept: "0.10" stays "0.10").

    Floats are refused because they are already inexact.
    """
    if isinstance(value, (float, bool)):
        raise TypeError(f"money must be Decimal, int or str, not {type(value).__name__}")
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"not a decimal amount: {value!r}") from None
    if not number.is_finite():
        raise ValueError(f"money must be finite, got {number}")
    return format(number, "f")


def time_to_text(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("naive datetime refused: pass a timezone-aware time")
    return value.astimezone(timezone.utc).strftime(TIME_FORMAT)


def text_to_time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return time_to_text(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def to_json(value: Any) -> str:
    """JSON text; Decimals become strings and datetimes UTC ISO strings."""
    return json.dumps(value, default=_json_default, ensure_ascii=False, sort_keys=True)


class DecimalText(TextField):
    def db_value(self, value):
        return None if value is None else decimal_to_text(value)

    def python_value(self, value):
        return None if value is None else Decimal(value)


class UtcTime(TextField):
    def db_value(self, value):
        return None if value is None else time_to_text(value)

    def python_value(self, value):
        return None if value is None else text_to_time(value)


class JsonText(TextField):
    def db_value(self, value):
        return None if value is None else to_json(value)

    def python_value(self, value):
        return None if value is None else json.loads(value)
