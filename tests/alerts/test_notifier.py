"""The notifier end to end on loopback (issue 13, item 3): alerts reach the sandbox's Telegram twin over
real HTTP and a webhook receiver that checks the HMAC signature; the same alert goes out once; a channel
that hangs or fails neither holds up the others nor the one who published the event; no secret is logged."""
from __future__ import annotations

import logging
import time

import gevent
import pytest

from actors.notifier import NotifierActor
from itrader import logs
from itrader.alerts import Throttle
from itrader.events import EventLog
from itrader.notify import TelegramChannel, WebhookChannel
from tests.alerts.receiver import SECRET, WebhookReceiver
from tests.core.daemon_process import eventually

TIMEOUT = 1.0


@pytest.fixture
def receiver():
    hook = WebhookReceiver()
    yield hook
    hook.server.stop(timeout=1)


def start_notifier(sandbox, receiver, events: EventLog, per_minute: int = 20, token: str | None = None):
    twin = sandbox.credentials()["telegram"]
    channels = [TelegramChannel(sandbox.urls["telegram"], token or twin["token"], twin["chat_id"], TIMEOUT),
                WebhookChannel(receiver.url, SECRET, TIMEOUT)]
    return NotifierActor.start(events, channels, Throttle(600, per_minute), TIMEOUT)


def log_as_the_daemon_does(caplog, *secrets: str) -> None:
    """Everything at DEBUG, through the daemon's secret redactor (itrader.logs), which knows the channels'
    secrets as the daemon hands them over at start."""
    logs.REDACTOR.add(*secrets)
    caplog.handler.addFilter(logs.REDACTOR)
    caplog.set_level(logging.DEBUG)


def test_an_alert_reaches_telegram_and_a_signed_webhook_once(sandbox, receiver):
    events = EventLog()
    notifier = start_notifier(sandbox, receiver, events)
    try:
        for _ in range(3):  # the same deal reported three times: one alert
            events.publish("deal", deal_id=41, payout_id="2600009", state="MANUAL_REVIEW", previous="PAID",
                           reason="receipt amount differs")
        events.publish("deal", deal_id=41, state="COMPLETED")  # routine: no alert
        events.publish("operator", deal_id=42, step="approve", why="approve payout 2600010 (5000 RUB)")
        eventually(lambda: len(sandbox.telegram.messages()) >= 2 and len(receiver.received) >= 2, 5, "two alerts")
        gevent.sleep(0.3)  # nothing more is on its way
    finally:
        notifier.stop()
    texts = sorted(m["text"] for m in sandbox.telegram.messages())  # sent side by side: any order
    assert len(texts) == 2
    assert "Deal 41 needs review (MANUAL_REVIEW): receipt amount differs" in texts[0]
    assert "Deal 42 waits for your confirmation of approve" in texts[1] and "itrader confirm 42" in texts[1]
    assert {m["chat_id"] for m in sandbox.telegram.messages()} == {sandbox.credentials()["telegram"]["chat_id"]}
    hooks = {h["kind"]: h for h in receiver.verified()}
    assert sorted(hooks) == ["awaiting_operator", "manual_review"]
    assert hooks["manual_review"]["key"] == "deal:41:MANUAL_REVIEW" and hooks["manual_review"]["severity"] == "critical"
    assert len(receiver.received) == 2  # every body was signed


def test_a_tampered_body_does_not_verify(sandbox, receiver):
    events = EventLog()
    notifier = start_notifier(sandbox, receiver, events)
    try:
        events.publish("lease_lost", platform="gate", account="g1", reason="renewal refused")
        eventually(lambda: receiver.received, 5, "the webhook")
    finally:
        notifier.stop()
    headers, body = receiver.received[0]
    receiver.received[0] = (headers, body.replace(b"g1", b"g2"))
    assert receiver.verified() == []


def test_a_hanging_channel_slows_neither_the_publisher_nor_the_other_channel(sandbox, receiver):
    receiver.hang = 30.0  # the webhook never answers in time
    events = EventLog()
    notifier = start_notifier(sandbox, receiver, events)
    try:
        started = time.monotonic()
        for deal_id in range(1, 11):
            events.publish("deal", deal_id=deal_id, state="DISPUTE", reason="appeal")
        published_in = time.monotonic() - started
        eventually(lambda: len(sandbox.telegram.messages()) == 10, 3, "Telegram's ten alerts")
        telegram_in = time.monotonic() - started
        counts = notifier.proxy().stats().get(timeout=5)
    finally:
        notifier.stop()
    assert published_in < 0.05
    assert telegram_in < TIMEOUT  # Telegram did not wait for the webhook's timeout
    assert counts.get("sent:telegram") == 10
    assert counts.get("sent:webhook", 0) == 0  # still waiting there, in its own queue


def test_a_failing_channel_logs_without_its_secrets_and_the_rest_go_on(sandbox, receiver, caplog):
    sandbox.telegram.set_behaviour(fail_status=502)
    events = EventLog()
    token = sandbox.credentials()["telegram"]["token"]
    log_as_the_daemon_does(caplog, token, SECRET)
    notifier = start_notifier(sandbox, receiver, events)
    try:
        events.publish("account_unhealthy", platform="gate", account="g1", reason="password refused")
        eventually(lambda: receiver.received, 5, "the webhook")
        eventually(lambda: "not delivered" in caplog.text, 5, "the failure to be logged")
    finally:
        notifier.stop()
    assert "telegram: HTTP 502" in caplog.text
    assert token not in caplog.text and token.split(":")[1] not in caplog.text and SECRET not in caplog.text
    assert [h["kind"] for h in receiver.verified()] == ["gate_session"]


def test_a_wrong_bot_token_is_refused_by_the_twin_and_never_logged(sandbox, receiver, caplog):
    events = EventLog()
    log_as_the_daemon_does(caplog, "999:not-the-bot-token-x1")
    notifier = start_notifier(sandbox, receiver, events, token="999:not-the-bot-token-x1")
    try:
        events.publish("root_escalation", reason="Deals restarted too often")
        eventually(lambda: "not delivered" in caplog.text, 5, "the refusal")
    finally:
        notifier.stop()
    assert sandbox.telegram.messages() == []
    assert "telegram: HTTP 401" in caplog.text and "not-the-bot-token-x1" not in caplog.text


def test_over_the_rate_alerts_are_held_and_counted(sandbox, receiver):
    events = EventLog()
    notifier = start_notifier(sandbox, receiver, events, per_minute=3)
    try:
        for deal_id in range(1, 8):
            events.publish("deal", deal_id=deal_id, state="MANUAL_REVIEW", reason="stuck")
        eventually(lambda: len(sandbox.telegram.messages()) == 3, 5, "three alerts")
        gevent.sleep(0.3)
        counts = notifier.proxy().stats().get(timeout=5)
    finally:
        notifier.stop()
    assert len(sandbox.telegram.messages()) == 3 and counts["rate_limited"] == 4
