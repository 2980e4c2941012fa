"""What a deal asks for (the actions), the Decision that carries them, and the moves handlers share."""
from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from itrader.deal.facts import NEEDS_OPERATOR, DealFacts, State


@dataclass(frozen=True)
class TakePayout:
    payout_id: str


@dataclass(frozen=True)
class RequestAccount:
    amount: Decimal


@dataclass(frozen=True)
class CreateAd:
    account: str
    method: str
    price: Decimal
    quantity: Decimal
    amount: Decimal  # min = max


@dataclass(frozen=True)
class SendChat:
    order_id: str
    text: str
    purpose: str = "reply"  # "greeting", "reply" (the buyer waits for it) or "closing": sets its urgency


@dataclass(frozen=True)
class ApprovePayout:
    payout_id: str
    receipt_id: str


@dataclass(frozen=True)
class ReturnPayout:
    """Give a taken payout back to Gate (/cancel); answered by a PayoutReturnRead."""

    payout_id: str


@dataclass(frozen=True)
class ReleaseOrder:
    account: str
    order_id: str


@dataclass(frozen=True)
class CancelAd:
    account: str
    ad_id: str
    once: bool = False  # the account is going away: one try, no resends


@dataclass(frozen=True)
class StartTimer:
    name: str
    seconds: float  # (re)arm: a timer of the same name replaces the old one


@dataclass(frozen=True)
class AwaitOperator:
    step: str
    why: str


@dataclass(frozen=True)
class Notify:
    level: str  # "info" | "warning" | "error"
    text: str


Action = Any  # one of the action classes above
MONEY_ACTIONS = (TakePayout, CreateAd, ApprovePayout, ReleaseOrder)


@dataclass(frozen=True)
class Decision:
    facts: DealFacts
    actions: tuple[Action, ...] = ()
    reason: str | None = None

    @property
    def ignored(self) -> bool:
        return self.reason is not None and self.reason.startswith("ignored")


# --- moves the handlers share ------------------------------------------------

Out = tuple[DealFacts, tuple[Action, ...]]


def _ignored(facts: DealFacts, why: str) -> Decision:
    return Decision(facts, (), f"ignored: {why}")


def _with_deadline(facts: DealFacts, name: str, due: float | None) -> DealFacts:
    timers = dict(facts.deadlines)
    if due is None:
        timers.pop(name, None)
    else:
        timers[name] = due
    return replace(facts, deadlines=tuple(sorted(timers.items())))


def _arm(facts: DealFacts, name: str, seconds: float, now: float) -> Out:
    return _with_deadline(facts, name, now + seconds), (StartTimer(name, seconds),)


def _enter(facts: DealFacts, state: State, now: float) -> DealFacts:
    """Change state; a prompt to the operator belonged to the old state."""
    return facts if facts.state == state else replace(facts, state=state, entered_at=now, awaiting=None)


def _finish(facts: DealFacts, state: State, reason: str, now: float) -> Out:
    """Enter a terminal state: no timers, no operator prompt; take the ad down; tell the operator."""
    facts = replace(_enter(facts, state, now), reason=reason, awaiting=None, deadlines=())
    actions: list[Action] = []
    if facts.ad_id and facts.account and not facts.ad_closed:
        facts = replace(facts, ad_closed=True)
        actions.append(CancelAd(facts.account, facts.ad_id))
    if state in NEEDS_OPERATOR:
        actions.append(Notify("error" if state == State.ERROR else "warning",
                              f"deal {facts.payout_id}: {state.value}: {reason}"))
    return facts, tuple(actions)
