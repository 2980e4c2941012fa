"""The Deal actor: drives one deal through itrader.deal, persisting before acting.

For every message: take the deal event it carries (a `DealNews` holds one as
its sender built it; a timer or the buyer's words become one here), let the
pure `deal.step` decide, write the new facts (and, for a money step, the
intent) to the journal, then carry out the actions by telling the integration
actors. After a restart it first reads Gate and Bybit back (`reconcile`)
before acting again.

With leases (DESIGN §9) a money step's intent is written under the lease epoch
of the account it runs on (`fence_of`); when this process no longer holds that
lease, or the store has seen a newer epoch, nothing is written or sent and the
actor stands down: it stops, and the holder runs the deal from the store.
"""
from __future__ import annotations

import logging
import random
import time
from collections import deque
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import gevent

from actors import messages as msg
from actors.base import SupervisedActor
from actors.deal_plumbing import (
    AccountIds, PlatformReads, Timers, claimed_receipt, jsonable, receipt_file, record_step,
)
from actors.deal_resolution import answer_return, refuse_while_returning, settle_resolution
from actors.directory import Directory
from itrader import deal, dialogue, errors
from itrader.deal.journal import (
    BUYER_TEXTS_STEP, CHAT_APPLIED_STEP, CHAT_SEEN_STEP, ORDER_STEP, OUR_TEXTS_STEP, PAYOUT_STEP, RECONCILE_STEP,
)
from itrader.deal_placement import step_account
from itrader.events import EventLog
from itrader.metrics import DEALS_BY_STATE, DEALS_FINISHED, STEP_LATENCY
from itrader.store import Store

log = logging.getLogger("itrader.deal")

RESEND_DELAY = 1.0  # an addressee that is down (restarting) gets the message again after this
RECONCILE_TIMEOUT = 15.0  # platforms not read back by then: ask again
RETURN_TIMEOUT = 20.0  # Gate silent about an operator's return of the payout: read both back, answer nobody
MAX_RESENDS = 120


class DealActor(SupervisedActor):
    def __init__(self, deal_id: int, store: Store, directory: Directory, events: EventLog,
                 settings: deal.DealSettings, mode: str, receipts_dir: Path,
                 reply_delay: tuple[float, float] = (0.0, 0.0), clock: Callable[[], float] = time.time,
                 context: Any = None, fence_of: Callable[[str, str | None], Any] | None = None) -> None:
        super().__init__(context=context)
        self.deal_id = deal_id
        self._store = store
        self._directory = directory
        self._events = events
        self._settings = settings
        self._mode = mode
        self._receipts_dir = receipts_dir
        self._reply_delay = reply_delay
        self._clock = clock
        self._name = f"deal:{deal_id}"
        self.facts: deal.DealFacts | None = None
        self.gate_account: str | None = None
        self._timers = Timers(self._tell_self)
        self._reconciling: PlatformReads | None = None
        self._held: list[Any] = []  # events that arrived while reconciling
        self._texts: deque[str] = deque()  # buyer texts waiting for their turn
        self._classifying: str | None = None
        self._finished = False  # told the others the deal is over, and asked to stop
        # (platform, account) -> the lease fence a money step's intent is written under (itrader.leases)
        self._fence_of = fence_of or (lambda _platform, _account: None)
        self._stood_down = False
        self._account_ids = AccountIds(store)
        self._resolving: msg.Resolve | None = None  # an operator's resolution waiting for its read-back
        self._returning: msg.Resolve | None = None  # an operator's cancel waiting for Gate to return the payout

    # --- life cycle ------------------------------------------------------------

    def on_start(self) -> None:
        self.register_as(self._directory, self._name)
        row = self._store.deals.get(self.deal_id)
        journal = self._store.deals.journal(self.deal_id)
        created = deal.created_note(journal)
        self.gate_account = created.get("gate_account")
        saved = deal.saved_facts(journal)
        if saved is None:
            now = self._clock()
            self.facts = deal.new_deal(row.payout_id, now, self._mode, wallet=row.wallet, bank=row.bank,
                                       bank_label=created.get("bank_label"), payout_method=row.method)
            DEALS_BY_STATE.labels(state=self.facts.state.value).inc()
            self._apply(deal.PayoutSeen(blacklisted=bool(created.get("blacklisted"))))
            return
        self.facts = replace(deal.DealFacts.from_dict(saved), mode=self._mode)
        DEALS_BY_STATE.labels(state=self.facts.state.value).inc()
        # Buyer texts delivered but never applied (we died first) must come again.
        mark = deal.chat_rewind_mark(journal, self.facts.order_id)
        if mark is not None:
            self._store.deals.record_note(self.deal_id, CHAT_SEEN_STEP, mark)
        self._begin_reconcile()

    def on_stop(self) -> None:
        self._wind_down()

    def on_failure(self, *_exc_info: Any) -> None:
        self._wind_down()

    def _wind_down(self) -> None:
        self._timers.cancel_all()
        if self.facts is not None and not self.facts.terminal:  # a finished deal left the gauge already
            DEALS_BY_STATE.labels(state=self.facts.state.value).dec()

    # Asked by the web layer (with a timeout): which step waits for the operator.
    def awaiting_step(self) -> str | None:
        return self.facts.awaiting if self.facts else None

    # --- messages → events -------------------------------------------------------

    def on_receive(self, message: Any) -> Any:
        if self._stood_down:
            return None  # another process runs the deal now; nothing more is written here
        if isinstance(message, msg.AccountRecovered):
            # A reconcile under way reads the platforms anyway (and retries if the account was down).
            if self._reconciling is None and self.facts is not None and not self.facts.terminal:
                log.info("deal %s: account %s restarted; reconciling", self.deal_id, message.account)
                self._begin_reconcile()
            return None
        if self._reconciling is not None and isinstance(message, (msg.PayoutRead, msg.OrderRead)):
            return self._collect_reconcile(message)
        if self._reconciling is not None and not isinstance(message, msg.Tick):
            self._held.append(message)
            return None
        if isinstance(message, msg.BuyerMessages):
            return self._on_buyer_messages(message)
        if isinstance(message, msg.Classified):
            return self._on_classified(message)
        if isinstance(message, msg.DealNews):
            return self._on_news(message)
        if isinstance(message, msg.Resolve):
            if self._returning is not None:
                return refuse_while_returning(message, self._store, self.facts.state.value, self._events)
            if self.facts is not None and not self.facts.terminal:
                # Not in review (or already resolved): judged on the facts alone. A reconcile here could
                # clear the intent of a money step still in flight and repeat it.
                return self._settle(message, deal.PlatformView())
            self._resolving = message  # read both platforms back right now, then judge
            return self._begin_reconcile()
        if isinstance(message, msg.Tick):
            return self._on_tick(message)
        return super().on_receive(message)

    def _on_news(self, news: msg.DealNews) -> None:
        if news.receipt_path:
            event = news.event
            self._store.deals.record_note(self.deal_id, "receipt_file", {
                "path": news.receipt_path, "channel": getattr(event, "channel", None),
                "trusted": getattr(event, "trusted", None)})
        if news.payout is not None:
            self._store.deals.record_note(self.deal_id, PAYOUT_STEP, {"raw": jsonable(news.payout)})
        if news.order is not None:
            self._store.deals.record_note(self.deal_id, ORDER_STEP, dict(news.order))
        self._apply(news.event)
        if isinstance(news.event, deal.PayoutReturnRead) and self._returning is not None:
            self._return_settled()

    def _return_settled(self) -> None:
        """Gate answered the operator's return: answer the operator, then read both platforms back so the
        journal's last word on the deal is what Gate and Bybit show (the reconcile ends the actor)."""
        request, self._returning = self._returning, None
        self._timers.cancel("return-timeout")
        answer_return(request, self.facts, self._events)
        self._begin_reconcile()

    def _on_tick(self, tick: msg.Tick) -> None:
        if tick.name == "reconcile-timeout" and self._reconciling is not None:
            self._begin_reconcile()
            return
        if tick.name == "return-timeout":
            if self._returning is not None:  # the web gave up already; the read-back settles the intent
                self._returning = None
                self._begin_reconcile()
            return
        self._apply(deal.TimerFired(tick.name))

    def _on_buyer_messages(self, message: msg.BuyerMessages) -> None:
        for name, content in message.files:
            # A receipt posted in the chat is read and shown, never trusted without an operator (§5.3).
            self._send("desk", msg.ReceiptDocument(channel="chat", trusted=False, filename=name, content=content,
                                                   source_id=f"order {message.order_id}", deal_id=self.deal_id))
        if message.texts:  # kept for the operator's transcript; the dialogue reads them from memory
            self._store.deals.record_note(self.deal_id, BUYER_TEXTS_STEP,
                                          {"order_id": message.order_id, "texts": list(message.texts)})
        self._texts.extend(message.texts)
        self._next_text()

    def _next_text(self) -> None:
        while self._texts and self._classifying is None:
            text = self._texts.popleft()
            if (self.facts and self.facts.state == deal.State.CHATTING and dialogue.needs_hint(text)
                    and self._directory.get("assistant") is not None):
                self._classifying = text
                self._send("assistant", msg.Classify(self.deal_id, text, self.actor_ref), attempts=1)
                self._timers.start("classify-timeout", 10.0)
                return
            self._apply(deal.BuyerMessage(text))
        if not self._texts and self._classifying is None:
            self._store.deals.record_note(self.deal_id, CHAT_APPLIED_STEP, {})

    def _on_classified(self, message: msg.Classified) -> None:
        if self._classifying != message.text:
            return
        self._classifying = None
        self._timers.cancel("classify-timeout")
        self._apply(deal.BuyerMessage(message.text, message.hint))
        self._next_text()

    # --- the core loop -------------------------------------------------------------

    def _apply(self, event: Any) -> None:
        if self.facts is None:
            return
        if isinstance(event, deal.TimerFired):
            self._timers.fired(event.name)
            if event.name == "classify-timeout":
                if self._classifying is not None:
                    text, self._classifying = self._classifying, None
                    self._apply(deal.BuyerMessage(text))
                    self._next_text()
                return
        now = self._clock()
        decision = deal.step(self.facts, event, now, self._settings)
        if decision.ignored:
            log.debug("deal %s: %s", self.deal_id, decision.reason)
        else:
            try:
                self._persist(decision.facts, type(event).__name__, decision.reason)
            except errors.FencedOff as exc:
                self._stand_down(exc)
                return
            for action in decision.actions:
                self._execute(action)
        if self.facts.terminal and self._reconciling is None:
            self._finish()

    def _persist(self, new: deal.DealFacts, event_name: str, reason: str | None) -> None:
        old = self.facts
        fence = None
        if new.pending_intent and new.pending_intent != old.pending_intent:  # raises FencedOff if not ours
            fence = self._fence_of(*step_account(new.pending_intent, self.gate_account, new.account))
        extra = {}
        if new.account and new.account != old.account:  # the row records the Bybit account the deal runs on
            account_id = self._account_ids.of("bybit", new.account)
            if account_id is not None:
                extra["bybit_account_id"] = account_id
        record_step(self._store.deals, self.deal_id, old, new, event_name, reason, fence, extra)
        if old.state != new.state:
            self._announce(old, new, reason)
        self.facts = new

    def _stand_down(self, error: Exception) -> None:
        """A money step fenced off: this process no longer holds the account's lease. Nothing was written
        or sent; the actor stops, and the lease holder runs the deal from the store."""
        log.warning("deal %s: standing down, another process holds its account: %s", self.deal_id, error)
        self._events.publish("deal_fenced", deal_id=self.deal_id, reason=str(error))
        self._stood_down = True
        self._timers.cancel_all()
        self.stop()

    def _announce(self, old: deal.DealFacts, new: deal.DealFacts, reason: str | None) -> None:
        """A state change: metrics, the web's event feed and the log follow it."""
        DEALS_BY_STATE.labels(state=old.state.value).dec()
        if not new.terminal:  # itrader_deals counts live deals only
            DEALS_BY_STATE.labels(state=new.state.value).inc()
        self._events.publish("deal", deal_id=self.deal_id, payout_id=new.payout_id, state=new.state.value,
                             previous=old.state.value, reason=new.reason or reason)
        if new.state in (deal.State.AD_ONLINE, deal.State.COMPLETED):
            step = "payout_to_ad" if new.state == deal.State.AD_ONLINE else "deal_total"
            STEP_LATENCY.labels(step=step).observe(max(0.0, self._clock() - new.created_at))
        if new.terminal:
            DEALS_FINISHED.labels(state=new.state.value, reason=deal.reason_label(new.reason)).inc()
            log.info("deal %s finished: %s (%s)", self.deal_id, new.state.value, new.reason)
        else:
            log.info("deal %s: %s -> %s", self.deal_id, old.state.value, new.state.value)

    def _execute(self, action: Any) -> None:
        f = self.facts
        me = self.actor_ref
        if isinstance(action, deal.TakePayout):
            self._send(f"gate:{self.gate_account}", msg.TakePayout(self.deal_id, int(action.payout_id), me))
        elif isinstance(action, deal.RequestAccount):
            self._send("allocator", msg.Allocate(self.deal_id, action.amount, me, wallet=f.wallet))
        elif isinstance(action, deal.CreateAd):
            self._send(f"bybit:{action.account}", msg.CreateAd(self.deal_id, action.amount, action.price,
                                                                action.quantity, action.method, me))
        elif isinstance(action, deal.SendChat):
            self._say(action.order_id, action.text, action.purpose)
        elif isinstance(action, deal.ApprovePayout):
            path = receipt_file(self._store, self._receipts_dir, self.deal_id, action.receipt_id)
            if path is None:
                self._apply(deal.ApproveFailed(True, f"the file of accepted receipt {action.receipt_id} is missing "
                                                     "or altered"))
                return
            self._send(f"gate:{self.gate_account}",
                       msg.ApprovePayout(self.deal_id, int(action.payout_id), str(path), path.name, me))
        elif isinstance(action, deal.ReturnPayout):
            self._timers.start("return-timeout", RETURN_TIMEOUT)
            self._send(f"gate:{self.gate_account}", msg.ReturnPayout(self.deal_id, int(action.payout_id), me))
        elif isinstance(action, deal.ReleaseOrder):
            self._send(f"bybit:{action.account}", msg.ReleaseOrder(self.deal_id, action.order_id, me))
        elif isinstance(action, deal.CancelAd):
            self._send(f"bybit:{action.account}", msg.CancelAd(self.deal_id, action.ad_id),
                       attempts=1 if action.once else MAX_RESENDS)
        elif isinstance(action, deal.StartTimer):
            self._timers.start(action.name, action.seconds)
        elif isinstance(action, deal.AwaitOperator):
            log.warning("deal %s waits for an operator: %s (itrader confirm %s)", self.deal_id, action.why,
                        self.deal_id)
            self._events.publish("operator", deal_id=self.deal_id, step=action.step, why=action.why)
        elif isinstance(action, deal.Notify):
            level = {"error": logging.ERROR, "warning": logging.WARNING}.get(action.level, logging.INFO)
            log.log(level, "deal %s: %s", self.deal_id, action.text)
            self._events.publish("notice", deal_id=self.deal_id, level=action.level, text=action.text)

    def _watch(self) -> None:
        """After a restart: tell the hosting account again where this deal's news goes."""
        f = self.facts
        if f and f.account and not f.terminal:
            self._send(f"bybit:{f.account}", msg.Watch(self.deal_id, f.ad_id, f.order_id, self.actor_ref))

    def _say(self, order_id: str, text: str, purpose: str) -> None:
        low, high = self._reply_delay
        delay = random.uniform(low, high) if high > 0 else 0.0
        message = msg.SendChat(self.deal_id, order_id, text, purpose)
        name = f"bybit:{self.facts.account}"
        self._store.deals.record_note(self.deal_id, OUR_TEXTS_STEP, {"order_id": order_id, "texts": [text]})
        if delay:
            gevent.spawn_later(delay, self._send, name, message)
        else:
            self._send(name, message)

    def _finish(self) -> None:
        """The deal is over: its timers mean nothing now (a pending one must not keep the actor, its ad
        watch and its allocator slot alive); tell the account and the allocator once, then stop."""
        if self._resolving is not None or self._returning is not None:
            return  # an operator's resolution is being read back or carried out: it decides the deal's end
        self._timers.cancel_all()
        if self._finished:
            return
        self._finished = True
        f = self.facts
        self._send("allocator", msg.DealEnded(self.deal_id), attempts=1)
        if f.account:
            self._send(f"bybit:{f.account}", msg.Unwatch(self.deal_id), attempts=1)
        self.stop()

    # --- reconciliation after a restart ---------------------------------------------

    def _begin_reconcile(self) -> None:
        f = self.facts
        self._reconciling = PlatformReads()
        self._timers.start("reconcile-timeout", RECONCILE_TIMEOUT)
        if f.state == deal.State.NEW and f.pending_intent is None:  # nothing taken: Gate cannot have moved
            self._reconciling.add(msg.PayoutRead(self.deal_id, int(f.payout_id), None))
        else:
            self._send(f"gate:{self.gate_account}", msg.ReadPayout(self.deal_id, int(f.payout_id), self.actor_ref))
        if f.account:
            self._send(f"bybit:{f.account}", msg.ReadOrder(self.deal_id, f.ad_id, f.order_id, self.actor_ref))
            self._watch()
        else:
            self._reconciling.add(msg.OrderRead(self.deal_id, None, None, None, None))
        self._maybe_reconciled()

    def _collect_reconcile(self, message: Any) -> None:
        self._reconciling.add(message)
        self._maybe_reconciled()

    def _maybe_reconciled(self) -> None:
        reads = self._reconciling
        if not reads.complete:
            return
        self._reconciling = None
        self._timers.cancel("reconcile-timeout")
        view = reads.view(deal.sent_texts(self._store.deals.journal(self.deal_id), reads.bybit.order_id))
        self._store.deals.record_note(self.deal_id, RECONCILE_STEP, reads.note())
        waiting = next((m for m in self._held if isinstance(m, msg.Resolve)), None)
        if self._resolving is None and waiting is not None:  # came while this read was under way: it serves
            self._held.remove(waiting)
            self._resolving = waiting
        self._apply(deal.Reconciled(view))
        if self._resolving is not None:
            request, self._resolving = self._resolving, None
            self._settle(request, reads.view(None))
        # The desk claimed a receipt for us but we died before we heard; its e-mail is marked processed
        # and will not come again, so hear it from the store.
        if self.facts.state in (deal.State.REQUISITES_SENT, deal.State.PAID):
            receipt = claimed_receipt(self._store, self._receipts_dir, self.deal_id)
            if receipt is not None:
                self.on_receive(receipt)
        held, self._held = self._held, []
        for message in held:
            self.on_receive(message)
        if self.facts.terminal:
            self._finish()

    def _settle(self, request: msg.Resolve, view: deal.PlatformView) -> None:
        if request.resolution.return_payout:  # held from the start: the deal must not finish before Gate answered
            self._returning = request
        answer = settle_resolution(request, view, store=self._store, receipts_dir=self._receipts_dir,
                                   facts=lambda: self.facts, apply=self._apply, events=self._events, send=self._send)
        if answer is not None:
            self._returning = None  # answered now (refused, or done already); the caller finishes an ended deal
        self._watch()

    # --- plumbing --------------------------------------------------------------------

    def _send(self, name: str, message: Any, attempts: int = MAX_RESENDS) -> bool:
        if self._directory.tell(name, message):
            return True
        if attempts > 1:
            gevent.spawn_later(RESEND_DELAY, self._resend, name, message, attempts - 1)
        else:
            log.warning("deal %s: %s is down; dropped %s", self.deal_id, name, type(message).__name__)
        return False

    def _resend(self, name: str, message: Any, attempts: int) -> None:
        if self.actor_ref.is_alive():
            self._send(name, message, attempts)

    def _tell_self(self, message: Any) -> None:
        self.actor_ref.tell(message)
