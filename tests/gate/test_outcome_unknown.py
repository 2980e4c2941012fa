"""The Gate client decides what a failure means (itrader.errors): a write whose answer it did not get is
OutcomeUnknown, a failure that proves nothing was sent is temporary, a read's failure is temporary.
Against the sandbox World over HTTP, with faults scripted through its control API."""
from __future__ import annotations

from decimal import Decimal

import pytest
import requests

from itrader import errors
from itrader.gate import Blocked, GateClient, OutcomeUnknown, RateLimited, TemporaryError
from itrader.sandbox.world import GATE_LOGIN, GATE_PASSWORD
from tests.servers.dead_ends import hanging_up_url, refusing_url, unanswered_connects_url

RECEIPT = b"%PDF-1.4 receipt"
TIMEOUT = 0.5  # the client's; a held answer is held longer
HELD = 2.0


def script(sandbox, endpoint: str, fault: str, count: int = 1, **extra) -> None:
    reply = requests.post(f"{sandbox.urls['sandbox']}/faults/gate/script", timeout=10,
                          json={"endpoint": endpoint, "fault": fault, "count": count, **extra})
    assert reply.status_code == 200, reply.text


def client_for(sandbox, **options) -> GateClient:
    options = {"timeout": TIMEOUT, "backoff": 0.01, "max_backoff": 0.05, **options}
    return GateClient(sandbox.urls["gate"], GATE_LOGIN, GATE_PASSWORD, **options)


def taken_payout(sandbox, client: GateClient) -> int:
    pid = sandbox.create_payout(Decimal("5000"), "sbp", "tinkoff")["id"]
    client.show(pid)
    return pid


def calls(sandbox, suffix: str) -> list:
    return [r for r in sandbox.gate.request_log() if r.method == "POST" and r.path.endswith(suffix)]


@pytest.mark.parametrize("fault", ["timeout_after_executing", "error_502_after_executing"])
def test_an_approve_the_panel_carried_out_but_whose_answer_was_lost_is_outcome_unknown(sandbox, fault):
    client = client_for(sandbox)
    pid = taken_payout(sandbox, client)
    script(sandbox, "payouts/{id}/approve", fault, seconds=HELD)

    with pytest.raises(OutcomeUnknown) as lost:
        client.approve(pid, "Receipt.pdf", RECEIPT)

    assert isinstance(lost.value, errors.OutcomeUnknown) and not isinstance(lost.value, errors.TemporaryError)
    assert len(calls(sandbox, "/approve")) == 1, "never repeated by the client"
    assert len(sandbox.ledger.entries("gate_approve")) == 1
    assert client.get_payout(pid).status == 6, "reading back tells it went through"


@pytest.mark.parametrize("fault", ["timeout_before", "error_502"])
def test_the_same_loss_before_the_panel_acted_looks_the_same_and_only_the_read_back_tells(sandbox, fault):
    """A held or 502 answer reads the same whether or not the panel acted: the client cannot call it
    "never performed", so it is OutcomeUnknown too; the read-back says it did not happen."""
    client = client_for(sandbox)
    pid = taken_payout(sandbox, client)
    script(sandbox, "payouts/{id}/approve", fault, seconds=HELD)

    with pytest.raises(OutcomeUnknown):
        client.approve(pid, "Receipt.pdf", RECEIPT)

    assert sandbox.ledger.entries("gate_approve") == []
    assert client.get_payout(pid).status == 5


def test_refusals_that_prove_the_approve_was_not_performed_are_temporary_or_blocked(sandbox):
    client = client_for(sandbox)
    pid = taken_payout(sandbox, client)

    script(sandbox, "payouts/{id}/approve", "rate_limited", retry_after_seconds=0.1)
    with pytest.raises(RateLimited) as limited:
        client.approve(pid, "Receipt.pdf", RECEIPT)
    assert isinstance(limited.value, errors.TemporaryError) and not isinstance(limited.value, errors.OutcomeUnknown)

    script(sandbox, "payouts/{id}/approve", "cloudflare_403")
    with pytest.raises(Blocked) as blocked:
        client.approve(pid, "Receipt.pdf", RECEIPT)
    assert isinstance(blocked.value, errors.BlockedError) and not isinstance(blocked.value, errors.OutcomeUnknown)

    assert sandbox.ledger.entries("gate_approve") == [] and client.get_payout(pid).status == 5


@pytest.mark.parametrize("dead_end", [refusing_url, unanswered_connects_url])
def test_an_approve_that_never_reached_the_panel_is_temporary(sandbox, dead_end):
    live = client_for(sandbox)
    pid = taken_payout(sandbox, live)
    with dead_end() as base:
        client = GateClient(base + "/gate/api/v1", GATE_LOGIN, GATE_PASSWORD, timeout=TIMEOUT, max_attempts=1)
        client.import_cookies(live.export_cookies())  # logged in: the approve itself is what fails
        with pytest.raises(TemporaryError) as never_sent:
            client.approve(pid, "Receipt.pdf", RECEIPT)
    assert not isinstance(never_sent.value, errors.OutcomeUnknown)
    assert live.get_payout(pid).status == 5


def test_an_approve_whose_connection_dropped_after_sending_is_outcome_unknown():
    with hanging_up_url() as base:
        client = GateClient(base + "/gate/api/v1", GATE_LOGIN, GATE_PASSWORD, timeout=TIMEOUT, backoff=0.01)
        client.session.cookies.set("sid", "a-session", domain="127.0.0.1")
        with pytest.raises(OutcomeUnknown):
            client.approve(7, "Receipt.pdf", RECEIPT)
        with pytest.raises(TemporaryError):  # the same drop on a read changed nothing
            client.list_payouts()


@pytest.mark.parametrize("fault", ["timeout_after_executing", "error_502_after_executing"])
def test_reads_whose_answer_was_lost_stay_temporary(sandbox, fault):
    client = client_for(sandbox, max_attempts=1)
    client.me()
    script(sandbox, "payouts", fault, method="GET", seconds=HELD)
    with pytest.raises(TemporaryError) as lost:
        client.list_payouts(status=5)
    assert not isinstance(lost.value, errors.OutcomeUnknown)


def test_a_take_is_retried_by_the_client_and_stays_one_take_when_its_answers_are_lost(sandbox):
    client = client_for(sandbox)
    client.me()
    pid = sandbox.create_payout(Decimal("5000"), "sbp", "tinkoff")["id"]
    script(sandbox, "payouts/{id}/show", "error_502_after_executing")

    assert client.show(pid).status == 5  # the repeat answers "already in work" and the payout is ours
    assert len(sandbox.ledger.entries("gate_take")) == 1


def test_a_take_whose_every_answer_was_lost_is_outcome_unknown_and_reads_back_as_ours(sandbox):
    client = client_for(sandbox, max_attempts=3)
    client.me()
    pid = sandbox.create_payout(Decimal("5000"), "sbp", "tinkoff")["id"]
    script(sandbox, "payouts/{id}/show", "error_502_after_executing", count=3)

    with pytest.raises(OutcomeUnknown):
        client.show(pid)
    assert len(calls(sandbox, "/show")) == 3
    assert client.own_payout(pid).status == 5, "the read-back: it is ours"
    assert len(sandbox.ledger.entries("gate_take")) == 1


def test_an_earlier_lost_answer_is_not_forgotten_when_a_later_try_fails_cleanly(sandbox):
    client = client_for(sandbox, max_attempts=2)
    client.me()
    script(sandbox, "payouts/balance", "error_502_after_executing")
    script(sandbox, "payouts/balance", "rate_limited", retry_after_seconds=0.05)

    with pytest.raises(OutcomeUnknown):  # the second try's 429 says nothing about the first
        client.set_balance(Decimal("123"))
    assert sandbox.gate.balance(GATE_LOGIN) == Decimal("123")
