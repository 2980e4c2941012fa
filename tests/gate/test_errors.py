"""Each error class the client raises, produced by the sandbox's real fault plugin over HTTP."""
from __future__ import annotations

import time
from decimal import Decimal

import pytest

from itrader.gate import Blocked, Challenged, EndpointGone, OutcomeUnknown, RateLimited, TemporaryError
from itrader.gate.cloudflare import challenge_wait, is_challenge
from itrader.sandbox.faults import CLOUDFLARE_403_HTML
from itrader.sandbox.gate_live import CHALLENGE_HTML
from itrader.leases import LeaseLost

RECEIPT = b"%PDF-1.4 receipt"


def taken_payout(gate, client) -> int:
    pid = gate.sandbox.create_payout(Decimal("5000"), "sbp", "tinkoff")["id"]
    client.show(pid)
    return pid


def test_a_429_is_raised_with_its_retry_after_never_slept_out(gate):
    """The caller (an actor) puts the request off for the wait; the client never sleeps it out, however
    short or long it is."""
    client = gate.client()
    client.me()
    for wait in (0.4, 120):
        gate.set_faults(retry_after_seconds=wait)
        gate.faults.script("rate_limited")
        with pytest.raises(RateLimited) as caught:
            client.me()
        assert caught.value.retry_after == wait
        assert [r.status for r in gate.requests("/auth/me")][-1] == 429  # and no second try
    assert client.me().rub_balance == Decimal("10000000.00")  # once the caller comes back
    assert [r.status for r in gate.requests("/auth/me")] == [200, 429, 429, 200]


def test_a_429_on_a_take_is_raised_and_the_take_not_repeated(gate):
    client = gate.client()
    client.me()
    pid = gate.sandbox.create_payout(Decimal("5000"), "sbp", "tinkoff")["id"]
    gate.set_faults(retry_after_seconds=30)
    gate.faults.script("rate_limited")
    with pytest.raises(RateLimited) as caught:
        client.show(pid)
    assert caught.value.retry_after == 30
    assert [r.status for r in gate.requests("/show")] == [429]


def test_the_write_hook_runs_before_every_try_and_stops_a_retry_unsent(gate):
    """The account actor's lease check (`before_write`) runs before each HTTP try of a write, retries
    included; when it raises, that try is not sent. Reads do not call it."""
    checks: list[str] = []

    def lease_check() -> None:
        checks.append("checked")
        if len(checks) > 1:
            raise LeaseLost("the lease went while the client waited to retry")

    client = gate.client(before_write=lease_check)
    client.me()
    client.list_payouts()
    assert checks == []  # reads: no lease check
    pid = gate.sandbox.create_payout(Decimal("5000"), "sbp", "tinkoff")["id"]
    gate.faults.script("error_5xx")  # the first /show: nothing done, and it would be retried
    with pytest.raises(LeaseLost):
        client.show(pid)
    assert checks == ["checked", "checked"]
    assert [r.status for r in gate.requests("/show")] == [502]  # the retry never left
    assert gate.sandbox.payout(pid)["status"] == 4


def test_429_on_approve_is_raised_not_retried(gate):
    client = gate.client()
    pid = taken_payout(gate, client)
    gate.set_faults(retry_after_seconds=0.2)
    gate.faults.script("rate_limited")

    with pytest.raises(RateLimited) as caught:
        client.approve(pid, "Receipt.pdf", RECEIPT)
    assert caught.value.retry_after == 0.2
    assert len(gate.requests("/approve")) == 1


def test_cloudflare_403_is_blocked_after_exactly_one_request(gate):
    client = gate.client()
    client.me()
    before = len(gate.requests())
    gate.set_faults(cloudflare_403=1.0)

    with pytest.raises(Blocked) as caught:
        client.list_payouts()

    assert len(gate.requests()) == before + 1
    assert caught.value.status == 403
    assert "Cloudflare" in str(caught.value)


def test_a_cloudflare_challenge_at_login_is_challenged_once_with_a_growing_wait_and_nothing_retried(gate):
    client = gate.client(challenge_wait=2.0, challenge_wait_max=5.0)
    gate.sandbox.challenge.arm(calls=3, status=503)
    waits = []
    for _ in range(3):
        with pytest.raises(Challenged) as caught:
            client.me()  # no session yet: the login is what Cloudflare answers
        waits.append(caught.value.retry_after)
    assert waits == [2.0, 4.0, 5.0] and caught.value.status == 503
    assert [(r.status, r.fault) for r in gate.requests()] == [(503, "cloudflare_challenge")] * 3
    assert client.me().rub_balance == Decimal("10000000.00")  # through: the streak starts again
    assert client.challenges_in_a_row == 0


def test_a_challenged_approve_did_nothing_and_is_not_outcome_unknown(gate):
    client = gate.client()
    pid = taken_payout(gate, client)
    gate.sandbox.challenge.arm(calls=1, endpoint="/approve")
    with pytest.raises(Challenged) as caught:
        client.approve(pid, "Receipt.pdf", RECEIPT)
    assert not isinstance(caught.value, OutcomeUnknown) and caught.value.status == 403
    assert gate.ledger.entries("gate_approve") == [] and client.get_payout(pid).status == 5
    assert client.approve(pid, "Receipt.pdf", RECEIPT).status == 6  # safe to send again


def test_a_challenge_is_told_by_its_header_or_its_page_and_a_block_page_is_not_one():
    html = {"Content-Type": "text/html; charset=UTF-8"}
    assert is_challenge(403, {"cf-mitigated": "challenge"}, b"")
    assert is_challenge(503, html, CHALLENGE_HTML.encode())
    assert not is_challenge(403, dict(html, Server="cloudflare"), CLOUDFLARE_403_HTML.encode())
    assert not is_challenge(200, {"cf-mitigated": "challenge"}, b"{}")
    assert not is_challenge(403, {"Content-Type": "application/json"}, b'{"title": "Just a moment..."}')
    assert [challenge_wait(n, 30, 900) for n in (1, 2, 3, 6, 100)] == [30, 60, 120, 900, 900]


def test_cloudflare_403_on_login_is_blocked_too(gate):
    gate.set_faults(cloudflare_403=1.0)
    with pytest.raises(Blocked):
        gate.client().login()
    assert len(gate.requests()) == 1


def test_5xx_on_a_get_is_retried_with_backoff(gate):
    client = gate.client()
    client.me()
    gate.faults.script("error_5xx", "error_5xx")

    assert client.list_payouts().total == 0
    assert [r.status for r in gate.requests("/payments/payouts")] == [502, 502, 200]


def test_5xx_on_a_get_gives_up_after_max_attempts(gate):
    client = gate.client(max_attempts=3)
    client.me()
    gate.set_faults(error_5xx=1.0)

    with pytest.raises(TemporaryError) as caught:
        client.me()
    assert caught.value.status == 502
    assert [r.status for r in gate.requests("/auth/me")][1:] == [502, 502, 502]


def test_5xx_on_approve_is_not_retried_and_the_caller_can_reconcile(gate):
    client = gate.client()
    pid = taken_payout(gate, client)
    gate.faults.script("error_5xx")

    with pytest.raises(OutcomeUnknown):  # a 502 does not say whether the panel acted
        client.approve(pid, "Receipt.pdf", RECEIPT)
    assert [r.status for r in gate.requests("/approve")] == [502]
    assert gate.ledger.entries("gate_approve") == []

    # The caller reconciles: the payout is still in work, so approving is still right.
    assert client.get_payout(pid).status == 5
    assert client.approve(pid, "Receipt.pdf", RECEIPT).status == 6
    assert len(gate.ledger.entries("gate_approve")) == 1


def test_5xx_on_show_is_retried_and_takes_once(gate):
    pid = gate.sandbox.create_payout(Decimal("5000"), "sbp", "tinkoff")["id"]
    client = gate.client()
    client.me()
    gate.faults.script("error_5xx")

    assert client.show(pid).status == 5
    assert [r.status for r in gate.requests("/show")] == [502, 200]
    assert len(gate.ledger.entries("gate_take")) == 1


def test_a_get_that_times_out_is_retried(gate):
    sent = []
    client = gate.client(timeout=0.3, rate_limiter=lambda: sent.append(1))
    client.me()
    gate.set_faults(timeout_seconds=1.0)
    gate.faults.script("timeout")
    sent.clear()

    assert client.me().login
    assert len(sent) == 2  # the first try got no answer in time, the second did
    assert [r.status for r in gate.requests("/auth/me")][-1] == 200


def test_410_gone_is_surfaced_and_not_retried(make_gate):
    world = make_gate(list_gone=True)
    client = world.client()
    client.me()
    with pytest.raises(EndpointGone):
        client.list_payouts()
    assert [r.status for r in world.requests("/payments/payouts")] == [410]


def test_5xx_on_cancel_is_not_retried(gate):
    client = gate.client()
    pid = taken_payout(gate, client)
    gate.faults.script("error_5xx")
    with pytest.raises(OutcomeUnknown):
        client.cancel(pid)
    assert len(gate.requests("/cancel")) == 1
