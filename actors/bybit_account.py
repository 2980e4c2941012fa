"""BybitAccount: one actor per Bybit P2P account (DESIGN §3, order-flow.md §2, §4–§7).

It owns the account's signed client — and through it the account's read and
write budgets (itrader.limits) — its payment methods and its ads, and it polls
the account's orders: ONE pending-order list call per tick for all of them.
What it learns is routed to the Deal watching the ad or order:

* first sight of an order on a watched ad → OrderOpened (one /order/info per
  new order: the list has no itemId), and OrderStatusChanged if it is already
  past 10 — deal events, each told in a DealNews;
* a status change → OrderStatusChanged; a watched order that leaves the pending
  list is read once with /order/info to learn 40 or 50;
* unread messages, or a fallback interval without them (counts vanish when the
  operator opens the chat in the app) → the order's chat is read once and only
  the buyer's new messages (not ours, not notices, not support's: those go to
  the operator as an event) go out as BuyerMessages, chat files downloaded into
  BuyerMessages.files (a failing one retried with backoff, holding nothing back).

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
account's lease (its epoch recorded in the store); without it the account stays
in standby — unhealthy, no Bybit call at all, a new try every few seconds. Every
tick renews it (ticks come at least every ttl/3), every queued write checks it
first and the client again before each HTTP attempt of a write (`before_write`),
and a lost lease drops the account's in-memory work (queue, outbox, watches, ads)
and sends it back to standby. "deals" hears each change and runs the account's
deals only here. A rate-limited ad or release is put off (actors.later) for the
wait Bybit asked for, never slept out in the handler.

Disabled by the operator (Drain from its AccountGroup; the allocator has been told AccountDown and moves
the account's un-taken ads to others): the actor goes on serving the orders already open on the account
and tells the group Drained once no order runs on it and it lists no ad — or once no order runs and the
ads it could not cancel have stayed DRAIN_ADS_GRACE seconds (the operator is told to close them by hand).

The actor is thin: it receives, checks the lease (actors.lease_guard) and hands the work to its
collaborators in actors/bybit/ — the write queue, chat sync, the ad book, order routing and the
reconciler; their decisions are in itrader.bybit_rules.
"""
from __future__ import annotations

import itertools
import time
from typing import Any, Callable

import gevent

from actors.base import ChildContext, SupervisedActor, describe_failure, tell_quietly
from actors.bybit.access import AccessWatch
from actors.bybit.ads import AD_REMARK
from actors.bybit.chat import CHAT_SEEN_STEP, MAX_CHAT_ATTEMPTS, NOT_PERFORMED, SENT_TEXTS_STEP
from actors.bybit.link import CALL_ERRORS, AccountLink, call_outcome, log
from actors.bybit.pace import PollPace
from actors.bybit.wiring import wire
from actors.bybit.writes import DrainWrites
from actors.directory import Directory
from actors.later import PutOff
from actors.lease_guard import LeaseGuard
from actors.messages import (
    AccountHealth, AnnounceLease, CancelAd, CreateAd, DealNews, Drain, Drained, FetchMarket, MarketPage, ReadOrder,
    ReleaseOrder, SendChat, Tick, Unwatch, Watch,
)
from itrader import deal, pricing
from itrader.account_figures import AccountFigures
from itrader.bybit import BybitClient
from itrader.bybit.client import WRITE
from itrader.bybit_rules import (  # re-exported: tests and other code import them from here
    AD_ONLINE, FINAL_ORDER_STATUSES, MISSING_ORDER_REREAD_TICKS, ORDER_CANCELLED, ORDER_FINISHED, ORDER_PAID,
    ORDER_UNPAID, PAYMENT_TYPES, SBP, TINKOFF, WRITE_PRIORITY, DealWatch, LiveAd, OutgoingChat, QueuedWrite,
    chat_candidates, message_key, method_of, new_buyer_messages, next_write, payment_ids_by_method,
    poll_interval, write_rank,
)
from itrader.config import BybitConfig
from itrader.events import EventLog
from itrader.leases import AccountLease, renew_interval, retry_interval
from itrader.metrics import account_gauges, account_usdt, forget_account

__all__ = [
    "AD_ONLINE", "AD_REMARK", "BybitAccountActor", "CALL_ERRORS", "CHAT_SEEN_STEP", "DealWatch", "DrainWrites",
    "FINAL_ORDER_STATUSES", "LiveAd", "MAX_CHAT_ATTEMPTS", "MISSING_ORDER_REREAD_TICKS", "NOT_PERFORMED",
    "ORDER_CANCELLED", "ORDER_FINISHED", "ORDER_PAID", "ORDER_UNPAID", "OutgoingChat", "PAYMENT_TYPES",
    "QueuedWrite", "SBP", "SENT_TEXTS_STEP", "TINKOFF", "WRITE_PRIORITY", "call_outcome", "chat_candidates",
    "message_key", "method_of", "new_buyer_messages", "next_write", "payment_ids_by_method", "write_rank",
]

PLATFORM = "bybit"
STANDBY_REASON = "account in standby: its lease is held by another process"
POLL_TICK = Tick("bybit:poll")
BUDGET_WINDOW = 60  # seconds: the status page's budget use is the share of the budget spent this long back
USDT_READ_INTERVAL = 60.0  # seconds between reads of the account's USDT for the metrics (one read token each)
BOOT_RETRY_SECONDS = 5.0
IDLE_HEARTBEAT_SECONDS = 15.0  # health to the allocator while nothing is watched
UNHEALTHY_AFTER_FAILURES = 3
MARKET_LIST_PAGE_SIZE = 300  # the most /v5/p2p/item/online gives in one read (docs, Get Ads)
MARKET_LIST_MAX_READS = 5  # the list is read whole, up to this many reads
BOOT_READS = 6  # the clock, the profile, the payment methods, the own ads, the USDT and the first poll
DRAIN_ADS_GRACE = 60.0  # a disabled account with no open order stops this long after, even with ads left


class BybitAccountActor(SupervisedActor):
    def __init__(self, name: str, client: BybitClient, store: Any, directory: Directory, events: EventLog,
                 settings: BybitConfig, context: ChildContext | None = None,
                 lease: AccountLease | None = None, figures: AccountFigures | None = None) -> None:
        super().__init__(context)
        self.name = name
        self._figures = figures or AccountFigures()  # what the status page shows of the account
        # The account's client, store, directory, events and settings, shared with the collaborators.
        self._put_off = PutOff()
        self._link = AccountLink(name, client, store, directory, events, settings, boot=self._boot,
                                 send_health=self._send_health, schedule=self._schedule,
                                 later=lambda message, wait: self._put_off.later(self.actor_ref, message, wait))
        self.registered_name = f"bybit:{name}"
        self.lease = lease or AccountLease.always_held(PLATFORM, name)
        self.guard = LeaseGuard(self.lease, PLATFORM, name, events, directory, forget=self._reset_state,
                                after_loss=self._after_lease_lost, fences=getattr(store, "fences", None))
        client.before_write = self.guard.before_write  # every HTTP try of a write checks the lease
        self._write_seq = itertools.count(1)
        self._timer: gevent.Greenlet | None = None
        self._timer_due = 0.0
        self._drain: tuple[Any, float] | None = None  # (the group to tell, since) once disabled
        self.poll_count = 0
        self._access = AccessWatch(self._link)  # a key refused for this host: down, checked again rarely
        self._usdt_due = 0.0  # the next USDT report (itrader.alerts: low_usdt)
        self._pace = PollPace(client.pace_poll)  # this account's turns among the polls from this IP
        self._reset_state()
        self._handlers: dict[type, Callable[[Any], None]] = {
            Tick: self._on_tick, CreateAd: self._on_create_ad, CancelAd: self._on_cancel_ad,
            Watch: lambda m: self._orders.watch(m), Unwatch: lambda m: self._orders.unwatch(m.deal_id),
            SendChat: lambda m: self._writes.queue_chat(m), ReleaseOrder: lambda m: self._writes.queue("release", m),
            ReadOrder: lambda m: self._reconciler.read_order(m), DrainWrites: self._on_drain_writes,
            FetchMarket: self._on_fetch_market,
        }

    def _reset_state(self) -> None:
        """What this actor knows of the account in memory: empty at start and after a lost lease."""
        self._put_off.cancel_all()
        self._booted = False
        self._pace.forget()
        self._link.forget()
        parts = wire(self._link, self._write_seq, lambda: self._link.client.try_reserve(WRITE), self._nudge_drain)
        self._writes, self._chat, self._ads = parts.writes, parts.chat, parts.ads
        self._orders, self._reconciler = parts.orders, parts.reconciler
        self._last_poll_started = 0.0

    def __repr__(self) -> str:
        return f"BybitAccountActor({self.name!r})"

    # ------------------------------------------------------------ lifecycle

    def on_start(self) -> None:
        self.register_as(self._link.directory, self.registered_name)
        # Boot in a handler, a moment later: on_start must not wait on the network, and the
        # supervisor's start ping goes first, so a thousand accounts start side by side.
        gevent.spawn_later(0.01, tell_quietly, self.actor_ref, POLL_TICK)

    def on_stop(self) -> None:
        forget_account(PLATFORM, self.name)
        self._shutdown()
        self.lease.release()  # graceful stop: another process may take the account at once

    def on_failure(self, exception_type, exception_value, traceback) -> None:
        self._shutdown()

    def _shutdown(self) -> None:
        self._put_off.cancel_all()
        if self._timer is not None:
            self._timer.kill(block=False)
            self._timer = None
        self._send_health(healthy=False)

    def on_receive(self, message: Any) -> Any:
        return self._put_off.deliver(message, self._dispatch, f"bybit {self.name}")

    def _dispatch(self, message: Any) -> Any:
        handler = self._handlers.get(type(message))
        if handler is None:
            if isinstance(message, AnnounceLease):
                self.guard.announce()
                return None
            if isinstance(message, Drain):  # told again each poll of the group: the first one's time counts
                self._drain = (message.reply_to, self._drain[1] if self._drain else time.monotonic())
                self._check_drained()
                return None
            return super().on_receive(message)
        # Checked before every message but ticks; every write goes through DrainWrites, so each write
        # is checked (the lease renewed first) right before it is made.
        if not isinstance(message, Tick) and not self.guard.may_act(before_write=isinstance(message, DrainWrites)):
            return self._refuse_in_standby(message)
        if self._access.problem and isinstance(message, (CreateAd, ReleaseOrder, FetchMarket, DrainWrites)):
            return self._refuse_in_standby(message, self._access.problem)  # no write from a refused key
        result = handler(message)
        if self._access.check(list(self._ads.ads)):  # any call of that message refused for this host
            self._booted = False  # the next start-up, one recheck interval away, is the probe
            self._send_health()
            self._schedule()
        return result

    def stats(self) -> dict[str, Any]:
        """For tests and the status page (asked, with a timeout)."""
        return {"polls": self.poll_count, "watches": len(self._orders.watches), "ads": len(self._ads.ads),
                "outbox": len(self._writes.outbox), "writes": len(self._writes.writes), "healthy": self._healthy(),
                "booted": self._booted, "active": self.lease.holding, "lease": self.lease.view(),
                "draining": self._drain is not None, "access": self._access.problem,
                "deferred_polls": self._pace.deferred}

    def _check_drained(self) -> None:
        if self._drain is None:
            return
        group, since = self._drain
        busy, ads = self._orders.active_watches() or self._writes.pending(), len(self._ads.ads)
        if busy and self.lease.holding:
            return  # an order still runs here (or a write for one waits)
        note = None
        if ads and self.lease.holding:
            if time.monotonic() - since < DRAIN_ADS_GRACE:
                return  # the deals moving away have this account cancel their ads
            note = f"{ads} ad(s) could not be cancelled: close them on Bybit by hand"
            log.error("bybit %s: disabled with %s", self.name, note)
        tell_quietly(group, Drained(PLATFORM, self.name, note))

    # ------------------------------------------------------------ the lease (DESIGN §9)

    def _after_lease_lost(self) -> None:
        self._send_health(healthy=False)
        self._schedule()

    def _refuse_in_standby(self, message: Any, reason: str = STANDBY_REASON) -> None:
        """A request that reached us while another process drives the account (or, with `reason`, while
        Bybit refuses its key): nothing is done; requests with a reply get a temporary failure so their
        sender asks again elsewhere or later."""
        if isinstance(message, CreateAd):
            self._link.tell_deal(message.deal_id, DealNews(message.deal_id, deal.AdFailed(False, reason)),
                                 message.reply_to, reply=True)
        elif isinstance(message, ReleaseOrder):
            self._link.tell_deal(message.deal_id, DealNews(message.deal_id, deal.ReleaseFailed(False, reason)),
                                 message.reply_to, reply=True)
        elif isinstance(message, FetchMarket):
            tell_quietly(message.reply_to, MarketPage(message.page, (), time.monotonic(), self.name, error=reason))
        elif isinstance(message, DrainWrites):
            self._writes.refused()

    # ------------------------------------------------------------ health and timers

    def _healthy(self) -> bool:
        return (self.lease.holding and self._booted and not self._link.auth_failed and not self._access.problem
                and self._link.client.blocked_for <= 0
                and self._orders.poll_failures < UNHEALTHY_AFTER_FAILURES
                and time.monotonic() >= self._ads.balance_short_until)

    def _send_health(self, healthy: bool | None = None) -> None:
        healthy = self._healthy() if healthy is None else healthy
        account_gauges(PLATFORM, self.name, healthy, self.lease.holding, ads=len(self._ads.ads))
        uses = self._link.client.budget_use(BUDGET_WINDOW) if self.lease.holding else None
        if uses is not None:
            self._figures.note(PLATFORM, self.name, "budget", {**uses, "window_seconds": BUDGET_WINDOW})
        self._link.directory.tell("allocator", AccountHealth(
            account=self.name, healthy=healthy, ads=self._ads.health(),
            open_deals=self._orders.active_watches(), max_ads=self._ads.room(), blocked=self._ads.blocked_reason()))

    def _has_work(self) -> bool:
        return bool(self._writes.pending() or self._ads.cancels or self._orders.active_watches()
                    or self._orders.disputes)

    def _poll_interval(self) -> float:
        busy = bool(self._writes.outbox or self._ads.cancels or self._orders.live_orders_watched())
        settings = self._link.settings
        return poll_interval(busy, settings.poll_interval, settings.quiet_poll_interval)

    def _schedule(self) -> None:
        """One timer at a time: the poll interval while there is work, a slow heartbeat otherwise."""
        if not self.lease.holding:
            delay = retry_interval(self.lease.ttl)
        elif self._pace.wait_left() is not None:
            delay = self._pace.wait_left() or 0.0  # our turn among the IP's polls (actors.bybit.pace)
        elif not self._booted:
            delay = self._access.retry_delay(BOOT_RETRY_SECONDS)
        elif self._has_work():
            # Fixed rate: the next poll is due an interval after this one began, however long it took.
            delay = max(0.0, self._last_poll_started + self._poll_interval() - time.monotonic())
        else:
            delay = max(self._link.settings.poll_interval, IDLE_HEARTBEAT_SECONDS)
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
        link, client = self._link, self._link.client
        try:
            link.api(client.sync_clock)
            profile = link.api(client.account_info)
            methods = link.api(client.payment_methods)
            ads = self._ads.list_mine()
        except CALL_ERRORS as exc:
            link.boot_error = describe_failure(exc)
            log.warning("bybit %s: start-up failed, retrying: %s", self.name, link.boot_error)
            return False
        link.user_id = str(profile.get("userId") or "")
        link.payment_ids = payment_ids_by_method(methods)
        self._ads.adopt(ads)
        self._orders.recover_watches({ad.id for ad in ads})
        self._ads.close_ads_of_finished_deals(ads)
        self._booted, link.boot_error = True, None
        self._access.recovered(draining=self._drain is not None)
        link.events.publish("bybit_account_ready", account=self.name, ads=len(self._ads.ads),
                            methods=sorted(link.payment_ids))
        return True

    # ------------------------------------------------------------ the tick

    def _on_tick(self, tick: Tick) -> None:
        if self._timer is not None and self._timer.ready():
            self._timer = None  # this is the timer's tick (a tick told by hand leaves the timer alone)
        if not self.guard.tend():
            self._send_health(healthy=False)
            self._schedule()
            return
        if self._access.may_call() and self._my_turn() and self._boot():
            self._ads.recount_if_due()  # hand-posted ads count against Bybit's ad limit
            self._report_usdt()
            self._ads.retry_cancels()
            self._writes.retry_texts()
            if self._has_work():
                self._last_poll_started = time.monotonic()
                if self._orders.poll():
                    self.poll_count += 1
            self._writes.kick()
        self._send_health()
        self._check_drained()
        self._schedule()

    def _my_turn(self) -> bool:
        """A tick that boots or polls waits for its turn among the IP's polls; one with no such work does not."""
        if self._booted and not self._has_work():
            return True
        return self._pace.my_turn(1 if self._booted else BOOT_READS)

    def _report_usdt(self) -> None:
        """Now and then the account's USDT: the itrader_account_usdt gauge, and an event for the low-balance alert."""
        every = self._link.settings.usdt_report_interval
        if not every or time.monotonic() < self._usdt_due:
            return
        self._usdt_due = time.monotonic() + every
        try:
            usdt = self._link.api(self._link.client.balance)
        except CALL_ERRORS as exc:
            log.info("bybit %s: USDT balance unreadable: %s", self.name, describe_failure(exc))
            return
        account_usdt(self.name, usdt)
        self._figures.note(PLATFORM, self.name, "usdt", {"available": str(usdt)})
        self._link.events.publish("usdt_balance", account=self.name, usdt=str(usdt))

    # ------------------------------------------------------------ writes

    def _nudge_drain(self, delay: float) -> None:
        if delay > 0:
            gevent.spawn_later(delay, tell_quietly, self.actor_ref, DrainWrites())
        else:
            self.actor_ref.tell(DrainWrites())

    def _on_drain_writes(self, _message: DrainWrites) -> None:
        job = self._writes.take()
        if isinstance(job, OutgoingChat):
            self._chat.send_queued(job)
        elif isinstance(job, QueuedWrite):
            {"release": self._orders.release, "ad": self._ads.create,
             "cancel": self._ads.cancel_queued}[job.kind](job.message)
        if job is not None:
            self._writes.kick()

    def _on_create_ad(self, message: CreateAd) -> None:
        self._writes.queue("ad", message)

    def _on_cancel_ad(self, message: CancelAd) -> None:
        self._ads.request_cancel(message)
        self._schedule()

    def _market_list(self) -> list:
        """The whole public sell list, MARKET_LIST_PAGE_SIZE ads a read: Bybit neither filters it by payment
        method nor documents its order (docs, Get Ads), so the cheapest SBP/Tinkoff ads can be anywhere."""
        return self._link.read_pages(self._link.client.online_ads, MARKET_LIST_PAGE_SIZE, MARKET_LIST_MAX_READS)

    def _on_fetch_market(self, message: FetchMarket) -> None:
        """The Spec's market page for the allocator's market pricing, cut from the whole public list (a read
        or a few of this account's budget); the reply carries its prices cheapest first, or why it failed."""
        try:
            prices = pricing.spec_page(self._market_list(), message.page)
        except (*CALL_ERRORS, pricing.PricingError) as exc:
            reason = describe_failure(exc)
            log.info("bybit %s: market page %d unreadable: %s", self.name, message.page, reason)
            reply = MarketPage(message.page, (), time.monotonic(), self.name, error=reason)
        else:
            reply = MarketPage(message.page, prices, time.monotonic(), self.name)
        tell_quietly(message.reply_to, reply)
