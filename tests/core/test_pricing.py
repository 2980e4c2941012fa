"""Price and quantity rules: fixed rate, the market page rule, rounding that never under-covers."""
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given, strategies as st

from itrader.pricing import (
    AdTerms,
    PricingError,
    ad_terms,
    band_violation,
    is_moscow_night,
    market_page,
    market_price,
    market_rate,
    quantity_for,
    quote,
    quote_from_config,
    spec_page,
    with_markup,
)
from itrader.config import PricingConfig

UTC = timezone.utc


def msk(hour: int, minute: int = 0) -> datetime:
    """A Moscow wall-clock time expressed in UTC (MSK = UTC+3)."""
    return datetime(2026, 3, 10, hour, minute, tzinfo=timezone(timedelta(hours=3))).astimezone(UTC)


@pytest.mark.parametrize(
    "hour, minute, night",
    [(0, 59, False), (1, 0, True), (3, 30, True), (6, 59, True), (7, 0, False), (12, 0, False), (23, 59, False)],
)
def test_moscow_night_is_one_to_seven(hour, minute, night):
    assert is_moscow_night(msk(hour, minute)) is night


def test_night_uses_moscow_time_not_utc():
    # 23:30 UTC is 02:30 in Moscow: night.
    assert is_moscow_night(datetime(2026, 3, 10, 23, 30, tzinfo=UTC))
    # 02:30 UTC is 05:30 in Moscow: night; 04:30 UTC is 07:30: day.
    assert is_moscow_night(datetime(2026, 3, 10, 2, 30, tzinfo=UTC))
    assert not is_moscow_night(datetime(2026, 3, 10, 4, 30, tzinfo=UTC))


def test_naive_time_is_refused():
    with pytest.raises(PricingError):
        is_moscow_night(datetime(2026, 3, 10, 3, 0))


@pytest.mark.parametrize(
    "amount, hour, page",
    [
        ("50000", 12, 4),  # ≤ 50,000 by day
        ("1000", 0, 4),
        ("50000", 3, 2),  # ≤ 50,000 at night
        ("50000.01", 12, 5),  # > 50,000 by day
        ("200000", 7, 5),
        ("50000.01", 1, 3),  # > 50,000 at night
        ("120000", 6, 3),
    ],
)
def test_market_page_by_amount_and_moscow_time(amount, hour, page):
    assert market_page(Decimal(amount), msk(hour)) == page


def test_market_rate_is_the_second_to_last_item():
    items = [{"price": "90.10"}, {"price": "91.20"}, {"price": "92.30"}, {"price": "93.40"}]
    assert market_rate(items) == Decimal("92.30")
    assert market_rate([Decimal("80"), Decimal("81")]) == Decimal("80")


@pytest.mark.parametrize("items", [[], [{"price": "90"}]])
def test_market_page_with_fewer_than_two_items_is_an_error(items):
    with pytest.raises(PricingError, match="at least 2"):
        market_rate(items)


def test_market_item_without_price_is_an_error():
    with pytest.raises(PricingError):
        market_rate([{"price": "90"}, {"nope": 1}, {"price": "91"}])


def test_spec_page_keeps_sbp_and_tinkoff_ads_cheapest_first_whatever_the_list_order():
    # The official list is neither filtered nor sorted: a cheap ad for another method never counts.
    listing = [{"price": "83", "payments": ["382"]}, {"price": "70", "payments": ["14"]},
               {"price": "81", "payments": ["75", "14"]}, {"price": "82", "payments": [382]},
               {"price": "80", "payments": []}, {"price": "84", "payments": ["382", "75"]}]
    assert spec_page(listing, 1, size=2) == (Decimal("81"), Decimal("82"))
    assert spec_page(listing, 2, size=2) == (Decimal("83"), Decimal("84"))
    assert spec_page(listing, 3, size=2) == ()
    with pytest.raises(PricingError):
        spec_page(listing, 0)


@pytest.mark.parametrize("rate, last_good, refused", [
    ("80", None, None),
    ("88.9", None, None),  # 14 % over fixed_rate 78
    ("90", None, "15.4% off pricing.fixed_rate 78"),
    ("7.8", None, "90.0% off pricing.fixed_rate 78"),  # a stranger at a tenth of the price
    ("780", None, "900.0% off pricing.fixed_rate 78"),
    ("84", "80", None),  # 5 % over the last good rate
    ("84.1", "80", "5.1% off the last good market rate 80"),
    ("75.9", "80", "5.1% off the last good market rate 80"),
])
def test_a_market_rate_outside_the_band_is_refused_with_the_reason(rate, last_good, refused):
    reason = band_violation(Decimal(rate), Decimal("78"), Decimal("15"), last_good and Decimal(last_good),
                            Decimal("5"))
    if refused is None:
        assert reason is None
    else:
        assert refused in reason


def test_market_price_adds_markup_and_rounds_to_kopecks():
    items = [{"price": "90.00"}, {"price": "91.00"}, {"price": "99.99"}]
    assert market_price(items, Decimal("2.5")) == Decimal("93.28")  # 91 × 1.025 = 93.275 → 93.28


@pytest.mark.parametrize(
    "rate, markup, price",
    [("78", "0", "78.00"), ("78", "2.5", "79.95"), ("80.333", "0", "80.33"), ("80.335", "0", "80.34"),
     ("100", "-1", "99.00")],
)
def test_fixed_rate_with_markup(rate, markup, price):
    assert with_markup(Decimal(rate), Decimal(markup)) == Decimal(price)


@pytest.mark.parametrize("rate, markup", [("0", "0"), ("-5", "0"), ("80", "-100"), ("nan", "0"), ("abc", "0")])
def test_non_positive_or_bogus_rates_are_refused(rate, markup):
    with pytest.raises(PricingError):
        with_markup(rate, markup)


def test_quantity_is_amount_over_price_plus_five_rounded_up():
    # 5000 / 79.5 = 62.893… → 62.90 (rounded up) + 5
    assert quantity_for(Decimal("5000"), Decimal("79.50")) == Decimal("67.90")
    # exact division stays exact
    assert quantity_for(Decimal("7800"), Decimal("78")) == Decimal("105.00")
    assert quantity_for(Decimal("7800"), Decimal("78"), extra_usdt=0) == Decimal("100.00")


@pytest.mark.parametrize("amount, price", [("0", "78"), ("-1", "78"), ("1000", "0"), ("1000", "-78")])
def test_quantity_refuses_non_positive_inputs(amount, price):
    with pytest.raises(PricingError):
        quantity_for(amount, price)


def test_ad_terms_sell_exactly_the_payout_amount():
    terms = ad_terms(Decimal("12345.67"), Decimal("81.234"))
    assert terms == AdTerms(
        price=Decimal("81.23"), quantity=Decimal("156.99"), min_amount=Decimal("12345.67"),
        max_amount=Decimal("12345.67"),
    )


@given(
    amount=st.decimals(min_value=Decimal("1"), max_value=Decimal("10000000"), places=2),
    price=st.decimals(min_value=Decimal("1"), max_value=Decimal("1000"), places=2),
    extra=st.decimals(min_value=Decimal("0"), max_value=Decimal("10"), places=2),
)
def test_quantity_always_covers_the_buyers_amount(amount, price, extra):
    terms = ad_terms(amount, price, extra)
    assert terms.quantity * terms.price >= amount
    assert terms.quantity.as_tuple().exponent == -2
    assert terms.quantity - amount / terms.price - extra < Decimal("0.01")


def test_quote_fixed_and_market_modes():
    assert quote(Decimal("7800"), mode="fixed", fixed_rate="78") == AdTerms(
        Decimal("78.00"), Decimal("105.00"), Decimal("7800"), Decimal("7800"))
    market = quote(Decimal("7800"), mode="market", markup_percent="1",
                   market_items=[{"price": "80"}, {"price": "80.5"}, {"price": "82"}])
    assert market.price == Decimal("81.31")  # 80.5 × 1.01 = 81.305 → 81.31


def test_quote_market_without_items_or_unknown_mode_is_an_error():
    with pytest.raises(PricingError):
        quote(Decimal("1000"), mode="market")
    with pytest.raises(PricingError):
        quote(Decimal("1000"), mode="auto")


def test_quote_from_config_defaults():
    terms = quote_from_config(Decimal("5000"), PricingConfig())
    assert terms.price == Decimal("78.00")
    assert terms.quantity == Decimal("69.11")  # 64.102… → 64.11 + 5
