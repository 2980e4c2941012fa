"""What the store keeps of a deal's decisions, and what a restarted deal reads back from its journal.

Pure: journal entries are anything with `.step` and `.data` (the store's journal rows).
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Mapping, Sequence

from itrader.deal.facts import APPROVE, CREATE_AD, RELEASE, RETURN_PAYOUT, TAKE, DealFacts, State

# Journal notes shared with BybitAccount: how far the buyer's chat was delivered (written by the
# account before it tells the deal), and the deal's mark that everything delivered so far has been applied.
CHAT_SEEN_STEP, CHAT_APPLIED_STEP = "bybit_chat_seen", "bybit_chat_applied"
SENT_TEXTS_STEP = "bybit_sent_texts"  # BybitAccount's note of our texts in the chat, for reconcile
# The Deal's notes of the chat for the console's transcript: the buyer's texts as delivered, ours as queued.
BUYER_TEXTS_STEP, OUR_TEXTS_STEP = "buyer_texts", "our_texts"
RECONCILE_STEP = "reconcile"  # the deal's note of what the platforms showed after a restart
# The Deal's notes of evidence: the payout as Gate showed it after the take, the order as Bybit listed it.
PAYOUT_STEP, ORDER_STEP = "payout", "order"

# The deal row's queryable columns that copy a fact as it is: column -> DealFacts field.
_COPIED_COLUMNS = {"amount_rub": "amount", "price": "price", "quantity": "quantity", "ad_id": "ad_id",
                   "order_id": "order_id", "bank": "bank", "wallet": "wallet", "reason": "reason",
                   "buyer_name": "buyer_name"}


def step_done(step: str, facts: DealFacts) -> bool:
    """Whether the money step `step` succeeded, judged by the facts after its outcome (the journal's outcome)."""
    return {
        TAKE: facts.amount is not None and facts.state != State.NEW,
        CREATE_AD: facts.ad_id is not None,
        APPROVE: facts.approved,
        RELEASE: facts.released,
        RETURN_PAYOUT: facts.state == State.CANCELLED,  # ended only once Gate showed the payout given back
    }.get(step, False)


def row_changes(old: DealFacts, new: DealFacts) -> dict[str, Any]:
    """The deal row's queryable columns that follow the facts."""
    changes: dict[str, Any] = {}
    for column, name in _COPIED_COLUMNS.items():
        value = getattr(new, name)
        if value != getattr(old, name) and value is not None:
            changes[column] = value
    if old.reason is not None and new.reason is None:
        changes["reason"] = None  # a reason that stopped holding (a wait that ended) must not linger on the row
    if new.payout_method != old.payout_method and new.payout_method in ("sbp", "card"):
        changes["method"] = new.payout_method
    if new.requisites_sent_at and new.requisites_sent_at != old.requisites_sent_at:
        changes["requisites_sent_at"] = datetime.fromtimestamp(new.requisites_sent_at, tz=timezone.utc)
    if (new.mode != "auto") != (old.mode != "auto"):
        changes["manual"] = new.mode != "auto"
    return changes


def reason_label(reason: str | None) -> str:
    """A bounded label for metrics: the reason's code, not its free text."""
    if not reason:
        return "none"
    return reason.split(":")[0].split(" ")[0][:40]


def _data(entry: Any) -> Mapping[str, Any]:
    return entry.data if isinstance(entry.data, dict) else {}


def created_note(journal: Sequence[Any]) -> Mapping[str, Any]:
    """The first entry's data: what the Deals actor noted when it created the deal."""
    return _data(journal[0]) if journal else {}


def saved_facts(journal: Sequence[Any]) -> dict[str, Any] | None:
    """The facts last persisted (as `DealFacts.to_dict`), None for a deal that never stepped."""
    return next((_data(e)["facts"] for e in reversed(journal) if isinstance(_data(e).get("facts"), dict)), None)


def chat_rewind_mark(journal: Sequence[Any], order_id: str | None) -> dict[str, Any] | None:
    """Buyer texts the account delivered that the deal never applied (it died first) must come again: the
    chat watermark to go back to (the last delivery it applied), or None when nothing is unapplied."""
    steps = [e.step for e in journal]
    applied_at = max((i for i, step in enumerate(steps) if step == CHAT_APPLIED_STEP), default=-1)
    if not any(step == CHAT_SEEN_STEP for step in steps[applied_at + 1:]):
        return None
    previous = next((e.data for e in reversed(journal[:applied_at + 1]) if e.step == CHAT_SEEN_STEP
                     and isinstance(e.data, dict) and e.data.get("order_id") == order_id), None)
    mark = previous or {"order_id": order_id, "message_id": 0, "created_ms": 0}
    return dict(mark, rewound=True)


def sent_texts(journal: Sequence[Any], order_id: str | None) -> tuple[str, ...] | None:
    """Our texts in the order's chat as the account read them for this reconcile (its note comes just
    before its OrderRead); None when it could not tell."""
    if order_id is None:
        return None
    for entry in reversed(journal):
        if entry.step == RECONCILE_STEP:
            return None  # only a note written since the last reconcile counts
        data = _data(entry)
        if entry.step == SENT_TEXTS_STEP and data.get("order_id") == order_id:
            return tuple(str(text) for text in data.get("texts") or ())
    return None
