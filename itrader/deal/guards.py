"""The money guards: when an approve or a release may happen, and how a money step starts and fails.

A money step asks the operator first in manual mode, records its intent before the call, happens at most
once, and a transient failure retries a bounded number of times before the deal stops.
"""
from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from itrader.deal.actions import (
    Action, ApprovePayout, AwaitOperator, CreateAd, Out, ReleaseOrder, RequestAccount, TakePayout, _arm, _finish,
)
from itrader.deal.facts import (
    ACCEPT_RECEIPT, APPROVE, CREATE_AD, EMAIL, ORDER_PAID, RELEASE, RETRY_TIMER, TAKE, DealFacts, DealSettings, State,
)


def approve_allowed(facts: DealFacts) -> bool:
    """Gate approve: trusted verified receipt, order paid (20), not approved yet."""
    return (
        facts.state == State.RECEIPT_OK
        and facts.receipt is not None
        and facts.receipt.trusted
        and facts.order_id is not None
        and facts.order_status == ORDER_PAID
        and not facts.approved
    )


def release_allowed(facts: DealFacts) -> bool:
    """Bybit release: Gate approve succeeded, trusted verified receipt, order paid (20), not released."""
    return (
        facts.state == State.APPROVED
        and facts.approved
        and facts.receipt is not None
        and facts.receipt.trusted
        and facts.order_id is not None
        and facts.account is not None
        and facts.order_status == ORDER_PAID
        and not facts.released
    )


def _begin(facts: DealFacts, step: str, action: Action, why: str) -> Out:
    """Start a money step: ask the operator first in manual mode, else record the intent and act."""
    if facts.pending_intent is not None:
        return facts, ()
    if facts.mode != "auto" and step not in facts.confirmed_steps:
        if facts.awaiting == step:
            return facts, ()
        return replace(facts, awaiting=step), (AwaitOperator(step, why),)
    return replace(facts, pending_intent=step, awaiting=None), (action,)


def _advance(facts: DealFacts) -> Out:
    """The next move after a receipt, an order status, a confirmation or a retry (RECEIPT_OK/APPROVED)."""
    if facts.state == State.RECEIPT_OK and facts.receipt is not None:
        receipt = facts.receipt
        if receipt.verified and receipt.channel != EMAIL and not receipt.operator_accepted:
            if facts.awaiting == ACCEPT_RECEIPT:
                return facts, ()
            return replace(facts, awaiting=ACCEPT_RECEIPT), (
                AwaitOperator(ACCEPT_RECEIPT, f"receipt {receipt.receipt_id} came through the chat, not the bank's "
                                              "e-mail: check it and confirm"),
            )
        if approve_allowed(facts):
            return _begin(facts, APPROVE, ApprovePayout(facts.payout_id, receipt.receipt_id),
                          f"approve payout {facts.payout_id} ({facts.amount} RUB) with receipt {receipt.receipt_id}")
    if facts.state == State.APPROVED and release_allowed(facts):
        assert facts.account is not None and facts.order_id is not None
        return _begin(facts, RELEASE, ReleaseOrder(facts.account, facts.order_id),
                      f"release order {facts.order_id} ({facts.quantity} USDT) on {facts.account}")
    return facts, ()


def _resume(facts: DealFacts) -> Out:
    """Re-issue whatever the current state is waiting to do (after a confirm, a retry or a restart)."""
    if facts.terminal or facts.pending_intent is not None:
        return facts, ()
    if facts.state == State.NEW:
        return _begin(facts, TAKE, TakePayout(facts.payout_id), f"take payout {facts.payout_id}")
    if facts.state in (State.ACCEPTED, State.WAITING_ACCOUNT) and facts.account is None:
        return facts, (RequestAccount(facts.amount),) if facts.amount is not None else ()
    if facts.state == State.ACCEPTED and facts.ad_id is None:
        return _begin(facts, CREATE_AD, _create_ad(facts), f"create a {facts.method} ad for {facts.amount} RUB "
                                                            f"at {facts.price} on {facts.account}")
    return _advance(facts)


def _create_ad(facts: DealFacts) -> CreateAd:
    return CreateAd(facts.account or "", facts.method or "", facts.price or Decimal(0),
                    facts.quantity or Decimal(0), facts.amount or Decimal(0))


def _failure(facts: DealFacts, step: str, permanent: bool, error: str, now: float, settings: DealSettings,
             give_up: State) -> Out:
    """A money step failed: certain refusal -> give_up state; transient -> retry later, a bounded number of times."""
    facts = replace(facts, pending_intent=None)
    if permanent:
        return _finish(facts, give_up, f"{step}_failed: {error}".rstrip(": "), now)
    if facts.retries + 1 > settings.max_retries:
        return _finish(facts, give_up, f"{step}_failed after {facts.retries + 1} attempts: {error}".rstrip(": "), now)
    return _arm(replace(facts, retries=facts.retries + 1), RETRY_TIMER, settings.retry_delay, now)
