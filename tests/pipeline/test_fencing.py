"""The paused-holder drill (DESIGN §9): two `itrader run` daemons on one PostgreSQL and one Redis, each
talking to the sandbox through its own front, so every request says which daemon sent it.

The first daemon drives every account. At its first take the Gate front answers 429 (Retry-After 1 s)
and freezes it with SIGSTOP — a holder paused inside a money step, past its lease's ttl. The second
daemon takes every lease over (a new epoch each) and drives, the paused payout included. Then the first
is continued. It must not act on what it held: no Gate or Bybit write from it after it woke up (its
client must not wait the 429 out and send the take again, and no step of its may pass the lease check),
no intent in the journal under its stale epochs, and it drops to standby instead; every deal ends as its
buyer makes it end, with a clean sandbox audit.
"""
from __future__ import annotations

import json
import os
import re
import signal
import time
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Callable

import gevent
import gevent.event
import pytest
import redis as redis_client
import requests

from itrader.sandbox.server import HTTPServer
from itrader.sandbox.world import MOUNTS
from itrader.store import EventKind, Store, open_database
from tests.pipeline.crash_harness import CrashingDaemon, leased_accounts, money_step, sharing_daemon
from tests.pipeline.harness import TERMINAL
from tests.pipeline.test_crash import _assert_consistent
from tests.pipeline.test_leases_failover import TOKEN, _lease_holders, _pid_of, _wait

LEASE_TTL = 3
REDIS_DB = 6  # a database of the session's Redis for this test alone: flushed first
PERSONAS = ("honest", "honest", "refuser", "honest", "honest")
EXPECTED = {"honest": "COMPLETED", "refuser": "REJECTED_BUYER"}
# Every call that changes something on a platform: the money steps and the other writes.
WRITES = re.compile(r"/gate/api/v1/payments/payouts/(\d+/(show|approve|cancel)|balance)$"
                    r"|/bybit/v5/p2p/(item/(create|update|cancel)|order/(finish|message/send)|oss/upload_file)$")


class Front:
    """The World as one daemon sees it, on a port of its own: every request is recorded with the moment it
    arrived. Armed for a money step, it calls `trip` on that request and answers 429 without passing it
    on (the platform does nothing)."""

    def __init__(self, world: Any) -> None:
        self.world = world
        self.app = world.app()
        self.calls: list[tuple[float, str, str]] = []  # (time.monotonic(), method, path)
        self.armed: str | None = None
        self.trip: Callable[[str], None] | None = None
        self._http = HTTPServer(self, "127.0.0.1:0").start()

    @property
    def urls(self) -> dict[str, str]:
        return {name: self._http.url + prefix for name, prefix in MOUNTS.items()}

    def credentials(self) -> dict[str, Any]:
        return self.world.credentials()

    def writes_since(self, moment: float) -> list[str]:
        return [f"{method} {path}" for at, method, path in self.calls
                if at >= moment and method == "POST" and WRITES.search(path)]

    def stop(self) -> None:
        self._http.stop()

    def __call__(self, environ: dict, start_response: Callable) -> Any:
        method, path = environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", "")
        self.calls.append((time.monotonic(), method, path))
        step = money_step(method, path)
        if step is not None and step == self.armed and self.trip is not None:
            trip, self.armed, self.trip = self.trip, None, None
            trip(step)
            start_response("429 Too Many Requests", [("Content-Type", "application/json"), ("Retry-After", "1")])
            return [json.dumps({"success": False, "error": "Too Many Requests"}).encode()]
        return self.app(environ, start_response)


def _accounts(daemon: CrashingDaemon) -> list[dict]:
    return requests.get(f"{daemon.base}/api/v1/accounts", headers={"Authorization": f"Bearer {TOKEN}"},
                        timeout=10).json()["accounts"]


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_holder_paused_past_its_ttl_is_fenced_off_when_it_wakes(world, tmp_path, fresh_postgres_url, redis_url):
    shared_redis = redis_url.rsplit("/", 1)[0] + f"/{REDIS_DB}"
    client = redis_client.Redis.from_url(shared_redis)
    client.flushdb()
    creds = world.credentials()
    leases = leased_accounts(world)
    front_a, front_b = Front(world), Front(world)

    def daemon(name: str, front: Front) -> CrashingDaemon:
        return sharing_daemon(front, tmp_path / name, world.imap_login, fresh_postgres_url, shared_redis, LEASE_TTL)

    first, second = daemon("first", front_a), daemon("second", front_b)
    store = Store(open_database(fresh_postgres_url))
    payouts: list[dict] = []
    paused = gevent.event.Event()
    resumed_at, resumed_wall = 0.0, datetime.now(timezone.utc)

    def pause(_step: str) -> None:
        os.kill(first.proc.pid, signal.SIGSTOP)  # frozen mid-take: its lease runs out
        paused.set()

    def holders() -> set[int | None]:
        return set(map(_pid_of, _lease_holders(client, leases).values()))

    def deals():
        return store.deals.list_deals(limit=1000)

    try:
        first.start()
        first.wait_ready()
        _wait(lambda: holders() == {first.proc.pid}, 20, "the first daemon holds every lease", [first])
        second.start()
        second.wait_ready()
        epochs_before = {key: store.fences.newest(f"itrader:lease:{key}") for key in leases}
        assert all(epoch >= 1 for key, epoch in epochs_before.items() if not key.startswith("mailbox:"))

        front_a.armed, front_a.trip = "take", pause
        for index, persona in enumerate(PERSONAS):
            payouts.append(world.create_payout(Decimal(3000 + 137 * index), "sbp",
                                               ("sberbank", "tinkoff", "vtb")[index % 3], persona=persona))
        assert paused.wait(30), "the first daemon never tried a take"
        _wait(lambda: holders() == {second.proc.pid}, LEASE_TTL * 5, "the second daemon takes every lease",
              [second])
        _wait(lambda: any(money_step(m, p) == "take" for _, m, p in front_b.calls), 30,
              "the second daemon takes a payout", [second])

        resumed_at, resumed_wall = time.monotonic(), datetime.now(timezone.utc)
        os.kill(first.proc.pid, signal.SIGCONT)
        _wait(lambda: first.alive() and all(a["lease"]["state"] == "standby" for a in _accounts(first)), 20,
              "the woken daemon in standby on every account", [first])

        _wait(lambda: len(deals()) == len(payouts) and all(r.state in TERMINAL for r in deals()), 150,
              "every deal terminal", [second])
        assert first.alive() and second.alive()
        assert holders() == {second.proc.pid}

        # Not one write from the woken daemon: no take sent again after its 429, nothing else either.
        assert front_a.writes_since(resumed_at) == [], first.tail(60)
        # No intent under a stale epoch: whatever was journaled after it woke carries the newest epoch
        # of its lease, and per lease the epochs only ever go up in journal order.
        rows = deals()
        intents = sorted((e for r in rows for e in store.deals.journal(r.id)
                          if e.kind == EventKind.INTENT and e.lease_key), key=lambda e: e.ts)
        assert intents and all(e.lease_epoch for e in intents)
        newest = {key: store.fences.newest(key) for key in {e.lease_key for e in intents}}
        stale = [(e.deal_id, e.step, e.lease_key, e.lease_epoch) for e in intents
                 if e.ts >= resumed_wall and e.lease_epoch != newest[e.lease_key]]
        assert stale == []
        for key in newest:
            epochs = [e.lease_epoch for e in intents if e.lease_key == key]
            assert epochs == sorted(epochs), (key, epochs)
        gate_key = f"itrader:lease:gate:{creds['gate']['login']}"
        assert newest[gate_key] > epochs_before[f"gate:{creds['gate']['login']}"]  # the takeover fenced
        persona = {int(p["id"]): p["buyer"]["persona"] if p.get("buyer") else p.get("persona") for p in payouts}
        assert sorted((persona[int(r.payout_id)], r.state) for r in rows) == sorted(
            (persona[int(r.payout_id)], EXPECTED[persona[int(r.payout_id)]]) for r in rows), \
            sorted((r.id, persona[int(r.payout_id)], r.state, r.reason) for r in rows)
        settle = time.monotonic() + 15  # cancels of the ads of finished deals may still be under way
        while [ad for ad in world.bybit.ads(online_only=True) if not Decimal(str(ad["frozen_quantity"]))] \
                and time.monotonic() < settle:
            gevent.sleep(0.5)
    finally:
        if first.alive():
            os.kill(first.proc.pid, signal.SIGCONT)
        front_a.armed = front_a.trip = None
        first.terminate()  # the standby first: it must not take the leases the holder lets go
        second.terminate()
        front_a.stop()
        front_b.stop()
    print("\nfirst daemon after waking:", [line for line in first.tail(400).splitlines()
                                           if "lease lost" in line or "standing down" in line or "not done" in line])
    _assert_consistent(world, rows, payouts)
