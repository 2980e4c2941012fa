"""The collaborators of BybitAccountActor (actors/bybit/), each on its own, against the real Bybit
sandbox on loopback: no actor around them, the test calls them as the actor would. Deals are probes
registered as "deal:<id>"."""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Iterator

import gevent
import pykka
import pytest

from actors.bybit.ads import AD_REMARK, AdBook
from actors.bybit.chat import CHAT_SEEN_STEP, SENT_TEXTS_STEP, ChatSync
from actors.bybit.link import AccountLink, call_outcome
from actors.bybit.orders import OrderRouter
from actors.bybit.reconcile import Reconciler
from actors.bybit.wiring import wire as wire_account
from actors.bybit.writes import WriteQueue
from actors.directory import Directory
from actors.messages import BuyerMessages, CancelAd, CreateAd, OrderRead, ReadOrder, ReleaseOrder, SendChat, Watch
from itrader.bybit import AuthError, Blocked, OutcomeUnknown, PermanentError, TemporaryError
from itrader.bybit.client import WRITE
from itrader.bybit_rules import OutgoingChat, QueuedWrite, payment_ids_by_method
from itrader.config import BybitConfig
from itrader.deal import AdCreated, OrderOpened, OrderStatusChanged, ReleaseFailed, ReleaseSucceeded
from itrader.events import EventLog
from itrader.limits import RateBudgetExhausted
from itrader.store import Store, migrate, open_database
from tests.actors.test_bybit_account import AMOUNT, BUYER_UID, PRICE, QUANTITY, RELEASE_RESULT, Probed, probe, unwrap
from tests.bybit.conftest import SELLER_UID, BybitWorld, bybit_world


@dataclass
class Desk:
    """One account's collaborators wired as the actor wires them."""

    world: BybitWorld
    store: Store
    directory: Directory
    events: EventLog
    link: AccountLink
    queue: WriteQueue
    chat: ChatSync
    ads: AdBook
    orders: OrderRouter
    reconciler: Reconciler
    nudges: list[float]
    probes: dict[int, Probed] = field(default_factory=dict)  # the deals, kept across a rewiring

    def ad_for(self, deal_id: int) -> str:
        deal = self.probe(deal_id)
        self.ads.create(CreateAd(deal_id, AMOUNT, PRICE, QUANTITY, "sbp", deal.ref))
        return deal.wait(AdCreated).ad_id

    def probe(self, deal_id: int) -> Probed:
        if deal_id not in self.probes:
            self.store.deals.create_deal(f"payout-{deal_id}", AMOUNT)
            self.probes[deal_id] = probe(self.directory, f"deal:{deal_id}")
        return self.probes[deal_id]


def wire(world: BybitWorld, store: Store, directory: Directory, events: EventLog, memory: Desk | None = None) -> Desk:
    client = world.client()
    link = AccountLink("acc1", client, store, directory, events, BybitConfig(base_url=world.base_url))
    link.user_id = str(client.account_info().get("userId") or "")
    link.payment_ids = payment_ids_by_method(client.payment_methods())
    nudges: list[float] = []
    parts = wire_account(link, itertools.count(1), lambda: client.try_reserve(WRITE), nudges.append)
    return Desk(world, store, directory, events, link, parts.writes, parts.chat, parts.ads, parts.orders,
                parts.reconciler, nudges, memory.probes if memory is not None else {})


def http_calls(desk: Desk, suffix: str) -> list:
    return [entry for entry in desk.world.sandbox.http_log() if entry["path"].endswith(suffix)]


def next_write(desk: Desk):
    """The queue's next write once the write budget has a token for it (as the actor's drain waits)."""
    for _ in range(100):
        job = desk.queue.take()
        if job is not None:
            return job
        gevent.sleep(desk.nudges[-1] if desk.nudges else 0.05)
    raise AssertionError("no write came out of the queue")


@pytest.fixture
def desk(tmp_path) -> Iterator[Desk]:
    db = open_database(tmp_path / "itrader.sqlite3")
    migrate(db)
    with bybit_world() as world:
        yield wire(world, Store(db), Directory(), EventLog())
        pykka.ActorRegistry.stop_all(block=True, timeout=5)
    db.close()


# ------------------------------------------------------------------ the link


def test_call_outcomes_are_bounded_labels() -> None:
    assert call_outcome(None) == "ok"
    assert call_outcome(RateBudgetExhausted("bybit:write", 1.0, 0.0)) == "budget"
    assert call_outcome(Blocked("x", retry_after=1.0)) == "blocked"
    assert call_outcome(AuthError("x")) == "auth"
    assert call_outcome(TemporaryError("x", http_status=503)) == "server_error"
    assert call_outcome(OutcomeUnknown("x", http_status=502)) == "server_error"  # a write lost in a 5xx
    assert call_outcome(TemporaryError("x")) == "error"
    assert call_outcome(PermanentError("x")) == "rejected"
    assert call_outcome(ValueError("x")) == "error"


# ------------------------------------------------------------------ the write queue


def test_the_write_queue_asks_for_one_drain_and_hands_out_the_most_urgent_write() -> None:
    tokens, nudges = [0.0], []
    queue = WriteQueue(itertools.count(1), lambda: tokens[0], nudges.append)
    queue.queue("ad", "ad message")
    queue.queue_chat(SendChat(1, "o1", "привет", purpose="greeting"))
    queue.queue("release", "release message")
    assert nudges == [0.0], "one DrainWrites in the mailbox at a time"

    first = queue.take()
    assert isinstance(first, QueuedWrite) and first.kind == "release" and queue.writes[0].kind == "ad"
    queue.kick()
    tokens[0] = 0.3  # no write token yet: the drain comes back when there is one
    assert queue.take() is None and nudges == [0.0, 0.0, 0.3]
    queue.kick()
    assert nudges == [0.0, 0.0, 0.3], "a drain is already on its way"
    queue.refused()  # that drain found the account in standby
    tokens[0] = 0.0
    text = queue.take()
    assert isinstance(text, OutgoingChat) and text.text == "привет" and queue.outbox == [text]
    text.ready = False
    assert queue.take().kind == "ad"
    assert queue.take() is None and queue.pending()
    queue.retry_texts()
    assert queue.take() is text


# ------------------------------------------------------------------ the ad book


def test_the_ad_book_places_an_ad_once_and_cancels_it(desk: Desk) -> None:
    ad_id = desk.ad_for(1)
    deal = desk.probe(1)
    assert len(desk.world.sandbox.ads(SELLER_UID, online_only=True)) == 1 and list(desk.ads.ads) == [ad_id]
    assert desk.orders.watches[1].ad_id == ad_id, "a placed ad is watched for its deal"

    desk.ads.create(CreateAd(1, AMOUNT, PRICE, QUANTITY, "sbp", deal.ref))  # a repeated request
    assert len(desk.world.sandbox.ads(SELLER_UID, online_only=True)) == 1
    assert desk.ads.health() == ((ad_id, "sbp", False),)

    desk.ads.request_cancel(CancelAd(1, ad_id))
    desk.ads.request_cancel(CancelAd(1, ad_id))
    assert [job.kind for job in desk.queue.writes] == ["cancel"], "a cancel is owed once"
    desk.ads.cancel_queued(next_write(desk).message)
    assert desk.world.sandbox.ads(SELLER_UID, online_only=True) == [] and desk.ads.ads == {}
    assert not desk.ads.cancels


def test_the_ad_book_finds_a_deal_s_ad_after_a_restart(desk: Desk) -> None:
    ad_id = desk.ad_for(1)
    after_restart = wire(desk.world, desk.store, desk.directory, desk.events, memory=desk)
    assert after_restart.ads.find_deal_ad(1) == (ad_id, True)
    assert after_restart.ads.ads[ad_id].deal_id == 1
    desk.probe(2)  # a second deal of the same amount
    assert after_restart.ads.find_deal_ad(2) == (None, False), "no ad of that amount is free: create one"
    assert AD_REMARK.startswith("ВНИМАТЕЛЬНО")


def test_an_ad_create_and_cancel_whose_answers_were_lost_are_read_back_not_repeated(desk: Desk) -> None:
    """Bybit carries the write out and the answer is lost (OutcomeUnknown): the create finds its ad in
    the list, the cancel is tried again and Bybit's "already closed" is taken as done."""
    faults = desk.world.faults
    faults.add_scripted("bybit", "item/create", "error_502_after_executing")
    ad_id = desk.ad_for(1)
    assert [ad["item_id"] for ad in desk.world.sandbox.ads(SELLER_UID, online_only=True)] == [ad_id]
    assert len(http_calls(desk, "/item/create")) == 1, "found by reading back, not created again"

    faults.add_scripted("bybit", "item/cancel", "error_502_after_executing")
    desk.ads.request_cancel(CancelAd(1, ad_id))
    desk.ads.cancel_queued(next_write(desk).message)
    assert desk.ads.cancels == {ad_id: 1}, "maybe cancelled: still owed until Bybit says so"
    desk.ads.retry_cancels()
    desk.ads.cancel_queued(next_write(desk).message)
    assert not desk.ads.cancels and desk.ads.ads == {}
    assert len(desk.world.ledger.entries("bybit_ad_cancel")) == 1


# ------------------------------------------------------------------ order routing


def test_order_routing_opens_reports_and_releases_the_deal_s_order(desk: Desk) -> None:
    ad_id = desk.ad_for(1)
    deal = desk.probe(1)
    order_id = desk.world.sandbox.place_order(ad_id, BUYER_UID, AMOUNT, buyer_name="Ivan Petrov")
    assert desk.orders.poll()
    opened = deal.wait(OrderOpened)
    assert (opened.order_id, opened.buyer_name) == (order_id, "Ivan Petrov")
    assert desk.ads.health() == ((ad_id, "sbp", True),), "an ad with an open order is taken"

    desk.orders.release(ReleaseOrder(1, order_id, deal.ref))
    assert isinstance(deal.wait(RELEASE_RESULT), ReleaseFailed), "no release before the buyer paid"
    desk.world.sandbox.mark_paid(order_id)
    desk.orders.poll()
    assert deal.wait(OrderStatusChanged, status=20).order_id == order_id
    assert [news.status for news in deal.of(OrderStatusChanged)] == [20], "opened means 10: not told again"
    desk.orders.release(ReleaseOrder(1, order_id, deal.ref))
    deal.wait(ReleaseSucceeded)
    assert [e["order_id"] for e in desk.world.ledger.entries("bybit_release")] == [order_id]
    assert desk.orders.active_watches() == 0, "a finished order needs no polling"


def test_a_release_and_a_chat_text_whose_answers_were_lost_are_read_back_not_repeated(desk: Desk) -> None:
    ad_id = desk.ad_for(1)
    deal = desk.probe(1)
    order_id = desk.world.sandbox.place_order(ad_id, BUYER_UID, AMOUNT)
    desk.orders.poll()
    deal.wait(OrderOpened)
    faults = desk.world.faults

    faults.add_scripted("bybit", "message/send", "error_502_after_executing")
    desk.queue.queue_chat(SendChat(1, order_id, "Реквизиты для оплаты"))
    text = next_write(desk)
    desk.chat.send_queued(text)
    assert text.uncertain and desk.queue.outbox == [text], "maybe sent: kept, to be looked for"
    desk.chat.send_queued(text)  # the next tick: the chat shows it, so it is not sent again
    assert desk.queue.outbox == []
    assert [m["message"] for m in desk.world.sandbox.messages(order_id)].count("Реквизиты для оплаты") == 1
    assert len(http_calls(desk, "/message/send")) == 1

    desk.world.sandbox.mark_paid(order_id)
    desk.orders.poll()
    deal.wait(OrderStatusChanged, status=20)
    faults.add_scripted("bybit", "order/finish", "error_502_after_executing")
    desk.orders.release(ReleaseOrder(1, order_id, deal.ref))
    assert isinstance(deal.wait(RELEASE_RESULT), ReleaseSucceeded), "read back as released"
    assert len(http_calls(desk, "/order/finish")) == 1
    assert len(desk.world.ledger.entries("bybit_release")) == 1


def test_an_order_first_seen_already_paid_is_opened_then_reported_paid(desk: Desk) -> None:
    ad_id = desk.ad_for(1)
    deal = desk.probe(1)
    order_id = desk.world.sandbox.place_order(ad_id, BUYER_UID, AMOUNT)
    desk.world.sandbox.mark_paid(order_id)  # before our first look at the order list
    assert desk.orders.poll()
    deal.wait(OrderStatusChanged)
    news = [item for _, item in map(unwrap, deal.inbox) if isinstance(item, (OrderOpened, OrderStatusChanged))]
    assert news == [OrderOpened(order_id, AMOUNT, news[0].buyer_name), OrderStatusChanged(20, order_id)]


# ------------------------------------------------------------------ chat sync


def greeted_order(desk: Desk) -> tuple[str, Probed, str]:
    """Deal 1's ad, an order on it that the deal heard of, and our greeting sent in its chat."""
    ad_id = desk.ad_for(1)
    deal = desk.probe(1)
    order_id = desk.world.sandbox.place_order(ad_id, BUYER_UID, AMOUNT)
    desk.orders.poll()
    deal.wait(OrderOpened)
    desk.queue.queue_chat(SendChat(1, order_id, "Здравствуйте!", purpose="greeting"))
    desk.chat.send_queued(next_write(desk))
    return ad_id, deal, order_id


def test_chat_sync_delivers_the_buyer_s_words_once_across_lives(desk: Desk) -> None:
    ad_id, deal, order_id = greeted_order(desk)
    assert desk.queue.outbox == []
    desk.world.sandbox.buyer_send_text(order_id, "да")
    watch = desk.orders.watches[1]
    desk.chat.sync(watch)
    assert deal.wait(BuyerMessages).texts == ("да",), "our own greeting is not the buyer's"
    desk.chat.sync(watch)
    assert len(deal.of(BuyerMessages)) == 1
    assert [e.step for e in desk.store.deals.journal(1)].count(CHAT_SEEN_STEP) == 1

    later = wire(desk.world, desk.store, desk.directory, desk.events, memory=desk)  # a restarted actor
    later.orders.watch(Watch(1, ad_id, order_id, deal.ref))
    later.chat.sync(later.orders.watches[1])
    assert len(deal.of(BuyerMessages)) == 1, "the journal's watermark holds across a restart"


# ------------------------------------------------------------------ the reconciler


def test_the_reconciler_reads_back_the_ad_order_and_what_we_said(desk: Desk) -> None:
    ad_id = desk.ad_for(1)
    deal = desk.probe(1)
    order_id = desk.world.sandbox.place_order(ad_id, BUYER_UID, AMOUNT, buyer_name="Ivan Petrov")
    desk.world.sandbox.mark_paid(order_id)
    desk.queue.queue_chat(SendChat(1, order_id, "Реквизиты отправлены"))
    desk.chat.send_queued(next_write(desk))

    later = wire(desk.world, desk.store, desk.directory, desk.events, memory=desk)  # knows nothing yet
    later.reconciler.read_order(ReadOrder(1, None, None, deal.ref))
    read = deal.wait(OrderRead)
    assert (read.ad_id, read.ad_online, read.order_id, read.order_status) == (ad_id, True, order_id, 20)
    assert read.buyer_name == "Ivan Petrov"
    assert later.orders.watches[1].order_id == order_id, "what the deal did not know is watched for it"
    notes = [e.data for e in desk.store.deals.journal(1) if e.step == SENT_TEXTS_STEP]
    assert notes[-1] == {"order_id": order_id, "texts": ["Реквизиты отправлены"]}


def test_the_buyer_s_words_read_during_a_reconcile_still_reach_the_deal(desk: Desk) -> None:
    """The reconcile reads the chat (for what we said), which marks the buyer's messages read on Bybit:
    the pending list then shows no unread count, yet the buyer's «да» must still be delivered."""
    ad_id, deal, order_id = greeted_order(desk)
    desk.world.sandbox.buyer_send_text(order_id, "да")

    later = wire(desk.world, desk.store, desk.directory, desk.events, memory=desk)  # a daemon taking over
    later.orders.watch(Watch(1, ad_id, order_id, deal.ref))
    later.reconciler.read_order(ReadOrder(1, ad_id, order_id, deal.ref))
    deal.wait(OrderRead)
    assert not any(o.has_news for o in later.orders.pending_orders()), "the reconcile's read cleared the count"
    assert later.orders.poll()
    assert deal.wait(BuyerMessages).texts == ("да",)
