"""Scripted faults over real HTTP: the next N calls of one endpoint fail, then calls succeed again; an
"after executing" fault carries the call out while the client sees a failure; every failed request is
in the platform's request log."""
from decimal import Decimal

import pytest
import requests

from .hand import approve, bybit, eventually, gate_session, order_info, orders, post_ad, signed_post, take

APPROVE = "/api/v1/payments/payouts/{id}/approve"
PDF = b"%PDF-1.4 a receipt"


def control(sandbox, method, path, **kwargs):
    return requests.request(method, sandbox.urls["sandbox"] + path, timeout=10, **kwargs)


def script(sandbox, platform, **fault):
    response = control(sandbox, "POST", f"/faults/{platform}/script", json=fault)
    assert response.status_code == 200, response.text
    return response.json()["scripted"]


def taken_payout(sandbox):
    payout = control(sandbox, "POST", "/payouts", json={"amount": "5000"}).json()
    gate = gate_session(sandbox)
    take(sandbox, gate, payout["id"])
    return gate, payout["id"]


def approvals(sandbox):
    return [(r.status, r.fault) for r in sandbox.gate.request_log() if r.path.endswith("/approve")]


def test_the_next_two_gate_approvals_answer_502_then_one_succeeds(sandbox):
    gate, pid = taken_payout(sandbox)
    queued = script(sandbox, "gate", endpoint=APPROVE, count=2, fault="error_502")
    assert queued == [{"endpoint": APPROVE, "fault": "error_502", "remaining": 2, "method": None, "seconds": 30.0,
                       "retry_after_seconds": 1.0, "fired": 0}]
    assert gate.get(sandbox.urls["gate"] + "/auth/me", timeout=10).status_code == 200  # other endpoints work

    assert [approve(sandbox, gate, pid, PDF).status_code for _ in range(2)] == [502, 502]
    assert control(sandbox, "GET", "/faults").json()["scripted"] == {}  # spent
    assert sandbox.ledger.entries("gate_approve") == []
    assert approve(sandbox, gate, pid, PDF).json()["response"]["payout"]["status"] == 6
    assert approvals(sandbox) == [(502, "error_502"), (502, "error_502"), (200, None)]
    assert len(sandbox.ledger.entries("gate_approve")) == 1


def test_scripted_faults_count_down_in_order_and_show(sandbox):
    gate, _ = taken_payout(sandbox)
    script(sandbox, "gate", endpoint="auth/me", count=2, fault="rate_limited", retry_after_seconds=3)
    script(sandbox, "gate", endpoint="me", fault="cloudflare_403")
    me = lambda: gate.get(sandbox.urls["gate"] + "/auth/me", timeout=10)
    first = me()
    assert first.status_code == 429 and first.headers["Retry-After"] == "3"
    shown = control(sandbox, "GET", "/faults").json()["scripted"]["gate"]
    assert [(s["fault"], s["remaining"], s["fired"]) for s in shown] == [
        ("rate_limited", 1, 1), ("cloudflare_403", 1, 0)]
    assert me().status_code == 429
    blocked = me()
    assert blocked.status_code == 403 and "Cloudflare" in blocked.text
    assert me().status_code == 200
    log = [(r.status, r.fault) for r in sandbox.gate.request_log() if r.path.endswith("/auth/me")]
    assert log == [(429, "rate_limited"), (429, "rate_limited"), (403, "cloudflare_403"), (200, None)]


def test_a_method_filter_leaves_other_methods_alone(sandbox):
    gate, pid = taken_payout(sandbox)
    script(sandbox, "gate", endpoint="/payments/payouts/{id}", method="GET", fault="error_503")
    assert approve(sandbox, gate, pid, PDF).status_code == 200  # a POST to a longer path: not this one
    assert gate.get(sandbox.urls["gate"] + f"/payments/payouts/{pid}", timeout=10).status_code == 503


def test_an_approval_that_times_out_after_executing_is_carried_out(sandbox):
    gate, pid = taken_payout(sandbox)
    script(sandbox, "gate", endpoint="approve", fault="timeout_after_executing", seconds=3)
    with pytest.raises(requests.exceptions.ReadTimeout):
        approve(sandbox, gate, pid, PDF, timeout=0.5)
    assert sandbox.payout_view(pid)["status"] == 6 and sandbox.payout_view(pid)["attachments"] == 1
    assert len(sandbox.ledger.entries("gate_approve")) == 1
    assert approvals(sandbox) == [(504, "timeout_after_executing")]  # logged at once, not after the hold


def release_timing_out(sandbox, endpoint, fault):
    """An order marked paid, and our release of it with this scripted fault: the client times out."""
    control(sandbox, "POST", "/payouts", json={"amount": "5000", "script": ["open_order", "mark_paid"]})
    post_ad(sandbox, Decimal("5000"))
    order_id = eventually(lambda: orders(sandbox) and orders(sandbox)[0]["status"] == 20 and orders(sandbox))[0]["id"]
    script(sandbox, "bybit", endpoint=endpoint, fault=fault, seconds=3)
    with pytest.raises(requests.exceptions.ReadTimeout):
        signed_post(sandbox, "/v5/p2p/order/finish", {"orderId": order_id}, timeout=0.5)
    return order_id


def finishes(sandbox):
    return [(e["status"], e["fault"]) for e in sandbox.bybit.http_log() if e["path"] == "/v5/p2p/order/finish"]


def test_a_bybit_release_that_times_out_after_executing_is_released(sandbox):
    order_id = release_timing_out(sandbox, "/v5/p2p/order/finish", "timeout_after_executing")
    assert order_info(sandbox, order_id)["status"] == 50
    assert [e["order_id"] for e in sandbox.ledger.entries("bybit_release")] == [order_id]
    assert finishes(sandbox) == [(504, "timeout_after_executing")]


def test_a_bybit_release_that_times_out_before_is_not_released_and_can_be_retried(sandbox):
    order_id = release_timing_out(sandbox, "order/finish", "timeout_before")
    assert order_info(sandbox, order_id)["status"] == 20 and sandbox.ledger.entries("bybit_release") == []
    bybit(sandbox, "/v5/p2p/order/finish", {"orderId": order_id})
    assert order_info(sandbox, order_id)["status"] == 50
    assert finishes(sandbox) == [(504, "timeout_before"), (200, None)]


def test_a_502_after_executing_still_executes(sandbox):
    gate, pid = taken_payout(sandbox)
    script(sandbox, "gate", endpoint=APPROVE, fault="error_502_after_executing")
    assert approve(sandbox, gate, pid, PDF).status_code == 502
    assert sandbox.payout_view(pid)["status"] == 6


def test_plan_faults_are_in_the_request_logs_too(sandbox):
    control(sandbox, "PUT", "/faults/gate", json={"timeout": 1.0, "timeout_seconds": 3})
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(sandbox.urls["gate"] + "/auth/me", timeout=0.5)
    assert [(r.status, r.fault) for r in sandbox.gate.request_log()] == [(504, "timeout")]
    control(sandbox, "DELETE", "/faults/gate")
    control(sandbox, "PUT", "/faults/bybit", json={"error_5xx": 1.0})
    assert requests.post(sandbox.urls["bybit"] + "/v5/p2p/order/info", json={}, timeout=5).status_code == 502
    assert [(e["status"], e["fault"]) for e in sandbox.bybit.http_log()] == [(502, "error_5xx")]


def test_llm_failures_are_in_its_request_log(sandbox):
    script(sandbox, "llm", endpoint="chat/completions", fault="error_503")
    body = {"model": "m", "messages": [{"role": "user", "content": "да"}]}
    headers = {"Authorization": "Bearer sandbox"}
    url = sandbox.urls["llm"] + "/chat/completions"
    assert requests.post(url, json=body, headers=headers, timeout=5).status_code == 503
    assert requests.post(url, json=body, headers=headers, timeout=5).status_code == 200
    assert [(e["status"], e["fault"]) for e in sandbox.llm.http_log()] == [(503, "error_503"), (200, None)]


def test_clearing_scripted_faults(sandbox):
    script(sandbox, "gate", endpoint="me", fault="error_500")
    script(sandbox, "bybit", endpoint="order/info", fault="error_500")
    assert control(sandbox, "DELETE", "/faults/gate/script").json() == {"platform": "gate", "scripted": []}
    assert set(control(sandbox, "GET", "/faults").json()["scripted"]) == {"bybit"}
    control(sandbox, "DELETE", "/faults/bybit")
    assert control(sandbox, "GET", "/faults").json()["scripted"] == {}
    assert requests.get(sandbox.urls["gate"] + "/auth/me", timeout=5).status_code == 401  # no fault left


@pytest.mark.parametrize("platform, fault, words", [
    ("gate", {"endpoint": "approve", "fault": "explode"}, "fault must be one of"),
    ("gate", {"endpoint": "/payments/payouts/{id}/launch", "fault": "error_502"}, "matches no gate endpoint"),
    ("gate", {"fault": "error_502"}, "endpoint is required"),
    ("gate", {"endpoint": "approve", "fault": "error_502", "count": 0}, "count must be a whole number"),
    ("gate", {"endpoint": "approve", "fault": "error_502", "count": "2"}, "count must be a whole number"),
    ("gate", {"endpoint": "approve", "fault": "timeout_before", "seconds": -1}, "seconds must be a number"),
    ("gate", {"endpoint": "approve", "fault": "error_502", "when": "now"}, "unknown scripted fault field(s): when"),
    ("bank", {"endpoint": "approve", "fault": "error_502"}, "platform must be one of gate, bybit, llm"),
    ("bybit", {"endpoint": "/api/v1/payments/payouts/{id}/approve", "fault": "error_502"}, "matches no bybit"),
])
def test_bad_scripted_faults_are_explained(sandbox, platform, fault, words):
    response = control(sandbox, "POST", f"/faults/{platform}/script", json=fault)
    assert response.status_code == 400 and words in response.json()["error"], response.text
    assert control(sandbox, "GET", "/faults").json()["scripted"] == {}
