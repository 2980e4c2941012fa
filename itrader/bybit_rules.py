"""Pure decisions of a Bybit P2P account (DESIGN §1: decisions live in pure functions).

What the account actor (actors.bybit_account) and its collaborators decide without
any I/O: which write goes next when writes queue for the budget, which of the
buyer's chat messages are new, which live order is new for a deal's watch, how
fast to poll, when to re-read an order that left the pending list, and the
small records those decisions work on.
"""
from __future__ import annotations

import re
import zlib
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
# The chat of a live order is read at least this often whatever the unread counts say, stretched so that
# these reads take at most this share of the account's read budget (issue 12 item 1).
CHAT_FALLBACK_READ_SHARE = 0.4
FILE_RETRY_MAX_WAIT = 60.0  # the longest pause between two downloads of one chat file
# A send whose answer was lost is found again by its text when the chat list does not echo msgUuid:
# only a message of ours created after the send began (less this much clock error) can be it.
SENT_TEXT_CLOCK_SLACK_MS = 500


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
    chat_dirty: bool = False  # read the chat again next tick (the read failed, the deal was not up)
    missing_ticks: int = 0
    next_chat_read: float | None = None  # monotonic time of the fallback read of a live order's chat
    file_retries: dict[str, "FileRetry"] = field(default_factory=dict)  # chat files not fetched yet, by message id

    @property
    def order_final(self) -> bool:
        return self.told_status in FINAL_ORDER_STATUSES

    @property
    def order_live(self) -> bool:
        return self.order_id is not None and not self.order_final


@dataclass
class FileRetry:
    """A buyer's chat file whose download failed: tried again after a growing pause, then given up."""

    attempts: int = 0
    due: float = 0.0  # monotonic time of the next try


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
    sent_after_ms: int = 0  # Bybit's clock just before the first try: a read-back by text looks after it
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

SYSTEM, SUPPORT, NOTICE, OURS, BUYER = "system", "support", "notice", "ours", "buyer"
# Bybit P2P docs, Get Chat Message: msgType 5 text (admin), 6 image (admin); roleType documents only
# "sys" (system) — any role but a user's is not the buyer either.
SUPPORT_MSG_TYPES = frozenset({5, 6})
USER_ROLE_TYPES = frozenset({"", "user"})
# Notices Bybit posts under the seller's own userId (the originals filtered them by text): its safety
# reminders and anti-fraud warnings, in English or Russian. None of our own texts says these words.
NOTICE_TEXT = re.compile(
    r"\bbybit\b|байбит|do not release|не отпускайте|make sure (that )?you have received|"
    r"убедитесь, что (вы )?получил|beware of (scam|fraud)|остерегайтесь мошенник", re.IGNORECASE)


def _plain(text: str) -> str:
    return " ".join(text.split()).casefold()


def chat_author(message: ChatMessage, our_user_id: str, our_uuids: set[str] | frozenset[str] = frozenset(),
                remark: str = "") -> str:
    """Who a chat message is from, for what it may do: SYSTEM (a platform notice), SUPPORT (Bybit's
    support or an admin: the operator hears of it, the dialogue never), NOTICE (a notice or the ad's
    remark shown under our userId), OURS (a text we sent) or BUYER."""
    if message.is_system:
        return SYSTEM
    if message.msg_type in SUPPORT_MSG_TYPES or message.role_type.lower() not in USER_ROLE_TYPES:
        return SUPPORT
    if str(message.raw.get("msgUuid") or "") in our_uuids:
        return OURS
    if message.user_id != our_user_id:
        return BUYER
    plain = _plain(message.text)
    if (remark and plain == _plain(remark)) or NOTICE_TEXT.search(plain):
        return NOTICE
    return OURS


def message_key(message: ChatMessage) -> tuple[int, int]:
    return message.created_ms, int(message.id) if message.id.isdigit() else 0


def unhandled_messages(messages: Iterable[ChatMessage], seen_ids: set[str],
                       watermark: tuple[int, int] | None) -> list[ChatMessage]:
    """Messages past the watermark and not handled yet, oldest first."""
    fresh = [m for m in messages if m.id not in seen_ids and (watermark is None or message_key(m) > watermark)]
    return sorted(fresh, key=message_key)


def new_buyer_messages(messages: Iterable[ChatMessage], our_user_id: str, our_uuids: set[str],
                       seen_ids: set[str], watermark: tuple[int, int] | None,
                       remark: str = "") -> list[ChatMessage]:
    """The buyer's messages we have not delivered yet, oldest first (order-flow.md §11.6): not a
    system notice, not support's, not written by us (by user id, or by a msgUuid we sent)."""
    return [m for m in unhandled_messages(messages, seen_ids, watermark)
            if chat_author(m, our_user_id, our_uuids, remark) == BUYER]


def our_texts(messages: Iterable[ChatMessage], our_user_id: str, our_uuids: set[str], remark: str = "") -> list[str]:
    """What we have said in a chat: by our user id or by a msgUuid we sent; notices (system ones, those
    under our userId, the echoed ad remark) and support's messages skipped."""
    return [m.text for m in messages if chat_author(m, our_user_id, our_uuids, remark) == OURS]


def find_sent_text(messages: Iterable[ChatMessage], item: OutgoingChat, our_user_id: str,
                   claimed_ids: set[str] | frozenset[str] = frozenset(), remark: str = "") -> ChatMessage | None:
    """The chat message an uncertain send became, if it is there: by its msgUuid; when the list does not
    echo msgUuid (Bybit's docs show it empty), by our userId and the same text, created after the send
    began and not already taken for another text."""
    messages = list(messages)
    for message in messages:
        if str(message.raw.get("msgUuid") or "") == item.msg_uuid:
            return message
    if not item.sent_after_ms or not our_user_id:
        return None
    for message in messages:
        if (message.id not in claimed_ids and message.user_id == our_user_id
                and not str(message.raw.get("msgUuid") or "")
                and chat_author(message, our_user_id, frozenset(), remark) == OURS
                and message.text.strip() == item.text.strip()
                and message.created_ms >= item.sent_after_ms - SENT_TEXT_CLOCK_SLACK_MS):
            return message
    return None


def file_retry_wait(attempts: int, backoff: float) -> float:
    """The pause after the `attempts`-th failed download of a chat file: doubling, at most a minute."""
    return min(backoff * 2 ** max(0, attempts - 1), FILE_RETRY_MAX_WAIT)


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


def chat_fallback_interval(live_orders: int, base: float, reads_per_second: float,
                           share: float = CHAT_FALLBACK_READ_SHARE) -> float:
    """Seconds between two reads of one live order's chat made whatever the unread counts say: `base`,
    stretched so that these reads of all the account's live orders take at most `share` of its reads."""
    if live_orders <= 0 or reads_per_second <= 0:
        return base
    return max(base, live_orders / (reads_per_second * share))


def chat_read_offset(order_id: str, interval: float) -> float:
    """Where in the interval an order's first fallback read falls: spread by its id, so orders opened
    together are not all read in the same tick."""
    return interval * (zlib.crc32(order_id.encode()) % 1000) / 1000


def chat_read_due(watch: DealWatch, has_news: bool, now: float) -> bool:
    """Read a live order's chat now: it has unread messages, a read is owed, its fallback read is due
    (unread counts vanish when the operator opens the chat in the app), or a failed file is due again."""
    if has_news or watch.chat_dirty:
        return True
    if watch.next_chat_read is not None and now >= watch.next_chat_read:
        return True
    return any(retry.due <= now for retry in watch.file_retries.values())
