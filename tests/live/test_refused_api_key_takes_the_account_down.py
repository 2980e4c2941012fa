"""Issue 12, item 9: Bybit refuses an API key for where the daemon calls from — retCode 10010 (the key is
bound to other IPs) or a 403 page for the region. That does not pass by itself: the account is marked
unhealthy with one operator event saying what to fix, its waiting ad moves to another account at once,
and it is checked again only every `bybit.access_recheck_interval` seconds, not hammered; when the key
works again, the account is healthy again."""
from decimal import Decimal

import gevent
import pytest
import requests

from tests.pipeline.harness import TERMINAL, InProcessDaemon, daemon_config_text

RECHECK = 3


@pytest.fixture
def daemon(world, tmp_path):
    data_dir = tmp_path / "daemon"
    text = daemon_config_text(world, data_dir, world.imap_login)
    text = text.replace("[bybit]\n", f"[bybit]\naccess_recheck_interval = {RECHECK}\n", 1)
    started = InProcessDaemon.__new__(InProcessDaemon)
    started._start(text, data_dir, wait_web=30.0)
    yield started
    started.stop()


def deny(world, uid: str, how: str | None) -> None:
    answer = requests.put(f"{world.urls['sandbox']}/bybit/accounts/{uid}/access", json={"denied": how}, timeout=10)
    assert answer.status_code == 200, answer.text


def events(daemon, kind: str, account: str) -> list[dict]:
    return [e for e in daemon.system.events.since(0) if e["type"] == kind and e.get("account") == account]


def host_of(world, ad_id: str) -> dict:
    return next(b for b in world.credentials()["bybit"] if any(a["item_id"] == ad_id for a in world.bybit.ads(b["uid"])))


def test_a_key_refused_for_this_ip_moves_the_waiting_ad_and_is_checked_rarely(world, daemon):
    payout = world.create_payout(Decimal("4800"), "sbp", "sberbank")  # no buyer yet: the ad waits
    first = daemon.wait_state(payout["id"], {"AD_ONLINE"}, timeout=60)
    refused = host_of(world, first.ad_id)
    deny(world, refused["uid"], "ip")

    daemon.wait_for(lambda: events(daemon, "account_unhealthy", refused["nickname"]), 20,
                    "the operator to be told the key is refused")
    told = events(daemon, "account_unhealthy", refused["nickname"])
    assert len(told) == 1 and "IP" in told[0]["fix"] and "10010" in told[0]["reason"]
    assert told[0]["ads_to_close"] == [first.ad_id]  # a refused key cannot cancel it: the operator must
    # The waiting ad moved to another account at once (not after a grace period).
    daemon.wait_for(lambda: (daemon.deal_for_payout(payout["id"]).ad_id not in (None, first.ad_id)
                             and daemon.deal_for_payout(payout["id"]).state == "AD_ONLINE"), 30,
                    "the deal's ad to move to another account")
    moved = daemon.deal_for_payout(payout["id"])
    assert host_of(world, moved.ad_id)["uid"] != refused["uid"]

    # Checked again every RECHECK seconds, not on every poll tick.
    before = world.bybit.refused_calls(refused["uid"])
    gevent.sleep(3 * RECHECK)
    assert world.bybit.refused_calls(refused["uid"]) - before <= 3 + 2

    world.bybit.take_ad_offline(first.ad_id)  # the operator closes the old ad in Bybit's app
    world.attach_buyer(payout["id"], persona="honest")
    assert daemon.wait_state(payout["id"], TERMINAL, timeout=120).state == "COMPLETED"
    assert len(events(daemon, "account_unhealthy", refused["nickname"])) == 1  # one event, not one per check

    deny(world, refused["uid"], None)  # the operator bound the key to this host
    daemon.wait_for(lambda: events(daemon, "account_healthy", refused["nickname"]), 4 * RECHECK,
                    "the account to be healthy again")
    assert world.audit() == []


def test_a_region_refused_with_a_403_page_names_the_region_as_the_fix(world, daemon):
    payout = world.create_payout(Decimal("4900"), "sbp", "sberbank")
    first = daemon.wait_state(payout["id"], {"AD_ONLINE"}, timeout=60)
    refused = host_of(world, first.ad_id)
    deny(world, refused["uid"], "region")
    daemon.wait_for(lambda: events(daemon, "account_unhealthy", refused["nickname"]), 20,
                    "the operator to be told the region is refused")
    told = events(daemon, "account_unhealthy", refused["nickname"])[0]
    assert "region" in told["fix"] and "403" in told["reason"]
    daemon.wait_for(lambda: daemon.deal_for_payout(payout["id"]).ad_id not in (None, first.ad_id), 30,
                    "the deal's ad to move to another account")
    assert daemon.escalated == []  # never a crash loop


def test_a_deal_whose_ad_could_not_go_up_on_a_refused_account_moves_to_a_working_one(world, daemon):
    accounts = world.credentials()["bybit"]
    daemon.wait_for(lambda: {e["account"] for e in daemon.system.events.since(0)
                             if e["type"] == "bybit_account_ready"} >= {a["nickname"] for a in accounts}, 30,
                    "every account to start")
    working = accounts[-1]
    for refused in accounts[:-1]:  # refused since the daemon started: nobody knows yet
        deny(world, refused["uid"], "ip")
    payout = world.create_payout(Decimal("5100"), "sbp", "sberbank", persona="honest")
    row = daemon.wait_state(payout["id"], TERMINAL, timeout=90)
    assert row.state == "COMPLETED", row.reason
    assert host_of(world, row.ad_id)["uid"] == working["uid"]
    assert world.audit() == []
