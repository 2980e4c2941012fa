"""Several daemons on one PostgreSQL and one Redis (DESIGN §9): two `itrader run` subprocesses with the
same config. The first takes every account's lease and drives them; the second stands by without
touching Gate or Bybit. The active one is SIGKILLed right after Bybit created an ad it never heard
about; the standby takes the leases over once they expire, resumes the deals from the database and
finishes them — every deal terminal, consistent with both platforms, no money step done twice, a
clean sandbox audit — and it drives the payouts that arrive after the takeover.
"""
from __future__ import annotations

import re
import time
from decimal import Decimal

import gevent
import gevent.event
import pytest
import redis as redis_client
import requests

from itrader.store import Store, open_database
from tests.pipeline.crash_harness import CrashingDaemon, WorldFront, leased_accounts, sharing_daemon
from tests.pipeline.harness import TERMINAL
from tests.pipeline.test_crash import _assert_consistent

LEASE_TTL = 3
REDIS_DB = 7  # a database of the session's Redis for this test alone: flushed first
PROGRESSED = {"AD_ONLINE", "CHATTING", "REQUISITES_SENT", "PAID", "RECEIPT_OK", "APPROVED"}
FIRST_BATCH = ("honest", "honest", "refuser", "honest", "wrong-amount", "honest", "honest", "honest")
SECOND_BATCH = ("honest", "honest", "honest")
TOKEN = "test-token-123456"
EXPECTED = {"honest": "COMPLETED", "refuser": "REJECTED_BUYER", "wrong-amount": "MANUAL_REVIEW"}


def _lease_holders(client, names: list[str]) -> dict[str, str | None]:
    return {name: (client.get(f"itrader:lease:{name}") or b"").decode() or None for name in names}


def _pid_of(owner: str | None) -> int | None:
    return int(owner.split(":")[-2]) if owner else None


def _external_calls(daemon: CrashingDaemon) -> float:
    """The daemon's own count of calls to Gate and Bybit (its /metrics)."""
    text = requests.get(f"{daemon.base}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5).text
    return sum(float(value) for value in
               re.findall(r'(?m)^itrader_external_calls_total\{[^}]*\} ([0-9.e+]+)$', text))


def _wait(predicate, timeout: float, what: str, daemons=()) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        gevent.sleep(0.2)
    tails = "\n".join(f"--- {d.data_dir.name}:\n{d.tail(40)}" for d in daemons)
    raise AssertionError(f"not within {timeout}s: {what}\n{tails}")


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_the_standby_daemon_takes_over_the_leases_and_finishes_every_deal(world, tmp_path, fresh_postgres_url,
                                                                          redis_url):
    shared_redis = redis_url.rsplit("/", 1)[0] + f"/{REDIS_DB}"
    client = redis_client.Redis.from_url(shared_redis)
    client.flushdb()
    front = WorldFront(world)
    leases = leased_accounts(world)

    def daemon(name: str) -> CrashingDaemon:
        return sharing_daemon(front, tmp_path / name, world.imap_login, fresh_postgres_url, shared_redis, LEASE_TTL)

    first, second = daemon("first"), daemon("second")
    store = Store(open_database(fresh_postgres_url))
    payouts: list[dict] = []

    def feed(personas, start: int) -> None:
        for index, persona in enumerate(personas):
            payouts.append(world.create_payout(Decimal(3000 + 113 * (start + index)), "sbp",
                                               ("sberbank", "tinkoff", "vtb")[index % 3], persona=persona))
            gevent.sleep(0.7)

    def deals():
        return store.deals.list_deals(limit=1000)

    try:
        first.start()
        first.wait_ready()
        _wait(lambda: set(map(_pid_of, _lease_holders(client, leases).values())) == {first.proc.pid},
              20, "the first daemon holds every lease", [first])
        second.start()
        second.wait_ready()

        feeder = gevent.spawn(feed, FIRST_BATCH, 0)
        _wait(lambda: sum(r.state in PROGRESSED for r in deals()) >= 2, 60, "two deals under way",
              [first, second])
        # Only the first daemon drives the accounts: the second has not called Gate or Bybit once.
        assert set(map(_pid_of, _lease_holders(client, leases).values())) == {first.proc.pid}
        assert _external_calls(second) == 0
        assert _external_calls(first) > 0
        standby_view = requests.get(f"{second.base}/api/v1/accounts", headers={"Authorization": f"Bearer {TOKEN}"},
                                    timeout=10).json()["accounts"]
        assert {(a["platform"], a["lease"]["state"], _pid_of(a["lease"]["holder"])) for a in standby_view} == {
            (platform, "standby", first.proc.pid) for platform in ("bybit", "gate", "mailbox")}

        # Kill the active daemon right after Bybit created an ad for it (it never hears the ad's id).
        killed = gevent.event.Event()

        def trip(_step: str) -> None:
            first.kill()
            killed.set()
        front.switch.arm("create_ad", trip)
        how = "after create_ad"
        if not killed.wait(30):
            front.switch.disarm()
            first.kill()
            how = "after 30 s"
        live_at_kill = [r.id for r in deals() if r.state not in TERMINAL]
        assert live_at_kill, "the kill came after every deal had ended"
        print(f"\nfirst daemon killed {how}; live deals then: {live_at_kill}")
        feeder.join(timeout=30)

        _wait(lambda: set(map(_pid_of, _lease_holders(client, leases).values())) == {second.proc.pid},
              LEASE_TTL * 4, "the standby daemon takes every lease over", [second])
        feed(SECOND_BATCH, len(FIRST_BATCH))

        _wait(lambda: len(deals()) == len(payouts) and all(r.state in TERMINAL for r in deals()), 150,
              "every deal terminal", [second])
        assert second.alive()
        rows = deals()
        # Each buyer's own ending, whichever daemon drove the deal (the refuser's "no" was said to the
        # ad the killed daemon created and never heard of).
        persona = {int(p["id"]): p["buyer"]["persona"] if p.get("buyer") else p.get("persona") for p in payouts}
        ended = {(r.id, persona[int(r.payout_id)], r.state) for r in rows}
        assert ended == {(r.id, persona[int(r.payout_id)], EXPECTED[persona[int(r.payout_id)]]) for r in rows}, \
            sorted((r.id, persona[int(r.payout_id)], r.state, r.reason) for r in rows)
        # cancels of the ads of finished deals may still be under way
        settle = time.monotonic() + 15
        while [ad for ad in world.bybit.ads(online_only=True) if not Decimal(str(ad["frozen_quantity"]))] \
                and time.monotonic() < settle:
            gevent.sleep(0.5)
    finally:
        front.switch.disarm()
        first.kill()
        second.terminate()
        front.stop()
    print("end states:", sorted((r.id, r.state, r.reason) for r in rows))
    _assert_consistent(world, rows, payouts)
    # A graceful stop releases the leases at once.
    assert _lease_holders(client, leases) == {name: None for name in leases}
