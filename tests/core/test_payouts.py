"""A Gate account's pure decisions (itrader.payouts): which payouts are offered, what an error means
for a take or an approve, what a read-back status says. The actor is tested in
tests/actors/test_gate_account.py."""
from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

from itrader.config import GateConfig
from itrader.gate.errors import IncorrectStatus, OutcomeUnknown, ProtocolError, RateLimited, TemporaryError
from itrader.gate.models import Payout
from itrader.payouts import (
    TakeBacklog, approve_failure, approve_needs_read_back, approve_verdict, error_kind, failure_reason,
    next_attempt_in, offer_skip_reason, payout_method, plain_raw, take_failure_is_permanent,
)


def payout(**fields):
    raw = {"id": 1, "status": 4, "wallet": "79001234567", "amount": [], "payment_method_id": 5, **fields}
    return Payout.parse(raw)


def test_which_listed_payouts_are_offered():
    settings = GateConfig(min_order_amount=Decimal("1000"), max_order_amount=Decimal("50000"))
    assert offer_skip_reason(payout(), settings) is None  # the amount is hidden in status 4
    assert offer_skip_reason(payout(status=5), settings) == "status 5"
    unknown = payout(payment_method_id=9, wallet="12345")
    assert payout_method(unknown) == "" and offer_skip_reason(unknown, settings) == "unknown payment method"
    big = payout(amount={"643": 60000})
    assert offer_skip_reason(big, settings) == "amount 60000 outside [1000, 50000]"


def test_what_a_gate_error_means():
    lost = OutcomeUnknown("POST /approve answered 502; the panel may have acted", status=502, path="/approve")
    never_sent = TemporaryError("POST /approve: connection failed (ConnectionError)", path="/approve")
    refused = IncorrectStatus("payout is not in work", status=400, path="/approve")
    garbled = ProtocolError("unreadable answer", status=200, path="/approve")
    slow_down = RateLimited("too many", retry_after=1.0)
    assert (error_kind(lost), error_kind(never_sent), error_kind(refused), error_kind(slow_down)) == (
        "outcome_unknown", "temporary", "incorrect_status", "rate_limited")
    assert failure_reason(refused).startswith("IncorrectStatus: payout is not in work")
    assert take_failure_is_permanent(refused) and not take_failure_is_permanent(garbled)
    assert not take_failure_is_permanent(lost), "a take that may have happened is read back, never final"
    assert approve_failure(refused).permanent and not approve_failure(garbled).permanent
    assert approve_needs_read_back(lost) and approve_needs_read_back(refused)  # refused: maybe approved before
    assert not approve_needs_read_back(slow_down) and not approve_needs_read_back(never_sent)


def test_a_failed_periodic_step_is_tried_again_soon():
    assert next_attempt_in(1800.0, succeeded=True, poll_interval=5.0) == 1800.0
    assert next_attempt_in(1800.0, succeeded=False, poll_interval=5.0) == 5.0
    assert next_attempt_in(2.0, succeeded=False, poll_interval=5.0) == 2.0


def test_what_a_read_back_status_says_about_an_approve():
    assert approve_verdict(6).ok and approve_verdict(7).ok
    assert not approve_verdict(5).ok and not approve_verdict(5).permanent
    assert not approve_verdict(None).ok and "unknown" in approve_verdict(None).reason
    assert approve_verdict(8).permanent


def test_a_payout_given_back_after_its_deadline_is_a_stranded_payment_not_a_retry():
    deadline = datetime(2025, 5, 27, 10, 56, 1, tzinfo=timezone.utc)
    late = deadline.timestamp() + 3600
    refunded = approve_verdict(9, deadline, None, now=late)
    assert refunded.permanent and not refunded.ok and refunded.expired
    assert "expired at 2025-05-27 10:56:01" in refunded.reason
    # captured (reference/gate-api.md §6.5): approved an hour past expired_at, and that is a success
    assert approve_verdict(6, deadline, datetime(2025, 5, 27, 11, 59, 45, tzinfo=timezone.utc), now=late).ok
    assert not approve_verdict(9, deadline, None, now=deadline.timestamp() - 60).expired  # cancelled in time
    assert not approve_verdict(5, deadline, None, now=late).permanent  # not given back yet: try again


def test_plain_raw_is_a_copy():
    original = payout(bank={"name": "tinkoff"})
    copied = plain_raw(original)
    copied["bank"]["name"] = "vtb"
    assert original.raw["bank"]["name"] == "tinkoff"


def test_the_take_backlog_fills_at_its_limit_and_empties_by_takes_or_age():
    backlog = TakeBacklog(limit=2, ttl=60.0)
    backlog.offered(1, now=0.0)
    assert not backlog.full(now=1.0)
    backlog.offered(2, now=1.0)
    assert backlog.full(now=2.0)
    backlog.settled(1)  # taken (or refused): no longer waiting
    assert not backlog.full(now=2.0)
    backlog.offered(3, now=30.0)
    assert backlog.full(now=60.5)  # 2 (offered at 1.0) and 3 still count
    assert not backlog.full(now=61.0)  # 2 is forgotten after its ttl: a take that never came
