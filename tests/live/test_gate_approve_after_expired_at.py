"""Issue 12 item 7: the real panel accepted an approve an hour past the payout's `expired_at` (captured:
reference/gate-api.md §6.5). With the sandbox's late approvals on, a deal whose receipt comes after the
deadline is approved and completes; on a panel that gives the payout back at its deadline, the approve is
refused, the buyer's USDT stays unreleased, and the operator hears that a paid payout expired."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import requests

from tests.pipeline.harness import TERMINAL


def gate_live(world, **switches) -> dict:
    reply = requests.put(f"{world.urls['sandbox']}/gate/live", json=switches, timeout=10)
    assert reply.status_code == 200, reply.text
    return reply.json()


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_an_approve_past_expired_at_that_gate_accepts_completes_the_deal(world, make_daemon):
    gate_live(world, late_approval_seconds=3600)
    daemon = make_daemon()
    payout = world.create_payout(Decimal("4300"), "sbp", "alfabank", persona="honest", expires_in=1)

    row = daemon.wait_state(payout["id"], TERMINAL, timeout=120)

    assert row.state == "COMPLETED", row.reason
    view = world.payout_view(payout["id"])
    assert view["status"] in (6, 7) and at(view["approved_at"]) > at(view["expired_at"])
    assert len(world.ledger.entries("gate_approve")) == 1 and len(world.ledger.entries("bybit_release")) == 1
    assert world.audit() == []


def test_an_approve_gate_refuses_after_giving_the_payout_back_releases_nothing_and_tells_the_operator(
        world, make_daemon):
    assert gate_live(world)["late_approval_seconds"] == 0  # the twin's default: given back at expired_at
    daemon = make_daemon()
    payout = world.create_payout(Decimal("4400"), "sbp", "alfabank", persona="honest", expires_in=1)

    row = daemon.wait_state(payout["id"], TERMINAL, timeout=120)

    assert row.state == "MANUAL_REVIEW" and "expired" in row.reason, row.reason
    assert world.payout_view(payout["id"])["status"] == 9
    assert world.ledger.entries("gate_approve") == [] and world.ledger.entries("bybit_release") == []
    expired = [e for e in daemon.system.events.since(0) if e["type"] == "gate_payout_expired"]
    assert [e["payout_id"] for e in expired] == [payout["id"]], expired
