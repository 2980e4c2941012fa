"""The handlers: one per event, each (facts, event, now, settings) -> Decision, and `step`, which picks one."""
from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any, Callable

from itrader import dialogue
from itrader.deal.actions import (
    Action, CancelAd, Decision, Notify, RequestAccount, SendChat, StartTimer, _arm, _enter, _finish, _ignored,
    _with_deadline,
)
from itrader.deal.events import (
    AccountAssigned, AdCreated, AdFailed, AdWithdrawn, ApproveFailed, ApproveSucceeded, BuyerMessage, Event,
    NoAccountFree, OperatorConfirmed, OperatorRejected, OrderOpened, OrderStatusChanged, PayoutReturnRead, PayoutSeen,
    PayoutTaken, ReceiptChecked, Reconciled, ReleaseFailed, ReleaseSucceeded, TakeFailed, TimerFired,
)
from itrader.deal.facts import (
    ACCEPT_RECEIPT, ANSWER_TIMER, APPROVE, CHAT, CREATE_AD, DEFAULT_SETTINGS, EMAIL, ORDER_CANCELLED_ANY,
    ORDER_DISPUTE, ORDER_FINISHED, ORDER_PAID, ORDER_WAITING_PAYMENT, PAID_AFTER_ENDING, RECEIPT_TIMER, RELEASE,
    RETRY_TIMER, STUCK_TIMER, TAKE, DealFacts, DealSettings, Receipt, State, _to_decimal, _to_int, dispute_reason,
)
from itrader.deal.guards import _advance, _failure, _resume
from itrader.deal.resolve import OperatorResolved, on_operator_resolved, on_payout_return_read


def _on_payout_seen(facts: DealFacts, event: PayoutSeen, now: float, settings: DealSettings) -> Decision:
    if facts.state != State.NEW:
        return _ignored(facts, f"payout already handled ({facts.state.value})")
    if event.blacklisted:
        new, actions = _finish(facts, State.BLACKLISTED, "wallet is blacklisted", now)
        return Decision(new, actions, "blacklisted")
    if facts.pending_intent == TAKE or facts.awaiting == TAKE:
        return _ignored(facts, "take already under way")
    new, actions = _resume(facts)
    new, stuck = _arm(new, STUCK_TIMER, settings.stuck, now)
    return Decision(new, actions + stuck)


def _on_payout_taken(facts: DealFacts, event: PayoutTaken, now: float, settings: DealSettings) -> Decision:
    if facts.terminal:
        if facts.pending_intent != TAKE:
            return _ignored(facts, f"deal is {facts.state.value}")
        amount = _to_decimal(event.amount)
        return Decision(replace(facts, pending_intent=None, amount=amount), (), "late take outcome recorded")
    if facts.state != State.NEW:
        return _ignored(facts, "payout already taken")
    facts = replace(
        facts, pending_intent=None, retries=0, wallet=event.wallet or facts.wallet, bank=event.bank or facts.bank,
        bank_label=event.bank_label or facts.bank_label, payout_method=event.payout_method or facts.payout_method,
    )
    amount = _to_decimal(event.amount)
    if amount is None or amount <= 0:
        new, actions = _finish(facts, State.MANUAL_REVIEW, f"payout amount is not usable: {event.amount!r}", now)
        return Decision(new, actions, "bad amount")
    facts = replace(facts, amount=amount)
    if (settings.min_amount is not None and amount < settings.min_amount) or (
        settings.max_amount is not None and amount > settings.max_amount
    ):
        new, actions = _finish(facts, State.MANUAL_REVIEW,
                               f"amount_out_of_range: {amount} not in [{settings.min_amount}, {settings.max_amount}]",
                               now)
        return Decision(new, actions, "amount out of range")
    facts = _enter(facts, State.ACCEPTED, now)
    return Decision(facts, (RequestAccount(amount),))


def _on_take_failed(facts: DealFacts, event: TakeFailed, now: float, settings: DealSettings) -> Decision:
    if facts.state != State.NEW or facts.pending_intent != TAKE:
        return _ignored(facts, "no take under way")
    if event.held:  # nothing was sent: ask again later, as often as it takes
        # and a pause is no lack of progress: the stuck clock starts again
        new, actions = _arm(replace(facts, pending_intent=None, entered_at=now), RETRY_TIMER, settings.retry_delay, now)
        return Decision(new, actions, f"take held: {event.error}")
    new, actions = _failure(facts, TAKE, event.permanent, event.error, now, settings, State.ERROR)
    return Decision(new, actions)


def _on_account_assigned(facts: DealFacts, event: AccountAssigned, now: float, settings: DealSettings) -> Decision:
    if facts.state not in (State.ACCEPTED, State.WAITING_ACCOUNT) or facts.account is not None:
        return _ignored(facts, "no account wanted")
    price, quantity = _to_decimal(event.price), _to_decimal(event.quantity)
    amount = facts.amount or Decimal(0)
    if not event.account or price is None or quantity is None or price <= 0 or quantity * price < amount:
        new, actions = _finish(facts, State.ERROR, f"bad ad terms: price {event.price}, quantity {event.quantity}",
                               now)
        return Decision(new, actions)
    # The wait is over: why it waited ("waiting_for_twin: …") no longer describes the deal.
    waited = facts.state == State.WAITING_ACCOUNT
    facts = replace(_enter(facts, State.ACCEPTED, now), account=event.account, method=event.method, price=price,
                    quantity=quantity, retries=0, reason=None if waited else facts.reason)
    facts = _with_deadline(facts, RETRY_TIMER, None)
    new, actions = _resume(facts)
    return Decision(new, actions)


def _on_no_account(facts: DealFacts, event: NoAccountFree, now: float, settings: DealSettings) -> Decision:
    if facts.state not in (State.ACCEPTED, State.WAITING_ACCOUNT) or facts.account is not None:
        return _ignored(facts, "no account wanted")
    waiting = _enter(facts, State.WAITING_ACCOUNT, now)
    if event.reason:
        waiting = replace(waiting, reason=event.reason)
    new, actions = _arm(waiting, RETRY_TIMER, settings.account_retry, now)
    return Decision(new, actions)


def _on_ad_created(facts: DealFacts, event: AdCreated, now: float, settings: DealSettings) -> Decision:
    if not event.ad_id:
        return _ignored(facts, "ad id missing")
    if facts.terminal:
        if facts.pending_intent != CREATE_AD or facts.ad_id is not None:
            return _ignored(facts, f"deal is {facts.state.value}")
        # the ad went up after the deal stopped: take it down again
        new = replace(facts, pending_intent=None, ad_id=event.ad_id, ad_closed=True)
        return Decision(new, (CancelAd(facts.account or "", event.ad_id),), "late ad taken down")
    if facts.state != State.ACCEPTED or facts.ad_id is not None or facts.account is None:
        return _ignored(facts, "no ad being created")
    new = replace(_enter(facts, State.AD_ONLINE, now), ad_id=event.ad_id, pending_intent=None, retries=0)
    return Decision(new)


def _on_ad_failed(facts: DealFacts, event: AdFailed, now: float, settings: DealSettings) -> Decision:
    if facts.state != State.ACCEPTED or facts.pending_intent != CREATE_AD:
        return _ignored(facts, "no ad being created")
    if event.reallocate and not event.permanent:
        # The account cannot post it for now (its ad limit, a risk check): no retry there, another account
        # or a wait in WAITING_ACCOUNT — the allocator has already heard the account is blocked.
        new = replace(facts, pending_intent=None, account=None, method=None, entered_at=now)
        return Decision(new, (RequestAccount(facts.amount),), f"ad refused on {facts.account}: {event.error}")
    new, actions = _failure(facts, CREATE_AD, event.permanent, event.error, now, settings, State.ERROR)
    return Decision(new, actions)


def _on_ad_withdrawn(facts: DealFacts, event: AdWithdrawn, now: float, settings: DealSettings) -> Decision:
    if (facts.state == State.ACCEPTED and facts.ad_id is None and event.ad_id is None
            and facts.account == event.account and facts.pending_intent is None):
        # The account went down before the deal's ad went up (a failed try, or one awaiting the operator):
        # nothing to take down; ask for another account instead of retrying a dead one.
        new = _with_deadline(replace(facts, account=None, method=None, retries=0, awaiting=None, entered_at=now),
                             RETRY_TIMER, None)
        return Decision(new, (RequestAccount(facts.amount),), f"account {event.account} went down before the ad")
    if facts.ad_id != event.ad_id or facts.order_id is not None or facts.state != State.AD_ONLINE:
        return _ignored(facts, f"ad {event.ad_id} is not this deal's waiting ad")
    # The hosting account is gone for good and nobody took the ad: take the ad down while its account
    # actor may still be there (it is stopped a moment later, so once), forget it, ask for another account.
    cancel = (CancelAd(event.account, event.ad_id, once=True),) if event.ad_id else ()
    new = replace(facts, state=State.ACCEPTED, account=None, method=None, ad_id=None, ad_closed=False,
                  entered_at=now)
    return Decision(new, cancel + (RequestAccount(facts.amount),), f"ad {event.ad_id} on {event.account} withdrawn")


def _on_order_opened(facts: DealFacts, event: OrderOpened, now: float, settings: DealSettings) -> Decision:
    if facts.state != State.AD_ONLINE or facts.order_id is not None:
        same = event.order_id == facts.order_id
        return _ignored(facts, "order already linked" if same else f"order {event.order_id} not wanted")
    if not event.order_id:
        return _ignored(facts, "order id missing")
    if event.amount is not None and _to_decimal(event.amount) != facts.amount:
        facts = replace(facts, order_id=str(event.order_id), order_status=ORDER_WAITING_PAYMENT)
        new, actions = _finish(facts, State.MANUAL_REVIEW,
                               f"order amount {event.amount} differs from the payout amount {facts.amount}", now)
        return Decision(new, actions)
    # The originals' third question (the wrong-bank warning) is for SBP ads only.
    state, text = dialogue.start(settings.max_repeats, sbp=facts.method == "sbp")
    facts = replace(_enter(facts, State.CHATTING, now), order_id=str(event.order_id),
                    order_status=ORDER_WAITING_PAYMENT, dialogue=state,
                    buyer_name=(event.buyer_name or "").strip() or facts.buyer_name)
    facts, timer = _arm(facts, ANSWER_TIMER, settings.answer_timeout, now)
    return Decision(facts, (SendChat(facts.order_id, text, "greeting"),) + timer)


def _on_buyer_message(facts: DealFacts, event: BuyerMessage, now: float, settings: DealSettings) -> Decision:
    if facts.state != State.CHATTING or facts.order_id is None:
        return _ignored(facts, f"not chatting ({facts.state.value})")
    turn = dialogue.answer(facts.dialogue, event.text, event.llm_hint)
    facts = replace(facts, dialogue=turn.state)
    said = (SendChat(facts.order_id, turn.reply),) if turn.reply else ()
    if turn.outcome == dialogue.AGREED:
        facts = _with_deadline(replace(_enter(facts, State.REQUISITES_SENT, now), requisites_sent_at=now),
                               ANSWER_TIMER, None)
        facts, timer = _arm(facts, RECEIPT_TIMER, settings.receipt_after_requisites, now)
        return Decision(facts, (SendChat(facts.order_id, _requisites(facts, settings)),) + timer, "buyer agreed")
    if turn.outcome in (dialogue.REFUSED, dialogue.GAVE_UP):
        new, actions = _finish(facts, State.REJECTED_BUYER, f"buyer {turn.outcome}", now)
        return Decision(new, said + actions, f"buyer {turn.outcome}")
    facts, timer = _arm(facts, ANSWER_TIMER, settings.answer_timeout, now)
    return Decision(facts, said + timer, "answer unclear, asked again")


def _requisites(facts: DealFacts, settings: DealSettings) -> str:
    return dialogue.requisites_message(facts.bank, facts.wallet, facts.amount, settings.receipt_email,
                                       facts.bank_label)


def _on_receipt(facts: DealFacts, event: ReceiptChecked, now: float, settings: DealSettings) -> Decision:
    if facts.state in PAID_AFTER_ENDING:
        return _on_late_receipt(facts, event, now)
    if event.late:  # news about an ended deal is never an acceptance for a live one
        return _ignored(facts, "a late receipt is only for a deal that ended")
    if facts.state in (State.RECEIPT_OK, State.APPROVED):
        return _ignored(facts, "a receipt was already accepted")
    if facts.state not in (State.REQUISITES_SENT, State.PAID):
        return _ignored(facts, f"no receipt expected in {facts.state.value}")
    channel = EMAIL if event.channel == EMAIL and event.trusted is not False else CHAT
    reasons = tuple(str(r) for r in event.reasons)
    if not event.accepted:
        why = "; ".join(reasons) or "no reason given"
        new, actions = _finish(facts, State.MANUAL_REVIEW, f"receipt_refused ({channel}): {why}", now)
        return Decision(new, actions, "receipt refused")
    if not event.receipt_id:
        new, actions = _finish(facts, State.MANUAL_REVIEW, "receipt accepted without a receipt id", now)
        return Decision(new, actions, "receipt without id")
    receipt = Receipt(str(event.receipt_id), channel, True, reasons)
    facts = _with_deadline(replace(_enter(facts, State.RECEIPT_OK, now), receipt=receipt), RECEIPT_TIMER, None)
    new, actions = _advance(facts)
    return Decision(new, actions, f"receipt verified ({channel})")


def _on_late_receipt(facts: DealFacts, event: ReceiptChecked, now: float) -> Decision:
    """The buyer paid our recipient after the deal ended: real money moved, so an operator decides
    (refund, or finish by hand). Only the bank's own trusted receipt reopens a deal."""
    if not event.late or event.channel != EMAIL or event.trusted is False:
        return _ignored(facts, f"no receipt expected in {facts.state.value}")
    codes = ", ".join(str(r) for r in event.reasons)
    why = f"paid_after_cancel: receipt {event.receipt_id or '?'} fits this {facts.state.value} deal"
    new, actions = _finish(facts, State.MANUAL_REVIEW, why + (f" ({codes})" if codes else ""), now)
    return Decision(new, actions, "paid after the deal ended")


def _on_order_status(facts: DealFacts, event: OrderStatusChanged, now: float, settings: DealSettings) -> Decision:
    status = _to_int(event.status)
    if status is None:
        return _ignored(facts, f"unreadable order status {event.status!r}")
    if facts.terminal:
        return _ignored(facts, f"deal is {facts.state.value}")
    if facts.order_id is None:
        return _ignored(facts, "no order linked")
    if event.order_id is not None and str(event.order_id) != facts.order_id:
        return _ignored(facts, f"status of order {event.order_id}, not of this deal's order {facts.order_id}")
    if status == facts.order_status:
        return _ignored(facts, f"order status still {status}")
    claimed_paid = facts.order_status == ORDER_PAID
    facts = replace(facts, order_status=status)
    if status in ORDER_DISPUTE:
        reason = dispute_reason(facts.order_id, status, _to_int(event.appeal_seconds))
        new, actions = _finish(facts, State.DISPUTE, reason, now)
        return Decision(new, actions)
    if status in ORDER_CANCELLED_ANY:
        money_moved = claimed_paid or facts.approved or (facts.receipt is not None and facts.receipt.verified)
        if money_moved:
            new, actions = _finish(facts, State.MANUAL_REVIEW, "paid_but_order_cancelled", now)
        else:
            new, actions = _finish(facts, State.CANCELLED, f"order {facts.order_id} cancelled (status {status})", now)
            if facts.requisites_sent_at is not None:
                actions += (Notify("warning", f"deal {facts.payout_id}: order cancelled after the requisites were "
                                              "sent; a late receipt needs an operator"),)
        return Decision(new, actions)
    if status == ORDER_FINISHED:
        if facts.approved:
            new, actions = _finish(replace(facts, released=True, pending_intent=None), State.COMPLETED,
                                   "order finished", now)
            return Decision(new, actions + _closing(new, settings))
        new, actions = _finish(facts, State.MANUAL_REVIEW, "order_finished_without_approval", now)
        return Decision(new, actions)
    if status == ORDER_PAID:
        if facts.state == State.CHATTING:
            new, actions = _finish(facts, State.MANUAL_REVIEW, "paid_before_requisites", now)
            return Decision(new, actions)
        if facts.state == State.REQUISITES_SENT:
            return Decision(_enter(facts, State.PAID, now), (), "buyer marked paid")
        new, actions = _advance(facts)
        return Decision(new, actions, "buyer marked paid")
    return Decision(facts, (), f"order status {status} recorded")


def _closing(facts: DealFacts, settings: DealSettings) -> tuple[Action, ...]:
    if facts.order_id is None:
        return ()
    return (SendChat(facts.order_id, dialogue.closing_message(settings.invite_link), "closing"),)


def _on_approve_succeeded(facts: DealFacts, event: ApproveSucceeded, now: float, settings: DealSettings) -> Decision:
    if facts.pending_intent != APPROVE:
        return _ignored(facts, "no approve under way")
    if facts.terminal:
        return Decision(replace(facts, pending_intent=None, approved=True), (), "late approve outcome recorded")
    facts = replace(_enter(facts, State.APPROVED, now), approved=True, pending_intent=None, retries=0)
    facts = _with_deadline(facts, RETRY_TIMER, None)
    if facts.released:  # an operator's approve of a deal whose order Bybit already shows released
        new, actions = _finish(facts, State.COMPLETED, "approved; the order was already released", now)
        return Decision(new, actions, "payout approved")
    new, actions = _advance(facts)
    return Decision(new, actions, "payout approved")


def _on_approve_failed(facts: DealFacts, event: ApproveFailed, now: float, settings: DealSettings) -> Decision:
    if facts.pending_intent != APPROVE or facts.terminal:
        return _ignored(facts, "no approve under way")
    new, actions = _failure(facts, APPROVE, event.permanent, event.error, now, settings, State.MANUAL_REVIEW)
    return Decision(new, actions)


def _on_release_succeeded(facts: DealFacts, event: ReleaseSucceeded, now: float, settings: DealSettings) -> Decision:
    if facts.pending_intent != RELEASE:
        return _ignored(facts, "no release under way")
    if facts.terminal:
        return Decision(replace(facts, pending_intent=None, released=True), (), "late release outcome recorded")
    facts = replace(facts, released=True, pending_intent=None, retries=0,
                    order_status=ORDER_FINISHED)
    new, actions = _finish(facts, State.COMPLETED, "released", now)
    return Decision(new, actions + _closing(new, settings), "completed")


def _on_release_failed(facts: DealFacts, event: ReleaseFailed, now: float, settings: DealSettings) -> Decision:
    if facts.pending_intent != RELEASE or facts.terminal:
        return _ignored(facts, "no release under way")
    new, actions = _failure(facts, RELEASE, event.permanent, event.error, now, settings, State.MANUAL_REVIEW)
    return Decision(new, actions)


def _on_timer(facts: DealFacts, event: TimerFired, now: float, settings: DealSettings) -> Decision:
    due = facts.deadline(event.name)
    if facts.terminal or due is None:
        return _ignored(facts, f"timer {event.name} not armed")
    if now < due:  # fired early (clock skew): re-arm for the rest
        return Decision(facts, (StartTimer(event.name, due - now),), f"timer {event.name} not due yet")
    facts = _with_deadline(facts, event.name, None)
    if event.name == ANSWER_TIMER and facts.state == State.CHATTING:
        new, actions = _finish(facts, State.MANUAL_REVIEW, "answer_timeout: the buyer did not answer", now)
        return Decision(new, actions)
    if event.name == RECEIPT_TIMER and facts.state in (State.REQUISITES_SENT, State.PAID):
        new, actions = _finish(facts, State.MANUAL_REVIEW, "receipt_timeout: no receipt after the requisites", now)
        return Decision(new, actions)
    if event.name == STUCK_TIMER:
        idle = now - facts.entered_at
        if facts.awaiting is None and idle >= settings.stuck and facts.pending_intent in (APPROVE, RELEASE):
            return _ask_again(facts, idle, now, settings)
        if facts.awaiting is None and idle >= settings.stuck:
            new, actions = _finish(facts, State.MANUAL_REVIEW,
                                   f"stuck: no progress in {facts.state.value} for {int(idle)} s", now)
            return Decision(new, actions)
        # waiting for the operator is not "stuck"; otherwise check again when it could be
        wait = settings.stuck if facts.awaiting is not None else settings.stuck - idle
        new, actions = _arm(facts, STUCK_TIMER, wait, now)
        return Decision(new, actions, "not stuck")
    if event.name == RETRY_TIMER:
        new, actions = _resume(facts)
        return Decision(new, actions, "retry")
    return Decision(facts, (), f"timer {event.name} has nothing to do in {facts.state.value}")


def _ask_again(facts: DealFacts, idle: float, now: float, settings: DealSettings) -> Decision:
    """An approve or release is outstanding past the stuck limit. Ending the deal now would drop the step's
    outcome (the deal would read MANUAL_REVIEW while Bybit shows the USDT released) and could abandon a
    release that Gate's approval already made owed. Both steps read the platform before or after acting,
    so asking again is safe: a repeat that finds the step done reports success, never acts twice."""
    step_name = facts.pending_intent
    new, actions = _resume(replace(facts, pending_intent=None))
    if new.pending_intent != step_name:  # the state no longer leads to that step: nothing to repeat
        new, actions = replace(facts, pending_intent=step_name), ()
    new, timer = _arm(new, STUCK_TIMER, settings.stuck, now)
    warning = Notify("warning", f"deal {facts.payout_id}: {step_name} outstanding for {int(idle)} s in "
                                f"{facts.state.value}; asked again")
    return Decision(new, actions + timer + (warning,), f"{step_name} outstanding: asked again")


def _on_operator_confirmed(facts: DealFacts, event: OperatorConfirmed, now: float,
                           settings: DealSettings) -> Decision:
    if facts.terminal or facts.awaiting is None or facts.awaiting != event.step:
        return _ignored(facts, f"nothing awaits a confirmation of {event.step!r}")
    facts = replace(facts, awaiting=None, confirmed_steps=facts.confirmed_steps | {event.step})
    if event.step == ACCEPT_RECEIPT and facts.receipt is not None:
        facts = replace(facts, receipt=replace(facts.receipt, operator_accepted=True))
    new, actions = _resume(facts)
    return Decision(new, actions, f"operator confirmed {event.step}")


def _on_operator_rejected(facts: DealFacts, event: OperatorRejected, now: float, settings: DealSettings) -> Decision:
    if facts.terminal:
        return _ignored(facts, f"deal is {facts.state.value}")
    new, actions = _finish(facts, State.MANUAL_REVIEW, f"operator_rejected: {event.why}".rstrip(": "), now)
    return Decision(new, actions)


def _on_reconciled(facts: DealFacts, event: Reconciled, now: float, settings: DealSettings) -> Decision:
    from itrader.deal.reconcile import reconcile  # here: reconcile chains events through `step`

    return reconcile(facts, event.view, now, settings)


_HANDLERS: dict[type, Callable[[DealFacts, Any, float, DealSettings], Decision]] = {
    PayoutSeen: _on_payout_seen,
    PayoutTaken: _on_payout_taken,
    TakeFailed: _on_take_failed,
    AccountAssigned: _on_account_assigned,
    NoAccountFree: _on_no_account,
    AdCreated: _on_ad_created,
    AdFailed: _on_ad_failed,
    AdWithdrawn: _on_ad_withdrawn,
    OrderOpened: _on_order_opened,
    OrderStatusChanged: _on_order_status,
    BuyerMessage: _on_buyer_message,
    ReceiptChecked: _on_receipt,
    ApproveSucceeded: _on_approve_succeeded,
    ApproveFailed: _on_approve_failed,
    ReleaseSucceeded: _on_release_succeeded,
    ReleaseFailed: _on_release_failed,
    TimerFired: _on_timer,
    OperatorConfirmed: _on_operator_confirmed,
    OperatorRejected: _on_operator_rejected,
    Reconciled: _on_reconciled,
    OperatorResolved: on_operator_resolved,
    PayoutReturnRead: on_payout_return_read,
}


def step(facts: DealFacts, event: Event, now: float, settings: DealSettings = DEFAULT_SETTINGS) -> Decision:
    """Apply one event. Never raises: an unknown event is ignored, an internal error parks the deal."""
    handler = _HANDLERS.get(type(event))
    if handler is None:
        return _ignored(facts, f"unknown event {type(event).__name__}")
    try:
        decision = handler(facts, event, now, settings)
    except Exception as exc:  # a bug or absurd input must not become a crash loop, nor a money step
        if facts.terminal:
            return _ignored(facts, f"error while ignoring {type(event).__name__}: {type(exc).__name__}")
        new, actions = _finish(facts, State.MANUAL_REVIEW, f"internal_error on {type(event).__name__}: "
                                                           f"{type(exc).__name__}: {exc}", now)
        return Decision(replace(new, updated_at=now), actions, "internal error")
    if decision.facts is facts:
        return decision
    return replace(decision, facts=replace(decision.facts, updated_at=now))
