"""Allocator: which Bybit account hosts the next ad, at which price (DESIGN §3, order-flow.md §4–§5).

It keeps the latest AccountHealth of every account and answers Allocate with the
deal event AccountAssigned (account, SBP/Tinkoff method, price, quantity —
itrader.allocation and itrader.pricing decide) or NoAccountFree (the deal retries
later), each in a DealNews.

Reservations: an assignment counts as an un-taken ad of its account from the
moment it is made, so simultaneous Allocates spread over the accounts instead of
all picking the emptiest one. It is bound to its real ad when the account's
health first lists a new un-taken ad with the same method — exact, because two
un-taken ads of one account never share a method (allocation rule), so an account
has at most one unbound reservation per method. An unbound reservation expires
after RESERVATION_TTL (the ad failed or was never asked for); a deal that asks
again replaces its earlier reservation.

Rebalancing: on AccountDown, or when an account has reported itself unhealthy
(or not reported at all) for longer than UNHEALTHY_GRACE / STALE_AFTER, every
deal whose ad on it is not taken yet (no order) — or is still being placed — is
told AdWithdrawn; the Deal cancels or forgets that ad and asks for a new
allocation. Deals whose ad has an order stay: their order is live on that account.
Only ads this allocator assigned can be attributed to a deal: ads placed before
an Allocator restart are counted as load but not withdrawn.

Pricing (itrader.pricing): in fixed mode every quote is the configured rate plus the markup.
In market mode a quote needs the page of the public market list that pricing.market_page
picks for the amount and the Moscow time. The allocator keeps the pages it has read
(page → prices, stamped by its own clock on arrival) and prices from a page no older than
pricing.market_max_age. Otherwise it asks one healthy BybitAccount for the page
(FetchMarket → MarketPage, a read of that account's budget), refuses the deal with
"pricing: waiting for the market page N" and keeps it waiting; the page's arrival serves
the waiting deals like a freed slot does. One request per page is in flight; one left
unanswered for MARKET_RESEND_AFTER goes to another account; a page that failed (or has
too few items to price from) is asked again no sooner than MARKET_ASK_INTERVAL after the
last ask — by the next refused Allocate or the periodic check, whichever comes first. A page whose
rate is outside the sanity band (pricing.band_violation: too far from fixed_rate or from the last rate
that passed) prices nothing: the deals wait with that reason and the operator hears
"market_price_refused" — never an ad at a price one stranger's ad dictated.

Twins (DESIGN §5 invariant 6): a receipt names only the amount and the recipient, so when a slot is
free for a deal, it is refused ("waiting_for_twin: …", without marking the accounts full) while a
live deal has the same amount and recipient (itrader.allocation.twin_of): one this allocator assigned
an account and whose row is not terminal, or one whose store row is in TWIN_LIVE_STATES (rows outlive
restarts and other processes). The verdict is kept TWIN_RECHECK seconds (or until the blocker's
assignment is dropped), so re-serving the waiting deals on every health report does not query the store
for each of them. A waiting deal whose reason changes while it is re-served is told the new one. The
twin goes online when the blocker ends: its Deal tells DealEnded (the assignment is dropped and the
waiting deals are served at once); its ad leaving the account's health drops the assignment too; and the
periodic check re-serves twin-blocked deals, finding a blocker's row terminal (another process's deal,
or one that ended unannounced).
"""
from __future__ import annotations

import logging
import time
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Callable

import gevent
import peewee

from actors.allocator_market import MarketPricing
from actors.base import ChildContext, SupervisedActor, tell_quietly
from actors.directory import Directory
from actors.messages import (
    AccountDown, AccountHealth, AccountUp, Allocate, DealEnded, DealNews, MarketPage, Tick,
)
from itrader import allocation
# The pure decisions live in itrader.allocator_rules; re-exported here for older callers.
from itrader.allocator_rules import (  # noqa: F401
    MARKET_ASK_INTERVAL, MARKET_RESEND_AFTER, TWIN_PREFIX, Assignment, CachedPage, MarketAsk, account_loads,
    bind_new_ads, expired_reservations, market_ask_due, market_reader, no_slot_reason, page_is_fresh,
    rebalance_reason,
    reported_recently, twin_reason, withdrawals,
)
from itrader import intake as intake_rules
from itrader.config import BybitConfig, PricingConfig
from itrader.deal import TERMINAL, AccountAssigned, AdWithdrawn, NoAccountFree, State
from itrader.events import EventLog
from itrader.store import DealNotFound, Store

log = logging.getLogger(__name__)

CHECK_TICK = Tick("allocator:check")
NO_SLOT = "no healthy Bybit account has a free ad slot"
# A deal whose row is in one of these may be paid right now: a receipt for its amount and recipient is its.
TWIN_LIVE_STATES = tuple(state.value for state in (
    State.AD_ONLINE, State.CHATTING, State.REQUISITES_SENT, State.PAID, State.RECEIPT_OK, State.APPROVED))
ENDED_STATES = frozenset(state.value for state in TERMINAL)


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


# ------------------------------------------------------------------ actor


class AllocatorActor(SupervisedActor):
    NAME = "allocator"
    RESERVATION_TTL = 120.0  # an unbound reservation is dropped after this
    UNHEALTHY_GRACE = 60.0  # an account unhealthy this long is rebalanced (restarts are quicker)
    STALE_AFTER = 120.0  # no health for this long: the account is treated as down
    CHECK_INTERVAL = 5.0
    MARKET_RESEND_AFTER = MARKET_RESEND_AFTER
    MARKET_ASK_INTERVAL = MARKET_ASK_INTERVAL
    TWIN_RECHECK = 2.0  # a deal found waiting for its twin is not looked up again sooner than this

    def __init__(self, directory: Directory, events: EventLog, bybit_settings: BybitConfig,
                 pricing_settings: PricingConfig, accounts: list[str], context: ChildContext | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], datetime] = utc_now, store: Store | None = None,
                 intake: Any = None) -> None:
        super().__init__(context)
        self.directory = directory
        self.store = store  # the deal rows, for twins; without it only this allocator's assignments count
        self.events = events
        self.bybit_settings = bybit_settings
        self.pricing_settings = pricing_settings
        self.accounts = list(accounts)
        self._clock = clock
        self._health: dict[str, AccountHealth] = {}
        self._reported_at: dict[str, float] = {}
        self._unhealthy_since: dict[str, float] = {}
        self._down: set[str] = set()
        self._disabled: set[str] = set()  # down until AccountUp, whatever health they report
        self._known_ads: dict[str, set[str]] = {}
        self._assignments: dict[int, Assignment] = {}
        # Each account's allocation view, weighed again only when its health or assignments change (and
        # all of them every check tick): weighing a thousand accounts for every Allocate grew as
        # accounts × deals, the allocator's share of the CPU five times over from 100 to 500 accounts.
        self._load_cache: dict[str, allocation.AccountLoad] = {}
        # Refused requests, oldest first: answered as soon as an account reports a free slot,
        # so a waiting deal does not sit out its whole retry timer.
        self._waiting: dict[int, Allocate] = {}
        self._full = False  # the last weighing found no free slot, and nothing has changed since
        self._no_slot = NO_SLOT  # and why, naming the accounts Bybit refused an ad
        self._told: dict[int, str] = {}  # waiting deal -> the reason it was last told
        self._twins: dict[int, tuple[int, float]] = {}  # waiting deal -> (its live twin, when that was found)
        self._timer: gevent.Greenlet | None = None
        self.market = MarketPricing(pricing_settings, directory, events, clock, wall_clock, self._healthy_accounts,
                                    lambda: self.actor_ref, self.MARKET_RESEND_AFTER, self.MARKET_ASK_INTERVAL)
        self._intake = intake  # actors.intake.Intake: a stopping daemon posts no new ad

    def __repr__(self) -> str:
        return f"AllocatorActor(accounts={self.accounts!r})"

    # ------------------------------------------------------------ lifecycle

    def on_start(self) -> None:
        self.register_as(self.directory, self.NAME)
        self._schedule()

    def on_stop(self) -> None:
        self._shutdown()

    def on_failure(self, exception_type, exception_value, traceback) -> None:
        self._shutdown()

    def _shutdown(self) -> None:
        if self._timer is not None:
            self._timer.kill(block=False)
            self._timer = None

    def _schedule(self) -> None:
        self._timer = gevent.spawn_later(self.CHECK_INTERVAL, tell_quietly, self.actor_ref, CHECK_TICK)

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, Allocate):
            return self._on_allocate(message)
        if isinstance(message, AccountHealth):
            return self._on_health(message)
        if isinstance(message, MarketPage):
            return self._on_market_page(message)
        if isinstance(message, AccountDown):
            return self._on_down(message)
        if isinstance(message, AccountUp):
            self._disabled.discard(message.account)
            self._down.discard(message.account)
            self._load_cache.pop(message.account, None)
            return None
        if isinstance(message, Tick):
            return self._on_tick()
        if isinstance(message, DealEnded):
            return self._on_deal_ended(message.deal_id)
        return super().on_receive(message)

    def status(self) -> dict[str, Any]:
        """For tests and the status page (asked, with a timeout)."""
        def view(name: str) -> dict[str, Any]:
            report = self._health.get(name)
            mine = [a for a in self._assignments.values() if a.account == name]
            return {"healthy": self._usable(name) and report is not None and report.healthy,
                    "assigned": sorted(a.deal_id for a in mine),
                    "waiting": sorted(a.deal_id for a in mine if not a.taken)}

        return {"accounts": {name: view(name) for name in self._names()}}

    # ------------------------------------------------------------ state

    def _names(self) -> list[str]:
        return self.accounts + sorted(set(self._health) - set(self.accounts))

    def _usable(self, name: str) -> bool:
        return name not in self._down and reported_recently(self._reported_at.get(name), self._clock(),
                                                            self.STALE_AFTER)

    def _expire_reservations(self) -> None:
        for deal_id in expired_reservations(list(self._assignments.values()), self._clock(), self.RESERVATION_TTL):
            self._drop_assignment(deal_id)

    # ------------------------------------------------------------ handlers

    def _on_allocate(self, message: Allocate) -> None:
        self._expire_reservations()
        if (earlier := self._assignments.pop(message.deal_id, None)) is not None:  # asking again: its slot goes
            self._load_cache.pop(earlier.account, None)
            self._full = False
        if self._full and self._waiting:
            # Nothing has freed a slot since the last refusal: answer at once, without weighing
            # every account again (thousands of waiting deals re-ask; the weighing is O(accounts)).
            refusal: str | None = self._no_slot
        else:
            refusal = self._try_assign(message)
        if refusal is not None:
            self._refuse(message, refusal)

    def _refuse(self, request: Allocate, reason: str) -> None:
        """Keep the deal waiting and tell it why (the reason shows on the deal)."""
        self._waiting[request.deal_id] = request
        self._told[request.deal_id] = reason
        self.events.publish("no_account_free", deal_id=request.deal_id, reason=reason)
        tell_quietly(request.reply_to, DealNews(request.deal_id, NoAccountFree(reason)))

    def _try_assign(self, message: Allocate) -> str | None:
        """Assign an account and tell the deal; the reason for a refusal otherwise."""
        if self._intake is not None and intake_rules.holds_new_ads(self._intake.state()):
            return "draining: the daemon is stopping; the ad is posted after the restart"
        terms, refusal = self.market.quote(message.amount)
        if terms is None:
            return refusal
        choice = allocation.choose(self._loads())
        if choice is None:
            self._full = True
            self._no_slot = no_slot_reason(NO_SLOT, {name: report.blocked for name, report in self._health.items()
                                                     if self._usable(name)})
            return self._no_slot
        waiting_for_twin = self._twin_refusal(message)
        if waiting_for_twin is not None:
            return waiting_for_twin  # the slot stays free for other deals
        self._waiting.pop(message.deal_id, None)
        self._told.pop(message.deal_id, None)
        self._load_cache.pop(choice.account, None)
        self._assignments[message.deal_id] = Assignment(message.deal_id, choice.account, choice.method,
                                                        since=self._clock(), amount=message.amount,
                                                        wallet=message.wallet)
        self.events.publish("account_assigned", deal_id=message.deal_id, account=choice.account,
                            method=choice.method, price=str(terms.price), quantity=str(terms.quantity))
        assigned = AccountAssigned(choice.account, choice.method, Decimal(terms.price), Decimal(terms.quantity))
        tell_quietly(message.reply_to, DealNews(message.deal_id, assigned))
        return None

    def _serve_waiting(self) -> None:
        """Give freed slots to the deals that were refused, oldest first, until none is free."""
        self._full = False  # called on news from an account or the market: weigh again
        if self._waiting:
            self._expire_reservations()
        unpriced: set[int | None] = set()  # market pages (None: fixed mode) that priced nothing this round
        for request in list(self._waiting.values()):
            page = self.market.page_of(request.amount)
            if page in unpriced:
                continue
            refusal = self._try_assign(request)
            if refusal is not None and refusal != self._told.get(request.deal_id):
                self._refuse(request, refusal)  # it waits for something else now (its twin, say): show it
            if refusal is None or refusal.startswith(TWIN_PREFIX):
                continue
            if self._full:
                break  # nothing free: the rest keep waiting (their own retry timers run too)
            unpriced.add(page)  # no price for this page yet: deals on other pages may still go

    # ------------------------------------------------------------ twins

    def _twin_refusal(self, request: Allocate) -> str | None:
        """Why this deal must wait for a live twin, or None; a store that cannot be read refuses too."""
        try:
            twin = self._live_twin(request)
        except peewee.PeeweeException as exc:
            log.warning("allocator: deal %s: could not look for a live twin: %s", request.deal_id, exc)
            return f"{TWIN_PREFIX}: could not look for a live twin ({type(exc).__name__})"
        return None if twin is None else twin_reason(twin)

    def _live_twin(self, request: Allocate) -> int | None:
        """The live deal with this request's amount and recipient, if any (a verdict is kept a while)."""
        if allocation.recipient_key(request.wallet) is None:
            return None
        now = self._clock()
        known = self._twins.get(request.deal_id)
        if known is not None and now - known[1] < self.TWIN_RECHECK:
            return known[0]
        twin = self._find_twin(request)
        if twin is None:
            self._twins.pop(request.deal_id, None)
        else:
            self._twins[request.deal_id] = (twin, now)
        return twin

    def _find_twin(self, request: Allocate) -> int | None:
        assigned = [(a.deal_id, a.amount, a.wallet) for a in self._assignments.values()
                    if a.deal_id != request.deal_id]
        while (twin := allocation.twin_of(request.amount, request.wallet, assigned)) is not None:
            if not self._row_ended(twin):
                return twin
            self._drop_assignment(twin)  # its deal is over (and we missed DealEnded)
            assigned = [entry for entry in assigned if entry[0] != twin]
        if self.store is None:
            return None
        digits = allocation.recipient_key(request.wallet).rpartition(":")[2]
        rows = self.store.deals.live_to_recipient(digits[-allocation.CARD_DIGITS:], TWIN_LIVE_STATES)
        return allocation.twin_of(request.amount, request.wallet,
                                  ((row.id, row.amount_rub, row.wallet) for row in rows if row.id != request.deal_id))

    def _row_ended(self, deal_id: int) -> bool:
        """Has this assigned deal ended, by its store row? (No store, or no row: it counts as live.)"""
        if self.store is None:
            return False
        try:
            return self.store.deals.get(deal_id).state in ENDED_STATES
        except DealNotFound:
            return False

    def _drop_assignment(self, deal_id: int) -> bool:
        """Forget the deal's assignment and every twin verdict naming it; True if it had one."""
        for waiting, (twin, _) in list(self._twins.items()):
            if twin == deal_id:
                del self._twins[waiting]
        dropped = self._assignments.pop(deal_id, None)
        if dropped is None:
            return False
        self._load_cache.pop(dropped.account, None)
        self._full = False
        return True

    def _on_deal_ended(self, deal_id: int) -> None:
        self._waiting.pop(deal_id, None)
        self._told.pop(deal_id, None)
        self._twins.pop(deal_id, None)
        blocked = any(twin == deal_id for twin, _ in self._twins.values())
        if (self._drop_assignment(deal_id) or blocked) and self._waiting:
            self._serve_waiting()  # its slot, or its twin, may go now

    # ------------------------------------------------------------ market pricing (actors.allocator_market)

    def _healthy_accounts(self) -> list[str]:
        return [name for name in self._names()
                if self._usable(name) and name in self._health and self._health[name].healthy]

    def _on_market_page(self, message: MarketPage) -> None:
        if self.market.arrived(message) and self._waiting:
            self._serve_waiting()

    def _on_health(self, message: AccountHealth) -> None:
        name = message.account
        now = self._clock()
        self._health[name] = message
        self._reported_at[name] = now
        if message.healthy:
            self._unhealthy_since.pop(name, None)
            if name not in self._disabled:
                self._down.discard(name)
        else:
            self._unhealthy_since.setdefault(name, now)
        known = self._known_ads.setdefault(name, set())
        mine = [a for a in self._assignments.values() if a.account == name]
        bind_new_ads(name, message.ads, known, mine)
        listed = {ad_id for ad_id, _, _ in message.ads}
        for assignment in mine:
            if assignment.ad_id is not None and assignment.ad_id not in listed:
                self._drop_assignment(assignment.deal_id)  # the ad is gone (cancelled or closed): the slot is free
        self._known_ads[name] = listed
        self._load_cache.pop(name, None)
        # Weigh every account for the waiting deals only when this one has room: with a thousand
        # accounts reporting, weighing all of them on every report would take the whole CPU.
        if self._waiting and self._has_room(name):
            self._serve_waiting()

    def _has_room(self, name: str) -> bool:
        load = self._loads([name])[0]
        return load.healthy and bool(load.free_methods())

    def _loads(self, names: list[str] | None = None) -> list[allocation.AccountLoad]:
        """The allocation view of these accounts (all by default), from the cache where it holds one."""
        names = self._names() if names is None else names
        missing = {name for name in names if name not in self._load_cache}
        if missing:
            mine = [a for a in self._assignments.values() if a.account in missing]
            for load in account_loads(sorted(missing), self._health, self._usable, mine,
                                      self.bybit_settings.max_ads_per_account):
                self._load_cache[load.name] = load
        return [self._load_cache[name] for name in names]

    def _on_down(self, message: AccountDown) -> None:
        log.warning("allocator: account %s is down; moving its un-taken ads", message.account)
        self._down.add(message.account)
        self._disabled.add(message.account)
        self._rebalance(message.account, "account down")

    def _on_tick(self) -> None:
        self._full = False  # accounts may have gone stale: weigh again on the next request
        self._load_cache.clear()
        self._expire_reservations()
        if self.market.on and self._waiting:
            self.market.refresh([request.amount for request in self._waiting.values()])
        if self._twins and self._waiting:
            self._serve_waiting()  # a twin's blocker may have ended in another process, or unannounced
        now = self._clock()
        for name in self._names():
            why = rebalance_reason(self._unhealthy_since.get(name), self._reported_at.get(name), now,
                                   self.UNHEALTHY_GRACE, self.STALE_AFTER)
            if why is not None:
                self._rebalance(name, why)
        self._schedule()

    def _rebalance(self, account: str, why: str) -> None:
        moving = withdrawals(account, list(self._assignments.values()))
        self._load_cache.pop(account, None)
        for assignment in moving:
            del self._assignments[assignment.deal_id]
            self.directory.tell(f"deal:{assignment.deal_id}",
                                DealNews(assignment.deal_id, AdWithdrawn(account, assignment.ad_id)))
        if moving:
            self.events.publish("ads_withdrawn", account=account, reason=why,
                                deals=[a.deal_id for a in moving])
