"""One request budget for the host's IP (IpBudget): every account's calls together stay inside it, also
across limiters sharing Redis (as daemons do), writes go out while reads fill it, and the Bybit twin
counts each IP's busiest 1-s and 5-s windows and bans an IP above Bybit's 600 requests in 5 s."""
from __future__ import annotations

import inspect
import time
import uuid

import gevent
import pytest

from itrader.bybit import Blocked, Budgets, IpBudget, RateBudget
from itrader.bybit.errors import BybitError
from itrader.limits import RateBudgetExhausted, RedisLimiter
from itrader.sandbox.bybit import BybitSandbox
from tests.bybit.conftest import ManualClock, bybit_world

FAST = Budgets(read=RateBudget(1000, 1000), write=RateBudget(1000, 1000))  # no per-account limit
IP_BUDGET = 20  # requests per second: low, so a few greenlets fill it


def test_the_ip_bucket_never_grants_more_than_the_budget_in_any_1_s_or_5_s_window():
    for per_second in range(10, 121):  # the config's bounds
        budget = IpBudget.from_requests_per_second(per_second)
        calls = budget.calls
        assert calls.burst + calls.per_second <= per_second  # a bucket grants <= burst + rate * W in W s
        assert calls.burst + 5 * calls.per_second <= min(5 * per_second, 600)
        assert calls.burst >= budget.read_floor + 1  # a read can be granted at all
        assert budget.polls.per_second < calls.per_second
    default = IpBudget.from_requests_per_second(100)
    assert (default.calls.per_second, default.calls.burst) == (80, 10)  # 90 in any 1 s, 410 in any 5 s


def test_the_twin_bans_by_bybits_rule_by_default():
    defaults = inspect.signature(BybitSandbox).parameters
    assert (defaults["ip_requests_per_window"].default, defaults["ip_window_seconds"].default) == (600, 5.0)
    assert defaults["ip_ban_seconds"].default >= 600  # "wait for at least 10 minutes"


def test_the_twin_counts_the_busiest_windows_and_bans_the_ip_above_its_limit():
    clock = ManualClock()
    with bybit_world(clock=clock, ip_requests_per_window=30) as world:  # 30 in 5 s here; Bybit's is 600
        client = world.client(budgets=FAST, auto_sync_clock=False)
        for count, then in ((20, 0.9), (10, 0.2), (0, 0.0)):
            for _ in range(count):
                client.server_time()
            clock.advance(then)
        assert world.sandbox.ip_windows() == {"ips": {"127.0.0.1": {"max_1s": 30, "max_5s": 30}}, "max_1s": 30,
                                              "max_5s": 30}
        with pytest.raises(Blocked) as banned:
            client.server_time()  # the 31st within 5 s (only 11 within the last 1 s)
        assert banned.value.http_status == 403
        assert [e["status"] for e in world.sandbox.http_log()][-2:] == [200, 403]
        assert world.sandbox.ip_windows()["max_5s"] == 31 and world.sandbox.ip_windows()["max_1s"] == 30
        world.sandbox.reset_ip_windows()
        assert world.sandbox.ip_windows() == {"ips": {}, "max_1s": 0, "max_5s": 0}


def _hammer(client, call, until: float, errors: list) -> int:
    """Call as fast as the budgets allow until `until`; a refusal of our own budget waits its retry_after."""
    done = 0
    while time.monotonic() < until:
        try:
            call(client)
            done += 1
        except RateBudgetExhausted as exc:
            gevent.sleep(min(exc.retry_after, 0.05))
        except BybitError as exc:
            errors.append(exc)
            return done
    return done


def _second_account(world, n: int):
    key, secret = f"IPKEY-{n}", f"ip-secret-{n}-0123456789"
    world.sandbox.add_account(str(1410000 + n), key, secret, read_per_second=1000, write_per_second=1000)
    return key, secret


def test_two_limiters_sharing_redis_keep_both_accounts_inside_the_ip_budget_together(redis_url):
    key = f"ip-{uuid.uuid4().hex[:8]}"
    budget = IpBudget.from_requests_per_second(IP_BUDGET, key=key)
    with bybit_world(ip_requests_per_window=IP_BUDGET * 5, reads_per_second=1000, writes_per_second=1000) as world:  # the twin bans above the budget's 5 s
        clients = [world.client(*_second_account(world, n), budgets=FAST, ip_budget=budget,
                                limiter=RedisLimiter(redis_url), account=f"acct{n}") for n in range(2)]
        world.sandbox.reset_ip_windows()
        until, errors = time.monotonic() + 6.0, []
        jobs = [gevent.spawn(_hammer, client, lambda c: c.account_info(), until, errors)
                for client in clients for _ in range(3)]
        gevent.joinall(jobs)
        done = [job.value for job in jobs]
    windows = world.sandbox.ip_windows()
    assert errors == []  # no ban, no 10006
    assert windows["max_1s"] <= IP_BUDGET and windows["max_5s"] <= IP_BUDGET * 5
    assert sum(done[:3]) > 20 and sum(done[3:]) > 20  # both accounts got their share
    assert sum(done) >= 6.0 * budget.calls.per_second * 0.8  # and the budget was used, not just refused


def test_writes_go_out_at_once_while_reads_fill_the_ip_budget():
    budget = IpBudget.from_requests_per_second(IP_BUDGET, key=f"ip-{uuid.uuid4().hex[:8]}")
    with bybit_world(ip_requests_per_window=IP_BUDGET * 5, reads_per_second=1000, writes_per_second=1000) as world:
        reader = world.client(budgets=FAST, ip_budget=budget)  # the in-process limiter, as without Redis
        writer = world.client(*_second_account(world, 1), budgets=FAST, ip_budget=budget, limiter=reader.limiter,
                              account="writer")
        until, errors = time.monotonic() + 4.0, []
        readers = [gevent.spawn(_hammer, reader, lambda c: c.pending_orders(), until, errors) for _ in range(6)]
        gevent.sleep(1.0)  # the readers have emptied the bucket
        write_waits = []
        for n in range(10):
            started = time.monotonic()
            with pytest.raises(BybitError):  # the twin refuses to cancel an ad that does not exist
                writer.cancel_ad(f"no-such-ad-{n}")
            write_waits.append(time.monotonic() - started)
            gevent.sleep(0.2)
        read_refusals = sum(1 for _ in range(10) if reader.try_reserve("read") > 0)
        gevent.joinall(readers)
    assert errors == []
    assert max(write_waits) < 0.15  # every write went out without waiting for the reads
    assert read_refusals >= 8  # while a read found no token (the reads had the bucket down to the writes' floor)
    assert world.sandbox.ip_windows()["max_1s"] <= IP_BUDGET
