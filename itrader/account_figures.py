"""What each account's actor last learned of its account, for the status page and the console.

The actors write here as a side effect of the calls they make anyway (a Gate balance set or read at the
session keep-alive, a Bybit USDT read for the low-balance alert, the budget use at each tick); the web
layer reads it without asking any actor and without any extra call to Gate or Bybit. Every figure carries
the time it was learned (`at`, ISO UTC): a figure is as fresh as the call that brought it.
"""
from __future__ import annotations

import threading
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any


class AccountFigures:
    def __init__(self) -> None:
        self._figures: dict[tuple[str, str], dict[str, Any]] = {}
        self._lock = threading.Lock()

    def note(self, platform: str, account: str, name: str, value: dict[str, Any], at: datetime | None = None) -> None:
        """Figure `name` of the account is `value` (a dict of plain values), as of `at` (default: now)."""
        moment = (at or datetime.now(timezone.utc)).astimezone(timezone.utc)
        with self._lock:
            self._figures.setdefault((platform, account), {})[name] = {**value, "at": moment.isoformat()}

    def of(self, platform: str, account: str) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {name: dict(value) for name, value in self._figures.get((platform, account), {}).items()}


def gate_balance(rub: Decimal, source: str) -> dict[str, Any]:
    """A Gate account's RUB working balance: `set` by us (the last change that went through) or `read`
    from the panel (GET /auth/me, the session keep-alive) — whichever came last."""
    return {"rub": str(rub), "source": source}


def budget_use(granted: int, window: float, rate_per_second: float, burst: float) -> float:
    """The share of a token bucket's budget spent in the last `window` seconds: the tokens granted over
    the most the bucket can grant in that time (a full bucket, then the refill: burst + rate × window)."""
    if window <= 0 or rate_per_second <= 0:
        raise ValueError("window and rate_per_second must be positive")
    allowed = burst + rate_per_second * window
    return round(min(1.0, max(0, granted) / allowed), 4)
