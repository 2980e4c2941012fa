"""The Gate account actor's calls to the panel (actors/gate_account.py): each counted in the metrics and
seen by the session (a lost session, a Cloudflare challenge), a rate-limited request put off on a timer,
and the read-backs that settle a write whose answer was lost or refused."""
from __future__ import annotations

import logging
import mimetypes
import time
from pathlib import Path
from typing import Any, Callable, TypeVar

from actors.gate_session import SESSION_LOST, GateSession
from actors.later import PutOff
from actors.messages import ApprovePayout, ReturnPayout
from itrader import errors
from itrader.gate import GateClient, GateError, Payout
from itrader.metrics import EXTERNAL_CALLS
from itrader.call_outcomes import call_outcome
from itrader.payouts import (
    ApproveVerdict, approve_failure, approve_needs_read_back, approve_verdict, failure_reason,
)

log = logging.getLogger("itrader.gate")

PLATFORM = "gate"
T = TypeVar("T")


class GateCalls:
    def __init__(self, name: str, client: GateClient, session: GateSession, put_off: PutOff,
                 actor_ref: Callable[[], Any]) -> None:
        self.name = name
        self.client = client
        self.session = session
        self._put_off = put_off  # the actor's: it delivers what comes back and cancels at stop
        self._actor_ref = actor_ref

    def call(self, call: Callable[..., T], *args: Any) -> T:
        try:
            result = call(*args)
        except GateError as exc:
            EXTERNAL_CALLS.labels(platform=PLATFORM, outcome=call_outcome(exc)).inc()
            if isinstance(exc, SESSION_LOST):
                self.session.lost(exc)  # the client could not log in again: unhealthy until renewed
            self.session.challenged(exc)  # a Cloudflare challenge: one event per episode
            raise
        EXTERNAL_CALLS.labels(platform=PLATFORM, outcome="ok").inc()
        self.session.answered()
        return result

    def later(self, msg: Any, exc: errors.RetryLater) -> bool:
        """Put a rate-limited request off for the wait the panel asked for (no sleep in the handler)."""
        if not self._put_off.later(self._actor_ref(), msg, exc.retry_after):
            return False
        log.info("gate %s: %s for deal %s put off %.3gs: %s", self.name, type(msg).__name__, msg.deal_id,
                 exc.retry_after, exc)
        return True

    def read_back(self, read: Callable[[int], Payout], payout_id: int) -> Payout | None:
        """After an unclear take (`own_payout`: ours now?) or approve (`get_payout`: its status)."""
        try:
            return self.call(read, payout_id)
        except GateError as exc:
            log.warning("gate %s: read-back of payout %s failed: %s", self.name, payout_id, exc)
            return None

    def approve_once(self, msg: ApprovePayout) -> ApproveVerdict | None:
        """One approve with the receipt; None when it was put off (it comes again)."""
        try:
            content = Path(msg.receipt_path).read_bytes()
        except OSError as exc:
            return ApproveVerdict(False, True, f"receipt file unreadable: {type(exc).__name__}")
        content_type = mimetypes.guess_type(msg.filename)[0] or "application/pdf"
        try:
            self.call(self.client.approve, msg.payout_id, msg.filename, content, content_type)
        except errors.OutcomeUnknown as exc:  # the answer got lost: only the payout's status tells
            return self._approve_read_back(msg.payout_id, exc)
        except errors.RetryLater as exc:  # refused before any work: the same approve after the wait
            return None if self.later(msg, exc) else approve_failure(exc)
        except GateError as exc:
            if approve_needs_read_back(exc):  # refused as not approvable: maybe an earlier approve did it
                return self._approve_read_back(msg.payout_id, exc)
            return approve_failure(exc)
        return ApproveVerdict(True, False, None)

    def return_once(self, msg: ReturnPayout) -> tuple[int | None, str] | None:
        """One /cancel, then the payout read back whatever it answered (a lost answer, or a refusal because
        an earlier try already did it, are settled by the status alone): (status or None, the call's error).
        None when a 429 put it off (it comes again)."""
        error = ""
        try:
            self.call(self.client.cancel, msg.payout_id)
        except errors.RetryLater as exc:
            if self.later(msg, exc):
                return None
            error = failure_reason(exc)
        except GateError as exc:
            error = failure_reason(exc)
        payout = self.read_back(self.client.get_payout, msg.payout_id)
        return (payout.status if payout is not None else None), error

    def _approve_read_back(self, payout_id: int, exc: GateError) -> ApproveVerdict:
        log.warning("gate %s: approve of payout %s answered %s; reading it back", self.name, payout_id, exc)
        payout = self.read_back(self.client.get_payout, payout_id)
        if payout is None:
            return approve_verdict(None)
        return approve_verdict(payout.status, payout.expired_at, payout.approved_at, time.time())
