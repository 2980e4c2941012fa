"""Pure decisions of a Bybit P2P account (DESIGN §1: decisions live in pure functions).

What the account actor (actors.bybit_account) and its collaborators decide without
any I/O: which write goes next when writes queue for the budget, which of the
buyer's chat messages are new, which live order is new for a deal's watch, how
fast to poll, when to re-read an order that left the pending list, and the
small records those decisions work on.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable

if TYPE_CHECKING:  # for annotations only: the rules import no client
    from itrader.bybit.models import ChatMessage, OrderSummary, PaymentMethod

SBP, TINKOFF = "sbp", "tinkoff"
PAYMENT_TYPES = {SBP: 382, TINKOFF: 75}  # Bybit paymentType ids (bybit-p2p-api.md §5)
ORDER_UNPAID, ORDER_PAID, ORDER_CANCELLED, ORDER_FINISHED = 10, 20, 40, 50
FINAL_ORDER_STATUSES = frozenset({ORDER_CANCELLED, ORDER_FINISHED, 80})
APPEAL_STATUSES = frozenset({30, 100, 110})  # appealing, objectioning, waiting for an objection
AD_ONLINE = 10

# Lower goes first when writes queue for the budget: money owed to a buyer who paid, the buyer waiting
# for our answer, a buyer who just opened an order; an ad off or on the market and the goodbye can wait.
WRITE_PRIORITY = {"release": 0, "reply": 1, "greeting": 2, "cancel": 3, "ad": 4, "closing": 5}
MISSING_ORDER_REREAD_TICKS = 10  # a watched order absent from the list but still pending per /order/info


# ------------------------------------------------------------------ records


@dataclass
class LiveAd:
    ad_id: str
    method: str
    deal_id: int | None = None
    order_status: int | None = None  # of the latest order on it
    spent: bool = False  # an order on it finished: it cannot be taken again

    @property
    def taken(self) -> bool:
        return self.spent or (self.order_status is not None and self.order_status != ORDER_CANCELLED)


@dataclass
class DealWatch:
    deal_id: int
    ad_id: str | None
    order_id: str | None
    reply_to: Any
    told_status: int | None = None  # the order status the deal was last told
    seen_ids: set[str] = field(default_factory=set)
    watermark: tuple[int, int] | None = None
    watermark_loaded: bool = False
    chat_dirty: bool = False  # read the chat again next tick (a file could not be fetched)
    missing_ticks: int = 0

    @property
    def order_final(self) -> bool:
        return self.told_status in FINAL_ORDER_STATUSES

    @property
    def order_live(self) -> bool:
        return self.order_id is not None and not self.order_final


@dataclass
class OutgoingChat:
    deal_id: int
    order_id: str
    text: str
    msg_uuid: str
    purpose: str = "reply"
    seq: int = 0
    attempts: int = 0
    uncertain: bool = False  # a send failed in a way that may have delivered it
    ready: bool = True  # False after a failed try: the next tick makes it ready again


@dataclass(frozen=True)
class QueuedWrite:
    kind: str  # "release", "ad" or "cancel" (chat texts wait in the outbox)
    seq: int
    message: Any


# ------------------------------------------------------------------ payment methods


def payment_ids_by_method(methods: Iterable[PaymentMethod]) -> dict[str, str]:
    """The account's payment id for SBP and for Tinkoff (the first of each type; Balance skipped)."""
    found: dict[str, str] = {}
    for method in methods:
        if method.is_balance:
            continue
        for name, payment_type in PAYMENT_TYPES.items():
            if method.payment_type == payment_type and name not in found:
                found[name] = method.id
    return found


def method_of(payment_types: Iterable[int]) -> str:
    types = set(payment_types)
    for name, payment_type in PAYMENT_TYPES.items():
        if payment_type in types:
            return name
    return "other"


# ------------------------------------------------------------------ chat


def message_key(message: ChatMessage) -> tuple[int, int]:
    return message.created_ms, int(message.id) if message.id.isdigit() else 0


def new_buyer_messages(messages: Iterable[ChatMessage], our_user_id: str, our_uuids: set[str],
                       seen_ids: set[str], watermark: tuple[int, int] | None) -> list[ChatMessage]:
    """The buyer's messages we have not delivered yet, oldest first (order-flow.md §11.6):
    not a system notice, not written by us (by user id, or by a msgUuid we sent)."""
    fresh = [
        m for m in messages
        if not m.is_system and m.user_id != our_user_id and str(m.raw.get("msgUuid") or "") not in our_uuids
        and m.id not in seen_ids and (watermark is None or message_key(m) > watermark)
    ]
    return sorted(fresh, key=message_key)


def our_texts(messages: Iterable[ChatMessage], our_user_id: str, our_uuids: set[str]) -> list[str]:
    """What we have said in a chat: by our user id or by a msgUuid we sent; system notices skipped."""
    return [m.text for m in messages if not m.is_system and (
        m.user_id == our_user_id or str(m.raw.get("msgUuid") or "") in our_uuids)]


# ------------------------------------------------------------------ the write queue


def write_rank(purpose: str, seq: int) -> tuple[int, int]:
    return WRITE_PRIORITY.get(purpose, WRITE_PRIORITY["reply"]), seq


def chat_candidates(outbox: Iterable[OutgoingChat]) -> list[tuple[tuple[int, int], OutgoingChat]]:
    """The next text of each order that may be sent now, ranked by the most urgent text of its order
    (texts of one order go out in their order: an urgent answer pulls an earlier greeting along)."""
    heads: dict[str, OutgoingChat] = {}
    urgency: dict[str, int] = {}
    for item in outbox:
        heads.setdefault(item.order_id, item)
        rank = write_rank(item.purpose, item.seq)[0]
        urgency[item.order_id] = min(urgency.get(item.order_id, rank), rank)
    return [((urgency[order_id], head.seq), head) for order_id, head in heads.items() if head.ready]


def next_write(queued: Iterable[QueuedWrite], outbox: Iterable[OutgoingChat]) -> QueuedWrite | OutgoingChat | None:
    """The most urgent write that may go now (oldest first among equals); None when nothing is ready."""
    ranked: list[tuple[tuple[int, int], QueuedWrite | OutgoingChat]] = [
        (write_rank(job.kind, job.seq), job) for job in queued]
    ranked += chat_candidates(outbox)
    return min(ranked, key=lambda pair: pair[0])[1] if ranked else None


# ------------------------------------------------------------------ orders and polling


def order_for_watch(watch: DealWatch, live: dict[str, OrderSummary],
                    order_ads: dict[str, str]) -> tuple[OrderSummary | None, bool]:
    """The live order of this watch, and whether it is new to the deal (`order_ads`: order id -> ad id)."""
    if watch.order_id is not None and watch.order_id in live:
        return live[watch.order_id], False
    if watch.ad_id is None or watch.order_live:
        return None, False
    on_ad = [o for o in live.values() if order_ads.get(o.id) == watch.ad_id and o.id != watch.order_id]
    if not on_ad:
        return None, False
    return max(on_ad, key=lambda o: (o.created_ms, o.id)), True  # a new order (after a cancel: the next buyer)


def watch_active(watch: DealWatch, live_ad_ids: Iterable[str] | dict) -> bool:
    """Does this watch still need polling: a live order, or a live ad waiting for a buyer."""
    if watch.order_live:
        return True
    return watch.ad_id is not None and watch.ad_id in live_ad_ids and watch.told_status != ORDER_FINISHED


def poll_interval(busy: bool, fast: float, quiet: float) -> float:
    """Fast while someone may be talking to us (an open order, a text to retry); slower while our ads
    only wait for a buyer, which saves most of the list calls of a quiet account."""
    return fast if busy else max(fast, quiet)


def reread_missing_order_now(missing_ticks: int) -> bool:
    """A watched order absent from the pending list is read on its first miss, then every
    MISSING_ORDER_REREAD_TICKS ticks while it still shows as pending."""
    return missing_ticks % MISSING_ORDER_REREAD_TICKS == 0


def appeal_changes(disputes: dict[str, tuple[int, int]], live: dict[str, OrderSummary]
                   ) -> tuple[list[tuple[int, OrderSummary]], list[str]]:
    """Orders in appeal whose deal has ended (`disputes`: order id -> (deal id, status last announced)):
    the (deal id, order) whose status moved on the pending list, and the order ids to stop following
    (off the list, or out of the appeal)."""
    moved, done = [], []
    for order_id, (deal_id, status) in disputes.items():
        order = live.get(order_id)
        if order is None or order.status not in APPEAL_STATUSES:
            done.append(order_id)
        if order is not None and order.status != status:
            moved.append((deal_id, order))
    return moved, done


def chat_worth_reading(chat_dirty: bool, status_changed: bool, unread: str) -> bool:
    """An ended order's chat is read once more when a read is owed or it ended with unread messages."""
    return chat_dirty or (status_changed and unread not in ("", "0"))
