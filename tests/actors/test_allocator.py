"""AllocatorActor: spreading ads over accounts, reservations, rebalancing off a down account.

The first tests play the BybitAccounts with AccountHealth messages; the later ones run
real BybitAccount actors against the Bybit sandbox, with probes as the deals. The market
pricing tests read the sandbox's public market list through an observer account of their
own, so the sellers' request logs count only what the allocator asked for.
"""
from __future__ import annotations

from collections import Counter
from contextlib import contextmanager
from datetime import datetime, timezone
from decimal import Decimal
from typing import Iterator

import gevent
import peewee

from actors.allocator import AllocatorActor
from actors.bybit_account import BybitAccountActor
from actors.directory import Directory
from actors.messages import AccountDown, AccountHealth, Allocate, CreateAd, DealEnded
from itrader import pricing
from itrader.config import BybitConfig, PricingConfig
from itrader.deal import AccountAssigned, AdCreated, AdWithdrawn, NoAccountFree, OrderOpened
from itrader.events import EventLog
from itrader.sandbox.faults import FaultPlan
from itrader.store import Store
from tests.actors.test_bybit_account import AMOUNT, BUYER_UID, probe, wait_for
from tests.actors.test_gate_account import store  # noqa: F401 — the fixture: a migrated SQLite store
from tests.bybit.conftest import BybitWorld, bybit_world

SETTINGS = BybitConfig(max_ads_per_account=2)
PRICING = PricingConfig(mode="fixed", fixed_rate=Decimal("78"))


def start_allocator(directory: Directory, accounts: list[str], kind: type[AllocatorActor] = AllocatorActor):
    return kind.start(directory, EventLog(), SETTINGS, PRICING, accounts)


def report(allocator, account: str, ads=(), healthy: bool = True, open_deals: int = 0) -> None:
    allocator.tell(AccountHealth(account, healthy, tuple(ads), open_deals, 2))


def test_ten_simultaneous_allocates_fill_three_accounts_and_refuse_the_rest() -> None:
    directory = Directory()
    allocator = start_allocator(directory, ["a", "b", "c"])
    for name in ("a", "b", "c"):
        report(allocator, name)
    replies = probe()
    for deal_id in range(1, 11):
        allocator.tell(Allocate(deal_id, AMOUNT, replies.ref))
    wait_for(lambda: len(replies.inbox) == 10, what="ten replies")

    assigned = replies.of(AccountAssigned)
    assert len(assigned) == 6 and len(replies.of(NoAccountFree)) == 4
    assert Counter(a.account for a in assigned) == {"a": 2, "b": 2, "c": 2}
    for name in ("a", "b", "c"):
        assert sorted(a.method for a in assigned if a.account == name) == ["sbp", "tinkoff"]
    assert {(a.price, a.quantity) for a in assigned} == {(Decimal("78.00"), Decimal("69.11"))}
    # the first three went to three different accounts, alternating the method
    assert [replies.wait(AccountAssigned, deal_id=deal_id).method for deal_id in (1, 2, 3)] == ["sbp", "tinkoff", "sbp"]


def test_a_stopping_daemon_posts_no_new_ad_while_a_paused_one_does() -> None:
    """Paused, a deal that took its payout before still gets its ad; draining (a stop is coming), it
    waits with the reason and its ad is posted after the restart."""
    from actors.intake import Intake

    intake = Intake()
    directory = Directory()
    allocator = AllocatorActor.start(directory, EventLog(), SETTINGS, PRICING, ["a"], intake=intake)
    report(allocator, "a")
    replies = probe()
    intake.pause("end of shift", by="test")  # in memory: this Intake has no store
    allocator.tell(Allocate(1, AMOUNT, replies.ref))
    assert replies.wait(AccountAssigned, deal_id=1).account == "a"
    intake.drain()
    allocator.tell(Allocate(2, AMOUNT, replies.ref))
    assert replies.wait(NoAccountFree, deal_id=2).reason.startswith("draining")
    report(allocator, "a")  # a slot report serves the waiting deals: still none while draining
    gevent.sleep(0.2)
    assert replies.of(AccountAssigned) == [replies.wait(AccountAssigned, deal_id=1)]


def test_methods_alternate_and_a_taken_ad_frees_its_method() -> None:
    directory = Directory()
    allocator = start_allocator(directory, ["a"])
    report(allocator, "a")
    replies = probe()

    allocator.tell(Allocate(1, AMOUNT, replies.ref))
    assert replies.wait(AccountAssigned, deal_id=1).method == "sbp"
    report(allocator, "a", [("ad-1", "sbp", False)], open_deals=1)
    allocator.tell(Allocate(2, AMOUNT, replies.ref))
    assert replies.wait(AccountAssigned, deal_id=2).method == "tinkoff"
    report(allocator, "a", [("ad-1", "sbp", False), ("ad-2", "tinkoff", False)], open_deals=2)
    allocator.tell(Allocate(3, AMOUNT, replies.ref))
    assert replies.wait(NoAccountFree, deal_id=3).reason

    report(allocator, "a", [("ad-1", "sbp", True), ("ad-2", "tinkoff", False)], open_deals=2)  # a buyer took ad-1
    # The freed SBP slot goes at once to the deal that was refused first, without its asking again.
    assert replies.wait(AccountAssigned, deal_id=3).method == "sbp"
    allocator.tell(Allocate(4, AMOUNT, replies.ref))
    assert replies.wait(NoAccountFree, deal_id=4).reason


def test_an_unhealthy_account_gets_nothing_and_an_account_that_stays_unhealthy_loses_its_waiting_ads() -> None:
    class QuickAllocator(AllocatorActor):
        UNHEALTHY_GRACE = 0.2
        CHECK_INTERVAL = 0.05

    directory = Directory()
    allocator = start_allocator(directory, ["a", "b"], QuickAllocator)
    report(allocator, "a")
    report(allocator, "b", healthy=False)
    deal = probe(directory, "deal:1")
    allocator.tell(Allocate(1, AMOUNT, deal.ref))
    assert deal.wait(AccountAssigned).account == "a"
    report(allocator, "a", [("ad-1", "sbp", False)], open_deals=1)

    report(allocator, "a", [("ad-1", "sbp", False)], healthy=False, open_deals=1)
    withdrawn = deal.wait(AdWithdrawn, deal_id=1)
    assert (withdrawn.account, withdrawn.ad_id) == ("a", "ad-1")


def test_account_down_withdraws_only_the_ads_nobody_took(tmp_path) -> None:
    directory = Directory()
    allocator = start_allocator(directory, ["acc1", "acc2"])
    with bybit_world() as world:
        world.sandbox.add_account("1400002", "SANDBOXKEY-SELLER-2", "SANDBOXSECRET-SELLER-2-do-not-log")
        clients = {"acc1": world.client(account="acc1"),
                   "acc2": world.client("SANDBOXKEY-SELLER-2", "SANDBOXSECRET-SELLER-2-do-not-log", account="acc2")}
        settings = BybitConfig(base_url=world.base_url, poll_interval=0.2, max_ads_per_account=2)
        for name, client in clients.items():
            BybitAccountActor.start(name, client, None, directory, EventLog(), settings)
        wait_for(lambda: allocator.proxy().status().get(timeout=5)["accounts"]["acc2"]["healthy"]
                 and allocator.proxy().status().get(timeout=5)["accounts"]["acc1"]["healthy"],
                 what="both accounts healthy")

        deals = {deal_id: probe(directory, f"deal:{deal_id}") for deal_id in (1, 2, 3, 4)}
        ads: dict[int, tuple[str, str]] = {}
        for deal_id, deal in deals.items():  # one deal at a time, as Deal actors would do it
            allocator.tell(Allocate(deal_id, AMOUNT, deal.ref))
            assigned = deal.wait(AccountAssigned)
            directory.tell(f"bybit:{assigned.account}", CreateAd(deal_id, AMOUNT, assigned.price, assigned.quantity,
                                                                 assigned.method, deal.ref))
            ads[deal_id] = (assigned.account, deal.wait(AdCreated).ad_id)
        on_acc1 = sorted(deal_id for deal_id, (account, _) in ads.items() if account == "acc1")
        assert len(on_acc1) == 2
        taken_deal, waiting_deal = on_acc1

        world.sandbox.place_order(ads[taken_deal][1], BUYER_UID, AMOUNT)
        deals[taken_deal].wait(OrderOpened)
        wait_for(lambda: taken_deal not in allocator.proxy().status().get(timeout=5)["accounts"]["acc1"]["waiting"],
                 what="the allocator to see the order")

        allocator.tell(AccountDown("acc1"))
        withdrawn = deals[waiting_deal].wait(AdWithdrawn)
        assert (withdrawn.account, withdrawn.ad_id) == ("acc1", ads[waiting_deal][1])
        allocator.proxy().status().get(timeout=5)  # the rebalance is done: every AdWithdrawn is told
        for deal_id in deals:
            deals[deal_id].ref.ask("sync", timeout=5)  # and each deal has taken in what it was told
            if deal_id != waiting_deal:
                assert not deals[deal_id].of(AdWithdrawn), f"deal {deal_id} must stay where it is"

        replies = probe()
        allocator.tell(Allocate(5, AMOUNT, replies.ref))
        assert replies.wait(NoAccountFree, deal_id=5), "acc1 is down and acc2 is full"
        assert not replies.of(AccountAssigned)


# ------------------------------------------------------------------ twins (DESIGN §5 invariant 6)

PHONE = "79001234567"


class QuickTwinAllocator(AllocatorActor):
    TWIN_RECHECK = 0.1
    CHECK_INTERVAL = 0.1


def new_deal(store: Store, payout_id: int, state: str = "ACCEPTED", wallet: str = PHONE,
             amount: Decimal = AMOUNT) -> int:
    return store.deals.create_deal(payout_id, amount, state=state, wallet=wallet)[0].id


def twin_rig(store: Store, accounts=("a",)):
    directory, events = Directory(), EventLog()
    allocator = QuickTwinAllocator.start(directory, events, SETTINGS, PRICING, list(accounts), store=store)
    for name in accounts:
        report(allocator, name)
    return allocator, events


def test_a_second_deal_with_the_same_amount_and_recipient_waits_for_its_twin_others_go(store) -> None:
    allocator, events = twin_rig(store, ["a", "b"])
    first, twin, other_phone, other_amount = (new_deal(store, n) for n in (1, 2, 3, 4))
    replies = probe()
    allocator.tell(Allocate(first, AMOUNT, replies.ref, wallet=PHONE))
    replies.wait(AccountAssigned, deal_id=first)

    allocator.tell(Allocate(twin, AMOUNT, replies.ref, wallet="+7 (900) 123-45-67"))
    refused = replies.wait(NoAccountFree, deal_id=twin)
    assert refused.reason == f"waiting_for_twin: deal {first} is live with the same amount and recipient"
    assert any(e["type"] == "no_account_free" and e["deal_id"] == twin and e["reason"] == refused.reason
               for e in events.since(0))
    # the free slots are still free: a deal to another recipient, or for another amount, goes online
    allocator.tell(Allocate(other_phone, AMOUNT, replies.ref, wallet="79001234568"))
    allocator.tell(Allocate(other_amount, AMOUNT + 1, replies.ref, wallet=PHONE))
    replies.wait(AccountAssigned, deal_id=other_phone)
    replies.wait(AccountAssigned, deal_id=other_amount)

    report(allocator, "a", [("ad-x", "sbp", True)], open_deals=1)  # news from an account: the waiting are served
    allocator.proxy().status().get(timeout=5)
    assert not replies.of(AccountAssigned, deal_id=twin), "the first deal is still live"


def first_and_its_twin(store: Store, allocator, first_state: str = "ACCEPTED"):
    """The first deal gets an account (its row then in `first_state`), its twin is refused."""
    first, twin = new_deal(store, 1), new_deal(store, 2)
    replies = probe()
    allocator.tell(Allocate(first, AMOUNT, replies.ref, wallet=PHONE))
    replies.wait(AccountAssigned, deal_id=first)
    if first_state != "ACCEPTED":
        store.deals.transition(first, "ACCEPTED", first_state, "test")
        report(allocator, "a", [("ad-1", "sbp", False)], open_deals=1)
    allocator.tell(Allocate(twin, AMOUNT, replies.ref, wallet=PHONE))
    assert replies.wait(NoAccountFree, deal_id=twin).reason.startswith(f"waiting_for_twin: deal {first} ")
    return first, twin, replies


def test_the_twin_goes_online_as_soon_as_the_first_deal_tells_it_ended(store) -> None:
    allocator, _ = twin_rig(store)
    first, twin, replies = first_and_its_twin(store, allocator)

    store.deals.transition(first, "ACCEPTED", "CANCELLED", "test")
    allocator.tell(DealEnded(first))  # what a Deal actor says when it finishes; no account report needed
    assert replies.wait(AccountAssigned, deal_id=twin).account == "a"


def test_a_twin_whose_row_ended_stops_blocking_even_unannounced(store) -> None:
    allocator, _ = twin_rig(store)
    first, twin, replies = first_and_its_twin(store, allocator, "AD_ONLINE")

    store.deals.transition(first, "AD_ONLINE", "COMPLETED", "test")  # its ad is still listed; no DealEnded
    gevent.sleep(QuickTwinAllocator.TWIN_RECHECK)
    report(allocator, "a", [("ad-1", "sbp", False)], open_deals=1)  # the next poll's report
    assert replies.wait(AccountAssigned, deal_id=twin).method == "tinkoff"


def test_a_live_row_this_allocator_never_assigned_blocks_its_twin(store) -> None:
    """After a restart (or with another daemon) the assignments are gone, but the rows are not."""
    allocator, _ = twin_rig(store)
    paid = new_deal(store, 1, state="PAID", wallet="+7 900 123-45-67")
    twin, card = new_deal(store, 2), new_deal(store, 3, wallet="2200700123454567")
    replies = probe()
    allocator.tell(Allocate(twin, AMOUNT, replies.ref, wallet=PHONE))
    assert replies.wait(NoAccountFree, deal_id=twin).reason.startswith(f"waiting_for_twin: deal {paid} ")
    allocator.tell(Allocate(card, AMOUNT, replies.ref, wallet="2200700123454567"))  # ends in 4567 too: no twin
    replies.wait(AccountAssigned, deal_id=card)

    store.deals.transition(paid, "PAID", "COMPLETED", "test")  # no account reports: the periodic check sees it
    replies.wait(AccountAssigned, deal_id=twin)


def test_of_two_waiting_twins_only_one_gets_the_freed_slot(store) -> None:
    allocator, _ = twin_rig(store)
    replies = probe()
    for n, method in ((1, "sbp"), (2, "tinkoff")):  # the account fills up with other deals
        deal_id = new_deal(store, n, wallet=f"7900000000{n}")
        allocator.tell(Allocate(deal_id, AMOUNT, replies.ref, wallet=f"7900000000{n}"))
        assert replies.wait(AccountAssigned, deal_id=deal_id).method == method
    report(allocator, "a", [("ad-1", "sbp", False), ("ad-2", "tinkoff", False)], open_deals=2)
    twins = [new_deal(store, n) for n in (3, 4)]
    for deal_id in twins:
        allocator.tell(Allocate(deal_id, AMOUNT, replies.ref, wallet=PHONE))
        assert replies.wait(NoAccountFree, deal_id=deal_id).reason == "no healthy Bybit account has a free ad slot"

    report(allocator, "a", [("ad-2", "tinkoff", False)], open_deals=1)  # ad-1 is gone: one slot
    replies.wait(AccountAssigned, deal_id=twins[0])
    report(allocator, "a", [("ad-2", "tinkoff", True)], open_deals=1)  # a buyer took ad-2: another slot
    # the second twin is told why it still waits, without asking again
    told = replies.wait(NoAccountFree, deal_id=twins[1],
                        reason=f"waiting_for_twin: deal {twins[0]} is live with the same amount and recipient")
    assert told and not replies.of(AccountAssigned, deal_id=twins[1])


def test_a_store_that_cannot_be_read_keeps_the_deal_waiting_and_the_allocator_alive(store, monkeypatch) -> None:
    allocator, _ = twin_rig(store)
    deal_id = new_deal(store, 1)

    def broken(*_args, **_kwargs):
        raise peewee.OperationalError("database is locked")

    monkeypatch.setattr(store.deals, "live_to_recipient", broken)
    replies = probe()
    allocator.tell(Allocate(deal_id, AMOUNT, replies.ref, wallet=PHONE))
    reason = replies.wait(NoAccountFree, deal_id=deal_id).reason
    assert reason == "waiting_for_twin: could not look for a live twin (OperationalError)"
    monkeypatch.undo()
    gevent.sleep(QuickTwinAllocator.TWIN_RECHECK)
    report(allocator, "a")
    replies.wait(AccountAssigned, deal_id=deal_id)


# ------------------------------------------------------------------ market pricing

MARKET = PricingConfig(mode="market", markup_percent=Decimal("1.5"))
MIDDAY = datetime(2024, 6, 10, 9, 0, tzinfo=timezone.utc)  # 12:00 in Moscow: day pages
ONLINE_PATH = "/v5/p2p/item/online"
SELLERS = {"acc1": ("1400000", "SANDBOXKEY-SELLER-1", "SANDBOXSECRET-SELLER-1-do-not-log"),
           "acc2": ("1400002", "SANDBOXKEY-SELLER-2", "SANDBOXSECRET-SELLER-2-do-not-log")}


class QuickMarketAllocator(AllocatorActor):
    CHECK_INTERVAL = 0.2
    MARKET_ASK_INTERVAL = 0.5


# The pure decisions (market pages, reservations, loads) are tested in tests/core/test_allocator_rules.py.


@contextmanager
def market_rig(accounts: list[str], kind: type[AllocatorActor] = AllocatorActor,
               pricing_settings: PricingConfig = MARKET) -> Iterator[tuple]:
    """Sellers with real BybitAccount actors, a market-mode allocator fixed at Moscow midday, and an
    observer account to read the market list with."""
    directory, events = Directory(), EventLog()
    allocator = kind.start(directory, events, SETTINGS, pricing_settings, accounts, wall_clock=lambda: MIDDAY)
    with bybit_world() as world:
        world.sandbox.add_account("1400009", "SANDBOXKEY-OBSERVER", "SANDBOXSECRET-OBSERVER-do-not-log")
        settings = BybitConfig(base_url=world.base_url, poll_interval=0.2, max_ads_per_account=2)
        for name in accounts:
            uid, key, secret = SELLERS[name]
            if uid != "1400000":
                world.sandbox.add_account(uid, key, secret)
            BybitAccountActor.start(name, world.client(key, secret, account=name), None, directory, EventLog(),
                                    settings)
        wait_for(lambda: all(allocator.proxy().status().get(timeout=5)["accounts"][name]["healthy"]
                             for name in accounts), what="the accounts healthy")
        yield world, allocator, events


def market_terms(world: BybitWorld, amount: Decimal) -> pricing.AdTerms:
    """What the market rule gives for this amount at MIDDAY, read by the observer."""
    observer = world.client("SANDBOXKEY-OBSERVER", "SANDBOXSECRET-OBSERVER-do-not-log", account="observer")
    page = pricing.market_page(amount, MIDDAY)
    items = pricing.spec_page(observer.online_ads(size=300).items, page)
    return pricing.ad_terms(amount, pricing.market_price(items, MARKET.markup_percent), MARKET.extra_usdt)


def market_reads(world: BybitWorld) -> int:
    return sum(1 for uid, _, _ in SELLERS.values() for _, _, path in world.sandbox.request_log(uid)
               if path == ONLINE_PATH)


def test_market_mode_prices_each_deal_from_its_market_page_read_once_while_fresh() -> None:
    with market_rig(["acc1", "acc2"]) as (world, allocator, _):
        small, large = Decimal("5000"), Decimal("60000")
        assert (pricing.market_page(small, MIDDAY), pricing.market_page(large, MIDDAY)) == (4, 5)
        expected = {small: market_terms(world, small), large: market_terms(world, large)}
        assert expected[small].price != expected[large].price

        deals = {1: small, 2: small, 3: large}
        replies = probe()
        for deal_id, amount in deals.items():
            allocator.tell(Allocate(deal_id, amount, replies.ref))
        for deal_id, amount in deals.items():
            assigned = replies.wait(AccountAssigned, deal_id=deal_id)
            assert (assigned.price, assigned.quantity) == (expected[amount].price, expected[amount].quantity)
            assert assigned.quantity == pricing.quantity_for(amount, assigned.price, MARKET.extra_usdt)
        # before the pages came, the deals were told what they wait for
        assert replies.of(NoAccountFree, deal_id=1)[0].reason == "pricing: waiting for the market page 4"
        assert replies.of(NoAccountFree, deal_id=3)[0].reason == "pricing: waiting for the market page 5"

        allocator.tell(Allocate(4, Decimal("7000"), replies.ref))  # page 4 again, still fresh
        assigned = replies.wait(AccountAssigned, deal_id=4)
        assert assigned.price == expected[small].price
        assert not replies.of(NoAccountFree, deal_id=4)
        assert market_reads(world) == 2, "one read of page 4 and one of page 5"


def test_a_failing_market_read_keeps_deals_waiting_with_the_reason_until_it_works() -> None:
    with market_rig(["acc1"], QuickMarketAllocator) as (world, allocator, events):
        world.faults.set("bybit", FaultPlan(error_5xx=1.0))
        replies = probe()
        allocator.tell(Allocate(1, AMOUNT, replies.ref))
        assert replies.wait(NoAccountFree, deal_id=1).reason == "pricing: waiting for the market page 4"
        failed = wait_for(lambda: [e for e in events.since(0) if e["type"] == "market_page_failed"],
                          what="the market read to fail")
        assert failed[0]["page"] == 4 and failed[0]["account"] == "acc1" and failed[0]["error"]

        allocator.tell(Allocate(1, AMOUNT, replies.ref))  # the deal's own retry
        reason = wait_for(lambda: [m.reason for m in replies.of(NoAccountFree, deal_id=1)
                                   if "failed" in m.reason], what="a refusal naming the failure")[0]
        assert reason.startswith("pricing: waiting for the market page 4 (the last read failed: ")
        assert "SANDBOXSECRET" not in reason
        assert not replies.of(AccountAssigned) and world.sandbox.ads() == []

        world.faults.reset()
        expected = market_terms(world, AMOUNT)
        assigned = replies.wait(AccountAssigned, deal_id=1)  # served by the allocator's own re-read
        assert (assigned.account, assigned.price, assigned.quantity) == ("acc1", expected.price, expected.quantity)


def test_a_market_rate_that_jumps_past_the_band_prices_nothing_until_the_market_is_sane_again() -> None:
    quick = PricingConfig(mode="market", markup_percent=MARKET.markup_percent, market_max_age=0.5)
    with market_rig(["acc1"], QuickMarketAllocator, quick) as (world, allocator, events):
        replies = probe()
        allocator.tell(Allocate(1, AMOUNT, replies.ref))
        first = replies.wait(AccountAssigned, deal_id=1)
        # Strangers undercut the market by 7 %: still within 15 % of fixed_rate (78), but a jump of more
        # than 5 % from the rate the last page priced at.
        world.sandbox.plant_market_outliers("0.93", count=50)
        gevent.sleep(0.6)  # the page priced from is stale now
        allocator.tell(Allocate(2, AMOUNT, replies.ref))
        refused = wait_for(lambda: [e for e in events.since(0) if e["type"] == "market_price_refused"],
                           what="the operator event")
        assert "the last good market rate" in refused[0]["reason"] and Decimal(refused[0]["rate"]) < first.price
        allocator.tell(Allocate(2, AMOUNT, replies.ref))  # the deal's own retry names the band
        wait_for(lambda: [m for m in replies.of(NoAccountFree, deal_id=2) if "sanity band" in m.reason],
                 what="a refusal naming the band")
        assert not replies.of(AccountAssigned, deal_id=2)
        assert len([e for e in events.since(0) if e["type"] == "market_price_refused"]) == 1, "told once"

        world.sandbox.clear_market_outliers()
        again = replies.wait(AccountAssigned, deal_id=2)  # the allocator's own re-read finds it sane
        assert again.price == market_terms(world, AMOUNT).price
