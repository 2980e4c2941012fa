"""The allocator's pure decisions (itrader.allocator_rules): market pages, reservations, account loads
and withdrawals. The Allocator actor that wires them is tested in tests/actors/test_allocator.py."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from itrader.allocation import LiveAd
from itrader.allocator_rules import (
    Assignment, CachedPage, MarketAsk, account_loads, bind_new_ads, expired_reservations, market_ask_due,
    market_reader, page_is_fresh, rebalance_reason, reported_recently, twin_reason, withdrawals,
)


@dataclass(frozen=True)
class Health:  # the fields of actors.messages.AccountHealth the rules read
    account: str
    healthy: bool
    ads: tuple[tuple[str, str, bool], ...]
    open_deals: int
    max_ads: int


def test_pure_market_decisions() -> None:
    assert page_is_fresh(CachedPage((Decimal("80"),), stamped_at=100.0), now=160.0, max_age=60.0)
    assert not page_is_fresh(CachedPage((Decimal("80"),), stamped_at=100.0), now=160.5, max_age=60.0)
    assert not page_is_fresh(None, now=0.0, max_age=60.0)

    assert market_ask_due(None, now=0.0)
    in_flight = MarketAsk("acc1", asked_at=100.0)
    assert not market_ask_due(in_flight, now=109.0, resend_after=10, ask_interval=5)
    assert market_ask_due(in_flight, now=110.5, resend_after=10, ask_interval=5)
    failed = MarketAsk("acc1", asked_at=100.0, answered=True, error="boom")
    assert not market_ask_due(failed, now=104.0, resend_after=10, ask_interval=5)
    assert market_ask_due(failed, now=105.0, resend_after=10, ask_interval=5)

    assert market_reader([], None, 0) is None
    assert [market_reader(["a", "b"], None, turn) for turn in range(3)] == ["a", "b", "a"]
    assert market_reader(["a", "b"], "a", 0) == market_reader(["a", "b"], "a", 1) == "b"
    assert market_reader(["a"], "a", 0) == "a"  # the only one left is asked again


def test_an_account_load_counts_its_reported_ads_and_its_unbound_reservations() -> None:
    health = {"a": Health("a", True, (("ad1", "sbp", False),), open_deals=1, max_ads=2),
              "b": Health("b", False, (), open_deals=0, max_ads=2)}
    assignments = [Assignment(7, "a", "tinkoff", since=1.0), Assignment(8, "a", "sbp", since=0.5, ad_id="ad1")]
    loads = account_loads(["a", "b", "c"], health, usable=lambda name: True, assignments=assignments,
                          default_max_ads=3)
    a, b, c = loads
    assert a.ads == (LiveAd("ad1", "sbp"), LiveAd("reserved:7", "tinkoff")) and a.open_deals == 2 and a.healthy
    assert not b.healthy  # reported unhealthy
    assert not c.healthy and c.max_ads == 3  # never reported
    assert not account_loads(["a"], health, lambda name: False, [], 2)[0].healthy  # e.g. its lease is elsewhere


def test_a_new_ad_binds_to_the_oldest_reservation_of_its_method_on_its_account() -> None:
    older = Assignment(1, "a", "sbp", since=1.0)
    newer = Assignment(2, "a", "sbp", since=2.0)
    other = Assignment(3, "b", "sbp", since=0.0)
    bound = Assignment(4, "a", "tinkoff", since=0.0, ad_id="ad9")
    bind_new_ads("a", [("ad5", "sbp", False), ("ad9", "tinkoff", True)], {"ad9"}, [newer, older, other, bound])
    assert (older.ad_id, newer.ad_id, other.ad_id) == ("ad5", None, None)
    assert bound.taken  # a bound ad's order is noticed
    bind_new_ads("a", [("ad6", "sbp", True)], set(), [newer])
    assert newer.ad_id is None  # an ad already taken is not a new ad of ours


def test_only_untaken_ads_leave_a_down_account() -> None:
    assignments = [Assignment(1, "a", "sbp", 0.0, ad_id="x", taken=True), Assignment(2, "a", "tinkoff", 0.0),
                   Assignment(3, "b", "sbp", 0.0)]
    assert [a.deal_id for a in withdrawals("a", assignments)] == [2]
    assert twin_reason(12).startswith("waiting_for_twin: deal 12")


def test_when_an_account_is_given_ads_and_when_its_ads_move() -> None:
    assert reported_recently(100.0, now=220.0, stale_after=120.0)
    assert not reported_recently(100.0, now=220.5, stale_after=120.0)
    assert not reported_recently(None, now=0.0, stale_after=120.0)  # never reported
    assert rebalance_reason(None, 100.0, now=150.0, grace=60.0, stale_after=120.0) is None
    assert rebalance_reason(80.0, 140.0, now=150.0, grace=60.0, stale_after=120.0) == "unhealthy"
    assert rebalance_reason(None, 20.0, now=150.0, grace=60.0, stale_after=120.0) == "silent"
    assert rebalance_reason(None, None, now=1e9, grace=60.0, stale_after=120.0) is None  # never reported


def test_a_reservation_that_never_became_an_ad_expires() -> None:
    assignments = [Assignment(1, "a", "sbp", since=0.0), Assignment(2, "a", "sbp", since=0.0, ad_id="x"),
                   Assignment(3, "a", "tinkoff", since=50.0)]
    assert expired_reservations(assignments, now=120.5, ttl=120.0) == [1]
