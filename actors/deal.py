"""The Deal actor: drives one deal through itrader.deal, persisting before acting.

For every message: translate it into a deal event, let the pure `deal.step`
decide, write the new facts (and, for a money step, the intent) to the
journal, then carry out the actions by telling the integration actors. After
a restart it first reads Gate and Bybit back (`reconcile`) before acting again.
"""
from __future__ import annotations

import hashlib
import logging
import random
import time
from collections import deque
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import gevent

from actors import messages as msg
from actors.base import SupervisedActor
from actors.directory import Directory
from itrader import deal, dialogue
from itrader.events import EventLog
from itrader.metrics import DEALS_BY_STATE, DEALS_FINISHED, STEP_LATENCY
from itrader.store import Store

log = logging.getLogger("itrader.deal")

RESEND_DELAY = 1.0  # an addressee that is down (restarting) gets the message again after this
RECONCILE_TIMEOUT = 15.0  # platforms not read back by then: ask again
MAX_RESENDS = 120
# Journal notes shared with BybitAccount: how far the buyer's chat was delivered (written by the
# account before it tells us), and our mark that everything delivered so far has been applied.
CHAT_SEEN_STEP, CHAT_APPLIED_STEP = "bybit_chat_seen", "bybit_chat_applied"
SENT_TEXTS_STEP = "bybit_sent_texts"  # BybitAccount's note of our texts in the chat, for reconcile


class DealActor(SupervisedActor):
    def __init__(self, deal_id: int, store: Store, directory: Directory, events: EventLog,
                 settings: deal.DealSettings, mode: str, receipts_dir: Path,
                 reply_delay: tuple[float, float] = (0.0, 0.0), clock: Callable[[], float] = time.time,
                 context: Any = None) -> None:
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
        self._timers: dict[str, gevent.Greenlet] = {}
        self._reconciling: dict[str, Any] | None = None
        self._held: list[Any] = []  # events that arrived while reconciling
        self._texts: deque[str] = deque()  # buyer texts waiting for their turn
        self._classifying: str | None = None
        self._finished = False  # told the others the deal is over, and asked to stop

    # --- life cycle ------------------------------------------------------------

    def on_start(self) -> None:
        self._directory.register(self._name, self.actor_ref)
        row = self._store.deals.get(self.deal_id)
        journal = self._store.deals.journal(self.deal_id)
        created = journal[0].data if journal and isinstance(journal[0].data, dict) else {}
        self.gate_account = created.get("gate_account")
        saved = next((e.data["facts"] for e in reversed(journal)
                      if isinstance(e.data, dict) and isinstance(e.data.get("facts"), dict)), None)
        if saved is None:
            now = self._clock()
            self.facts = deal.new_deal(row.payout_id, now, self._mode, wallet=row.wallet, bank=row.bank,
                                       bank_label=created.get("bank_label"), payout_method=row.method)
            DEALS_BY_STATE.labels(state=self.facts.state.value).inc()
            self._apply(deal.PayoutSeen(blacklisted=bool(created.get("blacklisted"))))
            return
        self.facts = replace(deal.DealFacts.from_dict(saved), mode=self._mode)
        DEALS_BY_STATE.labels(state=self.facts.state.value).inc()
        self._rewind_unapplied_chat(journal)
        self._begin_reconcile()

    def on_stop(self) -> None:
        self._wind_down()

    def on_failure(self, *_exc_info: Any) -> None:
        self._wind_down()

    def _wind_down(self) -> None:
        for timer in self._timers.values():
            timer.kill(block=False)
        self._timers.clear()
        if self.facts is not None:
            DEALS_BY_STATE.labels(state=self.facts.state.value).dec()
        self._directory.unregister(self._name, self.actor_ref)

    # Asked by the web layer (with a timeout): which step waits for the operator.
    def awaiting_step(self) -> str | None:
        return self.facts.awaiting if self.facts else None

    # --- messages → events -------------------------------------------------------

    def on_receive(self, message: Any) -> Any:
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
        if isinstance(message, msg.ReceiptChecked) and message.receipt_path:
            self._store.deals.record_note(self.deal_id, "receipt_file", {"path": message.receipt_path})
        if isinstance(message, msg.PayoutTaken):
            self._store.deals.record_note(self.deal_id, "payout", {"raw": _jsonable(message.raw)})
        if isinstance(message, msg.AdWithdrawn):
            return self._on_ad_withdrawn(message)
        event = self._translate(message)
        if event is not None:
            self._apply(event)
            return None
        return super().on_receive(message)

    def _translate(self, message: Any) -> Any:
        f = self.facts
        if isinstance(message, msg.Tick):
            if message.name == "reconcile-timeout" and self._reconciling is not None:
                self._begin_reconcile()
                return None
            return deal.TimerFired(message.name)
        if isinstance(message, msg.PayoutTaken):
            return deal.PayoutTaken(message.amount, message.wallet, message.bank, message.bank_label, message.method)
        if isinstance(message, msg.TakeFailed):
            return deal.TakeFailed(message.permanent, message.reason)
        if isinstance(message, msg.AccountAssigned):
            return deal.AccountAssigned(message.account, message.method, message.price, message.quantity)
        if isinstance(message, msg.NoAccountFree):
            return deal.NoAccountFree(message.reason)
        if isinstance(message, msg.AdCreated):
            return deal.AdCreated(message.ad_id)
        if isinstance(message, msg.AdFailed):
            return deal.AdFailed(message.permanent, message.reason)
        if isinstance(message, msg.OrderOpened):
            if message.status != deal.ORDER_WAITING_PAYMENT:
                self.actor_ref.tell(msg.OrderStatus(self.deal_id, message.order_id, message.status))
            return deal.OrderOpened(message.order_id, message.amount, message.buyer_name or None)
        if isinstance(message, msg.OrderStatus):
            if f and f.order_id and message.order_id != f.order_id:
                return None
            return deal.OrderStatusChanged(message.status)
        if isinstance(message, msg.ReceiptChecked):
            return deal.ReceiptChecked(message.accepted, tuple(message.reasons),
                                       "email" if message.channel == "email" else "chat",
                                       str(message.receipt_id or ""), message.trusted, message.late)
        if isinstance(message, msg.ApproveResult):
            return deal.ApproveSucceeded() if message.ok else deal.ApproveFailed(message.permanent, message.reason or "")
        if isinstance(message, msg.ReleaseResult):
            return deal.ReleaseSucceeded() if message.ok else deal.ReleaseFailed(message.permanent, message.reason or "")
        if isinstance(message, msg.OperatorConfirm):
            step = message.step or (f.awaiting if f else None)
            return deal.OperatorConfirmed(step) if step else None
        if isinstance(message, msg.OperatorReject):
            return deal.OperatorRejected(message.reason)
        return None

    def _on_buyer_messages(self, message: msg.BuyerMessages) -> None:
        for name, content in message.files:
            # A receipt posted in the chat is read and shown, never trusted without an operator (§5.3).
            self._send("desk", msg.ReceiptDocument(channel="chat", trusted=False, filename=name, content=content,
                                                   source_id=f"order {message.order_id}", deal_id=self.deal_id))
        self._texts.extend(message.texts)
        self._next_text()

    def _next_text(self) -> None:
        while self._texts and self._classifying is None:
            text = self._texts.popleft()
            if (self.facts and self.facts.state == deal.State.CHATTING and dialogue.needs_hint(text)
                    and self._directory.get("assistant") is not None):
                self._classifying = text
                self._send("assistant", msg.Classify(self.deal_id, text, self.actor_ref), attempts=1)
                self._start_timer("classify-timeout", 10.0)
                return
            self._apply(deal.BuyerMessage(text))
        if not self._texts and self._classifying is None:
            self._store.deals.record_note(self.deal_id, CHAT_APPLIED_STEP, {})

    def _rewind_unapplied_chat(self, journal: list) -> None:
        """Buyer texts the account delivered that we never applied (we died first) must come again:
        move the chat watermark back to the last delivery we applied."""
        steps = [e.step for e in journal]
        applied_at = max((i for i, step in enumerate(steps) if step == CHAT_APPLIED_STEP), default=-1)
        if not any(step == CHAT_SEEN_STEP for step in steps[applied_at + 1:]):
            return
        order_id = self.facts.order_id if self.facts else None
        previous = next((e.data for e in reversed(journal[:applied_at + 1]) if e.step == CHAT_SEEN_STEP
                         and isinstance(e.data, dict) and e.data.get("order_id") == order_id), None)
        mark = previous or {"order_id": order_id, "message_id": 0, "created_ms": 0}
        self._store.deals.record_note(self.deal_id, CHAT_SEEN_STEP, dict(mark, rewound=True))

    def _on_classified(self, message: msg.Classified) -> None:
        if self._classifying != message.text:
            return
        self._classifying = None
        self._cancel_timer("classify-timeout")
        self._apply(deal.BuyerMessage(message.text, message.hint))
        self._next_text()

    def _on_ad_withdrawn(self, message: msg.AdWithdrawn) -> Any:
        f = self.facts
        if not f or f.ad_id != message.ad_id or f.order_id is not None or f.state != deal.State.AD_ONLINE:
            return None
        # The hosting account is gone for good and nobody took the ad: take the ad down while its account
        # actor may still be there (it is stopped a moment later), forget it and ask for another account.
        if message.ad_id:
            self._send(f"bybit:{message.account}", msg.CancelAd(self.deal_id, message.ad_id), attempts=1)
        self._persist(replace(f, state=deal.State.ACCEPTED, account=None, method=None, ad_id=None,
                              ad_closed=False, entered_at=self._clock()), "ad_withdrawn",
                      f"ad {message.ad_id} on {message.account} withdrawn")
        self._execute(deal.RequestAccount(f.amount))
        return None

    # --- the core loop -------------------------------------------------------------

    def _apply(self, event: Any) -> None:
        if self.facts is None:
            return
        if isinstance(event, deal.TimerFired):
            self._timers.pop(event.name, None)
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
            self._persist(decision.facts, type(event).__name__, decision.reason)
            for action in decision.actions:
                self._execute(action)
        if self.facts.terminal and self._reconciling is None:
            self._finish()

    def _persist(self, new: deal.DealFacts, event_name: str, reason: str | None) -> None:
        old = self.facts
        data = {"facts": new.to_dict(), "reason": reason}
        changes = _row_changes(old, new)
        if old.state != new.state:
            self._store.deals.transition(self.deal_id, old.state.value, new.state.value, event_name, data=data,
                                         changes=changes)
            DEALS_BY_STATE.labels(state=old.state.value).dec()
            DEALS_BY_STATE.labels(state=new.state.value).inc()
            self._events.publish("deal", deal_id=self.deal_id, payout_id=new.payout_id, state=new.state.value,
                                 previous=old.state.value, reason=new.reason or reason)
            self._observe_latency(old, new)
            if new.terminal:
                DEALS_FINISHED.labels(state=new.state.value, reason=_reason_label(new.reason)).inc()
                log.info("deal %s finished: %s (%s)", self.deal_id, new.state.value, new.reason)
            else:
                log.info("deal %s: %s -> %s", self.deal_id, old.state.value, new.state.value)
        else:
            if changes:
                self._store.deals.update_fields(self.deal_id, changes, step=event_name)
            self._store.deals.record_note(self.deal_id, event_name, data)
        if new.pending_intent and new.pending_intent != old.pending_intent:
            self._store.deals.record_intent(self.deal_id, new.pending_intent, {"state": new.state.value})
        if old.pending_intent and old.pending_intent != new.pending_intent:
            done = _step_done(old.pending_intent, new)
            self._store.deals.record_outcome(self.deal_id, old.pending_intent, done, {"state": new.state.value})
        self.facts = new

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
            path = self._receipt_path(action.receipt_id)
            if path is None:
                self._apply(deal.ApproveFailed(True, f"the file of accepted receipt {action.receipt_id} is missing "
                                                     "or altered"))
                return
            self._send(f"gate:{self.gate_account}",
                       msg.ApprovePayout(self.deal_id, int(action.payout_id), str(path), path.name, me))
        elif isinstance(action, deal.ReleaseOrder):
            self._send(f"bybit:{action.account}", msg.ReleaseOrder(self.deal_id, action.order_id, me))
        elif isinstance(action, deal.CancelAd):
            self._send(f"bybit:{action.account}", msg.CancelAd(self.deal_id, action.ad_id))
        elif isinstance(action, deal.StartTimer):
            self._start_timer(action.name, action.seconds)
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
        if delay:
            gevent.spawn_later(delay, self._send, name, message)
        else:
            self._send(name, message)

    def _finish(self) -> None:
        """The deal is over: its timers mean nothing now (a pending one must not keep the actor, its ad
        watch and its allocator slot alive); tell the account and the allocator once, then stop."""
        for timer in self._timers.values():
            timer.kill(block=False)
        self._timers.clear()
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
        self._reconciling = {"gate": None, "bybit": None}
        self._start_timer("reconcile-timeout", RECONCILE_TIMEOUT)
        if f.state == deal.State.NEW and f.pending_intent is None:
            self._reconciling["gate"] = msg.PayoutRead(self.deal_id, int(f.payout_id), None)
        else:
            self._send(f"gate:{self.gate_account}", msg.ReadPayout(self.deal_id, int(f.payout_id), self.actor_ref))
        if f.account:
            self._send(f"bybit:{f.account}", msg.ReadOrder(self.deal_id, f.ad_id, f.order_id, self.actor_ref))
            self._watch()
        else:
            self._reconciling["bybit"] = msg.OrderRead(self.deal_id, None, None, None, None)
        self._maybe_reconciled()

    def _collect_reconcile(self, message: Any) -> None:
        if isinstance(message, msg.PayoutRead):
            self._reconciling["gate"] = message
        else:
            self._reconciling["bybit"] = message
        self._maybe_reconciled()

    def _maybe_reconciled(self) -> None:
        gate, bybit = self._reconciling["gate"], self._reconciling["bybit"]
        if gate is None or bybit is None:
            return
        self._reconciling = None
        self._cancel_timer("reconcile-timeout")
        amount = None
        if gate.raw:
            amount = _payout_amount(gate.raw)
        view = deal.PlatformView(payout_status=gate.status, payout_amount=amount, ad_id=bybit.ad_id,
                                 ad_online=bybit.ad_online, order_id=bybit.order_id, order_status=bybit.order_status,
                                 sent_texts=self._sent_texts(bybit.order_id), buyer_name=bybit.buyer_name)
        self._store.deals.record_note(self.deal_id, "reconcile", {
            "payout_status": gate.status, "ad_id": bybit.ad_id, "ad_online": bybit.ad_online,
            "order_id": bybit.order_id, "order_status": bybit.order_status})
        self._apply(deal.Reconciled(view))
        self._replay_claimed_receipt()
        held, self._held = self._held, []
        for message in held:
            self.on_receive(message)
        if self.facts.terminal:
            self._finish()

    def _sent_texts(self, order_id: str | None) -> tuple[str, ...] | None:
        """Our texts in the order's chat as the account read them for this reconcile (its note comes
        just before its OrderRead); None when it could not tell."""
        if order_id is None:
            return None
        for entry in reversed(self._store.deals.journal(self.deal_id)):
            if entry.step == "reconcile":
                return None  # only a note written since the last reconcile counts
            data = entry.data if isinstance(entry.data, dict) else {}
            if entry.step == SENT_TEXTS_STEP and data.get("order_id") == order_id:
                return tuple(str(text) for text in data.get("texts") or ())
        return None

    def _replay_claimed_receipt(self) -> None:
        """The desk claimed a receipt for this deal but we died before we heard; its e-mail is marked
        processed and will not come again, so hear it from the store."""
        f = self.facts
        if f is None or f.state not in (deal.State.REQUISITES_SENT, deal.State.PAID):
            return
        for receipt in self._store.receipts.for_deal(self.deal_id):
            path = next(iter(sorted(self._receipts_dir.glob(f"{receipt.sha256}.*"))), None)
            if receipt.verdict == "accepted" and path is not None:
                self.on_receive(msg.ReceiptChecked(self.deal_id, True, receipt.source, receipt.source == "email",
                                                   receipt.id, str(path)))
                return

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

    def _start_timer(self, name: str, seconds: float) -> None:
        self._cancel_timer(name)
        self._timers[name] = gevent.spawn_later(max(0.0, seconds), self._fire, name)

    def _fire(self, name: str) -> None:
        try:
            self.actor_ref.tell(msg.Tick(name))
        except Exception:  # noqa: BLE001 — the actor has stopped; nothing to wake
            pass

    def _cancel_timer(self, name: str) -> None:
        timer = self._timers.pop(name, None)
        if timer is not None:
            timer.kill(block=False)

    def _receipt_path(self, receipt_id: str) -> Path | None:
        """The file of exactly the receipt this deal accepted: named by its sha256, and still holding those
        bytes. Never "the latest file noted" — a chat PDF may arrive while the approve waits."""
        accepted = next((r for r in self._store.receipts.for_deal(self.deal_id) if str(r.id) == str(receipt_id)),
                        None)
        if accepted is None:
            return None
        for path in sorted(self._receipts_dir.glob(f"{accepted.sha256}.*")):
            if path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == accepted.sha256:
                return path
        return None

    def _observe_latency(self, old: deal.DealFacts, new: deal.DealFacts) -> None:
        if new.state == deal.State.AD_ONLINE:
            STEP_LATENCY.labels(step="payout_to_ad").observe(max(0.0, self._clock() - new.created_at))
        if new.state == deal.State.COMPLETED:
            STEP_LATENCY.labels(step="deal_total").observe(max(0.0, self._clock() - new.created_at))


def _step_done(step: str, facts: deal.DealFacts) -> bool:
    return {
        deal.TAKE: facts.amount is not None and facts.state != deal.State.NEW,
        deal.CREATE_AD: facts.ad_id is not None,
        deal.APPROVE: facts.approved,
        deal.RELEASE: facts.released,
    }.get(step, False)


def _row_changes(old: deal.DealFacts, new: deal.DealFacts) -> dict[str, Any]:
    """The deal row's queryable columns that follow the facts."""
    changes: dict[str, Any] = {}
    pairs = {"amount_rub": "amount", "price": "price", "quantity": "quantity", "ad_id": "ad_id",
             "order_id": "order_id", "bank": "bank", "wallet": "wallet", "reason": "reason",
             "buyer_name": "buyer_name"}
    for column, name in pairs.items():
        value = getattr(new, name)
        if value != getattr(old, name) and value is not None:
            changes[column] = value
    if new.payout_method != old.payout_method and new.payout_method in ("sbp", "card"):
        changes["method"] = new.payout_method
    if new.requisites_sent_at and new.requisites_sent_at != old.requisites_sent_at:
        changes["requisites_sent_at"] = datetime.fromtimestamp(new.requisites_sent_at, tz=timezone.utc)
    if (new.mode != "auto") != (old.mode != "auto"):
        changes["manual"] = new.mode != "auto"
    return changes


def _reason_label(reason: str | None) -> str:
    """A bounded label for metrics: the reason's code, not its free text."""
    if not reason:
        return "none"
    return reason.split(":")[0].split(" ")[0][:40]


def _payout_amount(raw: dict) -> Any:
    """amount["643"] as Gate shows it (the RUB figure sits under amount["trader"] in the panel's JSON)."""
    from itrader.gate.models import Amount

    return Amount.parse(raw.get("amount")).rub


def _jsonable(raw: Any) -> Any:
    import json

    return json.loads(json.dumps(raw, default=str))
