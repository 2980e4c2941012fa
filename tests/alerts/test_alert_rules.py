"""Which events alert, under which key, and the throttle (itrader.alerts: pure)."""
from __future__ import annotations

from decimal import Decimal

import pytest

from itrader.alerts import KINDS, Alert, Throttle, alert_for


@pytest.mark.parametrize("event, kind", [
    ({"type": "deal", "deal_id": 7, "state": "MANUAL_REVIEW", "reason": "stuck"}, "manual_review"),
    ({"type": "deal", "deal_id": 7, "state": "DISPUTE", "reason": "appeal"}, "dispute"),
    ({"type": "operator", "deal_id": 7, "step": "approve", "why": "approve payout 1"}, "awaiting_operator"),
    ({"type": "root_escalation", "reason": "Deals restarted 11 times in 60s"}, "root_escalation"),
    ({"type": "lease_lost", "platform": "gate", "account": "g1", "reason": "renewal refused"}, "lease_lost"),
    ({"type": "account_unhealthy", "platform": "gate", "account": "g1", "reason": "password refused"},
     "gate_session"),
    ({"type": "account_unusable", "platform": "bybit", "account": "b1", "reason": "secret unreadable"},
     "account_down"),
    ({"type": "account_down", "platform": "bybit", "account": "b1", "reason": "unhealthy 60s"}, "account_down"),
    ({"type": "usdt_balance", "account": "b1", "usdt": "99.5"}, "low_usdt"),
    ({"type": "daemon_started", "seq": 1, "version": "1", "profile": "sandbox", "mode": "auto"}, "started"),
    ({"type": "daemon_stopping", "seq": 9, "reason": "signal"}, "stopping"),
])
def test_each_event_that_needs_a_person_alerts(event, kind):
    alert = alert_for(event, low_usdt=Decimal("100"))
    assert alert is not None and alert.kind == kind and alert.kind in KINDS and alert.text


@pytest.mark.parametrize("event", [
    {"type": "deal", "deal_id": 7, "state": "COMPLETED"},
    {"type": "gate_take", "deal_id": 7, "ok": True},
    {"type": "usdt_balance", "account": "b1", "usdt": "100"},  # at the threshold: fine
    {"type": "usdt_balance", "account": "b1", "usdt": "not a number"},
    {"type": "intake", "state": "paused"},
])
def test_routine_events_do_not_alert(event):
    assert alert_for(event, low_usdt=Decimal("100")) is None


def test_low_usdt_is_off_without_a_threshold():
    assert alert_for({"type": "usdt_balance", "account": "b1", "usdt": "0"}) is None


def test_a_deal_alerts_once_per_state_and_an_awaited_step_once_per_step():
    review = alert_for({"type": "deal", "deal_id": 3, "state": "MANUAL_REVIEW"})
    dispute = alert_for({"type": "deal", "deal_id": 3, "state": "DISPUTE"})
    take = alert_for({"type": "operator", "deal_id": 3, "step": "take"})
    approve = alert_for({"type": "operator", "deal_id": 3, "step": "approve"})
    assert len({review.key, dispute.key, take.key, approve.key}) == 4
    assert "itrader confirm 3" in take.text


def test_a_long_reason_is_cut_to_one_message():
    alert = alert_for({"type": "deal", "deal_id": 1, "state": "MANUAL_REVIEW", "reason": "x" * 10_000})
    assert len(alert.text) <= 1000


def test_the_same_key_is_sent_once_within_the_window_and_again_after_it():
    throttle = Throttle(dedup_window=600, per_minute=100)
    alert = Alert("lease_lost", "lease:gate:g1", "lost")
    assert throttle.admit(alert, 0.0) is None
    assert throttle.admit(alert, 599.0) == "duplicate"
    assert throttle.admit(alert, 600.0) is None


def test_over_the_rate_the_rest_are_held_and_the_next_one_says_how_many():
    throttle = Throttle(dedup_window=600, per_minute=3)
    verdicts = [throttle.admit(Alert("dispute", f"deal:{i}", f"deal {i}"), float(i)) for i in range(5)]
    assert verdicts == [None, None, None, "rate_limited", "rate_limited"]
    later = Alert("dispute", "deal:99", "deal 99")
    assert throttle.admit(later, 61.0) is None  # the first send left the 60 s window
    assert throttle.note(later).text.endswith("(2 more alert(s) held back by the rate limit)")
    assert throttle.note(later).text == "deal 99"  # said once
