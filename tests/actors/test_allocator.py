"""AllocatorActor: spreading ads over accounts, reservations, rebalancing off a down account.

The first tests play the BybitAccounts with AccountHealth messages; the last one runs
real BybitAccount actors against the Bybit sandbox, with probes as the deals.
"""
from __future__ import annotations

from collections import Counter
from decimal import Decimal

from actors.allocator import AllocatorActor
from actors.bybit_account import BybitAccountActor
from actors.directory import Directory
from actors.messages import (
    AccountAssigned, AccountDown, AccountHealth, AdCreated, AdWithdrawn, Allocate, CreateAd, NoAccountFree,
    OrderOpened,
)
from itrader.config import BybitConfig, PricingConfig
from itrader.events import EventLog
from tests.actors.test_bybit_account import AMOUNT, BUYER_UID, probe, wait_for
from tests.bybit.conftest import bybit_world

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
    assert [a.method for a in sorted(assigned, key=lambda a: a.deal_id)[:3]] == ["sbp", "tinkoff", "sbp"]


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
    withdrawn = deal.wait(AdWithdrawn)
    assert (withdrawn.deal_id, withdrawn.account, withdrawn.ad_id) == (1, "a", "ad-1")


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
        assert replies.wait(NoAccountFree).deal_id == 5, "acc1 is down and acc2 is full"
