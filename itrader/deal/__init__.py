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

from itrader.deal.actions import *  # noqa: F401,F403
from itrader.deal.actions import _arm, _enter, _finish, _ignored, _with_deadline  # noqa: F401
from itrader.deal.events import *  # noqa: F401,F403
from itrader.deal.facts import *  # noqa: F401,F403
from itrader.deal.facts import _to_decimal, _to_int  # noqa: F401
from itrader.deal.guards import *  # noqa: F401,F403
from itrader.deal.guards import _advance, _begin, _create_ad, _failure, _resume  # noqa: F401
from itrader.deal.handlers import *  # noqa: F401,F403
from itrader.deal.handlers import _HANDLERS, _closing, _requisites  # noqa: F401
from itrader.deal.journal import *  # noqa: F401,F403
from itrader.deal.reconcile import *  # noqa: F401,F403
