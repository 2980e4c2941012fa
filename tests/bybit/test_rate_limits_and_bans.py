"""Rate limits, bans and injected faults: the client says how long to wait, never sleeps it, stops when banned."""
from __future__ import annotations

import random
from decimal import Decimal

import gevent
import pytest

from itrader import errors
from itrader.bybit import Blocked, Budgets, OutcomeUnknown, RateBudget, RateLimited, TemporaryError
from itrader.leases import LeaseLost
from itrader.limits import LocalLimiter, RedisLimiter
from itrader.sandbox.faults import FaultPlan
from tests.bybit.conftest import SELLER_UID, bybit_world

FAST = Budgets(read=RateBudget(1000, 1000), write=RateBudget(1000, 1000))  # no client-side limit


def seed_where_draws_are(*pattern: bool, chance: float = 0.5) -> int:
    """A Faults seed whose first draws inject (True) or not (False) in this order."""
    for seed in range(10_000):
        rng = random.Random(seed)
        if all((rng.random() < chance) == inject for inject in pattern):
            return seed
    raise AssertionError("no such seed")


def test_http_429_is_raised_with_its_retry_after_never_slept_out():
    """The caller (the account actor) puts the call off for the wait; the client does not sleep it."""
    with bybit_world(seed=seed_where_draws_are(True, False)) as world:
        world.faults.set("bybit", FaultPlan(rate_limited=0.5, retry_after_seconds=25))
        client = world.client()
        with pytest.raises(RateLimited) as limited:
            client.payment_methods()
        assert limited.value.retry_after == 25
        hits = [e for e in world.sandbox.http_log() if e["path"] == "/v5/p2p/user/payment/list"]
        assert [(e["status"], e["retry_after"]) for e in hits] == [(429, "25")]  # and no second try
        assert client.payment_methods()  # the caller's own later try
        assert len([e for e in world.sandbox.http_log() if e["path"] == "/v5/p2p/user/payment/list"]) == 2


def test_per_uid_10006_is_raised_with_the_wait_until_the_limit_resets(world):
    """A client budget more generous than Bybit's per-UID limit: Bybit says 10006, and the calls it refused
    come back as RateLimited carrying the wait until its limit resets — none is slept out, none fails any
    other way, and those Bybit let through answered."""
    client = world.client(budgets=FAST)
    results = [gevent.spawn(client.account_info) for _ in range(25)]
    gevent.joinall(results)
    refused = [g.exception for g in results if g.exception is not None]
    assert world.sandbox.rate_rejections(SELLER_UID) == len(refused) > 0
    assert all(isinstance(e, RateLimited) and 0 < e.retry_after <= 1.5 for e in refused)
    assert all(g.value["userId"] == SELLER_UID for g in results if g.exception is None)


def test_the_write_hook_runs_before_every_write_and_not_before_reads(world):
    """The account actor's lease check (`before_write`) comes before each HTTP try of a write; when it
    raises, nothing is sent."""
    checks: list[str] = []

    def lease_check() -> None:
        checks.append("checked")
        if len(checks) > 1:
            raise LeaseLost("the lease went")

    client = world.client(before_write=lease_check)
    client.account_info()
    assert checks == []
    sent = len(world.sandbox.http_log())
    with pytest.raises(errors.PermanentError):
        client.cancel_ad("1")  # checked, then sent: Bybit knows no such ad
    assert checks == ["checked"] and len(world.sandbox.http_log()) == sent + 1
    with pytest.raises(LeaseLost):
        client.cancel_ad("1")
    assert checks == ["checked", "checked"] and len(world.sandbox.http_log()) == sent + 1  # not sent


def test_ip_ban_is_a_typed_error_without_a_retry_storm(world):
    client = world.client()
    client.payment_methods()
    world.sandbox.ban_ip("127.0.0.1")
    before = len(world.sandbox.http_log())
    with pytest.raises(Blocked) as first:
        client.payment_methods()
    assert first.value.http_status == 403 and first.value.retry_after == 600
    for _ in range(20):
        with pytest.raises(Blocked):
            client.pending_orders()
    assert len(world.sandbox.http_log()) == before + 1  # one request hit the ban, none after it
    assert client.blocked_for > 500


def test_exceeding_the_ip_limit_triggers_the_ban():
    with bybit_world(ip_requests_per_window=5, ip_ban_seconds=600) as world:
        client = world.client(budgets=FAST)
        for _ in range(5):
            client.payment_methods()
        with pytest.raises(Blocked):
            client.payment_methods()
        other_client = world.client(budgets=FAST)  # another account on the same IP is banned too
        with pytest.raises(Blocked):
            other_client.account_info()


def test_cloudflare_403_page_is_blocked_too(world):
    world.faults.set("bybit", FaultPlan(cloudflare_403=1.0))
    with pytest.raises(Blocked):
        world.client().pending_orders()
    assert len(world.sandbox.http_log()) == 1


def test_5xx_is_retried_for_reads_but_never_for_writes():
    with bybit_world(seed=seed_where_draws_are(True, True, False)) as world:
        client = world.client()
        client.sync_clock()
        world.faults.set("bybit", FaultPlan(error_5xx=0.5))
        assert client.account_info()["userId"] == SELLER_UID  # two 502s, then success
        world.faults.set("bybit", FaultPlan(error_5xx=1.0))
        with pytest.raises(OutcomeUnknown) as failure:  # a 502 does not say whether Bybit acted
            client.send_text("1931000000000000001", "hello")
        assert failure.value.http_status == 502
        sends = [e for e in world.sandbox.http_log() if e["path"] == "/v5/p2p/order/message/send"]
        assert len(sends) == 1  # a write that may have happened is not repeated


# ----------------------------------------------------------- burst audits

def max_calls_in_any_second(timestamps: list[float]) -> int:
    timestamps = sorted(timestamps)
    best, start = 0, 0
    for end, ts in enumerate(timestamps):
        while ts - timestamps[start] >= 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


SANDBOX_READS_PER_SECOND = 40
CLIENT_READ_BUDGET = RateBudget(32, 1)  # burst + rate = 33 calls per second at most, under 40
# The sandbox stamps a call when it arrives, not when its token was granted: a call that waits a moment
# for the CPU lands closer to the next ones. A few calls of slack for that; an unshared budget would
# show up as ~64 (two processes at 32/s each), far above it.
ARRIVAL_JITTER_CALLS = 3
# 200 calls at once queue for up to ~6 s: these bursts measure the shared budget, so their clients may
# wait that long (an actor's client waits at most 2 s and puts the rest off).
BURST_WAIT = 30.0


def burst_through(clients, calls: int) -> None:
    jobs = [gevent.spawn(clients[n % len(clients)].account_info) for n in range(calls)]
    gevent.joinall(jobs, raise_error=True)


def audit(world, calls: int) -> None:
    reads = [ts for ts, kind, _ in world.sandbox.request_log(SELLER_UID) if kind == "read"]
    assert len(reads) == calls
    assert world.sandbox.rate_rejections(SELLER_UID) == 0
    assert max_calls_in_any_second(reads) <= SANDBOX_READS_PER_SECOND
    assert max_calls_in_any_second(reads) <= (CLIENT_READ_BUDGET.per_second + CLIENT_READ_BUDGET.burst
                                              + ARRIVAL_JITTER_CALLS)


def test_burst_of_200_calls_stays_within_the_rate_without_redis():
    with bybit_world(ip_requests_per_window=10_000, reads_per_second=SANDBOX_READS_PER_SECOND) as world:
        limiter = LocalLimiter()
        budgets = Budgets(read=CLIENT_READ_BUDGET)
        clients = [world.client(limiter=limiter, budgets=budgets, account="seller-1", max_budget_wait=BURST_WAIT)
                   for _ in range(2)]
        burst_through(clients, 200)
        audit(world, 200)


def test_two_budgets_that_are_not_shared_would_fail_the_audit():
    with bybit_world(ip_requests_per_window=10_000, reads_per_second=1000) as world:
        budgets = Budgets(read=CLIENT_READ_BUDGET)
        clients = [world.client(limiter=LocalLimiter(), budgets=budgets, account="seller-1",
                                max_budget_wait=BURST_WAIT) for _ in range(2)]
        burst_through(clients, 200)
        reads = [ts for ts, kind, _ in world.sandbox.request_log(SELLER_UID) if kind == "read"]
        assert max_calls_in_any_second(reads) > (CLIENT_READ_BUDGET.per_second + CLIENT_READ_BUDGET.burst
                                                 + ARRIVAL_JITTER_CALLS)


def test_burst_of_200_calls_from_two_processes_shares_one_redis_budget(redis_url):
    with bybit_world(ip_requests_per_window=10_000, reads_per_second=SANDBOX_READS_PER_SECOND) as world:
        budgets = Budgets(read=CLIENT_READ_BUDGET)
        # Two limiter instances (two connections, as two daemons would have) on the same account key.
        clients = [world.client(limiter=RedisLimiter(redis_url), budgets=budgets, account="seller-redis",
                                max_budget_wait=BURST_WAIT)
                   for _ in range(2)]
        burst_through(clients, 200)
        audit(world, 200)


def test_a_server_that_hangs_gives_a_temporary_error_after_the_client_timeout(world):
    client = world.client(timeout=0.3, max_retries=0)
    client.sync_clock()
    world.faults.set("bybit", FaultPlan(timeout=1.0, timeout_seconds=1.0))
    with pytest.raises(TemporaryError) as failure:
        client.pending_orders()
    assert "timed out" in str(failure.value)
    world.faults.reset()


def test_an_ad_may_be_modified_at_most_10_times_in_5_minutes():
    from itrader.bybit import AdRejected
    from tests.bybit.test_client_contract import sell_ad

    with bybit_world(writes_per_second=100) as world:
        client = world.client(budgets=FAST)
        sbp = next(m.id for m in client.payment_methods() if m.payment_type == 382)
        item_id = client.create_ad(sell_ad(sbp))
        for n in range(10):
            client.update_ad(item_id, sell_ad(sbp, price=f"80.{n + 10}"))
        with pytest.raises(AdRejected):
            client.update_ad(item_id, sell_ad(sbp, price="81.00"))
        assert client.ad_info(item_id).price == Decimal("80.19")


def test_try_reserve_takes_a_token_without_waiting_and_pays_for_the_next_call_only():
    with bybit_world(ip_requests_per_window=10_000, reads_per_second=1000) as world:
        limiter = LocalLimiter()
        client = world.client(limiter=limiter, budgets=Budgets(read=RateBudget(2, 1)), account="seller-1")
        assert client.try_reserve("read") == 0.0  # the one token of the bucket, taken now
        assert client.try_reserve("read") == 0.0  # already paid for: nothing more is taken
        wait = limiter.try_acquire("bybit:seller-1:read", 2, 1)
        assert 0.4 < wait <= 0.5  # the bucket is empty: the reserve really took its token
        client.account_info()  # the reserved token pays for this call
        client.account_info()  # this one waits for the budget like any call
        assert world.sandbox.rate_rejections(SELLER_UID) == 0
        reads = [ts for ts, kind, _ in world.sandbox.request_log(SELLER_UID) if kind == "read"]
        assert len(reads) == 2 and reads[1] - reads[0] >= 0.4
