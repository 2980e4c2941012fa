"""Market pricing in the running daemon: the ad's price comes from the public market list
(order-flow.md §5.2: the page picked by amount and Moscow time of the SBP/Tinkoff ads cheapest
first, its second-to-last price, plus the markup) and an honest deal completes on it."""
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from itrader import pricing
from itrader.bybit import BybitClient, Budgets
from tests.pipeline.harness import TERMINAL

MARKUP = Decimal("2.5")
MARKET_CONFIG = f'[pricing]\nmode = "market"\nmarkup_percent = "{MARKUP}"\n'


def market_terms(world, amount: Decimal, page: int) -> pricing.AdTerms:
    """The market rule's terms from this page of the sandbox's market list, as any account reads it."""
    account = world.credentials()["bybit"][-1]
    observer = BybitClient(world.urls["bybit"], account["api_key"], account["api_secret"], account="observer",
                           budgets=Budgets())
    items = pricing.spec_page(observer.online_ads(size=300).items, page)
    return pricing.ad_terms(amount, pricing.market_price(items, MARKUP))


def test_an_honest_deal_completes_on_an_ad_priced_by_the_market_rule(world, make_daemon):
    amount = Decimal("5000")
    # The list is read before any ad of ours joins it, for the page of now and, should the deal
    # straddle a Moscow day/night switch, the page after it.
    pages = {pricing.market_page(amount, datetime.now(timezone.utc) + timedelta(minutes=m)) for m in (0, 3)}
    expected = {page: market_terms(world, amount, page) for page in pages}
    daemon = make_daemon(extra=MARKET_CONFIG)
    payout = world.create_payout(amount, "sbp", "sberbank", persona="honest")
    row = daemon.wait_state(payout["id"], TERMINAL, timeout=120)
    assert row.state == "COMPLETED", row.reason

    ads = world.ledger.entries("bybit_ad_create")
    assert len(ads) == 1
    placed = (Decimal(ads[0]["price"]), Decimal(ads[0]["quantity"]))
    assert placed in {(terms.price, terms.quantity) for terms in expected.values()}
    assert Decimal(ads[0]["amount"]) == amount
    releases = world.ledger.entries("bybit_release")
    assert len(releases) == 1 and Decimal(releases[0]["amount"]) == amount
    assert world.audit() == []
