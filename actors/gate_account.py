"""One actor per Gate account (DESIGN §3): session, balance target, payout
poll, take, approve, and a zero balance at shutdown.

The actor owns its account's `GateClient` (its own cookie session), so the
shutdown zeroing uses that account's session (order-flow §9, §11.9). It only
wires: a client call, a pure decision (itrader.payouts), a reply message.

* Poll: every `poll_interval` one list call for status-4 payouts (more pages
  only when the panel says there are more). A payout with no deal in the
  store is offered to "deals" once per actor lifetime. Status-4 payouts hide
  their amount (`[]`), so the min/max amount filter can only apply here when
  an amount happens to be visible; otherwise it applies after the take, in
  the deal (deal.py sends an out-of-range amount to MANUAL_REVIEW).
* Take: `/show`, then a re-read for the revealed amount. A repeated take is
  safe: the client turns "already in work, and ours" into success. When the
  client says the outcome is unknown, the payout is read back: ours = taken.
* Approve: never repeated here. When the client says the outcome is unknown
  (5xx, timeout, unreadable answer on the write) the payout is read back:
  6/7 = approved, 5 = not.
* Session (actors.gate_session): imported cookies or a password login, kept alive every
  `gate.session_refresh` with the renewed cookies saved encrypted; a session that cannot be renewed makes
  the account unhealthy (an operator event): no poll, no balance change, and its deals' requests are
  answered at once with a passing failure, so they wait.
* Disabled by the operator (Drain from its AccountGroup): the balance goes to 0 so Gate offers nothing
  more, the poll stops, and the actor goes on serving the deals that took payouts on this account; it
  tells the group Drained once none of them is live, and is stopped then.
* Lease (DESIGN §9, only with Redis): the actor first takes the account's
  lease and stays in standby — no Gate call at all — until it has it, trying
  again every few seconds. It renews on every tick (at least every ttl/3) and
  checks the lease before each take, approve and balance change — and the
  client checks it again before every HTTP attempt of those (`before_write`);
  a lost lease drops its in-memory work and sends it back to standby. Each
  change is told to "deals", which runs the account's deals only while the
  lease is held. A lease taken is recorded with its epoch in the store first.
* A 429 is never slept out: a take, approve or read the panel rate-limited is
  put off (actors.later) for its Retry-After, and a poll waits at least that.
"""
from __future__ import annotations

import logging
import time
from decimal import Decimal
from typing import Any, Callable

import gevent
import pykka

from actors.base import ChildContext, SupervisedActor, tell_quietly
from actors.directory import Directory
from actors.gate_calls import GateCalls
from actors.gate_session import GateSession
from actors.intake import Intake
from actors.later import PutOff
from actors.lease_guard import LeaseGuard
from actors.messages import (
    AnnounceLease, ApprovePayout, DealNews, Drain, Drained, PayoutOffer, PayoutRead, ReadPayout, ReturnPayout,
    TakePayout, Tick,
)
from itrader import deal, errors, intake as intake_rules
from itrader.account_figures import AccountFigures, gate_balance
from itrader.config import GateConfig
from itrader.events import EventLog
from itrader.leases import AccountLease, renew_interval, retry_interval
from itrader.gate import GateClient, GateError, Payout
from itrader.metrics import account_gauges, forget_account
# The pure decisions (payout method, offer filter, what an error or a read-back means) live in
# itrader.payouts; re-exported here for older callers.
from itrader.payouts import (  # noqa: F401
    APPROVED_STATUSES, REASON_LIMIT, STATUS_OFFERED, STATUS_TAKEN, ApproveVerdict, TakeBacklog, approve_failure,
    approve_needs_read_back, approve_verdict, error_kind, failure_reason, next_attempt_in,
    offer_skip_reason, payout_method, plain_raw, take_failure_is_permanent,
)
from itrader.store import Store

log = logging.getLogger("itrader.actors.gate")

PLATFORM = "gate"
DEALS = "deals"
MAX_PAGES_PER_POLL = 20  # a bound on one tick's work; the rest is seen on the next tick

START, POLL, BALANCE, SESSION, LEASE, DRAIN = "start", "poll", "balance", "session", "lease", "drain"
DEAL_REQUESTS = (TakePayout, ApprovePayout, ReadPayout, ReturnPayout)  # a deal's, answered to the deal


# --- the actor -------------------------------------------------------------------


class GateAccountActor(SupervisedActor):
    """Registered as "gate:<name>". Handles Tick, TakePayout, ApprovePayout, ReadPayout, ReturnPayout."""

    def __init__(
        self,
        name: str,
        client: GateClient,
        store: Store,
        directory: Directory,
        events: EventLog,
        settings: GateConfig,
        context: ChildContext | pykka.ActorRef | None = None,
        lease: AccountLease | None = None,
        session: GateSession | None = None,
        account_id: int | None = None,
        live_deals: Callable[[], int] | None = None,
        intake: Intake | None = None,
        figures: AccountFigures | None = None,
    ) -> None:
        super().__init__(context)
        self.name = name
        self.client = client
        self.store = store
        self.directory = directory
        self.events = events
        self.settings = settings
        self.directory_name = f"gate:{name}"
        self._timers: dict[str, gevent.Greenlet] = {}
        self._seen: set[int] = set()  # payout ids offered (or known to need no offer) in this lifetime
        self._backlog = TakeBacklog()  # offered, not yet taken: past its limit a poll reads one page
        self.account_id = account_id  # the store's id, recorded on the deals this account offers
        self.session = session or GateSession(name, client, events)
        self._live_deals = live_deals  # deals still running on this account (while draining)
        self._drain_to: pykka.ActorRef | None = None  # the group to tell once drained
        self.lease = lease or AccountLease.always_held(PLATFORM, name)
        self.guard = LeaseGuard(self.lease, PLATFORM, name, events, directory, forget=self._forget_work,
                                after_loss=lambda: self._schedule(LEASE, retry_interval(self.lease.ttl)),
                                fences=getattr(store, "fences", None))
        self.client.before_write = self.guard.before_write  # every HTTP try of a write checks the lease
        self._put_off = PutOff()
        self._calls = GateCalls(name, client, self.session, self._put_off, lambda: self.actor_ref)
        self.intake = intake or Intake()  # paused or draining: no offer, no take, balance 0
        self._closed = False  # the intake as the balance last followed it
        self._figures = figures or AccountFigures()  # what the status page shows of the account
        self.session.on_balance = self._balance_read

    # --- life cycle

    def on_start(self) -> None:
        self.register_as(self.directory, self.directory_name)
        # Login and balance run in the first tick, not here: the supervisor's start ping
        # (5 s by default) must not wait for a slow panel (30 s timeout, retried).
        self._schedule(LEASE if self.lease.active else START, 0)

    def on_stop(self) -> None:
        forget_account(PLATFORM, self.name)
        self._cancel_timers()
        self._put_off.cancel_all()
        if not (self.lease.holding and self.lease.safe()):
            log.info("gate %s: stopping in standby; the lease holder keeps the working balance", self.name)
            return
        # Graceful shutdown: Gate must stop offering payouts to this account (order-flow §9).
        if self._set_balance(0):
            log.info("gate %s: working balance set to 0 at shutdown", self.name)
        else:
            log.error("gate %s: could not set the working balance to 0 at shutdown; set it by hand", self.name)
        self.lease.release()

    def on_failure(self, *_exc_info: Any) -> None:
        self._cancel_timers()
        self._put_off.cancel_all()

    def on_receive(self, message: Any) -> Any:
        return self._put_off.deliver(message, self._dispatch, f"gate {self.name}")

    def _dispatch(self, message: Any) -> Any:
        if isinstance(message, Tick):
            return self._on_tick(message.name)
        if isinstance(message, AnnounceLease):
            self.guard.announce()
            return None
        if isinstance(message, Drain):
            return self._on_drain(message)
        if isinstance(message, DEAL_REQUESTS) and not self.session.healthy:
            return self._refuse_unhealthy(message)
        if isinstance(message, DEAL_REQUESTS) and not self._acting(
                before_write=not isinstance(message, ReadPayout)):
            # Not ours to drive now: the deal is stopped here and resumed where the lease is held.
            log.info("gate %s: in standby; %s for deal %s not done", self.name, type(message).__name__,
                     message.deal_id)
            return None
        if isinstance(message, TakePayout):
            return self._take(message)
        if isinstance(message, ApprovePayout):
            return self._approve(message)
        if isinstance(message, ReadPayout):
            return self._read(message)
        if isinstance(message, ReturnPayout):
            return self._return(message)
        return super().on_receive(message)

    def _balance_read(self, rub: Decimal) -> None:
        """The keep-alive showed the account's RUB balance: for the status page (an event keeps it live)."""
        self._figures.note(PLATFORM, self.name, "balance", gate_balance(rub, "read"))
        self.events.publish("gate_balance_read", account=self.name, rub=str(rub))

    def stats(self) -> dict[str, Any]:
        """For the status page (asked, with a timeout): whether this process drives the account."""
        return {"active": self.lease.holding, "lease": self.lease.view(), "healthy": self.session.healthy,
                "problem": self.session.problem, "draining": self._drain_to is not None}

    # --- an unhealthy session, a disabled account

    def _refuse_unhealthy(self, message: Any) -> None:
        """No call can work without a session: the deal hears at once, and tries again later."""
        reason = f"gate account {self.name} has no working session: {self.session.problem}"
        if isinstance(message, TakePayout):
            self._take_failed(message, reason, permanent=False)
        elif isinstance(message, ApprovePayout):
            tell_quietly(message.reply_to, DealNews(message.deal_id, deal.ApproveFailed(False, reason)))
        elif isinstance(message, ReturnPayout):
            tell_quietly(message.reply_to, DealNews(message.deal_id, deal.PayoutReturnRead(None, reason)))
        else:
            tell_quietly(message.reply_to, PayoutRead(message.deal_id, message.payout_id, None,
                                                      {"error": "session_expired", "reason": reason}))

    def _on_drain(self, message: Drain) -> None:
        """Disabled: Gate offers no more payouts to this account; its live deals still run here."""
        if self._drain_to is None:
            log.warning("gate %s: disabled; no new payouts, finishing its live deals", self.name)
            for name in (POLL, BALANCE):
                pending = self._timers.pop(name, None)
                if pending is not None:
                    pending.kill(block=False)
            if self.lease.holding and self.session.healthy:
                self._set_balance(0)
        self._drain_to = message.reply_to
        self._schedule(DRAIN, 0)

    def _check_drained(self) -> None:
        live = self._live_deals() if self._live_deals is not None else 0
        if live == 0 or not self.lease.holding:
            tell_quietly(self._drain_to, Drained(PLATFORM, self.name))
            return
        self._schedule(DRAIN, max(self.settings.poll_interval, 1.0))

    # --- the lease (DESIGN §9)

    def _acting(self, before_write: bool = False) -> bool:
        """May we touch the account now? Checked right before every money step or write; before those
        the lease is renewed first, so the key outlives the call that follows."""
        return self.guard.may_act(before_write)

    def _on_lease_tick(self) -> None:
        ttl = self.lease.ttl
        if self.lease.holding:
            if self.guard.renewed():
                self._schedule(LEASE, renew_interval(ttl))
        elif self.guard.take():
            self._schedule(START, 0)
            self._schedule(LEASE, renew_interval(ttl))
        else:
            self._schedule(LEASE, retry_interval(ttl))

    def _forget_work(self) -> None:
        """A lost lease: no timer, nothing remembered; standby until the lease is ours again."""
        self._cancel_timers()
        self._put_off.cancel_all()
        self._seen.clear()

    # --- timers

    def _on_tick(self, name: str) -> None:
        try:
            self._on_timer(name)
        finally:
            account_gauges(PLATFORM, self.name, self.session.healthy and self.lease.holding, self.lease.holding)

    def _on_timer(self, name: str) -> None:
        if name == LEASE:
            self._on_lease_tick()
            return
        if name == DRAIN:
            self._check_drained()
            return
        if not self.lease.holding or not self.guard.renewed():
            return  # a timer of an earlier lease, or the lease is gone
        if self._drain_to is not None and name in (POLL, BALANCE):
            return  # disabled: no more offers
        if name in (POLL, BALANCE, SESSION) and self.session.hold_off() > 0:
            self._schedule(name, 0)  # a Cloudflare challenge's wait is not over: later (see _schedule)
            return
        if name == START:
            self._keep_session()
            if self._drain_to is None:  # both at once, unless a Cloudflare challenge holds them off
                self._schedule(BALANCE, 0)
                self._schedule(POLL, 0)
        elif name == POLL:
            wait = self._poll() if self.session.healthy and not self._follow_intake() else 0.0
            self._schedule(POLL, max(self.settings.poll_interval, wait))
        elif name == BALANCE:
            self._schedule(BALANCE, self._next_delay(BALANCE, self._top_up()))
        elif name == SESSION:
            self._keep_session()

    def _follow_intake(self, top_up_now: bool = False) -> bool:
        """Closed (paused, draining) or open again since the last tick: the balance follows at once."""
        closed = self.intake.refusal() is not None
        if closed != self._closed:
            self._closed = closed
            self._seen.clear()  # an offer refused while closed comes again
            if not (top_up_now and self._top_up()):
                self._schedule(BALANCE, 0)
        return closed

    def _keep_session(self) -> None:
        was_healthy = self.session.healthy
        ok = self.session.keep_alive()
        # A lost session is tried again after a whole refresh interval (a refused password is not
        # hammered); a passing failure soon.
        self._schedule(SESSION, self._next_delay(SESSION, ok or not self.session.healthy))
        if ok and not was_healthy and self._drain_to is None:
            self._schedule(BALANCE, 0)  # back: the balance may have been left unset meanwhile

    def _next_delay(self, name: str, succeeded: bool) -> float:
        interval = {BALANCE: self.settings.balance_check_interval,
                    SESSION: self.settings.session_refresh}[name]
        return next_attempt_in(interval, succeeded, self.settings.poll_interval)

    def _schedule(self, name: str, delay: float) -> None:
        # One pending timer per name: a duplicated Tick must not start a second loop. A challenge holds the
        # periodic calls off until its wait is over.
        if name in (POLL, BALANCE, SESSION):
            delay = max(delay, self.session.hold_off())
        pending = self._timers.pop(name, None)
        if pending is not None:
            pending.kill(block=False)
        self._timers[name] = gevent.spawn_later(max(0.0, delay), tell_quietly, self.actor_ref, Tick(name))

    def _cancel_timers(self) -> None:
        for timer in self._timers.values():
            timer.kill(block=False)
        self._timers.clear()

    def _top_up(self) -> bool:
        return self._set_balance(intake_rules.gate_balance(self.intake.state(), self.settings.target_balance))

    def _set_balance(self, amount: Any) -> bool:
        if not self.session.healthy or not self._acting(before_write=True):
            return False
        try:
            self._calls.call(self.client.set_balance, amount)
        except errors.FencedOff:
            return False  # lost between tries: the holder sets the balance now
        except GateError as exc:
            log.warning("gate %s: setting the working balance to %s failed: %s", self.name, amount, exc)
            self.events.publish("gate_balance", account=self.name, amount=str(amount), ok=False,
                                reason=failure_reason(exc))
            return False
        self.events.publish("gate_balance", account=self.name, amount=str(amount), ok=True)
        self._figures.note(PLATFORM, self.name, "balance", gate_balance(Decimal(str(amount)), "set"))
        return True

    # --- poll

    def _poll(self) -> float:
        """One poll; the seconds the panel asked us to wait before the next (0: none)."""
        page = 1
        while page <= MAX_PAGES_PER_POLL:
            try:
                result = self._calls.call(self.client.list_payouts, STATUS_OFFERED, page)
            except GateError as exc:
                log.warning("gate %s: payout poll failed: %s", self.name, exc)
                return exc.retry_after if isinstance(exc, errors.RetryLater) else 0.0
            for payout in result.payouts:
                self._consider(payout)
            if not result.has_next or not result.payouts or self._backlog.full(time.monotonic()):
                return 0.0
            page += 1
        return 0.0

    def _consider(self, payout: Payout) -> None:
        if payout.id in self._seen:
            return
        if self.store.deals.by_payout(payout.id) is not None:
            self._seen.add(payout.id)
            return
        reason = offer_skip_reason(payout, self.settings)
        if reason is not None:
            self._seen.add(payout.id)
            log.info("gate %s: payout %s not offered: %s", self.name, payout.id, reason)
            return
        offer = PayoutOffer(gate_account=self.name, payout_id=payout.id, method=payout_method(payout),
                            bank=payout.bank.name if payout.bank else None, wallet=payout.wallet or None,
                            created_at=payout.created_at, gate_account_id=self.account_id)
        if self.directory.tell(DEALS, offer):  # "deals" down: offered again on the next tick
            self._seen.add(payout.id)
            self._backlog.offered(payout.id, time.monotonic())

    # --- take

    def _take(self, msg: TakePayout) -> None:
        self._backlog.settled(msg.payout_id)
        held = self.intake.refusal()
        if held is not None:  # nothing new is taken now; the deal asks again later
            log.info("gate %s: payout %s for deal %s not taken: %s", self.name, msg.payout_id, msg.deal_id, held)
            tell_quietly(msg.reply_to, DealNews(msg.deal_id, deal.TakeFailed(False, held, held=True)))
            return
        self._follow_intake(top_up_now=True)  # open again: the balance first, or Gate refuses the take
        try:
            shown = self._calls.call(self.client.show, msg.payout_id)
        except errors.OutcomeUnknown as exc:  # it may be ours now: the payout's owner decides
            shown = self._calls.read_back(self.client.own_payout, msg.payout_id)
            if shown is None:
                self._take_failed(msg, failure_reason(exc), permanent=False)
                return
        except errors.RetryLater as exc:  # nothing happened: the same take once the wait is over
            if not self._calls.later(msg, exc):
                self._take_failed(msg, failure_reason(exc), permanent=False)
            return
        except GateError as exc:
            self._take_failed(msg, failure_reason(exc), take_failure_is_permanent(exc))
            return
        try:  # re-read: the list is the panel's canonical view of the taken payout
            payout = self._calls.call(self.client.get_payout, msg.payout_id)
        except GateError as exc:
            log.warning("gate %s: re-read of taken payout %s failed (%s); using /show's answer",
                        self.name, msg.payout_id, exc)
            payout = shown
        amount = payout.amount.rub
        if amount is None:
            # Taken, amount unknown: a repeated take reconciles and reads again.
            self._take_failed(msg, "payout taken but its amount is still hidden", permanent=False)
            return
        taken = DealNews(msg.deal_id, deal.PayoutTaken(
            amount=amount, wallet=payout.wallet,
            bank=(payout.bank.name or None) if payout.bank else None,
            bank_label=(payout.bank.label or None) if payout.bank else None,
            payout_method=payout_method(payout),
        ), payout=plain_raw(payout))
        log.info("gate %s: took payout %s for deal %s (%s RUB)", self.name, msg.payout_id, msg.deal_id, amount)
        self.events.publish("gate_take", account=self.name, deal_id=msg.deal_id, payout_id=msg.payout_id,
                            ok=True, amount=str(amount))
        tell_quietly(msg.reply_to, taken)

    def _take_failed(self, msg: TakePayout, reason: str, permanent: bool) -> None:
        log.warning("gate %s: take of payout %s failed (%s): %s", self.name, msg.payout_id,
                    "permanent" if permanent else "temporary", reason)
        self.events.publish("gate_take", account=self.name, deal_id=msg.deal_id, payout_id=msg.payout_id,
                            ok=False, permanent=permanent, reason=reason)
        tell_quietly(msg.reply_to, DealNews(msg.deal_id, deal.TakeFailed(permanent, reason)))

    # --- approve

    def _approve(self, msg: ApprovePayout) -> None:
        verdict = self._calls.approve_once(msg)
        if verdict is None:
            return  # put off: it comes again
        log.log(logging.INFO if verdict.ok else logging.WARNING, "gate %s: approve of payout %s for deal %s: %s",
                self.name, msg.payout_id, msg.deal_id, "ok" if verdict.ok else verdict.reason)
        self.events.publish("gate_approve", account=self.name, deal_id=msg.deal_id, payout_id=msg.payout_id,
                            ok=verdict.ok, permanent=verdict.permanent, reason=verdict.reason)
        if verdict.expired:  # the operator must settle a paid payout Gate gave back
            self.events.publish("gate_payout_expired", account=self.name, deal_id=msg.deal_id,
                                payout_id=msg.payout_id, reason=verdict.reason)
        outcome = deal.ApproveSucceeded() if verdict.ok else deal.ApproveFailed(verdict.permanent, verdict.reason or "")
        tell_quietly(msg.reply_to, DealNews(msg.deal_id, outcome))

    # --- an operator's return of a taken payout

    def _return(self, msg: ReturnPayout) -> None:
        answer = self._calls.return_once(msg)
        if answer is None:
            return  # put off: it comes again
        status, error = answer
        log.warning("gate %s: payout %s of deal %s given back by the operator: Gate shows status %s%s", self.name,
                    msg.payout_id, msg.deal_id, status, f" ({error})" if error else "")
        self.events.publish("gate_return", account=self.name, deal_id=msg.deal_id, payout_id=msg.payout_id,
                            status=status, error=error or None)
        tell_quietly(msg.reply_to, DealNews(msg.deal_id, deal.PayoutReturnRead(status, error)))

    # --- reconciliation read

    def _read(self, msg: ReadPayout) -> None:
        try:
            payout = self._calls.call(self.client.get_payout, msg.payout_id)
        except GateError as exc:
            if isinstance(exc, errors.RetryLater) and self._calls.later(msg, exc):
                return
            # status None = not readable now; raw names why (not_found: not visible to this account).
            raw = {"error": error_kind(exc), "reason": failure_reason(exc)}
            tell_quietly(msg.reply_to, PayoutRead(msg.deal_id, msg.payout_id, None, raw))
            return
        tell_quietly(msg.reply_to, PayoutRead(msg.deal_id, msg.payout_id, payout.status, plain_raw(payout)))
