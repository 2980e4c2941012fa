"""After a restart: settle what the journal left open from what Gate and Bybit show, then carry on."""
from __future__ import annotations

from dataclasses import replace

from itrader import dialogue
from itrader.deal.actions import Action, AwaitOperator, CancelAd, Decision, SendChat, StartTimer, _arm, _finish, _ignored
from itrader.deal.events import (
    AdCreated, ApproveSucceeded, Event, OrderOpened, OrderStatusChanged, PayoutTaken, PlatformView, ReleaseSucceeded,
)
from itrader.deal.facts import (
    APPROVE, CREATE_AD, DEFAULT_SETTINGS, ORDER_FINISHED, ORDER_PAID, PAYOUT_APPROVED, PAYOUT_IN_WORK, PAYOUT_NEW,
    RELEASE, RETURN_PAYOUT, STUCK_TIMER, TAKE, DealFacts, DealSettings, State, _to_int,
)
from itrader.deal.guards import _resume
from itrader.deal.handlers import _requisites, step


class _Collect:
    """Chains decisions, keeping the last StartTimer per name."""

    def __init__(self, facts: DealFacts) -> None:
        self.facts = facts
        self.actions: list[Action] = []
        self.reasons: list[str] = []

    def apply(self, decision: Decision) -> None:
        self.facts = decision.facts
        self.add(decision.actions)
        if decision.reason and not decision.ignored:
            self.reasons.append(decision.reason)

    def add(self, actions: tuple[Action, ...]) -> None:
        for action in actions:
            if isinstance(action, StartTimer):
                self.actions = [a for a in self.actions if not (isinstance(a, StartTimer) and a.name == action.name)]
            self.actions.append(action)

    def event(self, event: Event, now: float, settings: DealSettings) -> None:
        self.apply(step(self.facts, event, now, settings))

    def finish(self, state: State, reason: str, now: float) -> None:
        facts, actions = _finish(self.facts, state, reason, now)
        self.facts = facts
        self.add(actions)
        self.reasons.append(reason)


def reconcile(facts: DealFacts, view: PlatformView, now: float,
              settings: DealSettings = DEFAULT_SETTINGS) -> Decision:
    """After a restart: settle a recorded-but-unanswered money step from what the platforms show, catch
    up with the order, re-arm timers and re-issue what the deal is waiting for. Never repeats a money
    step that the platform shows as done; repeats one only when the platform shows it was not done."""
    try:
        return _reconcile(facts, view, now, settings)
    except Exception as exc:
        if facts.terminal:
            return _ignored(facts, f"reconcile failed: {type(exc).__name__}")
        new, actions = _finish(facts, State.MANUAL_REVIEW, f"internal_error in reconcile: {type(exc).__name__}", now)
        return Decision(replace(new, updated_at=now), actions, "internal error")


def _reconcile(facts: DealFacts, view: PlatformView, now: float, settings: DealSettings) -> Decision:
    c = _Collect(facts)
    payout_status = _to_int(view.payout_status) if view.payout_status is not None else None
    order_status = _to_int(view.order_status) if view.order_status is not None else None
    intent = facts.pending_intent

    if facts.terminal:
        if intent == RELEASE and order_status == ORDER_FINISHED:
            c.facts = replace(c.facts, released=True, pending_intent=None)
        elif intent == APPROVE and payout_status in PAYOUT_APPROVED:
            c.facts = replace(c.facts, approved=True, pending_intent=None)
        elif intent == RETURN_PAYOUT and payout_status is not None:
            # A return left open (the actor stopped before Gate's answer): Gate now shows where the payout is,
            # and the operator's next resolution is judged on that.
            c.facts = replace(c.facts, pending_intent=None)
        ad_id = view.ad_id or facts.ad_id
        if view.ad_online and ad_id and facts.account:
            c.facts = replace(c.facts, ad_id=c.facts.ad_id or ad_id, ad_closed=True)
            c.add((CancelAd(facts.account, ad_id),))
        return _collected(facts, c, now)

    # 1. settle the money step whose intent was recorded but whose outcome was not
    if intent == TAKE and payout_status is not None:
        if payout_status == PAYOUT_NEW:
            c.facts = replace(c.facts, pending_intent=None)  # not taken: taking again is safe
        elif payout_status == PAYOUT_IN_WORK and view.payout_amount is not None:
            c.event(PayoutTaken(view.payout_amount), now, settings)
        else:
            c.finish(State.MANUAL_REVIEW, f"take unclear: payout status {payout_status}", now)
    elif intent == CREATE_AD:
        if view.ad_id:
            c.event(AdCreated(view.ad_id), now, settings)
        elif view.ad_online is False:
            c.facts = replace(c.facts, pending_intent=None)  # no ad on Bybit: creating again is safe
    elif intent == APPROVE and payout_status is not None:
        if payout_status in PAYOUT_APPROVED:
            c.event(ApproveSucceeded(), now, settings)
        elif payout_status == PAYOUT_IN_WORK:
            c.facts = replace(c.facts, pending_intent=None)  # not approved: approving again is safe
        else:
            c.finish(State.MANUAL_REVIEW, f"approve unclear: payout status {payout_status}", now)
    elif intent == RELEASE and order_status is not None:
        if order_status == ORDER_FINISHED:
            c.event(ReleaseSucceeded(), now, settings)
        elif order_status == ORDER_PAID:
            c.facts = replace(c.facts, pending_intent=None)  # not released: releasing again is safe

    # 2. Gate moved without us
    f = c.facts
    if not f.terminal and payout_status is not None and f.pending_intent is None:
        if payout_status in PAYOUT_APPROVED and not f.approved:
            c.finish(State.MANUAL_REVIEW, f"payout approved outside iTrader (status {payout_status})", now)
        elif f.state != State.NEW and not f.approved and payout_status != PAYOUT_IN_WORK:
            c.finish(State.MANUAL_REVIEW, f"payout no longer in work (status {payout_status})", now)
        elif f.state == State.NEW and payout_status != PAYOUT_NEW:
            c.finish(State.MANUAL_REVIEW, f"payout status {payout_status} before we took it", now)

    # 3. Bybit moved without us
    f = c.facts
    if not f.terminal and f.state == State.AD_ONLINE and view.order_id:
        c.event(OrderOpened(view.order_id, buyer_name=view.buyer_name), now, settings)
    elif not f.terminal and f.state == State.AD_ONLINE and view.ad_online is False and not view.order_id:
        c.finish(State.MANUAL_REVIEW, "ad is no longer online and no order came", now)
    f = c.facts
    if f.buyer_name is None and view.buyer_name and f.order_id and view.order_id == f.order_id:
        c.facts = replace(f, buyer_name=view.buyer_name.strip() or None)
    f = c.facts
    if not f.terminal and f.order_id and order_status is not None and order_status != f.order_status:
        c.event(OrderStatusChanged(order_status), now, settings)

    # 4. re-send a chat message that was persisted but never reached the chat
    f = c.facts
    if not f.terminal and f.order_id and view.sent_texts is not None:
        sent = set(view.sent_texts)
        question = dialogue.question_for(f.dialogue)  # the greeting, or the SBP warning after a yes
        if f.state == State.CHATTING and question not in sent and f.dialogue.repeats == 0:
            c.add((SendChat(f.order_id, question, "greeting" if question == dialogue.GREETING else "reply"),))
        if f.state in (State.REQUISITES_SENT, State.PAID) and _requisites(f, settings) not in sent:
            c.add((SendChat(f.order_id, _requisites(f, settings)),))

    # 5. re-arm timers, repeat the operator prompt, re-issue what the state waits for
    f = c.facts
    if not f.terminal:
        for name, due in f.deadlines:
            c.add((StartTimer(name, max(0.0, due - now)),))
        if f.deadline(STUCK_TIMER) is None:
            c.facts, timer = _arm(c.facts, STUCK_TIMER, max(0.0, settings.stuck - (now - f.entered_at)), now)
            c.add(timer)
        if c.facts.awaiting is not None:
            c.add((AwaitOperator(c.facts.awaiting, f"still waiting for the operator ({c.facts.awaiting})"),))
        else:
            c.facts, actions = _resume(c.facts)
            c.add(actions)
    return _collected(facts, c, now)


def _collected(before: DealFacts, c: _Collect, now: float) -> Decision:
    facts = c.facts if c.facts == before else replace(c.facts, updated_at=now)
    return Decision(facts, tuple(c.actions), "; ".join(c.reasons) or "reconciled")
