"""Each money-step retry as a deterministic scenario: the sandbox fails exactly the next N calls of one
endpoint (its control API over HTTP), the daemon must do the step exactly once in effect, and the
failed calls show in the platform's request log."""
from __future__ import annotations

from decimal import Decimal

import requests

from tests.pipeline.harness import TERMINAL

FAST_RETRY = "retry_delay = 1\n"  # [timeouts]: retry a failed money step after 1 s, not 30


def script_fault(world, platform: str, endpoint: str, fault: str, count: int = 1, **extra) -> None:
    reply = requests.post(f"{world.urls['sandbox']}/faults/{platform}/script", timeout=10,
                          json={"endpoint": endpoint, "fault": fault, "count": count, **extra})
    assert reply.status_code == 200, reply.text


def honest_deal_completes(world, make_daemon, amount: str) -> None:
    daemon = make_daemon(extra=FAST_RETRY)
    payout = world.create_payout(Decimal(amount), "sbp", "alfabank", persona="honest")
    row = daemon.wait_state(payout["id"], TERMINAL, timeout=150)
    assert row.state == "COMPLETED", row.reason


def gate_approve_calls(world) -> list:
    return [r for r in world.gate.request_log() if r.method == "POST" and r.path.endswith("/approve")]


def test_the_next_two_gate_approves_answer_502_then_the_deal_completes_with_one_approve(world, make_daemon):
    script_fault(world, "gate", "approve", "error_502", count=2)
    honest_deal_completes(world, make_daemon, "5200")
    calls = gate_approve_calls(world)
    assert [(call.status, call.fault) for call in calls] == [(502, "error_502"), (502, "error_502"), (200, None)]
    assert len(world.ledger.entries("gate_approve")) == 1 and len(world.ledger.entries("bybit_release")) == 1
    assert world.audit() == []


def test_a_gate_approve_that_went_through_but_answered_502_is_not_repeated(world, make_daemon):
    script_fault(world, "gate", "approve", "error_502_after_executing")
    honest_deal_completes(world, make_daemon, "5300")
    assert [(call.status, call.fault) for call in gate_approve_calls(world)] == [(502, "error_502_after_executing")]
    assert len(world.ledger.entries("gate_approve")) == 1  # read back as approved, never sent again
    assert world.audit() == []


def test_a_bybit_release_that_times_out_after_executing_is_read_back_not_repeated(world, make_daemon):
    # The sandbox carries the release out, then holds the answer past the client's timeout.
    script_fault(world, "bybit", "/v5/p2p/order/finish", "timeout_after_executing", seconds=20)
    honest_deal_completes(world, make_daemon, "5400")
    finishes = [entry for entry in world.bybit.http_log() if entry["path"].endswith("/order/finish")]
    assert [entry["fault"] for entry in finishes] == ["timeout_after_executing"]
    assert len(world.ledger.entries("bybit_release")) == 1
    assert world.audit() == []
