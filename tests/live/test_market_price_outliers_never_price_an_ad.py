"""Issue 12, item 12: Bybit's public ad list has no payment filter and no documented order, and any
stranger can post at any price. The daemon filters and sorts the list itself, and a market rate outside
the sanity band (too far from fixed_rate) prices no ad: the deal waits with the reason and the operator
hears of it. Once the market is sane again the same deal goes on. Over real HTTP: the sandbox's control
API plants the strangers' ads, the daemon reads the list through a Bybit account."""
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from itrader import pricing
from itrader.bybit import BybitClient, Budgets
from tests.live.sandbox_control import control, events
from tests.pipeline.harness import TERMINAL

MARKET_CONFIG = '[pricing]\nmode = "market"\nmarkup_percent = "1"\nmarket_max_deviation_percent = "15"\n'
AMOUNT = Decimal("5000")


def test_strangers_ads_at_a_tenth_of_the_price_make_the_deal_wait_instead_of_pricing_its_ad(world, make_daemon):
    # Fifty strangers sell at a tenth of the usual price, for SBP and Tinkoff: every page the Spec reads is
    # theirs (the deepest is page 5, items 41-50), so the market rule would price the ad at about 8 RUB.
    planted = control(world, "POST", "/bybit/market/outliers", factor="0.1", count=50)["planted"]
    assert len(planted) == 50
    daemon = make_daemon(extra=MARKET_CONFIG)
    payout = world.create_payout(AMOUNT, "sbp", "sberbank", persona="honest")

    daemon.wait_for(lambda: events(daemon, "market_price_refused"), 30, "the operator event")
    refused = events(daemon, "market_price_refused")[0]
    assert Decimal(refused["rate"]) < 10 and "pricing.fixed_rate 78" in refused["reason"]
    daemon.wait_for(lambda: "sanity band" in (daemon.deal_for_payout(payout["id"]).reason or ""), 30,
                    "the deal to name the band")
    row = daemon.deal_for_payout(payout["id"])
    assert row.state == "WAITING_ACCOUNT", row.reason
    assert world.ledger.entries("bybit_ad_create") == []  # no ad at a price a stranger dictated

    # The strangers leave: the same deal goes online at the rule's price and completes.
    control(world, "DELETE", "/bybit/market/outliers")
    pages = {pricing.market_page(AMOUNT, datetime.now(timezone.utc) + timedelta(minutes=m)) for m in (0, 2)}
    account = world.credentials()["bybit"][-1]
    observer = BybitClient(world.urls["bybit"], account["api_key"], account["api_secret"], account="observer",
                           budgets=Budgets())
    items = observer.online_ads(size=300).items
    expected = {pricing.market_price(pricing.spec_page(items, page), "1") for page in pages}
    row = daemon.wait_state(payout["id"], TERMINAL, timeout=120)
    assert row.state == "COMPLETED", row.reason
    ads = world.ledger.entries("bybit_ad_create")
    assert len(ads) == 1 and Decimal(ads[0]["price"]) in expected
    assert world.audit() == []
