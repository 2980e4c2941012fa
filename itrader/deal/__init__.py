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

The package: `facts` (states, constants, settings, DealFacts), `events`, `actions` (and Decision),
`guards` (the money guards), `handlers` (one per event, and `step`), `reconcile` (after a restart),
`journal` (what the store records of a decision, read back after a restart).
"""
from __future__ import annotations

# Every name callers use, importable from `itrader.deal` as before the split.
from itrader.deal.facts import (  # noqa: F401
    ACCEPT_RECEIPT, ANSWER_TIMER, APPROVE, CHAT, CREATE_AD, DEFAULT_SETTINGS, EMAIL, MONEY_STEPS,
    DISPUTE_MEANINGS, NEEDS_OPERATOR, OPERATOR_STEPS, ORDER_APPEAL, ORDER_CANCELLED, ORDER_CANCELLED_ANY, ORDER_DISPUTE,
    ORDER_EXCEPTION_CANCELLED, ORDER_FINISHED, ORDER_PAID, ORDER_WAITING_PAYMENT, PAID_AFTER_ENDING,
    PAYOUT_APPROVED, PAYOUT_IN_WORK, PAYOUT_NEW, RECEIPT_TIMER, RELEASE, RETRY_TIMER, RETURN_PAYOUT, STUCK_TIMER, TAKE,
    TERMINAL, DealFacts, DealSettings, Receipt, State, dispute_reason, new_deal,
)
from itrader.deal.events import (  # noqa: F401
    AccountAssigned, AdCreated, AdFailed, AdWithdrawn, ApproveFailed, ApproveSucceeded, BuyerMessage, Event,
    NoAccountFree, OperatorConfirmed, OperatorRejected, OrderOpened, OrderStatusChanged, PayoutReturnRead, PayoutSeen,
    PayoutTaken, PlatformView, ReceiptChecked, Reconciled, ReleaseFailed, ReleaseSucceeded, TakeFailed,
    TimerFired,
)
from itrader.deal.actions import (  # noqa: F401
    MONEY_ACTIONS, Action, ApprovePayout, AwaitOperator, CancelAd, CreateAd, Decision, Notify, Out,
    ReleaseOrder, RequestAccount, ReturnPayout, SendChat, StartTimer, TakePayout,
)
from itrader.deal.guards import approve_allowed, release_allowed  # noqa: F401
from itrader.deal.handlers import step  # noqa: F401
from itrader.deal.resolve import (  # noqa: F401
    ACTIONS as RESOLVE_ACTIONS, REASON_KINDS, REVIEWABLE, BadField, OperatorResolved, Resolution, Verdict, judge,
    parse_resolution,
)
from itrader.deal.reconcile import reconcile  # noqa: F401
from itrader.deal.journal import (  # noqa: F401
    CHAT_APPLIED_STEP, CHAT_SEEN_STEP, RECONCILE_STEP, SENT_TEXTS_STEP, chat_rewind_mark, created_note,
    reason_label, row_changes, saved_facts, sent_texts, step_done,
)
