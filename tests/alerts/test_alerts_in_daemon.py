"""Alerts from a running daemon (issue 13, item 3): a deal waiting for the operator alerts through the
sandbox's Telegram twin, while the webhook channel hangs — and the deal's steps are not slowed by it; a
Bybit account whose USDT is below the threshold alerts once."""
from __future__ import annotations

import time
from decimal import Decimal

import gevent
import pytest

from itrader.sandbox.world import World
from tests.alerts.receiver import SECRET, WebhookReceiver
from tests.pipeline.harness import InProcessDaemon


@pytest.fixture
def world(tmp_path):
    world = World(seed=5, speed=0, poll_interval=0.05, maildir=tmp_path / "world-mail")
    world.start(listen="127.0.0.1:0", imap=None)
    yield world
    world.stop()


def wait_for(predicate, timeout: float, what: str) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if predicate():
            return time.monotonic() - started
        gevent.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_hanging_webhook_does_not_slow_a_deal_and_telegram_still_alerts(world, tmp_path):
    hook = WebhookReceiver()
    hook.hang = 30.0
    twin = world.credentials()["telegram"]
    alerts = (f'[alerts]\ntelegram_base_url = "{world.urls["telegram"]}"\ntelegram_token = "{twin["token"]}"\n'
              f'telegram_chat_id = "{twin["chat_id"]}"\nwebhook_url = "{hook.url}"\nwebhook_secret = "{SECRET}"\n'
              f'timeout = 3\nlow_usdt = "100000000"\n')  # above any sandbox account: one low-USDT alert
    daemon = InProcessDaemon(world, tmp_path / "daemon", imap=None, mode="manual", extra=alerts, bybit_accounts=1)
    try:
        payout = world.create_payout(Decimal("6100"), "sbp", "sberbank")
        texts = lambda: [m["text"] for m in world.telegram.messages()]  # noqa: E731
        wait_for(lambda: any("confirmation of take" in t for t in texts()), 30, "the take alert")
        deal = daemon.deal_for_payout(payout["id"])
        daemon.system.confirm_deal(deal.id)
        took = wait_for(lambda: daemon.deal_for_payout(payout["id"]).state == "ACCEPTED", 10, "the take")
        wait_for(lambda: any("confirmation of create_ad" in t for t in texts()), 10, "the ad alert")
        daemon.system.confirm_deal(deal.id)
        posted = wait_for(lambda: daemon.deal_for_payout(payout["id"]).state == "AD_ONLINE", 10, "the ad")
    finally:
        daemon.stop()
        hook.server.stop(timeout=1)
    assert took < 2.0 and posted < 2.0, (took, posted)  # each alert waits up to 3 s on the webhook: not the deal
    assert hook.received == []  # it never answered in time
    assert all(twin["token"] not in t for t in texts())
    nickname = world.credentials()["bybit"][0]["nickname"]
    low = [t for t in texts() if "USDT left" in t]
    assert len(low) == 1 and f"Bybit {nickname}: only " in low[0] and "(alert below 100000000)" in low[0]
