"""BybitAccountActor against the real Bybit sandbox on loopback.

Probes registered as "deal:<id>" and "allocator" collect what the actor tells;
a simulated buyer acts through the sandbox's buyer-side methods. Tests wait for
outcomes with a deadline and never assert on timings.
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Callable, Iterator

import gevent
import pykka
import pytest

from actors.bybit_account import AD_REMARK, BybitAccountActor, OutgoingChat, QueuedWrite, next_write
from actors.directory import Directory
from actors.messages import (
    AccountHealth, BuyerMessages, CancelAd, CreateAd, DealNews, OrderRead, ReadOrder, ReleaseOrder, SendChat, Tick,
    Unwatch, Watch,
)
from itrader.config import BybitConfig
from itrader.deal import AdCreated, AdFailed, OrderOpened, OrderStatusChanged, ReleaseFailed, ReleaseSucceeded
from itrader.events import EventLog
from itrader.sandbox.faults import FaultPlan
from itrader.store import Store, migrate, open_database
from tests.bybit.conftest import SELLER_UID, BybitWorld, bybit_world

BUYER_UID = "2900000"
AMOUNT = Decimal("5000")
PRICE = Decimal("78.00")
QUANTITY = Decimal("69.11")  # 5000 / 78 + 5, rounded up
PENDING_PATH = "/v5/p2p/order/pending/simplifyList"
INFO_PATH = "/v5/p2p/order/info"
CHAT_PATH = "/v5/p2p/order/message/listpage"
RELEASE_RESULT = (ReleaseSucceeded, ReleaseFailed)


# ------------------------------------------------------------------ helpers shared with test_allocator


class Probe(pykka.ThreadingActor):
    """Collects every message told to it."""

    def __init__(self, inbox: list[Any]) -> None:
        super().__init__()
        self.inbox = inbox

    def on_receive(self, message: Any) -> None:
        self.inbox.append(message)


@dataclass
class Probed:
    ref: pykka.ActorRef
    inbox: list[Any]

    def of(self, kind: type | tuple[type, ...], **fields: Any) -> list[Any]:
        """What it was told of `kind`. A deal event (told in a DealNews) is matched and returned as itself;
        its `deal_id` is the envelope's."""
        return [item for message, item in map(unwrap, list(self.inbox)) if isinstance(item, kind)
                and all(field_of(message, item, name) == value for name, value in fields.items())]

    def wait(self, kind: type | tuple[type, ...], timeout: float = 15.0, **fields: Any) -> Any:
        found = wait_for(lambda: self.of(kind, **fields), timeout, f"{kind} {fields or ''}")
        return found[0]


def unwrap(message: Any) -> tuple[Any, Any]:
    return message, message.event if isinstance(message, DealNews) else message


def field_of(message: Any, item: Any, name: str) -> Any:
    return message.deal_id if name == "deal_id" and isinstance(message, DealNews) else getattr(item, name)


def probe(directory: Directory | None = None, name: str | None = None) -> Probed:
    inbox: list[Any] = []
    ref = Probe.start(inbox)
    if directory is not None and name is not None:
        directory.register(name, ref)
    return Probed(ref, inbox)


def wait_for(predicate: Callable[[], Any], timeout: float = 15.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        gevent.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


# ------------------------------------------------------------------ fixtures


@dataclass
class Rig:
    world: BybitWorld
    directory: Directory
    events: EventLog
    store: Store
    allocator: Probed
    deals: dict[int, Probed]
    actor: pykka.ActorRef | None = None

    @property
    def sandbox(self):
        return self.world.sandbox

    def start(self, name: str = "acc1", poll_interval: float = 0.2, **client_options: Any) -> pykka.ActorRef:
        settings = BybitConfig(base_url=self.world.base_url, poll_interval=poll_interval)
        client = self.world.client(account=name, **client_options)
        self.actor = BybitAccountActor.start(name, client, self.store, self.directory, self.events, settings)
        wait_for(lambda: any(isinstance(m, AccountHealth) and m.healthy for m in self.allocator.inbox),
                 what="the account's first healthy report")
        return self.actor

    def deal(self, deal_id: int) -> Probed:
        if deal_id not in self.deals:
            self.store.deals.create_deal(f"payout-{deal_id}", AMOUNT)
            self.deals[deal_id] = probe(self.directory, f"deal:{deal_id}")
        return self.deals[deal_id]

    def create_ad(self, deal_id: int, method: str = "sbp", amount: Decimal = AMOUNT) -> str:
        deal = self.deal(deal_id)
        quantity = (amount / PRICE + 5).quantize(Decimal("0.01"), rounding="ROUND_CEILING")
        self.actor.tell(CreateAd(deal_id, amount, PRICE, quantity, method, deal.ref))
        return deal.wait(AdCreated).ad_id

    def open_order(self, deal_id: int) -> tuple[Probed, str, str]:
        """Start the account, post the deal's ad and have a buyer open an order on it."""
        if self.actor is None:
            self.start()
        ad_id = self.create_ad(deal_id)
        deal = self.deal(deal_id)
        order_id = self.sandbox.place_order(ad_id, BUYER_UID, AMOUNT)
        deal.wait(OrderOpened)
        return deal, ad_id, order_id

    def calls(self, path: str) -> int:
        return sum(1 for _, _, p in self.sandbox.request_log(SELLER_UID) if p == path)

    def sync(self) -> dict:
        """Ask the actor (tests may ask): every message told before has been handled, and the writes
        they queued are done."""
        deadline = time.monotonic() + 10
        stats = self.actor.proxy().stats().get(timeout=10)
        while stats["writes"] and time.monotonic() < deadline:
            stats = self.actor.proxy().stats().get(timeout=10)
        return stats


@pytest.fixture
def rig(tmp_path) -> Iterator[Rig]:
    db = open_database(tmp_path / "itrader.sqlite3")
    migrate(db)
    directory = Directory()
    with bybit_world() as world:
        rig = Rig(world, directory, EventLog(), Store(db), probe(directory, "allocator"), {})
        yield rig
        pykka.ActorRegistry.stop_all(block=True, timeout=5)
        assert world.sandbox.rate_rejections(SELLER_UID) == 0, "the account exceeded Bybit's per-UID rate"
    db.close()


@contextmanager
def faults(world: BybitWorld, **plan: float) -> Iterator[None]:
    world.faults.set("bybit", FaultPlan(**plan))
    try:
        yield
    finally:
        world.faults.reset()


# ------------------------------------------------------------------ tests


def test_create_ad_puts_a_fixed_price_sell_ad_online(rig: Rig) -> None:
    rig.start()
    ad_id = rig.create_ad(1, method="tinkoff")

    online = rig.sandbox.ads(SELLER_UID, online_only=True)
    assert [ad["item_id"] for ad in online] == [ad_id]
    ad = online[0]
    assert ad["min_amount"] == ad["max_amount"] == AMOUNT
    assert ad["price"] == PRICE and ad["quantity"] == QUANTITY
    assert ad["payment_types"] == [75] and ad["payment_period"] == 15
    assert ad["remark"] == AD_REMARK and "Т-Банк" in ad["remark"]
    health = wait_for(lambda: [m for m in rig.allocator.inbox if isinstance(m, AccountHealth) and m.ads])
    assert health[-1].ads == ((ad_id, "tinkoff", False),)


def test_a_repeated_create_ad_does_not_post_a_second_ad(rig: Rig) -> None:
    rig.start()
    first = rig.create_ad(1)
    deal = rig.deal(1)
    rig.actor.tell(CreateAd(1, AMOUNT, PRICE, QUANTITY, "sbp", deal.ref))
    wait_for(lambda: len(deal.of(AdCreated)) == 2)
    assert {m.ad_id for m in deal.of(AdCreated)} == {first}
    assert len(rig.sandbox.ads(SELLER_UID, online_only=True)) == 1


def test_an_ad_bybit_refuses_is_reported_as_a_permanent_failure(rig: Rig) -> None:
    rig.start()
    deal = rig.deal(1)
    rig.actor.tell(CreateAd(1, AMOUNT, Decimal("500.00"), QUANTITY, "sbp", deal.ref))  # far outside the band
    failed = deal.wait(AdFailed, deal_id=1)
    assert failed.permanent and failed.error
    assert rig.sandbox.ads(SELLER_UID) == []


def test_a_deal_from_order_to_release(rig: Rig) -> None:
    rig.start()
    ad_id = rig.create_ad(1)
    deal = rig.deal(1)

    order_id = rig.sandbox.place_order(ad_id, BUYER_UID, AMOUNT)
    opened = deal.wait(OrderOpened, deal_id=1)
    assert (opened.order_id, opened.amount) == (order_id, AMOUNT)

    ours = "Здравствуйте! Оплата будет с Т-Банка? Напишите да или нет."
    rig.actor.tell(SendChat(1, order_id, ours))
    wait_for(lambda: any(m["message"] == ours for m in rig.sandbox.messages(order_id)), what="our chat message")
    rig.sandbox.buyer_send_text(order_id, "да")
    said = deal.wait(BuyerMessages)
    assert (said.order_id, said.texts, said.files) == (order_id, ("да",), ())

    rig.sandbox.mark_paid(order_id)
    assert deal.wait(OrderStatusChanged, status=20).order_id == order_id
    # Opened means waiting for payment (10) to the deal: no status news said so before the 20.
    assert [news.status for news in deal.of(OrderStatusChanged)] == [20]

    rig.actor.tell(ReleaseOrder(1, order_id, deal.ref))
    assert isinstance(deal.wait(RELEASE_RESULT), ReleaseSucceeded)
    assert len(rig.world.ledger.entries("bybit_release")) == 1

    rig.actor.tell(ReleaseOrder(1, order_id, deal.ref))
    wait_for(lambda: len(deal.of(RELEASE_RESULT)) == 2)
    assert all(isinstance(result, ReleaseSucceeded) for result in deal.of(RELEASE_RESULT))
    assert len(rig.world.ledger.entries("bybit_release")) == 1
    assert rig.world.ledger.entries("bybit_release_rejected") == []

    rig.sync()
    texts = [text for batch in deal.of(BuyerMessages) for text in batch.texts]
    assert texts == ["да"], "only the buyer's words, once; never our own message or a system notice"


def test_the_write_order_rule() -> None:
    def text(order_id: str, purpose: str, seq: int, ready: bool = True) -> OutgoingChat:
        return OutgoingChat(1, order_id, purpose, f"uuid-{seq}", purpose=purpose, seq=seq, ready=ready)

    ad, release = QueuedWrite("ad", 1, None), QueuedWrite("release", 9, None)
    greeting_a, closing_b = text("A", "greeting", 2), text("B", "closing", 3)
    assert next_write([], []) is None
    assert next_write([ad, release], [greeting_a, closing_b]) is release
    assert next_write([ad], [greeting_a, closing_b]) is greeting_a
    assert next_write([ad], [closing_b]) is ad
    # An urgent answer queued behind B's goodbye pulls the goodbye ahead of the ad (order kept per order).
    assert next_write([ad], [closing_b, text("B", "reply", 4)]) is closing_b
    # A text that failed waits for the next tick, and holds back the later texts of its order.
    assert next_write([ad], [text("B", "reply", 3, ready=False), text("B", "reply", 4)]) is ad


def test_queued_writes_go_out_most_urgent_first(rig: Rig) -> None:
    rig.sandbox.set_ad_rules(side_limit=None)  # four sell ads at once: past Bybit's per-side limit of 3
    deal, _, order_id = rig.open_order(1)
    rig.sandbox.mark_paid(order_id)
    deal.wait(OrderStatusChanged, status=20)
    writes_before = len([p for _, kind, p in rig.sandbox.request_log(SELLER_UID) if kind == "write"])
    # Told together, so all of them queue before the first goes out: new ads, the goodbye and, last
    # in the mailbox, the release the paying buyer waits for.
    ads = ((2, Decimal("4000")), (3, Decimal("4100")), (4, Decimal("4200")))
    for deal_id, _ in ads:
        rig.deal(deal_id)
    for deal_id, amount in ads:  # no pause between the tells
        rig.actor.tell(CreateAd(deal_id, amount, PRICE, Decimal("60"), "sbp", rig.deals[deal_id].ref))
    rig.actor.tell(SendChat(1, order_id, "Спасибо за сделку!", "closing"))
    rig.actor.tell(SendChat(1, order_id, "Вы здесь?", "reply"))
    rig.actor.tell(ReleaseOrder(1, order_id, deal.ref))
    assert isinstance(deal.wait(RELEASE_RESULT), ReleaseSucceeded)
    wait_for(lambda: rig.sync()["outbox"] == 0 and len(rig.sandbox.ads(SELLER_UID, online_only=True)) == 4)
    writes = [p.rsplit("/v5/p2p/", 1)[-1] for _, kind, p in rig.sandbox.request_log(SELLER_UID)
              if kind == "write"][writes_before:]
    assert writes == ["order/finish", "order/message/send", "order/message/send",
                      "item/create", "item/create", "item/create"]
    texts = [m["message"] for m in rig.sandbox.messages(order_id) if m["message"] in ("Вы здесь?", "Спасибо за сделку!")]
    assert texts == ["Спасибо за сделку!", "Вы здесь?"], "one order's texts keep the order they were said in"


def test_release_before_the_buyer_paid_is_refused_without_calling_finish(rig: Rig) -> None:
    deal, ad_id, order_id = rig.open_order(1)

    rig.actor.tell(ReleaseOrder(1, order_id, deal.ref))
    result = deal.wait(RELEASE_RESULT)
    assert isinstance(result, ReleaseFailed) and not result.permanent and "status 10" in result.error
    assert rig.calls("/v5/p2p/order/finish") == 0
    assert rig.world.ledger.entries("bybit_release") == []


def test_a_chat_file_arrives_with_its_content(rig: Rig) -> None:
    deal, ad_id, order_id = rig.open_order(1)

    pdf = b"%PDF-1.4\n% a receipt the buyer posted\n"
    rig.sandbox.buyer_send_file(order_id, "receipt.pdf", pdf, "application/pdf")
    batch = deal.wait(BuyerMessages)
    assert batch.texts == () and batch.files == (("receipt.pdf", pdf),)


def test_an_order_that_leaves_the_pending_list_is_read_once_for_its_end(rig: Rig) -> None:
    deal, ad_id, order_id = rig.open_order(1)
    info_before = rig.calls(INFO_PATH)

    rig.sandbox.buyer_cancel(order_id)
    assert deal.wait(OrderStatusChanged, status=40).order_id == order_id
    polls = rig.sync()["polls"]
    wait_for(lambda: rig.sync()["polls"] >= polls + 3, what="three more polls")
    assert rig.calls(INFO_PATH) == info_before + 1


def test_several_watched_deals_cost_one_order_list_call_per_tick(rig: Rig) -> None:
    rig.start(poll_interval=3600)  # no timer ticks: the test drives every tick
    ads = {deal_id: rig.create_ad(deal_id, amount=AMOUNT + deal_id) for deal_id in (1, 2, 3)}
    orders = {deal_id: rig.sandbox.place_order(ad_id, BUYER_UID, AMOUNT + deal_id) for deal_id, ad_id in ads.items()}
    rig.sync()
    pending, info = rig.calls(PENDING_PATH), rig.calls(INFO_PATH)

    for _ in range(5):
        rig.actor.tell(Tick("by hand"))
    rig.sync()
    assert rig.calls(PENDING_PATH) == pending + 5
    assert rig.calls(INFO_PATH) == info + 3, "each new order is mapped to its ad once, not on every tick"
    for deal_id, order_id in orders.items():
        assert rig.deal(deal_id).of(OrderOpened, order_id=order_id)

    chats = rig.calls(CHAT_PATH)
    rig.sandbox.buyer_send_text(orders[1], "да")
    rig.sandbox.buyer_send_text(orders[3], "нет")
    rig.actor.tell(Tick("by hand"))
    rig.sync()
    assert rig.calls(PENDING_PATH) == pending + 6
    assert rig.calls(CHAT_PATH) == chats + 2, "only the chats with news are read"
    assert rig.deal(1).of(BuyerMessages)[-1].texts == ("да",)
    assert rig.deal(3).of(BuyerMessages)[-1].texts == ("нет",)
    assert not rig.deal(2).of(BuyerMessages)


def test_a_chat_message_that_failed_is_sent_on_a_later_tick_exactly_once(rig: Rig) -> None:
    rig.start(max_retries=0)
    deal, ad_id, order_id = rig.open_order(1)

    text = "Реквизиты для оплаты: Банк: Т-Банк"
    with faults(rig.world, error_5xx=1.0):
        rig.actor.tell(SendChat(1, order_id, text))
        assert rig.sync()["outbox"] == 1
    wait_for(lambda: any(m["message"] == text for m in rig.sandbox.messages(order_id)), what="the retried message")
    wait_for(lambda: rig.sync()["outbox"] == 0)
    assert sum(1 for m in rig.sandbox.messages(order_id) if m["message"] == text) == 1


def test_cancel_ad_takes_it_offline_and_frees_the_slot(rig: Rig) -> None:
    rig.start()
    ad_id = rig.create_ad(1)
    rig.actor.tell(CancelAd(1, ad_id))
    rig.sync()
    assert rig.sandbox.ads(SELLER_UID, online_only=True) == []
    last = [m for m in rig.allocator.inbox if isinstance(m, AccountHealth)][-1]
    assert last.ads == ()


def test_read_order_finds_the_order_of_an_ad(rig: Rig) -> None:
    rig.start()
    ad_id = rig.create_ad(1)
    deal = rig.deal(1)
    order_id = rig.sandbox.place_order(ad_id, BUYER_UID, AMOUNT)
    rig.sandbox.mark_paid(order_id)

    rig.actor.tell(ReadOrder(1, ad_id, None, deal.ref))
    read = deal.wait(OrderRead)
    assert (read.ad_id, read.ad_online, read.order_id, read.order_status) == (ad_id, True, order_id, 20)


def test_a_restarted_account_resumes_a_watched_order_without_repeating_the_chat(rig: Rig) -> None:
    first = rig.start()
    deal, ad_id, order_id = rig.open_order(1)
    rig.sandbox.buyer_send_text(order_id, "да")
    deal.wait(BuyerMessages)
    rig.store.deals.update_fields(1, {"ad_id": ad_id, "order_id": order_id})  # as the Deal actor persists them
    first.stop()

    rig.allocator.inbox.clear()
    rig.start()
    first_report = next(m for m in rig.allocator.inbox if isinstance(m, AccountHealth) and m.healthy)
    assert first_report.ads == ((ad_id, "sbp", True),), "its ads are listed again on start, this one taken"
    rig.sandbox.buyer_send_text(order_id, "чек отправил")  # no Watch needed: recovered from the deal row
    wait_for(lambda: len(deal.of(BuyerMessages)) == 2)
    assert deal.of(BuyerMessages)[1].texts == ("чек отправил",)
    assert deal.wait(OrderStatusChanged, status=10).order_id == order_id  # first sight after the restart
    rig.actor.tell(Watch(1, ad_id, order_id, deal.ref))  # what the Deal sends when it restarts: no repeats
    rig.sandbox.mark_paid(order_id)
    deal.wait(OrderStatusChanged, status=20)
    assert len(deal.of(OrderStatusChanged, status=10)) == 1 and len(deal.of(BuyerMessages)) == 2
    rig.actor.tell(Unwatch(1))
    assert rig.sync()["watches"] == 0


def test_last_words_before_a_cancel_reach_the_deal_before_the_cancel(rig: Rig) -> None:
    rig.start(poll_interval=3600)  # the test drives every tick
    ad_id = rig.create_ad(1)
    deal = rig.deal(1)
    order_id = rig.sandbox.place_order(ad_id, BUYER_UID, AMOUNT)
    rig.actor.tell(Tick("by hand"))
    deal.wait(OrderOpened)

    rig.sandbox.buyer_send_text(order_id, "нет, не буду")
    rig.sandbox.buyer_cancel(order_id)
    rig.actor.tell(Tick("by hand"))
    rig.sync()
    news = [item for _, item in map(unwrap, deal.inbox) if isinstance(item, (BuyerMessages, OrderStatusChanged))]
    assert [type(m).__name__ for m in news] == ["BuyerMessages", "OrderStatusChanged"]
    assert news[0].texts == ("нет, не буду",) and news[1].status == 40
