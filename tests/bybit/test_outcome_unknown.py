"""The Bybit client decides what a failure means (itrader.errors): a write (ads, chat, release) whose
answer it did not get is OutcomeUnknown, a failure that proves nothing was sent is temporary, a read's
failure is temporary. Against the sandbox World over HTTP, with faults scripted through its control API."""
from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
import requests

from itrader import errors
from itrader.bybit import AdRequest, Blocked, BybitClient, OutcomeUnknown, RateLimited, TemporaryError
from itrader.sandbox.world import BYBIT_ACCOUNTS
from tests.servers.dead_ends import hanging_up_url, refusing_url, unanswered_connects_url

UID, KEY, SECRET, _ = BYBIT_ACCOUNTS[0]
BUYER = "2900000"
AMOUNT = Decimal("5000")
TIMEOUT = 0.5  # the client's; a held answer is held longer
HELD = 2.0


def script(sandbox, endpoint: str, fault: str, count: int = 1, **extra) -> None:
    reply = requests.post(f"{sandbox.urls['sandbox']}/faults/bybit/script", timeout=10,
                          json={"endpoint": endpoint, "fault": fault, "count": count, **extra})
    assert reply.status_code == 200, reply.text


def client_for(base_url: str, **options) -> BybitClient:
    return BybitClient(base_url, KEY, SECRET, **{"timeout": TIMEOUT, **options})


def sell_ad(client: BybitClient) -> AdRequest:
    sbp = next(m.id for m in client.payment_methods() if m.payment_type == 382)
    return AdRequest(price=Decimal("80.00"), min_amount=AMOUNT, max_amount=AMOUNT, quantity=Decimal("67.50"),
                     payment_ids=(sbp,), remark="Оплата по СБП")


def open_order(sandbox, client: BybitClient) -> tuple[str, str]:
    ad_id = client.create_ad(sell_ad(client))
    return ad_id, sandbox.bybit.place_order(ad_id, BUYER, AMOUNT)


def calls(sandbox, suffix: str) -> list:
    return [entry for entry in sandbox.bybit.http_log() if entry["path"].endswith(suffix)]


@pytest.mark.parametrize("fault", ["timeout_after_executing", "error_502_after_executing"])
def test_writes_bybit_carried_out_but_whose_answer_was_lost_are_outcome_unknown(sandbox, fault):
    client = client_for(sandbox.urls["bybit"])
    ad_id, order_id = open_order(sandbox, client)
    sandbox.bybit.mark_paid(order_id)

    script(sandbox, "item/create", fault, seconds=HELD)
    with pytest.raises(OutcomeUnknown) as lost:
        client.create_ad(sell_ad(client))
    assert not isinstance(lost.value, errors.TemporaryError)
    assert len([ad for ad in client.my_ads(size=50).items if ad.status == 10]) == 2, "read back: it exists"

    msg_uuid = uuid.uuid4().hex
    script(sandbox, "message/send", fault, seconds=HELD)
    with pytest.raises(OutcomeUnknown):
        client.send_text(order_id, "Реквизиты", msg_uuid)
    assert any(m.raw.get("msgUuid") == msg_uuid for m in client.chat_messages(order_id)), "read back: it is there"

    script(sandbox, "order/finish", fault, seconds=HELD)
    with pytest.raises(OutcomeUnknown):
        client.release(order_id)
    assert client.order_info(order_id).status == 50, "read back: released"

    for suffix in ("/item/create", "/message/send", "/order/finish"):
        assert [entry["fault"] for entry in calls(sandbox, suffix)][-1] == fault
    assert len(calls(sandbox, "/order/finish")) == 1 and len(sandbox.ledger.entries("bybit_release")) == 1


@pytest.mark.parametrize("fault", ["timeout_before", "error_502"])
def test_the_same_loss_before_bybit_acted_looks_the_same_and_only_the_read_back_tells(sandbox, fault):
    client = client_for(sandbox.urls["bybit"])
    ad_id = client.create_ad(sell_ad(client))
    script(sandbox, "item/cancel", fault, seconds=HELD)

    with pytest.raises(OutcomeUnknown):
        client.cancel_ad(ad_id)
    assert client.ad_info(ad_id).status == 10, "read back: still online"
    assert sandbox.ledger.entries("bybit_ad_cancel") == []


def test_refusals_that_prove_a_write_was_not_performed_are_temporary_or_blocked(sandbox):
    client = client_for(sandbox.urls["bybit"], max_retries=0)
    _, order_id = open_order(sandbox, client)

    script(sandbox, "message/send", "rate_limited", retry_after_seconds=0.1)
    with pytest.raises(RateLimited) as limited:
        client.send_text(order_id, "Реквизиты")
    assert isinstance(limited.value, errors.TemporaryError) and not isinstance(limited.value, errors.OutcomeUnknown)

    script(sandbox, "message/send", "cloudflare_403")
    with pytest.raises(Blocked) as blocked:
        client.send_text(order_id, "Реквизиты")
    assert isinstance(blocked.value, errors.BlockedError)
    assert client.blocked_for > 0
    assert [m for m in sandbox.bybit.messages(order_id) if m["message"] == "Реквизиты"] == []


@pytest.mark.parametrize("dead_end", [refusing_url, unanswered_connects_url])
def test_a_release_that_never_reached_bybit_is_temporary(dead_end):
    with dead_end() as base:
        with pytest.raises(TemporaryError) as never_sent:
            client_for(base + "/bybit").release("1931000000000000001")
    assert not isinstance(never_sent.value, errors.OutcomeUnknown)


def test_a_release_whose_connection_dropped_after_sending_is_outcome_unknown_and_a_read_temporary():
    with hanging_up_url() as base:
        client = client_for(base + "/bybit", max_retries=0)
        with pytest.raises(OutcomeUnknown):
            client.release("1931000000000000001")
        with pytest.raises(TemporaryError) as read:
            client.order_info("1931000000000000001")
    assert not isinstance(read.value, errors.OutcomeUnknown)


@pytest.mark.parametrize("fault", ["timeout_after_executing", "error_502_after_executing"])
def test_reads_whose_answer_was_lost_stay_temporary(sandbox, fault):
    client = client_for(sandbox.urls["bybit"], max_retries=0)
    _, order_id = open_order(sandbox, client)
    script(sandbox, "order/info", fault, seconds=HELD)
    with pytest.raises(TemporaryError) as lost:
        client.order_info(order_id)
    assert not isinstance(lost.value, errors.OutcomeUnknown)
