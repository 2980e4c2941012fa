"""A Gate account's pure decisions (gate-api §6–§7, order-flow §9): which listed payouts are offered
to the deals, what a Gate error means for a take or an approve, and what a read-back status says about
an approve whose answer was lost. The GateAccount actor (actors/gate_account.py) wires them to its
client; nothing here does I/O.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime

from itrader import errors as meaning
from itrader import recipients
from itrader.config import GateConfig
from itrader.gate.errors import (
    Blocked, Challenged, EndpointGone, GateError, IncorrectStatus, LoginFailed, NotFound, OutcomeUnknown,
    PermanentError, ProtocolError, RateLimited, SessionExpired, TemporaryError,
)
from itrader.gate.models import Payout

STATUS_OFFERED = 4
STATUS_TAKEN = 5
APPROVED_STATUSES = (6, 7)
REASON_LIMIT = 300


def payout_method(payout: Payout) -> str:
    """"sbp" or "card" (gate-api §7: method id 5 = SBP, 4 = P2P card); "" when unknown.

    The one rule of itrader.recipients (the receipt verifier's PayoutTerms use it too): the method id,
    else the label, else the wallet's shape (SBP: an 11-digit phone starting with 7; card: 16 digits).
    """
    return recipients.payout_method(payout.method_id, payout.method_label, payout.wallet)


def offer_skip_reason(payout: Payout, settings: GateConfig) -> str | None:
    """Why a listed payout is not offered to the deals; None = offer it."""
    if payout.status != STATUS_OFFERED:
        return f"status {payout.status}"
    if not payout_method(payout):
        return "unknown payment method"
    amount = payout.amount.rub  # normally hidden in status 4; filtered after the take then
    if amount is not None and not settings.min_order_amount <= amount <= settings.max_order_amount:
        return f"amount {amount} outside [{settings.min_order_amount}, {settings.max_order_amount}]"
    return None


def error_kind(exc: GateError) -> str:
    """A bounded label for EXTERNAL_CALLS{outcome} and for replies."""
    for cls, kind in (
        (OutcomeUnknown, "outcome_unknown"), (Challenged, "challenged"), (RateLimited, "rate_limited"),
        (TemporaryError, "temporary"),
        (SessionExpired, "session_expired"),
        (Blocked, "blocked"), (EndpointGone, "gone"), (LoginFailed, "login_failed"),
        (IncorrectStatus, "incorrect_status"), (NotFound, "not_found"), (ProtocolError, "protocol"),
        (PermanentError, "rejected"),
    ):
        if isinstance(exc, cls):
            return kind
    return "error"


def failure_reason(exc: GateError) -> str:
    """The client's own message (method, path, status, the panel's text; secrets already
    redacted by the client), kept whole: actors.base.describe_failure would hide the path."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}"[:REASON_LIMIT]


def take_failure_is_permanent(exc: GateError) -> bool:
    """The panel said no (taken by someone else, not found, refused). An unreadable
    answer is not final: a repeated take reconciles through the client. (An outcome the
    client could not learn is OutcomeUnknown, never permanent: the caller reads it back.)"""
    return isinstance(exc, PermanentError) and not isinstance(exc, ProtocolError)


def approve_needs_read_back(exc: Exception) -> bool:
    """After this failure, only reading the payout back tells whether the approve went through: the
    client could not learn the outcome (OutcomeUnknown: the answer got lost), or IncorrectStatus,
    which may mean an earlier approve (the message told twice) already did. Whether the call was a
    write is the client's to say, not ours to re-derive from the error's class."""
    return isinstance(exc, (meaning.OutcomeUnknown, IncorrectStatus))


def next_attempt_in(interval: float, succeeded: bool, poll_interval: float) -> float:
    """When a periodic step (login, balance) runs next: after its interval, or soon when it failed
    (a failed step is tried again soon rather than after hours)."""
    return interval if succeeded else min(interval, poll_interval)


@dataclass(frozen=True)
class ApproveVerdict:
    ok: bool
    permanent: bool
    reason: str | None
    expired: bool = False  # Gate gave the payout back after its expired_at: the buyer's payment is stranded


def approve_verdict(status: int | None, expired_at: datetime | None = None,
                    approved_at: datetime | None = None, now: float | None = None) -> ApproveVerdict:
    """What a read-back says about an approve whose answer we did not get, or that Gate refused.

    The live panel may accept an approve after `expired_at` (reference/gate-api.md §6.5: approved an hour
    late, status 6), so a late approve is tried and judged by the status alone. A payout that left status 5
    unapproved after its deadline (expired_at set, no approved_at) was given back by Gate: the buyer has paid
    a payout Gate will not credit, so nothing is released and an operator settles it."""
    if status in APPROVED_STATUSES:
        return ApproveVerdict(True, False, None)
    if status == STATUS_TAKEN:
        return ApproveVerdict(False, False, "approve did not go through (payout still in status 5)")
    if status is None:
        return ApproveVerdict(False, False, "approve outcome unknown: the payout could not be read back")
    if expired_at is not None and approved_at is None and now is not None and expired_at.timestamp() <= now:
        deadline = expired_at.strftime("%Y-%m-%d %H:%M:%S")
        return ApproveVerdict(False, True, f"Gate refused the approve: the payout expired at {deadline} UTC and was "
                                           f"given back (status {status}); the buyer's payment needs an operator",
                              expired=True)
    return ApproveVerdict(False, True, f"payout is in status {status}, cannot be approved")


def approve_failure(exc: GateError) -> ApproveVerdict:
    """A clear approve failure: only the panel's own refusal is permanent."""
    permanent = isinstance(exc, PermanentError) and not isinstance(exc, ProtocolError)
    return ApproveVerdict(False, permanent, failure_reason(exc))


def plain_raw(payout: Payout) -> dict:
    """The payout JSON as a dict of its own (Decimals kept), safe to hand to another actor."""
    return copy.deepcopy(dict(payout.raw))


class TakeBacklog:
    """Payouts offered to the deals and not yet taken (nor refused), each forgotten after `ttl` seconds.

    One Gate account makes its calls one after another. While `limit` offered payouts still wait for
    their take, a poll reads its first page only: the pages after it list payouts that cannot be taken
    any sooner, and reading them (up to 20 calls a poll) kept the takes waiting behind them — with
    thousands of payouts offered at once, most of the account's calls went to listing. Whatever the
    panel's order, the deeper pages are read again once the backlog is worked off (or has expired).
    """

    def __init__(self, limit: int = 60, ttl: float = 60.0) -> None:
        self._limit, self._ttl = limit, ttl
        self._since: dict[int, float] = {}  # payout id -> when it was offered

    def offered(self, payout_id: int, now: float) -> None:
        self._since[payout_id] = now

    def settled(self, payout_id: int) -> None:
        self._since.pop(payout_id, None)

    def full(self, now: float) -> bool:
        self._since = {pid: at for pid, at in self._since.items() if now - at < self._ttl}
        return len(self._since) >= self._limit
