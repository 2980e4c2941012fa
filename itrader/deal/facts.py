"""The deal's facts: states, step and status constants, settings, and the facts record the store keeps."""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any, Mapping

from itrader import dialogue
from itrader.dialogue import DialogueState


class State(str, Enum):
    NEW = "NEW"  # payout seen in Gate status 4
    ACCEPTED = "ACCEPTED"  # taken (Gate 5), amount known; account/ad being arranged
    WAITING_ACCOUNT = "WAITING_ACCOUNT"  # no Bybit account has a free ad slot
    AD_ONLINE = "AD_ONLINE"  # ad created, waiting for a buyer
    CHATTING = "CHATTING"  # order (10) linked, questions sent
    REQUISITES_SENT = "REQUISITES_SENT"  # buyer agreed, payment details sent
    PAID = "PAID"  # buyer pressed "paid" (order 20)
    RECEIPT_OK = "RECEIPT_OK"  # receipt verified; approve pending
    APPROVED = "APPROVED"  # Gate approved; release pending (ours: crash safety)
    COMPLETED = "COMPLETED"
    REJECTED_BUYER = "REJECTED_BUYER"
    CANCELLED = "CANCELLED"
    DISPUTE = "DISPUTE"
    MANUAL_REVIEW = "MANUAL_REVIEW"
    ERROR = "ERROR"
    BLACKLISTED = "BLACKLISTED"


TERMINAL = frozenset(
    {
        State.COMPLETED, State.REJECTED_BUYER, State.CANCELLED, State.DISPUTE, State.MANUAL_REVIEW, State.ERROR,
        State.BLACKLISTED,
    }
)
NEEDS_OPERATOR = frozenset({State.DISPUTE, State.MANUAL_REVIEW, State.ERROR})

# Money steps: external calls that must happen at most once.
TAKE = "take"
CREATE_AD = "create_ad"
APPROVE = "approve"
RELEASE = "release"
MONEY_STEPS = (TAKE, CREATE_AD, APPROVE, RELEASE)
# Only on an operator's cancel with return_payout (itrader.deal.resolve): Gate's /cancel gives the taken
# payout back. No money moves, but it is still a write: intent first, at most once, read back after.
RETURN_PAYOUT = "return_payout"
# Not a call, but only an operator may do it: accept a receipt that came through the chat.
ACCEPT_RECEIPT = "accept_receipt"
OPERATOR_STEPS = MONEY_STEPS + (ACCEPT_RECEIPT,)

# Bybit order statuses (bybit-p2p-api.md §5)
ORDER_WAITING_PAYMENT = 10
ORDER_PAID = 20
ORDER_APPEAL = 30
ORDER_CANCELLED = 40
ORDER_FINISHED = 50
ORDER_EXCEPTION_CANCELLED = 80
ORDER_DISPUTE = frozenset({30, 100, 110})
# What each dispute status asks of the operator (Bybit P2P docs, order status list).
DISPUTE_MEANINGS = {
    30: "appealing: Bybit support decides; answer the appeal in the Bybit app",
    100: "objectioning: an objection to the appeal's result is under review",
    110: "waiting for an objection: raise one in the Bybit app before the time runs out, or the result stands",
}
ORDER_CANCELLED_ANY = frozenset({ORDER_CANCELLED, ORDER_EXCEPTION_CANCELLED})

# Gate payout statuses (gate-api.md §8)
PAYOUT_NEW = 4
PAYOUT_IN_WORK = 5
PAYOUT_APPROVED = frozenset({6, 7})

# Timer names
ANSWER_TIMER = "answer"
RECEIPT_TIMER = "receipt"
STUCK_TIMER = "stuck"
RETRY_TIMER = "retry"

EMAIL = "email"
CHAT = "chat"


# --- settings and facts -----------------------------------------------------


@dataclass(frozen=True)
class DealSettings:
    answer_timeout: float = 600.0  # buyer silent after our questions
    receipt_after_requisites: float = 600.0  # no receipt this long after the requisites
    stuck: float = 1800.0  # no state change this long
    retry_delay: float = 30.0  # after a transient failure of a money step
    # No Bybit account free: ask again this late. The allocator hands a freed slot to waiting deals
    # itself; this is only the fallback should that answer be lost.
    account_retry: float = 60.0
    max_retries: int = 3  # transient failures of one step before MANUAL_REVIEW/ERROR
    max_repeats: int = dialogue.DEFAULT_MAX_REPEATS
    receipt_email: str = ""
    invite_link: str | None = None
    min_amount: Decimal | None = None
    max_amount: Decimal | None = None

    @classmethod
    def from_config(cls, config: Any) -> "DealSettings":
        """From an itrader.config.Config (read by attribute; this module imports no config)."""
        return cls(
            answer_timeout=float(config.timeouts.answer),
            receipt_after_requisites=float(config.timeouts.receipt_after_requisites),
            stuck=float(config.timeouts.stuck),
            retry_delay=float(config.timeouts.retry_delay),
            receipt_email=config.email.address,
            min_amount=config.gate.min_order_amount,
            max_amount=config.gate.max_order_amount,
        )


DEFAULT_SETTINGS = DealSettings()


@dataclass(frozen=True)
class Receipt:
    receipt_id: str
    channel: str  # EMAIL (trusted: DKIM-verified bank mail) or CHAT (operator must accept)
    verified: bool
    reasons: tuple[str, ...] = ()
    operator_accepted: bool = False

    @property
    def trusted(self) -> bool:
        return self.verified and bool(self.receipt_id) and (self.channel == EMAIL or self.operator_accepted)


@dataclass(frozen=True)
class DealFacts:
    payout_id: str
    state: State = State.NEW
    mode: str = "manual"  # "manual": money steps wait for OperatorConfirmed; "auto"
    # the payout
    amount: Decimal | None = None  # amount["643"], RUB the recipient must receive
    wallet: str | None = None  # recipient phone or card
    bank: str | None = None  # Gate bank slug
    bank_label: str | None = None  # Gate's human label, fallback for unknown slugs
    payout_method: str | None = None  # Gate method: "sbp" or "card"
    # the ad and order
    account: str | None = None  # Bybit account hosting the ad
    method: str | None = None  # ad payment method: "sbp" or "tinkoff"
    price: Decimal | None = None
    quantity: Decimal | None = None
    ad_id: str | None = None
    ad_closed: bool = False  # CancelAd was issued
    order_id: str | None = None
    order_status: int | None = None
    buyer_name: str | None = None  # the order's buyerRealName (verified by Bybit): who must have paid
    dialogue: DialogueState = DialogueState()
    requisites_sent_at: float | None = None
    receipt: Receipt | None = None
    approved: bool = False  # Gate approve succeeded
    released: bool = False  # Bybit release succeeded
    # control
    confirmed_steps: frozenset[str] = frozenset()
    awaiting: str | None = None  # step waiting for the operator
    pending_intent: str | None = None  # money step called, outcome not yet known
    retries: int = 0  # transient failures of the current step
    deadlines: tuple[tuple[str, float], ...] = ()  # (timer, due time)
    created_at: float = 0.0
    entered_at: float = 0.0  # when the current state was entered (stuck rule)
    updated_at: float = 0.0
    reason: str | None = None  # why the deal stopped, or the last notable thing
    resolution: str | None = None  # the operator's resolution taken on this deal (itrader.deal.resolve)

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL

    def deadline(self, name: str) -> float | None:
        return dict(self.deadlines).get(name)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly (Decimals as strings) for the store; `from_dict` reverses it."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Decimal):
                value = str(value)
            elif isinstance(value, State):
                value = value.value
            elif isinstance(value, frozenset):
                value = sorted(value)
            elif isinstance(value, DialogueState):
                value = asdict(value)
            elif isinstance(value, Receipt):
                value = {"receipt_id": value.receipt_id, "channel": value.channel, "verified": value.verified,
                         "reasons": list(value.reasons), "operator_accepted": value.operator_accepted}
            elif f.name == "deadlines":
                value = dict(value)
            out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "DealFacts":
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        for name in ("amount", "price", "quantity"):
            if values.get(name) is not None:
                values[name] = Decimal(str(values[name]))
        values["state"] = State(values.get("state", State.NEW.value))
        values["confirmed_steps"] = frozenset(values.get("confirmed_steps") or ())
        values["deadlines"] = tuple(sorted((str(k), float(v)) for k, v in (values.get("deadlines") or {}).items()))
        if isinstance(values.get("dialogue"), Mapping):
            values["dialogue"] = DialogueState(**values["dialogue"])
        if isinstance(values.get("receipt"), Mapping):
            r = dict(values["receipt"])
            r["reasons"] = tuple(r.get("reasons") or ())
            values["receipt"] = Receipt(**r)
        return cls(**values)


def new_deal(
    payout_id: str,
    now: float,
    mode: str = "manual",
    *,
    wallet: str | None = None,
    bank: str | None = None,
    bank_label: str | None = None,
    payout_method: str | None = None,
) -> DealFacts:
    """Facts for a payout just seen in Gate status 4; feed PayoutSeen next."""
    return DealFacts(
        payout_id=str(payout_id), mode="auto" if mode == "auto" else "manual", wallet=wallet, bank=bank,
        bank_label=bank_label, payout_method=payout_method, created_at=now, entered_at=now, updated_at=now,
    )


# Deals that ended without money: a bank receipt that still fits one of them was paid after the end.
PAID_AFTER_ENDING = frozenset({State.CANCELLED, State.REJECTED_BUYER})


def dispute_reason(order_id: str | None, status: int, appeal_seconds: int | None = None) -> str:
    """The DISPUTE reason an operator reads: which order, what the status means, how long is left."""
    meaning = DISPUTE_MEANINGS.get(status, "in appeal")
    left = f"; {appeal_seconds} s left (appealLastSeconds)" if appeal_seconds else ""
    return f"order {order_id} in appeal (status {status}: {meaning}){left}; never released automatically"


def _to_decimal(value: Any) -> Decimal | None:
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError, TypeError):
        return None
    return number if number.is_finite() else None


def _to_int(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None
