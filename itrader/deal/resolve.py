"""The operator's resolution of a deal in MANUAL_REVIEW or DISPUTE — pure.

`parse_resolution` checks what the operator sent (a bad field raises BadField naming it); the Deal actor
then reads Gate and Bybit back and `judge` decides, from that read-back alone, whether the action may
happen now; `OperatorResolved` carries an allowed one into `step`, whose handler here turns it into facts
and actions. Approve-and-release puts the deal back on the automatic money path (RECEIPT_OK/APPROVED)
with the operator's acceptance of the receipt and confirmation of both steps, so the intent-before-call
and read-back rules of that path hold for it too. Cancel with return_payout records its intent, takes the
ad down and calls Gate's /cancel; the deal ends CANCELLED only when Gate's read-back shows the payout no
longer in work (`on_payout_return_read`), and never releases anything. Resolved-outside never writes to the
platforms.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, Mapping

from itrader.deal.actions import (
    Action, ApprovePayout, CancelAd, Decision, Notify, ReturnPayout, _arm, _enter, _finish, _ignored, _with_deadline,
)
from itrader.deal.events import PayoutReturnRead, PlatformView
from itrader.deal.facts import (
    APPROVE, CHAT, ORDER_CANCELLED_ANY, ORDER_DISPUTE, ORDER_FINISHED, ORDER_PAID, ORDER_WAITING_PAYMENT,
    PAYOUT_APPROVED, PAYOUT_IN_WORK, RECEIPT_TIMER, RELEASE, RETURN_PAYOUT, DealFacts, DealSettings, Receipt, State,
    _to_int,
)
from itrader.deal.guards import _advance, _begin

APPROVE_RELEASE = "approve_release"
CANCEL = "cancel"
RESOLVED_OUTSIDE = "resolved_outside"
RECHECK_RECEIPT = "recheck_receipt"
ACTIONS = (APPROVE_RELEASE, CANCEL, RESOLVED_OUTSIDE, RECHECK_RECEIPT)
# Why the operator acts, as a bounded code beside the free text.
REASON_KINDS = ("evidence_checked", "buyer_confirmed", "platform_support", "fixed_outside", "mailbox_fixed",
                "suspected_fraud", "buyer_gone", "other")
REVIEWABLE = frozenset({State.MANUAL_REVIEW, State.DISPUTE})
MAX_REASON_CHARS = 2000
MAX_OPERATOR_CHARS = 100
# Free text that goes to the journal and the log: something visible, no control characters or line breaks
# (which could forge a log line). The OpenAPI description states the same patterns.
_NOT_TEXT = "\\x00-\\x1f\\x7f-\\x9f\\u2028\\u2029"
TEXT_PATTERN = f"^[^{_NOT_TEXT}]*[^\\s{_NOT_TEXT}][^{_NOT_TEXT}]*$"
AMOUNT_PATTERN = r"^[1-9][0-9]{0,14}(\.[0-9]{1,4})?$"

# What `judge` says: the action may go ahead, it already happened, or it is refused.
GO, DONE, BAD_INPUT, CONFLICT = "go", "done", "bad_input", "conflict"


class BadField(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True)
class Resolution:
    action: str
    reason: str
    reason_kind: str
    operator: str
    amount: Decimal | None = None  # approve_release: the payout's RUB amount, retyped
    return_payout: bool = False  # cancel: give the payout back to Gate instead of leaving it

    def note(self) -> dict[str, Any]:
        """What the journal keeps of the request (who, what, why)."""
        return {"action": self.action, "reason": self.reason, "reason_kind": self.reason_kind,
                "operator": self.operator, "amount": None if self.amount is None else str(self.amount),
                "return_payout": self.return_payout}


@dataclass(frozen=True)
class Verdict:
    outcome: str  # GO, DONE, BAD_INPUT or CONFLICT
    message: str
    field: str | None = None  # BAD_INPUT: which field


@dataclass(frozen=True)
class OperatorResolved:
    """An allowed resolution (judge said GO), with the read-back it was judged on."""

    resolution: Resolution
    view: PlatformView
    receipt_id: str | None = None  # approve_release: the receipt claimed for this deal, sent with the approve


def _text(body: Mapping[str, Any], name: str, limit: int, required: bool = True) -> str:
    value = body.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or len(value) > limit or not re.fullmatch(TEXT_PATTERN, value):
        raise BadField(name, f"{'required: ' if required else ''}a string of at most {limit} characters with "
                             "something visible in it, and no control characters or line breaks")
    return value.strip()


def parse_amount(raw: Any) -> Decimal:
    """The retyped amount: a positive plain decimal number as text (no sign, exponent or leading zero)."""
    if not isinstance(raw, str):
        raise BadField("amount", "required for approve_release: the payout's RUB amount, as a string")
    if not re.fullmatch(AMOUNT_PATTERN, raw):
        raise BadField("amount", "must be a positive plain decimal number such as 1500 or 1500.50")
    return Decimal(raw)


def parse_resolution(body: Any, operator: str) -> Resolution:
    """The operator's request as JSON: {action, reason, reason_kind, amount?, return_payout?}."""
    if not isinstance(body, Mapping):
        raise BadField("body", "must be a JSON object")
    known = {"action", "reason", "reason_kind", "amount", "return_payout", "operator"}
    unknown = sorted(str(k)[:40] for k in body if k not in known)
    if unknown:
        raise BadField(unknown[0], f"not a field of a resolution (it takes: {', '.join(sorted(known))})")
    action = body.get("action")
    if action not in ACTIONS:
        raise BadField("action", f"must be one of {', '.join(ACTIONS)}")
    reason = _text(body, "reason", MAX_REASON_CHARS)
    kind = body.get("reason_kind")
    if kind not in REASON_KINDS:
        raise BadField("reason_kind", f"must be one of {', '.join(REASON_KINDS)}")
    amount = parse_amount(body.get("amount")) if action == APPROVE_RELEASE else None
    if action != APPROVE_RELEASE and body.get("amount") is not None:
        raise BadField("amount", "only approve_release takes an amount")
    flag = body.get("return_payout", False)
    if not isinstance(flag, bool):
        raise BadField("return_payout", "must be true or false")
    if flag and action != CANCEL:
        raise BadField("return_payout", "only cancel takes return_payout")
    who = _text(body, "operator", MAX_OPERATOR_CHARS, required=False) or operator
    return Resolution(action, reason, kind, who, amount, flag)


# --- judging the read-back -------------------------------------------------------------------------------


def _conflict(message: str) -> Verdict:
    return Verdict(CONFLICT, message)


def judge(facts: DealFacts, resolution: Resolution, view: PlatformView, receipt_id: str | None = None) -> Verdict:
    """May `resolution` happen now, given the facts and what Gate and Bybit show right now?"""
    if facts.resolution == resolution.action and facts.state not in REVIEWABLE:
        return Verdict(DONE, f"{resolution.action} already done or under way (deal is {facts.state.value})")
    if facts.state not in REVIEWABLE:
        return _conflict(f"deal is {facts.state.value}, not in review (MANUAL_REVIEW or DISPUTE)")
    payout, order = _to_int(view.payout_status), _to_int(view.order_status)
    if payout is None:
        return _conflict("Gate could not be read back; nothing was done")
    if facts.order_id is not None and order is None:
        return _conflict("Bybit could not be read back; nothing was done")
    if facts.pending_intent is not None and not _settled(facts.pending_intent, payout, order):
        return _conflict(f"the outcome of {facts.pending_intent} is still unknown on the platforms (Gate payout "
                         f"status {payout}, Bybit order status {order}); try again later")
    return {APPROVE_RELEASE: _judge_release, CANCEL: _judge_cancel, RESOLVED_OUTSIDE: _judge_outside,
            RECHECK_RECEIPT: _judge_recheck}[resolution.action](facts, resolution, view, payout, order, receipt_id)


def _settled(intent: str, payout: int, order: int | None) -> bool:
    """Whether the platforms now show a step's outcome either way: an approve by the payout in work or
    approved, a release by the order paid, released or cancelled (a late call of it is then refused
    by the platform, or finds it done)."""
    if intent == APPROVE:
        return payout == PAYOUT_IN_WORK or payout in PAYOUT_APPROVED
    if intent == RELEASE:
        return order in (ORDER_PAID, ORDER_FINISHED) or order in ORDER_CANCELLED_ANY
    return False


def _judge_release(facts: DealFacts, resolution: Resolution, view: PlatformView, payout: int, order: int | None,
                   receipt_id: str | None) -> Verdict:
    if facts.amount is None or resolution.amount != facts.amount:
        return Verdict(BAD_INPUT, "does not match the payout's RUB amount; nothing was done", "amount")
    if view.payout_amount is not None and Decimal(str(view.payout_amount)) != facts.amount:
        return _conflict(f"Gate shows payout amount {view.payout_amount}, not the deal's; nothing was done")
    if facts.order_id is None or order is None:
        return _conflict("the deal has no Bybit order to release")
    if order in ORDER_DISPUTE:
        return _conflict(f"order {facts.order_id} is in appeal on Bybit (status {order}); it cannot be released "
                         "from here until Bybit shows the appeal ended")
    if order in ORDER_CANCELLED_ANY:
        return _conflict(f"order {facts.order_id} is cancelled on Bybit (status {order}); nothing to release")
    if order == ORDER_WAITING_PAYMENT:
        return _conflict(f"order {facts.order_id} is not marked paid on Bybit (status 10)")
    if order not in (ORDER_PAID, ORDER_FINISHED):
        return _conflict(f"order {facts.order_id} has status {order} on Bybit")
    if payout not in PAYOUT_APPROVED and payout != PAYOUT_IN_WORK:
        return _conflict(f"payout {facts.payout_id} is no longer ours to approve (Gate status {payout})")
    if payout in PAYOUT_APPROVED and order == ORDER_FINISHED:
        return Verdict(GO, "already approved and released on the platforms: recorded as COMPLETED")
    if not receipt_id and (payout == PAYOUT_IN_WORK or facts.receipt is None):
        return _conflict("no receipt file is on record for this deal; Gate's approve needs one")
    return Verdict(GO, "approving and releasing")


def _judge_cancel(facts: DealFacts, resolution: Resolution, view: PlatformView, payout: int, order: int | None,
                  receipt_id: str | None) -> Verdict:
    if payout in PAYOUT_APPROVED:
        return _conflict(f"payout {facts.payout_id} is approved on Gate (status {payout}): money moved; "
                         "use resolved_outside")
    if order is not None and order not in ORDER_CANCELLED_ANY:
        return _conflict(f"order {facts.order_id} is open on Bybit (status {order}); a seller cannot cancel it — "
                         "the buyer or Bybit support must")
    if resolution.return_payout and payout != PAYOUT_IN_WORK:
        return _conflict(f"payout {facts.payout_id} is not in work on Gate (status {payout}); nothing to return")
    return Verdict(GO, "cancelling")


def _judge_outside(facts: DealFacts, resolution: Resolution, view: PlatformView, payout: int, order: int | None,
                   receipt_id: str | None) -> Verdict:
    state = outside_end_state(payout, order)
    if state is None:
        return _conflict(f"the platforms show no end yet (Gate payout status {payout}, Bybit order status "
                         f"{order}); nothing recorded")
    return Verdict(GO, f"recorded as {state.value}")


def outside_end_state(payout: int, order: int | None) -> State | None:
    """The deal's real end as the platforms show it, or None when they show none yet."""
    if payout in PAYOUT_APPROVED and order == ORDER_FINISHED:
        return State.COMPLETED
    if payout not in PAYOUT_APPROVED and (order is None or order in ORDER_CANCELLED_ANY):
        return State.CANCELLED
    return None


def _judge_recheck(facts: DealFacts, resolution: Resolution, view: PlatformView, payout: int, order: int | None,
                   receipt_id: str | None) -> Verdict:
    if facts.requisites_sent_at is None:
        return _conflict("no requisites were sent in this deal; there is no receipt to check")
    if payout != PAYOUT_IN_WORK:
        return _conflict(f"payout {facts.payout_id} is not in work on Gate (status {payout})")
    if order != ORDER_PAID:
        return _conflict(f"order {facts.order_id} is not paid and open on Bybit (status {order})")
    return Verdict(GO, "checking the receipts again")


# --- the handler ---------------------------------------------------------------------------------------


def on_operator_resolved(facts: DealFacts, event: OperatorResolved, now: float, settings: DealSettings) -> Decision:
    res, view = event.resolution, event.view
    verdict = judge(facts, res, view, event.receipt_id)
    if verdict.outcome != GO:
        return _ignored(facts, verdict.message)
    why = f"operator {res.operator} {res.action} ({res.reason_kind}): {res.reason}"
    payout, order = _to_int(view.payout_status), _to_int(view.order_status)
    # A step left open when the deal stopped is settled by this read-back (judge checked it is).
    facts = replace(facts, resolution=res.action, deadlines=(), awaiting=None, retries=0, pending_intent=None,
                    approved=facts.approved or payout in PAYOUT_APPROVED,
                    released=facts.released or order == ORDER_FINISHED)
    if res.action == RESOLVED_OUTSIDE:
        state = outside_end_state(payout, order)
        done = state == State.COMPLETED
        facts = replace(facts, approved=facts.approved or done, released=facts.released or done, order_status=order)
        new, actions = _finish(facts, state, why, now)
        return Decision(new, actions, f"resolved outside: {state.value}")
    if res.action == CANCEL and res.return_payout:
        # Stays in review until Gate shows where the payout went; the ad comes down first.
        new, actions = _take_ad_down(replace(facts, order_status=order, reason=why, pending_intent=RETURN_PAYOUT),
                                     view, ())
        return Decision(new, actions + (ReturnPayout(facts.payout_id),), f"returning payout {facts.payout_id} to Gate")
    if res.action == CANCEL:
        new, actions = _finish(replace(facts, order_status=order), State.CANCELLED, why, now)
        new, actions = _take_ad_down(new, view, actions)
        return Decision(new, actions, "cancelled by the operator")
    if res.action == RECHECK_RECEIPT:
        new = replace(_enter(facts, State.PAID, now), order_status=order, receipt=None, reason=why)
        new, timer = _arm(new, RECEIPT_TIMER, settings.receipt_after_requisites, now)
        return Decision(new, timer, "back to waiting for a receipt")
    return _approve_and_release(facts, res, event.receipt_id, payout, order, why, now)


def _take_ad_down(facts: DealFacts, view: PlatformView, actions: tuple[Action, ...]) -> tuple[DealFacts,
                                                                                             tuple[Action, ...]]:
    """The ad the read-back shows online comes down (once)."""
    ad_id = view.ad_id or facts.ad_id
    if view.ad_online and not facts.ad_closed and facts.account and ad_id:
        return replace(facts, ad_closed=True), actions + (CancelAd(facts.account, ad_id),)
    return facts, actions


def on_payout_return_read(facts: DealFacts, event: PayoutReturnRead, now: float, settings: DealSettings) -> Decision:
    """Gate's read-back after the return: no longer in work (and not approved) ends the deal CANCELLED with
    the status Gate shows; anything else leaves it in review, the operator told, free to try again."""
    if facts.pending_intent != RETURN_PAYOUT:
        return _ignored(facts, "no return of the payout is under way")
    status = _to_int(event.status)
    facts = replace(facts, pending_intent=None)
    if status is not None and status != PAYOUT_IN_WORK and status not in PAYOUT_APPROVED:
        why = f"{facts.reason}; payout {facts.payout_id} returned to Gate (status {status})"
        new, actions = _finish(facts, State.CANCELLED, why, now)
        return Decision(new, actions, f"payout returned to Gate (status {status})")
    shown = "could not be read back" if status is None else f"shows status {status}"
    why = (f"return of payout {facts.payout_id} not done: Gate {shown}" + (f" ({event.error})" if event.error else "")
           + "; the deal stays in review")
    new = replace(facts, resolution=None, reason=why)
    return Decision(new, (Notify("warning", f"deal {facts.payout_id}: {why}"),), why)


def _approve_and_release(facts: DealFacts, res: Resolution, receipt_id: str | None, payout: int, order: int,
                         why: str, now: float) -> Decision:
    approved = payout in PAYOUT_APPROVED
    released = order == ORDER_FINISHED
    receipt = facts.receipt
    if receipt_id:
        receipt = Receipt(str(receipt_id), receipt.channel if receipt else CHAT, True,
                          receipt.reasons if receipt else (), operator_accepted=True)
    elif receipt is not None:
        receipt = replace(receipt, verified=True, operator_accepted=True)
    facts = replace(facts, receipt=receipt, order_status=order, reason=why, approved=facts.approved or approved,
                    released=facts.released or released, confirmed_steps=facts.confirmed_steps | {APPROVE, RELEASE})
    if approved and released:
        new, actions = _finish(facts, State.COMPLETED, why, now)
        return Decision(new, actions, "already approved and released: completed")
    state = State.APPROVED if approved else State.RECEIPT_OK
    facts = _with_deadline(_enter(facts, state, now), RECEIPT_TIMER, None)
    if released and facts.receipt is not None:  # released by hand: only Gate's approve is left (the guard's
        # order-paid rule is for a release still to come)
        new, actions = _begin(facts, APPROVE, ApprovePayout(facts.payout_id, facts.receipt.receipt_id),
                              f"approve payout {facts.payout_id}: the order was released by hand")
        return Decision(new, actions, "operator approve_release: approve next (order already released)")
    new, actions = _advance(facts)
    return Decision(new, actions, f"operator approve_release: {'release' if approved else 'approve'} next")
