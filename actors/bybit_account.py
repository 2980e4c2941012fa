"""BybitAccount: one actor per Bybit P2P account (DESIGN §3, order-flow.md §2, §4–§7).

It owns the account's signed client — and through it the account's read and
write budgets (itrader.limits) — its payment methods and its ads, and it polls
the account's orders: ONE pending-order list call per tick for all of them.
What it learns is routed to the Deal watching the ad or order:

* first sight of an order on a watched ad → OrderOpened (one /order/info per
  new order: the list has no itemId);
* a status change → OrderStatus; a watched order that leaves the pending list
  is read once with /order/info to learn 40 or 50;
* unread messages → the order's chat is read once and only the buyer's new
  messages (not ours, not system notices) go out as BuyerMessages, chat files
  downloaded into BuyerMessages.files.

Watches live in memory. A Deal sends Watch when it (re)starts and after CreateAd
the ad is watched for it. A restarted BybitAccount recovers its watches on start
from the store: every live deal whose ad_id (deal row) is one of the ads it
lists on Bybit is watched again, with the deal's order_id, and its news goes to
"deal:<id>"; no Deal cooperation is needed. What a
Deal has already been told of the chat survives a restart in the deal's journal
(a "bybit_chat_seen" note), so buyer messages are not delivered twice.

Writes (ads, cancels, chat texts, releases) share the account's write budget
(5/s on Bybit), so they wait in one queue and go out one per message to this
actor, most urgent first: a release, then an answer the buyer is waiting for,
a greeting, a cancel, a new ad, and last the closing words. Texts of one order
keep their order (an urgent one pulls the earlier ones ahead with it).
Polls run on a fixed rate: a slow tick does not push the next one back.

After every poll (and on start, after ad changes, on stop) the account tells
"allocator" an AccountHealth. With nothing watched it polls nothing and only
sends that health as a heartbeat.

Lease (DESIGN §9, only with Redis): before it boots the actor takes the
account's lease; without it the account stays in standby — unhealthy, no Bybit
call at all, a new try every few seconds. Every tick renews it (ticks come at
least every ttl/3), every queued write checks it first, and a lost lease drops
the account's in-memory work (queue, outbox, watches, ads) and sends it back to
standby. "deals" hears each change and runs the account's deals only here.
"""
from __future__ import annotations

import itertools
import logging
import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Callable, Iterable

import gevent

from actors.base import ChildContext, SupervisedActor, describe_failure, tell_quietly
from actors.directory import Directory
from actors.messages import (
    AccountHealth, AccountRecovered, AdCreated, AdFailed, AnnounceLease, BuyerMessages, CancelAd, CreateAd,
    FetchMarket, LeaseChanged, MarketPage, OrderOpened, OrderRead, OrderStatus, ReadOrder, ReleaseOrder,
    ReleaseResult, SendChat, Tick, Unwatch, Watch,
)
from itrader import pricing
from itrader.bybit import (
    AdRejected, AdRequest, AuthError, Blocked, BybitClient, BybitError, ChatMessage, InsufficientBalance,
    OrderSummary, PaymentMethod, PermanentError, RateLimited, TemporaryError, TimestampError,
)
from itrader.bybit.client import WRITE
from itrader.config import BybitConfig
from itrader.deal import TERMINAL
from itrader.events import EventLog
from itrader.leases import AccountLease, renew_interval, retry_interval
from itrader.limits import RateBudgetExhausted
from itrader.metrics import EXTERNAL_CALLS

log = logging.getLogger(__name__)

PLATFORM = "bybit"
STANDBY_REASON = "account in standby: its lease is held by another process"
SBP, TINKOFF = "sbp", "tinkoff"
PAYMENT_TYPES = {SBP: 382, TINKOFF: 75}  # Bybit paymentType ids (bybit-p2p-api.md §5)
ORDER_UNPAID, ORDER_PAID, ORDER_CANCELLED, ORDER_FINISHED = 10, 20, 40, 50
FINAL_ORDER_STATUSES = frozenset({ORDER_CANCELLED, ORDER_FINISHED, 80})
AD_ONLINE = 10

POLL_TICK = Tick("bybit:poll")

# Lower goes first when writes queue for the budget: money owed to a buyer who paid, the buyer waiting
# for our answer, a buyer who just opened an order; an ad off or on the market and the goodbye can wait.
WRITE_PRIORITY = {"release": 0, "reply": 1, "greeting": 2, "cancel": 3, "ad": 4, "closing": 5}
BOOT_RETRY_SECONDS = 5.0
IDLE_HEARTBEAT_SECONDS = 15.0  # health to the allocator while nothing is watched
UNHEALTHY_AFTER_FAILURES = 3
BALANCE_COOLDOWN_SECONDS = 60.0  # after 912120024 the account offers no slot for a while
MAX_CHAT_ATTEMPTS = 30
MISSING_ORDER_REREAD_TICKS = 10  # a watched order absent from the list but still pending per /order/info
MY_ADS_PAGE_SIZE, MY_ADS_MAX_PAGES = 50, 4
CHAT_SEEN_STEP = "bybit_chat_seen"
SENT_TEXTS_STEP = "bybit_sent_texts"  # our texts in an order's chat, noted for a reconciling Deal
TERMINAL_STATES = tuple(sorted(state.value for state in TERMINAL))
FINISHED_DEALS_CHECKED = 500  # at start: the latest finished deals whose ads may still be online

CALL_ERRORS = (BybitError, RateBudgetExhausted)
# Failures that prove the request was never performed (safe to repeat a write).
NOT_PERFORMED = (RateLimited, Blocked, AuthError, RateBudgetExhausted)

# The ad's description (order-flow.md §6), our own wording of the rules the originals posted.
AD_REMARK = (
    "ВНИМАТЕЛЬНО ПРОЧИТАЙТЕ УСЛОВИЯ ДО ОПЛАТЫ.\n"
    "1. Оплата только с карты Т-Банка (Тинькофф), по СБП или на карту, без комиссии. "
    "Платежи из других банков не подтверждаются и USDT по ним не отпускаются.\n"
    "2. Переводите строго в тот банк и по тем реквизитам, которые я пришлю в чате. "
    "Перевод в другой банк будет потерян.\n"
    "3. После оплаты перешлите PDF-чек с официальной почты Т-Банка на адрес, указанный в чате.\n"
    "Если согласны с условиями, напишите в чат «+», и я пришлю реквизиты."
)


# --------------------------------------------------------------- pure helpers


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


def call_outcome(exc: BaseException | None) -> str:
    """A bounded label for EXTERNAL_CALLS."""
    if exc is None:
        return "ok"
    for kind, label in ((RateBudgetExhausted, "budget"), (RateLimited, "rate_limited"), (Blocked, "blocked"),
                        (AuthError, "auth"), (TemporaryError, "temporary"), (PermanentError, "rejected")):
        if isinstance(exc, kind):
            return label
    return "error"


# ------------------------------------------------------------------ state


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


@dataclass(frozen=True)
class DrainWrites:
    """To itself: do the most urgent queued write (one per message, so news can overtake the queue)."""


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


# ------------------------------------------------------------------ actor


class BybitAccountActor(SupervisedActor):
    def __init__(self, name: str, client: BybitClient, store: Any, directory: Directory, events: EventLog,
                 settings: BybitConfig, context: ChildContext | None = None,
                 lease: AccountLease | None = None) -> None:
        super().__init__(context)
        self.name = name
        self.client = client
        self.store = store
        self.directory = directory
        self.events = events
        self.settings = settings
        self.registered_name = f"bybit:{name}"
        self.lease = lease or AccountLease.always_held(PLATFORM, name)
        self._standby_told = False
        self._write_seq = itertools.count(1)
        self._timer: gevent.Greenlet | None = None
        self._timer_due = 0.0
        self.poll_count = 0
        self._reset_state()
        self._handlers: dict[type, Callable[[Any], None]] = {
            Tick: self._on_tick, CreateAd: self._on_create_ad, CancelAd: self._on_cancel_ad, Watch: self._on_watch,
            Unwatch: self._on_unwatch, SendChat: self._on_send_chat, ReleaseOrder: self._on_release,
            ReadOrder: self._on_read_order, DrainWrites: self._on_drain_writes, FetchMarket: self._on_fetch_market,
        }

    def _reset_state(self) -> None:
        """What this actor knows of the account in memory: empty at start and after a lost lease."""
        self._booted = False
        self._boot_error: str | None = None
        self._user_id = ""
        self._payment_ids: dict[str, str] = {}
        self._ads: dict[str, LiveAd] = {}
        self._watches: dict[int, DealWatch] = {}
        self._order_ads: dict[str, str] = {}  # order id -> ad id (from /order/info, asked once per order)
        self._order_buyers: dict[str, str] = {}  # order id -> buyerRealName as /order/info gave it
        self._order_status: dict[str, int] = {}  # last status seen of any order we handled
        self._outbox: list[OutgoingChat] = []
        self._writes: list[QueuedWrite] = []  # releases, ads and cancels waiting for the write budget
        self._drain_told = False
        self._sent_uuids: set[str] = set()
        self._cancels: dict[str, int] = {}  # ad id -> deal id: cancels owed (queued, or to retry next tick)
        self._last_poll_started = 0.0
        self._poll_failures = 0
        self._balance_short_until = 0.0
        self._auth_failed = False

    def __repr__(self) -> str:
        return f"BybitAccountActor({self.name!r})"

    # ------------------------------------------------------------ lifecycle

    def on_start(self) -> None:
        self.directory.register(self.registered_name, self.actor_ref)
        # Boot in a handler, a moment later: on_start must not wait on the network, and the
        # supervisor's start ping goes first, so a thousand accounts start side by side.
        gevent.spawn_later(0.01, tell_quietly, self.actor_ref, POLL_TICK)

    def on_stop(self) -> None:
        self._shutdown()
        self.lease.release()  # graceful stop: another process may take the account at once

    def on_failure(self, exception_type, exception_value, traceback) -> None:
        self._shutdown()

    def _shutdown(self) -> None:
        if self._timer is not None:
            self._timer.kill(block=False)
            self._timer = None
        self.directory.unregister(self.registered_name, self.actor_ref)
        self._send_health(healthy=False)

    def on_receive(self, message: Any) -> Any:
        handler = self._handlers.get(type(message))
        if handler is None:
            if isinstance(message, AnnounceLease):
                if self.lease.holding:
                    self.directory.tell("deals", LeaseChanged(PLATFORM, self.name, True))
                return None
            return super().on_receive(message)
        if not isinstance(message, Tick) and not self._acting(before_write=isinstance(message, DrainWrites)):
            return self._refuse_in_standby(message)
        return handler(message)

    def stats(self) -> dict[str, Any]:
        """For tests and the status page (asked, with a timeout)."""
        return {"polls": self.poll_count, "watches": len(self._watches), "ads": len(self._ads),
                "outbox": len(self._outbox), "writes": len(self._writes), "healthy": self._healthy(),
                "booted": self._booted, "active": self.lease.holding, "lease": self.lease.view()}

    # ------------------------------------------------------------ the lease (DESIGN §9)

    def _acting(self, before_write: bool = False) -> bool:
        """May we touch the account now? Checked before every message but ticks (every write goes
        through DrainWrites, so each write is checked right before it is made). Before a write the
        lease is renewed first, so the key outlives the call that follows."""
        if self.lease.lapsed(renew_first=before_write):
            self._lose_lease("the lease was not renewed in time")
        return self.lease.holding

    def _lease_held(self) -> bool:
        """On a tick: renew the lease we hold, or try to take it over in standby."""
        if self.lease.holding:
            if self.lease.renew():
                return True
            self._lose_lease("the lease expired or was taken by another process")
            return False
        if not self.lease.acquire():
            self._say_standby()
            return False
        self._standby_told = False
        log.warning("bybit %s: lease acquired; driving the account", self.name)
        self.events.publish("lease_acquired", platform=PLATFORM, account=self.name, owner=self.lease.owner)
        self.directory.tell("deals", LeaseChanged(PLATFORM, self.name, True))
        return True

    def _say_standby(self) -> None:
        """Once per standby spell: deals of this account that still run here (an earlier life of this
        actor held the lease, then restarted too late to keep it) must stop."""
        if not self._standby_told:
            self._standby_told = self.directory.tell("deals", LeaseChanged(PLATFORM, self.name, False))

    def _lose_lease(self, reason: str) -> None:
        """Stop acting at once: queued writes, outbox, watches and ads are forgotten (the process that
        takes the account over rebuilds them from Bybit and the store); standby until the lease is ours."""
        self._reset_state()
        self.lease.release()  # a no-op unless the key is still ours
        holder = self.lease.holder()
        log.error("bybit %s: lease lost (%s); standby (holder now: %s)", self.name, reason, holder or "nobody")
        self.events.publish("lease_lost", platform=PLATFORM, account=self.name, owner=self.lease.owner,
                            holder=holder, reason=reason)
        self._standby_told = self.directory.tell("deals", LeaseChanged(PLATFORM, self.name, False))
        self._send_health(healthy=False)
        self._schedule()

    def _refuse_in_standby(self, message: Any) -> None:
        """A request that reached us while another process drives the account: nothing is done; requests
        with a reply get a temporary failure so their sender asks again elsewhere or later."""
        if isinstance(message, CreateAd):
            self._tell_deal(message.deal_id, AdFailed(message.deal_id, self.name, STANDBY_REASON, False),
                            message.reply_to, reply=True)
        elif isinstance(message, ReleaseOrder):
            self._tell_deal(message.deal_id, ReleaseResult(message.deal_id, message.order_id, False, False,
                                                           STANDBY_REASON), message.reply_to, reply=True)
        elif isinstance(message, FetchMarket):
            tell_quietly(message.reply_to, MarketPage(message.page, (), time.monotonic(), self.name,
                                                      error=STANDBY_REASON))
        elif isinstance(message, DrainWrites):
            self._drain_told = False

    # ------------------------------------------------------------ plumbing

    def _api(self, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """One client call, counted in EXTERNAL_CALLS; auth trouble and bans mark the account unhealthy."""
        try:
            result = call(*args, **kwargs)
        except CALL_ERRORS as exc:
            EXTERNAL_CALLS.labels("bybit", call_outcome(exc)).inc()
            if isinstance(exc, AuthError) and not isinstance(exc, TimestampError):
                self._auth_failed = True
            raise
        EXTERNAL_CALLS.labels("bybit", "ok").inc()
        self._auth_failed = False
        return result

    def _tell_deal(self, deal_id: int, message: Any, reply_to: Any = None, *, reply: bool = False) -> bool:
        """Replies go to `reply_to` first (the protocol); news to the deal's current name first
        (its ref changes when it restarts). Either way the other is the fallback."""
        name = f"deal:{deal_id}"
        if reply and reply_to is not None and tell_quietly(reply_to, message):
            return True
        if self.directory.tell(name, message):
            return True
        if not reply and reply_to is not None:
            return bool(tell_quietly(reply_to, message))
        return False

    def _healthy(self) -> bool:
        return (self.lease.holding and self._booted and not self._auth_failed and self.client.blocked_for <= 0
                and self._poll_failures < UNHEALTHY_AFTER_FAILURES
                and time.monotonic() >= self._balance_short_until)

    def _send_health(self, healthy: bool | None = None) -> None:
        ads = tuple((ad.ad_id, ad.method, ad.taken) for ad in self._ads.values())
        open_deals = sum(1 for watch in self._watches.values() if self._watch_active(watch))
        self.directory.tell("allocator", AccountHealth(
            account=self.name, healthy=self._healthy() if healthy is None else healthy, ads=ads,
            open_deals=open_deals, max_ads=self.settings.max_ads_per_account))

    def _watch_active(self, watch: DealWatch) -> bool:
        """Does this watch still need polling: a live order, or a live ad waiting for a buyer."""
        if watch.order_id is not None and not watch.order_final:
            return True
        return watch.ad_id is not None and watch.ad_id in self._ads and watch.told_status != ORDER_FINISHED

    def _has_work(self) -> bool:
        return bool(self._outbox or self._cancels or self._writes
                    or any(self._watch_active(w) for w in self._watches.values()))

    def _poll_interval(self) -> float:
        """Fast while someone may be talking to us (an open order, a text to retry); slower while our ads
        only wait for a buyer, which saves most of the list calls of a quiet account."""
        busy = self._outbox or self._cancels or any(
            w.order_id is not None and not w.order_final for w in self._watches.values())
        if busy:
            return self.settings.poll_interval
        return max(self.settings.poll_interval, self.settings.quiet_poll_interval)

    def _schedule(self) -> None:
        """One timer at a time: the poll interval while there is work, a slow heartbeat otherwise."""
        if not self.lease.holding:
            delay = retry_interval(self.lease.ttl)
        elif not self._booted:
            delay = BOOT_RETRY_SECONDS
        elif self._has_work():
            # Fixed rate: the next poll is due an interval after this one began, however long it took.
            delay = max(0.0, self._last_poll_started + self._poll_interval() - time.monotonic())
        else:
            delay = max(self.settings.poll_interval, IDLE_HEARTBEAT_SECONDS)
        if self.lease.active:
            delay = min(delay, renew_interval(self.lease.ttl))  # a quiet account still renews in time
        due = time.monotonic() + delay
        if self._timer is not None and not self._timer.ready():
            if self._timer_due <= due:
                return
            self._timer.kill(block=False)  # work arrived: do not wait out a heartbeat or a boot retry
        self._timer_due = due
        self._timer = gevent.spawn_later(delay, tell_quietly, self.actor_ref, POLL_TICK)

    # ------------------------------------------------------------ boot

    def _boot(self) -> bool:
        """Clock, own user id, payment ids, own ads. Repeated on the next tick until it works."""
        if self._booted:
            return True
        try:
            self._api(self.client.sync_clock)
            profile = self._api(self.client.account_info)
            methods = self._api(self.client.payment_methods)
            ads = self._list_my_ads()
        except CALL_ERRORS as exc:
            self._boot_error = describe_failure(exc)
            log.warning("bybit %s: start-up failed, retrying: %s", self.name, self._boot_error)
            return False
        self._user_id = str(profile.get("userId") or "")
        self._payment_ids = payment_ids_by_method(methods)
        for ad in ads:
            if ad.status == AD_ONLINE and ad.id not in self._ads:
                self._ads[ad.id] = LiveAd(ad.id, method_of(ad.payment_types), spent=ad.executed_quantity > 0,
                                          order_status=ORDER_UNPAID if ad.taken else None)  # frozen: an order is open
        self._recover_watches({ad.id for ad in ads})
        self._close_ads_of_finished_deals(ads)
        self._booted, self._boot_error = True, None
        self.events.publish("bybit_account_ready", account=self.name, ads=len(self._ads),
                            methods=sorted(self._payment_ids))
        return True

    def _recover_watches(self, my_ad_ids: set[str]) -> None:
        """After a restart: the live deals whose ad is one of ours are watched again at once (their
        news goes to "deal:<id>"); a Deal's own Watch later only refreshes its reply ref."""
        if self.store is None:
            return
        try:
            deals = self.store.deals.non_terminal_deals()
        except Exception as exc:  # the Deals re-send Watch when they start; polling does not need this
            log.warning("bybit %s: live deals not read: %s", self.name, describe_failure(exc))
            return
        for deal in deals:
            if deal.ad_id and deal.ad_id in my_ad_ids and deal.id not in self._watches:
                self._on_watch(Watch(deal.id, deal.ad_id, deal.order_id, None))
                # Our queued writes for it died with our last life; a Deal that is not reconciling
                # already reads the platforms back and redoes what is missing.
                self.directory.tell(f"deal:{deal.id}", AccountRecovered(deal.id, self.name))

    def _close_ads_of_finished_deals(self, ads: list) -> None:
        """An ad whose deal finished while its cancel was lost (a crash) would hold a slot for ever:
        cancel it (on the next tick, retried like any cancel)."""
        idle = {ad.id for ad in ads if ad.status == AD_ONLINE and not ad.taken}
        if not idle or self.store is None:
            return
        try:
            finished = self.store.deals.list_deals(TERMINAL_STATES, limit=FINISHED_DEALS_CHECKED)
        except Exception as exc:  # noqa: BLE001 — the database is away: the next start tries again
            log.warning("bybit %s: finished deals not read: %s", self.name, describe_failure(exc))
            return
        for deal in finished:
            if deal.ad_id in idle:
                log.info("bybit %s: ad %s of finished deal %s is still online; cancelling it", self.name,
                         deal.ad_id, deal.id)
                self._cancels[deal.ad_id] = deal.id

    def _list_my_ads(self) -> list:
        ads = []
        for page in range(1, MY_ADS_MAX_PAGES + 1):
            result = self._api(self.client.my_ads, page=page, size=MY_ADS_PAGE_SIZE)
            ads.extend(result.items)
            if not result.items or page * MY_ADS_PAGE_SIZE >= result.count:
                break
        return ads

    # ------------------------------------------------------------ the tick

    def _on_tick(self, tick: Tick) -> None:
        if self._timer is not None and self._timer.ready():
            self._timer = None  # this is the timer's tick (a tick told by hand leaves the timer alone)
        if not self._lease_held():
            self._send_health(healthy=False)
            self._schedule()
            return
        if self._boot():
            self._retry_cancels()
            for item in self._outbox:
                item.ready = True  # what failed last time is tried again, in the queue's order
            if self._has_work():
                self._last_poll_started = time.monotonic()
                self._poll()
            self._kick_writes()
        self._send_health()
        self._schedule()

    # ------------------------------------------------------------ the write queue

    def _queue_write(self, kind: str, message: Any) -> None:
        self._writes.append(QueuedWrite(kind, next(self._write_seq), message))
        self._kick_writes()

    def _kick_writes(self) -> None:
        """Ask ourselves to drain once more, unless a request is already in the mailbox."""
        if self._drain_told or next_write(self._writes, self._outbox) is None:
            return
        self._drain_told = True
        self.actor_ref.tell(DrainWrites())

    def _on_drain_writes(self, _message: DrainWrites) -> None:
        self._drain_told = False
        job = next_write(self._writes, self._outbox)
        if job is None:
            return
        wait = self.client.try_reserve(WRITE)
        if wait > 0:
            # No write token yet: wait outside the call, so polls and chat reads go on meanwhile and the
            # job is chosen again when the token is there (an answer queued now goes before a goodbye).
            self._drain_told = True
            gevent.spawn_later(wait, tell_quietly, self.actor_ref, DrainWrites())
            return
        if isinstance(job, OutgoingChat):
            self._send_queued_chat(job)
        elif job is not None:
            self._writes.remove(job)
            {"release": self._release, "ad": self._create_ad, "cancel": self._cancel_queued}[job.kind](job.message)
        self._kick_writes()

    def _pending_orders(self) -> list[OrderSummary]:
        page = self._api(self.client.pending_orders)
        orders = list(page.items)
        number = 1
        while len(orders) < page.count and page.items and number < 10:  # more than 30 pending: rare
            number += 1
            page = self._api(self.client.pending_orders, page=number)
            orders.extend(page.items)
        return [order for order in orders if str(order.raw.get("side", 1)) == "1"]  # our sell orders

    def _poll(self) -> None:
        try:
            live = {order.id: order for order in self._pending_orders()}
        except CALL_ERRORS as exc:
            self._poll_failures += 1
            log.warning("bybit %s: order poll failed (%d in a row): %s", self.name, self._poll_failures,
                        describe_failure(exc))
            return
        self._poll_failures = 0
        self.poll_count += 1
        self._map_new_orders(live)
        for order in live.values():
            ad = self._ads.get(self._order_ads.get(order.id, ""))
            if ad is not None:
                ad.order_status = order.status
        for watch in list(self._watches.values()):
            self._route(watch, live)
        self._forget_old_orders(live)

    def _map_new_orders(self, live: dict[str, OrderSummary]) -> None:
        """Which ad each new order is on: /order/info once per order (the list has no itemId)."""
        watched_orders = {w.order_id: w for w in self._watches.values() if w.order_id}
        for order_id in live:
            if order_id in self._order_ads:
                continue
            if order_id in watched_orders:
                self._order_ads[order_id] = watched_orders[order_id].ad_id or ""
                continue
            try:
                detail = self._api(self.client.order_info, order_id)
            except CALL_ERRORS as exc:
                log.info("bybit %s: order %s not mapped yet: %s", self.name, order_id, describe_failure(exc))
                continue
            self._order_ads[order_id] = detail.item_id
            self._note_buyer(order_id, detail.buyer_real_name)
            self._user_id = self._user_id or detail.user_id

    def _forget_old_orders(self, live: dict[str, OrderSummary]) -> None:
        watched = {w.order_id for w in self._watches.values()}
        for order_id in [o for o in self._order_ads if o not in live and o not in watched]:
            del self._order_ads[order_id]
            self._order_buyers.pop(order_id, None)

    def _note_buyer(self, order_id: str, name: str) -> None:
        if name and name.strip():
            self._order_buyers[order_id] = name.strip()

    def _order_for(self, watch: DealWatch, live: dict[str, OrderSummary]) -> tuple[OrderSummary | None, bool]:
        """The live order of this watch, and whether it is new to the deal."""
        if watch.order_id is not None and watch.order_id in live:
            return live[watch.order_id], False
        if watch.ad_id is None or (watch.order_id is not None and not watch.order_final):
            return None, False
        on_ad = [o for o in live.values() if self._order_ads.get(o.id) == watch.ad_id and o.id != watch.order_id]
        if not on_ad:
            return None, False
        return max(on_ad, key=lambda o: (o.created_ms, o.id)), True  # a new order (after a cancel: the next buyer)

    def _route(self, watch: DealWatch, live: dict[str, OrderSummary]) -> None:
        order, is_new = self._order_for(watch, live)
        if order is not None and is_new:
            watch.order_id, watch.told_status = order.id, order.status
            watch.seen_ids, watch.watermark, watch.watermark_loaded = set(), None, False
            self._order_status[order.id] = order.status
            buyer = self._order_buyers.get(order.id) or order.buyer_real_name
            self._tell_deal(watch.deal_id, OrderOpened(watch.deal_id, order.id, order.amount, order.status, buyer),
                            watch.reply_to)
            self.events.publish("bybit_order_opened", account=self.name, deal_id=watch.deal_id, order_id=order.id)
            if order.has_news or watch.chat_dirty:
                self._sync_chat(watch)
        elif order is not None:
            # The buyer's words before the status: "no" and then a cancel read as a refusal.
            if order.has_news or watch.chat_dirty:
                self._sync_chat(watch)
            self._observe_status(watch, order.status)
        elif watch.order_id is not None and not watch.order_final:
            self._read_missing_order(watch)

    def _observe_status(self, watch: DealWatch, status: int) -> None:
        if watch.order_id is None:
            return
        self._order_status[watch.order_id] = status
        ad = self._ads.get(watch.ad_id or "")
        if ad is not None:
            ad.order_status = status
            ad.spent = ad.spent or status == ORDER_FINISHED
        if status != watch.told_status:
            watch.told_status = status
            self._tell_deal(watch.deal_id, OrderStatus(watch.deal_id, watch.order_id, status), watch.reply_to)

    def _read_missing_order(self, watch: DealWatch) -> None:
        """A watched order not in the pending list has (almost always) ended: read it once for 40/50."""
        if watch.missing_ticks % MISSING_ORDER_REREAD_TICKS:
            watch.missing_ticks += 1
            return
        watch.missing_ticks += 1
        try:
            detail = self._api(self.client.order_info, watch.order_id)
        except CALL_ERRORS as exc:
            watch.missing_ticks = 0  # try again next tick
            log.info("bybit %s: order %s could not be read: %s", self.name, watch.order_id, describe_failure(exc))
            return
        unread = str(detail.raw.get("unreadMsgCount", "?"))
        if watch.chat_dirty or (detail.status != watch.told_status and unread not in ("", "0")):
            self._sync_chat(watch)  # last words before the order's end (at most one read per ended order)
        self._observe_status(watch, detail.status)

    # ------------------------------------------------------------ chat in

    def _chat_watermark(self, deal_id: int, order_id: str) -> tuple[int, int] | None:
        """What an earlier life of this actor already delivered to the deal (journal note)."""
        if self.store is None:
            return None
        try:
            entries = self.store.deals.journal(deal_id)
        except Exception as exc:  # no such deal (a test probe) or the database is away: deliver from scratch
            log.debug("bybit %s: no chat watermark for deal %s: %s", self.name, deal_id, describe_failure(exc))
            return None
        for entry in reversed(entries):
            data = entry.data if isinstance(entry.data, dict) else {}
            if entry.step == CHAT_SEEN_STEP and data.get("order_id") == order_id:
                return int(data.get("created_ms") or 0), int(data.get("message_id") or 0)
        return None

    def _remember_chat(self, watch: DealWatch, last: ChatMessage) -> None:
        watch.watermark = message_key(last)
        if self.store is None:
            return
        try:
            self.store.deals.record_note(watch.deal_id, CHAT_SEEN_STEP, {
                "order_id": watch.order_id, "message_id": last.id, "created_ms": last.created_ms})
        except Exception as exc:  # the in-memory watermark still holds for this life
            log.debug("bybit %s: chat watermark not saved for deal %s: %s", self.name, watch.deal_id,
                      describe_failure(exc))

    def _read_chat(self, order_id: str) -> list[ChatMessage] | None:
        try:
            return self._api(self.client.chat_messages, order_id)
        except CALL_ERRORS as exc:
            log.info("bybit %s: chat of order %s not read: %s", self.name, order_id, describe_failure(exc))
            return None

    def _sync_chat(self, watch: DealWatch, messages: list[ChatMessage] | None = None) -> list[ChatMessage] | None:
        """Read the chat once (unless given) and deliver the buyer's new messages; returns all messages."""
        assert watch.order_id is not None
        if messages is None:
            messages = self._read_chat(watch.order_id)
            if messages is None:
                watch.chat_dirty = True
                return None
        if not watch.watermark_loaded:
            watch.watermark = self._chat_watermark(watch.deal_id, watch.order_id)
            watch.watermark_loaded = True
        watch.chat_dirty = False
        fresh = new_buyer_messages(messages, self._user_id, self._sent_uuids, watch.seen_ids, watch.watermark)
        texts: list[str] = []
        files: list[tuple[str, bytes]] = []
        delivered: list[ChatMessage] = []
        for message in fresh:
            if message.is_file:
                try:
                    files.append((message.file_name or message.text, self._api(self.client.download_file,
                                                                               message.text)))
                except CALL_ERRORS as exc:
                    log.info("bybit %s: chat file of order %s not fetched: %s", self.name, watch.order_id,
                             describe_failure(exc))
                    watch.chat_dirty = True
                    break  # deliver in order: this one and the later ones next tick
            elif message.text.strip():
                texts.append(message.text)
            delivered.append(message)
        if (texts or files) and not self._tell_deal(
                watch.deal_id, BuyerMessages(watch.deal_id, watch.order_id, tuple(texts), tuple(files)),
                watch.reply_to):
            watch.chat_dirty = True  # the deal is not up yet (restarting): deliver them next tick
            return messages
        if delivered:
            watch.seen_ids.update(m.id for m in delivered)
            self._remember_chat(watch, delivered[-1])
        return messages

    # ------------------------------------------------------------ chat out

    def _on_send_chat(self, message: SendChat) -> None:
        self._outbox.append(OutgoingChat(message.deal_id, message.order_id, message.text, uuid.uuid4().hex,
                                         purpose=message.purpose, seq=next(self._write_seq)))
        self._kick_writes()

    def _send_queued_chat(self, item: OutgoingChat) -> None:
        """One text; a failed one holds back the later ones of its order until the next tick."""
        if self._deliver(item):
            self._outbox.remove(item)
        else:
            item.ready = False
            self._schedule()

    def _deliver(self, item: OutgoingChat) -> bool:
        """True when the text is in the chat (or can never be: then it is reported, not dropped silently)."""
        if item.uncertain:
            messages = self._chat_for_check(item)
            if messages is None:
                return self._give_up_if_exhausted(item, "chat unreadable")
            if any(str(m.raw.get("msgUuid") or "") == item.msg_uuid for m in messages):
                self._sent_uuids.add(item.msg_uuid)
                return True
        item.attempts += 1
        self._sent_uuids.add(item.msg_uuid)  # before the call: its echo must never count as the buyer's
        try:
            self._api(self.client.send_text, item.order_id, item.text, item.msg_uuid)
            return True
        except NOT_PERFORMED as exc:
            reason = describe_failure(exc)
        except TemporaryError as exc:
            item.uncertain = True  # it may have gone through: look in the chat before sending again
            reason = describe_failure(exc)
        except PermanentError as exc:
            self._report_lost_chat(item, describe_failure(exc))
            return True
        log.info("bybit %s: chat to order %s not sent yet (attempt %d): %s", self.name, item.order_id,
                 item.attempts, reason)
        return self._give_up_if_exhausted(item, reason)

    def _chat_for_check(self, item: OutgoingChat) -> list[ChatMessage] | None:
        watch = self._watches.get(item.deal_id)
        if watch is not None and watch.order_id == item.order_id:
            return self._sync_chat(watch)  # buyer messages in this read are delivered, not lost
        return self._read_chat(item.order_id)

    def _give_up_if_exhausted(self, item: OutgoingChat, reason: str) -> bool:
        if item.attempts < MAX_CHAT_ATTEMPTS:
            return False
        self._report_lost_chat(item, f"gave up after {item.attempts} attempts: {reason}")
        return True

    def _report_lost_chat(self, item: OutgoingChat, reason: str) -> None:
        log.error("bybit %s: chat message to order %s (deal %s) not sent: %s", self.name, item.order_id,
                  item.deal_id, reason)
        self.events.publish("bybit_chat_failed", account=self.name, deal_id=item.deal_id, order_id=item.order_id,
                            reason=reason)

    # ------------------------------------------------------------ ads

    def _on_create_ad(self, message: CreateAd) -> None:
        self._queue_write("ad", message)

    def _create_ad(self, message: CreateAd) -> None:
        def fail(reason: str, permanent: bool) -> None:
            self.events.publish("bybit_ad_failed", account=self.name, deal_id=message.deal_id, reason=reason)
            self._tell_deal(message.deal_id, AdFailed(message.deal_id, self.name, reason, permanent),
                            message.reply_to, reply=True)
            self._send_health()

        existing = next((ad for ad in self._ads.values() if ad.deal_id == message.deal_id and not ad.taken), None)
        if existing is not None:  # a repeated request: the ad is already up
            self._ad_placed(message, existing.ad_id)
            return
        if not self._boot():
            fail(f"account not ready: {self._boot_error}", permanent=False)
            return
        payment_id = self._payment_ids.get(message.method)
        if payment_id is None:
            fail(f"no {message.method} payment method configured on this account", permanent=False)
            return
        request = AdRequest(price=message.price, min_amount=message.amount, max_amount=message.amount,
                            quantity=message.quantity, payment_ids=(payment_id,), remark=AD_REMARK,
                            payment_period=self.settings.payment_period_minutes)
        try:
            ad_id = self._api(self.client.create_ad, request)
        except InsufficientBalance as exc:
            self._balance_short_until = time.monotonic() + BALANCE_COOLDOWN_SECONDS
            fail(describe_failure(exc), permanent=False)
            return
        except NOT_PERFORMED as exc:
            fail(describe_failure(exc), permanent=False)
            return
        except TemporaryError as exc:  # the ad may exist: look for it before saying no
            ad_id = self._find_unclaimed_ad(request, payment_id)
            if ad_id is None:
                fail(describe_failure(exc), permanent=False)
                return
        except (AdRejected, PermanentError) as exc:
            fail(describe_failure(exc), permanent=True)
            return
        self._ads[ad_id] = LiveAd(ad_id, message.method, deal_id=message.deal_id)
        self._ad_placed(message, ad_id)

    def _ad_placed(self, message: CreateAd, ad_id: str) -> None:
        self._ads[ad_id].deal_id = message.deal_id
        self._on_watch(Watch(message.deal_id, ad_id, None, message.reply_to))
        self.events.publish("bybit_ad_created", account=self.name, deal_id=message.deal_id, ad_id=ad_id,
                            method=self._ads[ad_id].method)
        self._tell_deal(message.deal_id, AdCreated(message.deal_id, self.name, ad_id), message.reply_to, reply=True)
        self._send_health()

    def _find_unclaimed_ad(self, request: AdRequest, payment_id: str) -> str | None:
        """After an unclear create: an online ad with exactly these terms that no deal owns is ours."""
        try:
            ads = self._list_my_ads()
        except CALL_ERRORS:
            return None
        for ad in ads:
            if (ad.status == AD_ONLINE and ad.id not in self._ads and ad.max_amount == request.max_amount
                    and ad.min_amount == request.min_amount and ad.price == Decimal(request.price)
                    and payment_id in ad.payment_ids):
                return ad.id
        return None

    def _on_cancel_ad(self, message: CancelAd) -> None:
        if message.ad_id not in self._cancels:
            self._cancels[message.ad_id] = message.deal_id
            self._queue_write("cancel", message)
        self._schedule()

    def _cancel_queued(self, message: CancelAd) -> None:
        self._cancel_ad(message.ad_id, message.deal_id)
        self._send_health()

    def _cancel_ad(self, ad_id: str, deal_id: int) -> None:
        try:
            self._api(self.client.cancel_ad, ad_id)
        except PermanentError as exc:  # already closed or not ours: nothing left to cancel
            log.info("bybit %s: ad %s not cancelled (%s); treating it as gone", self.name, ad_id,
                     describe_failure(exc))
        except CALL_ERRORS as exc:
            self._cancels[ad_id] = deal_id  # next tick
            log.info("bybit %s: cancelling ad %s failed, will retry: %s", self.name, ad_id, describe_failure(exc))
            return
        self._cancels.pop(ad_id, None)
        self._ads.pop(ad_id, None)
        self.events.publish("bybit_ad_cancelled", account=self.name, deal_id=deal_id, ad_id=ad_id)

    def _retry_cancels(self) -> None:
        queued = {job.message.ad_id for job in self._writes if job.kind == "cancel"}
        for ad_id, deal_id in list(self._cancels.items()):
            if ad_id not in queued:
                self._queue_write("cancel", CancelAd(deal_id, ad_id))

    # ------------------------------------------------------------ watches

    def _on_watch(self, message: Watch) -> None:
        watch = self._watches.get(message.deal_id)
        if watch is None:
            watch = self._watches[message.deal_id] = DealWatch(message.deal_id, message.ad_id, message.order_id,
                                                               message.reply_to)
            if message.order_id is not None:
                watch.told_status = None  # first observation is reported as OrderStatus
        else:
            watch.reply_to = message.reply_to or watch.reply_to
            watch.ad_id = message.ad_id or watch.ad_id
            if message.reply_to is not None:  # a restarted Deal may have moved the chat watermark back
                watch.watermark_loaded = False
            if message.order_id is not None and message.order_id != watch.order_id:
                watch.order_id, watch.told_status = message.order_id, None
                watch.seen_ids, watch.watermark, watch.watermark_loaded = set(), None, False
        if watch.ad_id is not None and watch.ad_id in self._ads:
            self._ads[watch.ad_id].deal_id = message.deal_id
        if watch.order_id is not None:
            self._order_ads.setdefault(watch.order_id, watch.ad_id or "")
        self._schedule()

    def _on_unwatch(self, message: Unwatch) -> None:
        self._watches.pop(message.deal_id, None)

    # ------------------------------------------------------------ release

    def _on_release(self, message: ReleaseOrder) -> None:
        self._queue_write("release", message)

    def _release(self, message: ReleaseOrder) -> None:
        def result(ok: bool, permanent: bool = False, reason: str | None = None) -> None:
            self._tell_deal(message.deal_id, ReleaseResult(message.deal_id, message.order_id, ok, permanent, reason),
                            message.reply_to, reply=True)

        status = self._order_status.get(message.order_id)
        if status == ORDER_FINISHED:
            result(True)
            return
        if status != ORDER_PAID:
            status = self._read_status(message.deal_id, message.order_id)
            if status is None:
                result(False, reason="order status unreadable")
                return
            if status == ORDER_FINISHED:
                result(True)
                return
            if status != ORDER_PAID:
                result(False, permanent=status in FINAL_ORDER_STATUSES,
                       reason=f"order status {status}: release needs status {ORDER_PAID}")
                return
        try:
            self._api(self.client.release, message.order_id)
        except NOT_PERFORMED as exc:
            result(False, reason=describe_failure(exc))
            return
        except CALL_ERRORS as exc:  # unclear or refused: Bybit's word on the order decides
            status = self._read_status(message.deal_id, message.order_id)
            if status == ORDER_FINISHED:
                result(True)
            else:
                result(False, permanent=status in FINAL_ORDER_STATUSES,
                       reason=f"{describe_failure(exc)}; order status {status}")
            return
        self.events.publish("bybit_released", account=self.name, deal_id=message.deal_id,
                            order_id=message.order_id)
        self._status_learned(message.deal_id, message.order_id, ORDER_FINISHED)
        result(True)

    def _read_status(self, deal_id: int, order_id: str) -> int | None:
        try:
            detail = self._api(self.client.order_info, order_id)
        except CALL_ERRORS as exc:
            log.info("bybit %s: order %s unreadable: %s", self.name, order_id, describe_failure(exc))
            return None
        self._order_ads.setdefault(order_id, detail.item_id)
        self._note_buyer(order_id, detail.buyer_real_name)
        self._status_learned(deal_id, order_id, detail.status)
        return detail.status

    def _status_learned(self, deal_id: int, order_id: str, status: int) -> None:
        watch = self._watches.get(deal_id)
        if watch is not None and watch.order_id == order_id:
            self._observe_status(watch, status)
        else:
            self._order_status[order_id] = status

    # ------------------------------------------------------------ reconciliation

    def _on_read_order(self, message: ReadOrder) -> None:
        ad_online: bool | None = None
        ad_id, order_id, order_status = message.ad_id, message.order_id, None
        if ad_id is None and order_id is None:
            ad_id, ad_online = self._find_deal_ad(message.deal_id)
        if ad_id is not None:
            try:
                ad = self._api(self.client.ad_info, ad_id)
                ad_online = ad.status == AD_ONLINE
                if order_id is None:
                    order_id = self._find_order_of_ad(ad_id, ad.max_amount)
            except CALL_ERRORS as exc:
                log.info("bybit %s: ad %s unreadable: %s", self.name, ad_id, describe_failure(exc))
        if order_id is not None:
            order_status = self._read_status(message.deal_id, order_id)
            self._note_sent_texts(message.deal_id, order_id)
        if (ad_id, order_id) != (message.ad_id, message.order_id):
            # Found here, unknown to the deal (it died before it heard them): watch them for it, or the
            # buyer's words on that order would never reach it (its own Watch carries no ids).
            self._on_watch(Watch(message.deal_id, ad_id, order_id, message.reply_to))
        self._tell_deal(message.deal_id, OrderRead(message.deal_id, ad_id, ad_online, order_id, order_status,
                                                   self._order_buyers.get(order_id or "")),
                        message.reply_to, reply=True)

    def _on_fetch_market(self, message: FetchMarket) -> None:
        """One read of the public market list for the allocator's market pricing (a read of this account's
        budget); the reply carries the item prices in the list's order, or the reason it failed."""
        try:
            listing = self._api(self.client.online_ads, page=message.page, size=pricing.MARKET_PAGE_SIZE)
            prices = tuple(pricing.item_price(item) for item in listing.items)
        except (*CALL_ERRORS, pricing.PricingError) as exc:
            reason = describe_failure(exc)
            log.info("bybit %s: market page %d unreadable: %s", self.name, message.page, reason)
            reply = MarketPage(message.page, (), time.monotonic(), self.name, error=reason)
        else:
            reply = MarketPage(message.page, prices, time.monotonic(), self.name)
        tell_quietly(message.reply_to, reply)

    def _note_sent_texts(self, deal_id: int, order_id: str) -> None:
        """What we have said in the order's chat, for the Deal's reconcile (a text it persisted may have
        died in our outbox with the process): a journal note, read when OrderRead arrives."""
        if self.store is None or not self._boot() or not self._user_id:
            return
        messages = self._read_chat(order_id)
        if messages is None:
            return
        ours = [m.text for m in messages if not m.is_system and (
            m.user_id == self._user_id or str(m.raw.get("msgUuid") or "") in self._sent_uuids)]
        try:
            self.store.deals.record_note(deal_id, SENT_TEXTS_STEP, {"order_id": order_id, "texts": ours})
        except Exception as exc:  # noqa: BLE001 — without it the Deal simply does not re-send
            log.debug("bybit %s: sent texts not noted for deal %s: %s", self.name, deal_id, describe_failure(exc))

    def _find_deal_ad(self, deal_id: int) -> tuple[str | None, bool | None]:
        """A deal that died between "create the ad" and hearing its id: its ad is the one placed for it
        in this life, else (after a restart) our online ad of the deal's amount that no other deal owns.
        (None, False): surely none, creating one is safe; (None, None): cannot tell now."""
        placed = next((ad.ad_id for ad in self._ads.values() if ad.deal_id == deal_id), None)
        if placed is not None:
            return placed, None
        if self.store is None or not self._boot():
            return None, None
        try:
            amount = Decimal(str(self.store.deals.get(deal_id).amount_rub))
            owned = {d.ad_id for d in self.store.deals.non_terminal_deals() if d.ad_id and d.id != deal_id}
            ads = self._list_my_ads()
        except CALL_ERRORS as exc:
            log.info("bybit %s: ads not listed for deal %s: %s", self.name, deal_id, describe_failure(exc))
            return None, None
        except Exception as exc:  # noqa: BLE001 — no such deal row, or the database is away
            log.warning("bybit %s: deal %s not read: %s", self.name, deal_id, describe_failure(exc))
            return None, None
        for ad in ads:
            live = self._ads.get(ad.id)
            if (ad.status == AD_ONLINE and ad.id not in owned and ad.min_amount == amount == ad.max_amount
                    and (live is None or live.deal_id in (None, deal_id))):
                if live is None:
                    live = self._ads[ad.id] = LiveAd(ad.id, method_of(ad.payment_types),
                                                     order_status=ORDER_UNPAID if ad.taken else None)
                live.deal_id = deal_id
                log.info("bybit %s: ad %s found for deal %s after a restart", self.name, ad.id, deal_id)
                return ad.id, True
        return None, False

    def _find_order_of_ad(self, ad_id: str, amount: Decimal) -> str | None:
        """The newest order on the ad: known mapping, else the pending list, else recent orders of that
        amount (min = max = amount, so only those can be on it)."""
        known = [o for o, a in self._order_ads.items() if a == ad_id]
        if known:
            return max(known)
        candidates = self._pending_orders()
        if not candidates:
            candidates = [o for o in self._api(self.client.orders).items if o.amount == amount]
        for order in sorted(candidates, key=lambda o: (o.created_ms, o.id), reverse=True):
            if order.id not in self._order_ads:
                self._order_ads[order.id] = self._api(self.client.order_info, order.id).item_id
            if self._order_ads[order.id] == ad_id:
                return order.id
        return None
