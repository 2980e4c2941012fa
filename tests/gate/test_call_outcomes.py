"""The `outcome` label of itrader_external_calls_total for the errors the Gate client really raises, each
produced by the sandbox's fault plugin over HTTP: what happened on the wire, not what it means for a deal."""
from __future__ import annotations

from decimal import Decimal

import pytest

from itrader.call_outcomes import OUTCOMES, call_outcome
from itrader.gate import GateError

RECEIPT = b"%PDF-1.4 receipt"


def _raised(call, *args) -> GateError:
    with pytest.raises(GateError) as caught:
        call(*args)
    return caught.value


def _taken(gate, client) -> int:
    pid = gate.sandbox.create_payout(Decimal("5000"), "sbp", "tinkoff")["id"]
    client.show(pid)
    return pid


@pytest.mark.parametrize("fault, outcome", [
    ("rate_limited", "rate_limited"),
    ("error_5xx", "server_error"),  # a 502 on a write: its outcome is unknown, the wire saw a 5xx
])
def test_a_faulty_answer_to_a_write_is_labelled_by_what_came_back(gate, fault, outcome):
    client = gate.client()
    pid = _taken(gate, client)
    gate.set_faults(retry_after_seconds=0.2)
    gate.faults.script(fault)
    assert call_outcome(_raised(client.approve, pid, "Receipt.pdf", RECEIPT)) == outcome


def test_no_answer_in_time_is_a_timeout(gate):
    client = gate.client(timeout=0.3)  # a write is never retried: one try, no answer
    pid = _taken(gate, client)
    gate.set_faults(timeout_seconds=1.0)
    gate.faults.script("timeout")
    assert call_outcome(_raised(client.approve, pid, "Receipt.pdf", RECEIPT)) == "timeout"


def test_cloudflare_is_blocked_and_a_refusal_rejected(gate):
    client = gate.client()
    client.me()
    gate.faults.script("cloudflare_403")
    assert call_outcome(_raised(client.me)) == "blocked"
    assert call_outcome(_raised(client.approve, 999999, "Receipt.pdf", RECEIPT)) == "rejected"  # no such payout


def test_every_outcome_is_a_known_label():
    assert call_outcome(None) == "ok" and call_outcome(ValueError("x")) == "error"
    assert set(OUTCOMES) >= {"ok", "rate_limited", "server_error", "timeout", "error"}
