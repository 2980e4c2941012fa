"""A daemon with many Bybit accounts and a low per-IP budget, against the sandbox over HTTP with real Redis:
the Bybit twin never bans its IP and never sees more than the budget in any 1 s (or 5 times it in any
5 s), every account keeps polling (slower, alike), and new ads still go out while the polls fill the budget."""
from __future__ import annotations

import time
from collections import Counter
from decimal import Decimal

import gevent
import requests

from itrader.sandbox.world import World
from tests.bench.common import BenchDaemon, Platforms, Tuning, config_text

ACCOUNTS, IP_BUDGET = 30, 20  # requests per second for all 30 accounts: each alone would poll 1/s
PENDING_LIST = "/v5/p2p/order/pending/simplifyList"


def _offer(world: World, count: int) -> list[int]:
    return [requests.post(f"{world.urls['sandbox']}/payouts", timeout=10, json={
        "amount": 1500 + 100 * n, "method": "sbp", "bank": "sberbank", "expires_in": 3600}).json()["id"]
        for n in range(count)]


def test_many_accounts_stay_inside_the_ip_budget_poll_alike_and_still_place_ads(tmp_path, redis_url):
    world = World(seed=7, speed=0, maildir=tmp_path / "mail", default_accounts=False,
                  bybit_options={"ip_requests_per_window": IP_BUDGET * 5, "item_side_limit": None})
    world.add_gate_account("ipgate", "ipgate-password", Decimal("100000000"))
    accounts = [(str(1600000 + i), f"IPDKEY{i:04d}", f"ipd-secret-{i:020d}", f"Ipd{i:03d}") for i in range(ACCOUNTS)]
    for uid, key, secret, nick in accounts:
        world.add_bybit_account(uid, key, secret, nick)
    world.start(listen="127.0.0.1:0", imap=None)
    platforms = Platforms(gate_url=world.urls["gate"], gate_login="ipgate", gate_password="ipgate-password",
                          bybit_url=world.urls["bybit"], bybit=[(nick, key, secret) for _, key, secret, nick in accounts],
                          llm_url=world.urls["llm"])
    text = config_text(platforms, tmp_path / "daemon", Tuning(bybit_poll=0.5, bybit_quiet_poll=1.0))
    text = text.replace("[bybit]\n", f"[redis]\nurl = \"{redis_url}\"\n[bybit]\nip_requests_per_second = {IP_BUDGET}\n")
    (tmp_path / "daemon").mkdir()
    daemon = BenchDaemon(text, tmp_path / "daemon", wait_web=60)
    try:
        first = _offer(world, 40)
        for payout in first:
            daemon.wait_state(payout, {"AD_ONLINE"}, timeout=90)
        gevent.sleep(3.0)  # every account with an ad polls: 30 polls/s wanted, the budget has room for 11
        started = world.bybit.clock()
        later = _offer(world, 10)  # writes (ads) while the polls fill the budget
        placed = time.monotonic()
        for payout in later:
            daemon.wait_state(payout, {"AD_ONLINE"}, timeout=30)
        ads_s = time.monotonic() - placed
        gevent.sleep(max(0.0, 10.0 - ads_s))
        until = world.bybit.clock()
        windows = requests.get(f"{world.urls['sandbox']}/bybit/ip_windows", timeout=10).json()
        polls = Counter({uid: sum(1 for ts, _, path in world.bybit.request_log(uid)
                                  if path == PENDING_LIST and started <= ts <= until) for uid, *_ in accounts})
        statuses = Counter(entry["status"] for entry in world.bybit.http_log())
        with_ads = {uid for uid, *_ in accounts
                    if any(path == "/v5/p2p/item/create" for _, _, path in world.bybit.request_log(uid))}
    finally:
        daemon.stop()
        world.stop()
    print(f"ip windows {windows['max_1s']}/1s {windows['max_5s']}/5s; ads {ads_s:.1f}s; polls {sorted(polls.values())}")
    assert statuses[403] == 0 and windows["max_5s"] <= IP_BUDGET * 5  # the twin never banned the IP
    assert windows["max_1s"] <= IP_BUDGET
    span = until - started
    assert sum(polls.values()) >= span * IP_BUDGET * 0.8 * 0.7 * 0.5  # the polls had their share of the budget
    busy = [polls[uid] for uid in with_ads]  # an account without an ad has nothing to poll for
    assert len(busy) >= 15 and min(busy) >= max(2, max(busy) // 3), polls  # every account polled, alike
