"""The deal state machine — pure: (facts, event, now, settings) -> Decision(facts, actions, reason).

One deal links one Gate payout to one Bybit sell ad/order (order-flow.md §3, DESIGN §4, §5).
The Deal actor persists `Decision.facts` *before* performing `Decision.actions`, and feeds each
outcome back as an event. A money step's intent is therefore on disk before the call
(`facts.pending_intent`); `reconcile` decides after a restart whether it happened.

Rules that make this the product:
* ApprovePayout only with a verified receipt from the trusted channel (e-mail; a chat receipt
  needs the operator), only while the Bybit order is in status 20, only once.
* ReleaseOrder only after ApproveSucceeded, with the order in status 20, only once.
* A timeout leads to MANUAL_REVIEW, never to a money step.
* Manual mode: every money step (take, create ad, approve, release) first asks the operator.
* An event that does not apply is ignored: same facts, no actions, a reason saying why.
  Nothing here raises on bad input; an unexpected error parks the deal in MANUAL_REVIEW.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any, Callable, Mapping

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


# --- events -----------------------------------------------------------------


@dataclass(frozen=True)
class PayoutSeen:
    blacklisted: bool = False  # the wallet is on the blacklist: never advertise


@dataclass(frozen=True)
class PayoutTaken:
    amount: Decimal  # amount["643"] from the re-read after /show
    wallet: str | None = None
    bank: str | None = None
    bank_label: str | None = None
    payout_method: str | None = None


@dataclass(frozen=True)
class TakeFailed:
    permanent: bool  # True: Gate refused (e.g. taken by someone else); False: transient, nothing happened
    error: str = ""


@dataclass(frozen=True)
class AccountAssigned:
    account: str
    method: str  # "sbp" or "tinkoff"
    price: Decimal
    quantity: Decimal


@dataclass(frozen=True)
class NoAccountFree:
    reason: str = ""  # why it waits: no free slot, pricing, or a live twin deal (same amount and recipient)


@dataclass(frozen=True)
class AdCreated:
    ad_id: str


@dataclass(frozen=True)
class AdFailed:
    permanent: bool = True  # Bybit refused; False: transient and certainly not created
    error: str = ""


@dataclass(frozen=True)
class OrderOpened:
    order_id: str
    amount: Decimal | None = None  # the order's RUB amount; must equal the payout amount when given
    buyer_name: str | None = None  # buyerRealName: the receipt's sender must be this person


@dataclass(frozen=True)
class OrderStatusChanged:
    status: int


@dataclass(frozen=True)
class BuyerMessage:
    """A text the buyer wrote (see dialogue.is_buyer_message); the deal runs the dialogue."""

    text: str
    llm_hint: str | None = None  # "yes" / "no" / "unclear", asked only when dialogue.needs_hint(text)


@dataclass(frozen=True)
class ReceiptChecked:
    accepted: bool  # the verifier's verdict against this deal
    reasons: tuple[str, ...] = ()
    channel: str = EMAIL  # EMAIL only for a DKIM-verified bank e-mail; anything else counts as CHAT
    receipt_id: str = ""
    trusted: bool | None = None  # False: not the bank's DKIM-verified mail, so treated as CHAT
    # The bank's own receipt for a deal that had already ended CANCELLED/REJECTED_BUYER: the buyer
    # paid our recipient after all (paid_after_cancel).
    late: bool = False


@dataclass(frozen=True)
class ApproveSucceeded:
    pass


@dataclass(frozen=True)
class ApproveFailed:
    permanent: bool
    error: str = ""


@dataclass(frozen=True)
class ReleaseSucceeded:
    pass


@dataclass(frozen=True)
class ReleaseFailed:
    permanent: bool
    error: str = ""


@dataclass(frozen=True)
class TimerFired:
    name: str


@dataclass(frozen=True)
class OperatorConfirmed:
    step: str


@dataclass(frozen=True)
class OperatorRejected:
    why: str = ""


@dataclass(frozen=True)
class PlatformView:
    """What Gate and Bybit show for this deal after a restart (None = could not tell)."""

    payout_status: int | None = None
    payout_amount: Decimal | None = None
    ad_id: str | None = None  # our ad for this deal, if Bybit shows one
    ad_online: bool | None = None
    order_id: str | None = None  # an order on that ad
    order_status: int | None = None
    sent_texts: tuple[str, ...] | None = None  # our own chat messages in that order
    buyer_name: str | None = None  # that order's buyerRealName


@dataclass(frozen=True)
class Reconciled:
    view: PlatformView


Event = Any  # one of the event classes above

# --- actions ----------------------------------------------------------------


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
class ReleaseOrder:
    account: str
    order_id: str


@dataclass(frozen=True)
class CancelAd:
    account: str
    ad_id: str


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


# --- the money-safety guards ------------------------------------------------


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


# --- helpers ----------------------------------------------------------------

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


# --- handlers ---------------------------------------------------------------


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
    facts = replace(_enter(facts, State.ACCEPTED, now), account=event.account, method=event.method, price=price,
                    quantity=quantity, retries=0)
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
    new, actions = _failure(facts, CREATE_AD, event.permanent, event.error, now, settings, State.ERROR)
    return Decision(new, actions)


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


# Deals that ended without money: a bank receipt that still fits one of them was paid after the end.
PAID_AFTER_ENDING = frozenset({State.CANCELLED, State.REJECTED_BUYER})


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
    if status == facts.order_status:
        return _ignored(facts, f"order status still {status}")
    claimed_paid = facts.order_status == ORDER_PAID
    facts = replace(facts, order_status=status)
    if status in ORDER_DISPUTE:
        new, actions = _finish(facts, State.DISPUTE, f"order {facts.order_id} in appeal (status {status})", now)
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
    return reconcile(facts, event.view, now, settings)


_HANDLERS: dict[type, Callable[[DealFacts, Any, float, DealSettings], Decision]] = {
    PayoutSeen: _on_payout_seen,
    PayoutTaken: _on_payout_taken,
    TakeFailed: _on_take_failed,
    AccountAssigned: _on_account_assigned,
    NoAccountFree: _on_no_account,
    AdCreated: _on_ad_created,
    AdFailed: _on_ad_failed,
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


# --- restart ----------------------------------------------------------------


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
