"""Token buckets: the arithmetic, the in-process limiter and the Redis one shared between instances."""
from __future__ import annotations

import gevent
import pytest

from itrader.limits import Bucket, LocalLimiter, RateBudgetExhausted, RedisLimiter, Spend, make_limiter, take_token


def test_a_full_bucket_grants_burst_then_asks_to_wait():
    bucket, granted = None, 0
    for _ in range(5):
        bucket, wait = take_token(bucket, now=100.0, rate_per_second=2, burst=3)
        granted += wait == 0
    assert granted == 3
    assert wait == pytest.approx(0.5)


def test_a_bucket_refills_at_the_rate_up_to_burst():
    bucket, _ = take_token(Bucket(tokens=0.0, updated_at=100.0), now=100.5, rate_per_second=2, burst=3)
    assert bucket.tokens == pytest.approx(0.0)  # 0.5 s at 2/s refilled one token, which was taken
    bucket, wait = take_token(Bucket(tokens=0.0, updated_at=100.0), now=200.0, rate_per_second=2, burst=3)
    assert wait == 0 and bucket.tokens == pytest.approx(2.0)  # capped at burst, minus the one taken


def test_invalid_budgets_are_refused():
    with pytest.raises(ValueError):
        take_token(None, 0.0, rate_per_second=0, burst=1)
    with pytest.raises(ValueError):
        LocalLimiter().try_acquire("k", rate_per_second=1, burst=0.5)


def test_local_limiter_waits_cooperatively_while_other_greenlets_run():
    limiter = LocalLimiter()
    ticks = []
    ticker = gevent.spawn(lambda: [ticks.append(gevent.sleep(0.01)) for _ in range(10)])
    waited = [limiter.acquire("acct:read", rate_per_second=20, burst=1) for _ in range(4)]
    ticker.join()
    assert waited[0] == 0 and all(w > 0 for w in waited[1:])
    assert len(ticks) == 10  # the hub was not blocked while we waited


def test_wait_longer_than_allowed_raises_a_clear_error():
    limiter = LocalLimiter()
    limiter.acquire("acct:write", rate_per_second=0.1, burst=1)
    with pytest.raises(RateBudgetExhausted) as failure:
        limiter.acquire("acct:write", rate_per_second=0.1, burst=1, max_wait=1.0)
    assert "acct:write" in str(failure.value) and failure.value.needed_wait > 1.0


def test_keys_are_independent():
    limiter = LocalLimiter()
    assert limiter.try_acquire("a:read", 1, 1) == 0
    assert limiter.try_acquire("a:read", 1, 1) > 0
    assert limiter.try_acquire("a:write", 1, 1) == 0
    assert limiter.try_acquire("b:read", 1, 1) == 0


def test_make_limiter_picks_redis_only_with_a_url(redis_url):
    assert isinstance(make_limiter(None).inner, LocalLimiter)  # counted for the metrics (CountedLimiter)
    assert isinstance(make_limiter(redis_url).inner, RedisLimiter)


def test_two_redis_limiters_share_one_bucket(redis_url):
    first, second = RedisLimiter(redis_url), RedisLimiter(redis_url)
    key = "shared-acct:read"
    grants = [limiter.try_acquire(key, rate_per_second=0.5, burst=3) == 0 for limiter in (first, second) * 3]
    assert grants == [True, True, True, False, False, False]
    assert first.try_acquire("other-acct:read", 0.5, 3) == 0


def test_redis_limiter_waits_and_bounds_the_wait(redis_url):
    limiter = RedisLimiter(redis_url)
    assert limiter.acquire("acct-w:write", rate_per_second=10, burst=1) == 0
    assert limiter.acquire("acct-w:write", rate_per_second=10, burst=1) > 0
    with pytest.raises(RateBudgetExhausted):
        limiter.acquire("acct-w:write", rate_per_second=0.01, burst=1, max_wait=0.5)


def test_redis_limiter_repr_hides_credentials():
    limiter = RedisLimiter("redis://user:hunter2@127.0.0.1:1/0")
    assert "hunter2" not in repr(limiter) and "127.0.0.1:1" in repr(limiter)


# --- several buckets in one step (the account's budget and the IP's) ---------------------------------------


def _limiters(redis_url):
    return [LocalLimiter(), RedisLimiter(redis_url)]


def test_a_spend_from_several_buckets_takes_from_all_or_from_none(redis_url):
    for n, limiter in enumerate(_limiters(redis_url)):
        account, ip = Spend(f"all-or-none{n}:a", 1, 1), Spend(f"all-or-none{n}:ip", 1, 3)
        assert limiter.try_acquire_all([account, ip]) == 0  # both had a token
        assert limiter.try_acquire_all([account, ip]) > 0  # the account's is gone: nothing taken from the IP
        other = Spend(f"all-or-none{n}:b", 1, 1)
        assert limiter.try_acquire_all([other, ip]) == 0
        assert limiter.try_acquire_all([Spend(f"all-or-none{n}:c", 1, 1), ip]) == 0  # 3 IP tokens, 3 taken
        assert limiter.try_acquire_all([Spend(f"all-or-none{n}:d", 1, 1), ip]) > 0


def test_a_floor_keeps_the_last_tokens_for_the_calls_without_one(redis_url):
    """How writes have priority over reads in the IP bucket: a read leaves `floor` tokens, a write takes them."""
    for n, limiter in enumerate(_limiters(redis_url)):
        read, write = Spend(f"floor{n}:ip", 0.1, 4, floor=2), Spend(f"floor{n}:ip", 0.1, 4)
        assert [limiter.try_acquire_all([read]) == 0 for _ in range(3)] == [True, True, False]
        assert [limiter.try_acquire_all([write]) == 0 for _ in range(3)] == [True, True, False]


def test_a_reservation_hands_out_turns_in_the_order_asked_and_no_further_than_within(redis_url):
    for n, limiter in enumerate(_limiters(redis_url)):
        turn = Spend(f"turns{n}:polls", 10, 1)
        waits = [limiter.take([turn], within=0.35) for _ in range(5)]
        assert [taken for taken, _ in waits] == [True, True, True, True, False]
        assert [round(wait, 1) for _, wait in waits[:4]] == [0.0, 0.1, 0.2, 0.3]  # one turn per 1/rate
        assert waits[4][1] == pytest.approx(0.4, abs=0.02)  # refused: nothing taken, the turn would be that far
        assert limiter.take([turn], within=0.35)[1] == pytest.approx(0.4, abs=0.02)
