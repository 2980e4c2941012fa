"""What a completed deal earned and the day's totals (itrader.day_totals: pure)."""
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from itrader.day_totals import (
    CompletedDeal, completed_deal, day_start, day_totals, spread_earned, totals_view, usdt_sold,
)

# A payout as Gate shows it after the take (reference/gate-api.md): 5000 RUB, credited 5135 RUB = 64.85 USDT.
RAW = {"amount": {"trader": {"643": 5000, "000001": 63.15}}, "total": {"trader": {"643": 5135, "000001": 64.85}},
       "meta": {"courses": {"trader": 79.18}}}
ORDER = {"order_id": "ORD-1", "amount": "5000", "price": "78.00", "quantity": "64.1025"}


def test_earned_is_gates_credit_less_the_usdt_released_on_bybit():
    deal = completed_deal("5000", "78.00", "ORD-1", {"payout": {"raw": RAW}, "order": ORDER})
    assert deal == CompletedDeal(Decimal("5000"), Decimal("78.00"), Decimal("64.1025"), Decimal("64.85"))
    assert usdt_sold(deal) == Decimal("64.1025")
    assert spread_earned(deal) == Decimal("0.7475")


def test_the_ads_spare_usdt_is_not_sold_and_without_the_orders_note_the_order_is_amount_over_price():
    # A deal journaled before the order's note was kept: 5000 RUB at 78 is 64.1025 USDT (Bybit's 4 places,
    # down), never the ad's quantity with its spare 5 USDT.
    deal = completed_deal("5000", "78.00", "ORD-1", {"payout": {"raw": RAW}})
    assert usdt_sold(deal) == Decimal("64.1025") and spread_earned(deal) == Decimal("0.7475")
    # Another order's note (the first buyer cancelled) is not this deal's sale.
    other = completed_deal("5000", "78.00", "ORD-2", {"payout": {"raw": RAW}, "order": {**ORDER, "quantity": "1"}})
    assert usdt_sold(other) == Decimal("64.1025")
    unlisted = completed_deal("5000", "78.00", "ORD-1", {"payout": {"raw": RAW}, "order": {**ORDER, "quantity": "0"}})
    assert usdt_sold(unlisted) == Decimal("64.1025")


def test_a_deal_whose_credit_is_unknown_earns_unknown_not_zero():
    hidden = completed_deal("5000", "78", "ORD-1", {"payout": {"raw": {"amount": [], "total": []}}, "order": ORDER})
    assert spread_earned(hidden) is None
    assert spread_earned(completed_deal("5000", None, None, {})) is None
    totals = day_totals([hidden, completed_deal("5000", "78.00", "ORD-1", {"payout": {"raw": RAW}, "order": ORDER})])
    assert (totals.completed, totals.rub, totals.usdt_sold) == (2, Decimal("10000"), Decimal("128.2050"))
    assert (totals.earned_usdt, totals.unknown_earnings) == (Decimal("0.7475"), 1)


def test_a_deal_can_earn_less_than_nothing():
    # Priced under Gate's course: more USDT goes to the buyer than Gate credits.
    deal = CompletedDeal(Decimal("5000"), Decimal("70"), Decimal("71.4285"), Decimal("64.85"))
    assert spread_earned(deal) == Decimal("-6.5785")


def test_the_day_starts_at_midnight_utc_whatever_the_zone_of_the_clock():
    moscow = timezone(timedelta(hours=3))
    assert day_start(datetime(2026, 12, 4, 1, 30, tzinfo=moscow)) == datetime(2026, 12, 3, tzinfo=timezone.utc)
    assert day_start(datetime(2026, 12, 3, 23, 59, tzinfo=timezone.utc)) == datetime(2026, 12, 3, tzinfo=timezone.utc)
    with pytest.raises(ValueError):
        day_start(datetime(2026, 12, 3, 12, 0))


def test_the_api_view_is_exact_text():
    totals = day_totals([completed_deal("6600", "78.00", "O", {"payout": {"raw": RAW}, "order": ORDER | {"order_id": "O"}})])
    view = totals_view(totals, datetime(2026, 12, 3, tzinfo=timezone.utc))
    assert view == {"since": "2026-12-03T00:00:00+00:00", "completed": 1, "rub": "6600.00", "usdt_sold": "64.1025",
                    "earned_usdt": "0.7475", "earned_unknown": 0}
    empty = totals_view(day_totals([]), datetime(2026, 12, 3, tzinfo=timezone.utc))
    assert empty["completed"] == 0 and empty["earned_usdt"] == "0.0000"
