"""What the account actors publish for the status page (itrader.account_figures) and how the console shows it."""
from datetime import datetime, timezone
from decimal import Decimal

import pytest

from itrader.account_figures import AccountFigures, budget_use, gate_balance
from itrader.console import views
from itrader.limits import CountedLimiter, LocalLimiter


def test_budget_use_is_the_tokens_granted_over_the_most_the_bucket_can_grant_in_the_window():
    # A read budget of 7/s with a burst of 2: at most 2 + 7 × 60 = 422 calls in a minute.
    assert budget_use(0, 60, 7.0, 2) == 0.0
    assert budget_use(211, 60, 7.0, 2) == 0.5
    assert budget_use(422, 60, 7.0, 2) == 1.0
    assert budget_use(500, 60, 7.0, 2) == 1.0  # never more than all of it
    with pytest.raises(ValueError):
        budget_use(1, 0, 7.0, 2)


def test_the_counted_limiter_remembers_each_budgets_grants_of_the_last_minute_only():
    now = [1000.0]
    limiter = CountedLimiter(LocalLimiter(clock=lambda: now[0]), clock=lambda: now[0])
    granted = sum(limiter.try_acquire("bybit:acc1:read", 7.0, 2) == 0 for _ in range(5))
    assert granted == 2 and limiter.granted("bybit:acc1:read", 60) == 2  # refused tries are not counted
    now[0] += 30
    for _ in range(3):
        limiter.try_acquire("bybit:acc1:read", 7.0, 2)
    assert limiter.granted("bybit:acc1:read", 60) == 4 and limiter.granted("bybit:acc1:read", 10) == 2
    assert limiter.granted("bybit:acc2:read", 60) == 0
    now[0] += 45  # the first second's grants are older than a minute now
    assert limiter.granted("bybit:acc1:read", 60) == 2
    assert LocalLimiter().granted("bybit:acc1:read", 60) is None  # an uncounted limiter says it does not know


def test_figures_carry_the_time_they_were_learned_and_the_console_shows_them():
    figures = AccountFigures()
    at = datetime(2026, 12, 3, 19, 5, 7, tzinfo=timezone.utc)
    figures.note("gate", "desk1", "balance", gate_balance(Decimal("9993400.00"), "read"), at=at)
    figures.note("bybit", "acc1", "usdt", {"available": "1234.5678"}, at=at)
    figures.note("bybit", "acc1", "budget", {"read": 0.1234, "write": 0.0, "window_seconds": 60}, at=at)
    assert figures.of("gate", "desk1") == {"balance": {"rub": "9993400.00", "source": "read",
                                                       "at": "2026-12-03T19:05:07+00:00"}}
    assert figures.of("gate", "acc1") == {}  # per platform: a Gate and a Bybit account may share a name

    gate = views.account_rows([{"kind": "gate", "name": "desk1", **figures.of("gate", "desk1")}])[0]
    assert (gate["balance"], gate["balance_note"], gate["usdt"]) == ("9 993 400.00 RUB", "read 19:05:07", "")
    bybit = views.account_rows([{"kind": "bybit", "name": "acc1", "live_ads": 2, **figures.of("bybit", "acc1")}])[0]
    assert (bybit["usdt"], bybit["budget"]) == ("1234.57", "read 12 %, write 0 %")
    assert bybit["budget_note"] == "last 60 s, at 19:05:07" and "usdt" not in bybit["other"]
