"""Account leases (DESIGN §9) against a real Redis: one holder at a time, expiry, takeover."""
from __future__ import annotations

import uuid

import gevent
import pytest

from itrader.config import ConfigError, load
from itrader.leases import AccountLease, LeaseStore, lease_is_safe, lease_key, new_owner_id


@pytest.fixture
def account():
    return f"acct-{uuid.uuid4().hex[:8]}"  # a fresh key per test on the shared session Redis


def test_keys_name_the_platform_and_account():
    assert lease_key("bybit", "main") == "itrader:lease:bybit:main"
    assert lease_key("gate", "desk1@example.com") == "itrader:lease:gate:desk1@example.com"


def test_owner_ids_are_host_pid_and_random():
    first, second = new_owner_id(), new_owner_id()
    assert first != second and first.count(":") >= 2


def test_a_lease_is_safe_until_renewal_plus_ttl_minus_margin():
    assert lease_is_safe(100.0, ttl=30, now=119.9)  # margin 10 s
    assert not lease_is_safe(100.0, ttl=30, now=120.0)
    assert not lease_is_safe(None, ttl=30, now=0.0)
    assert lease_is_safe(100.0, ttl=30, now=129.0, margin=0.5)


def test_one_owner_at_a_time_and_release_frees_the_key(redis_url, account):
    key = lease_key("bybit", account)
    first, second = LeaseStore(redis_url, "host:1:a", ttl=30), LeaseStore(redis_url, "host:2:b", ttl=30)
    assert first.acquire(key)
    assert first.acquire(key)  # its own key again (an actor restarted in the same process)
    assert not second.acquire(key)
    assert first.holder(key) == "host:1:a"
    assert first.renew(key) is True
    assert second.renew(key) is False  # a non-owner cannot extend it
    assert not second.release(key)  # nor delete it
    assert first.holder(key) == "host:1:a"
    assert first.release(key)
    assert first.holder(key) is None
    assert second.acquire(key)
    assert second.holder(key) == "host:2:b"


def test_an_expired_lease_is_taken_over_and_its_former_holder_cannot_renew_it(redis_url, account):
    key = lease_key("gate", account)
    first, second = LeaseStore(redis_url, "host:1:a", ttl=0.5), LeaseStore(redis_url, "host:2:b", ttl=0.5)
    assert first.acquire(key)
    assert not second.acquire(key)
    gevent.sleep(0.7)  # the holder died: nobody renews
    assert first.holder(key) is None
    assert second.acquire(key)
    assert first.renew(key) is False
    assert second.holder(key) == "host:2:b"


def test_the_account_lease_stops_trusting_itself_when_taken_over(redis_url, account):
    now = [1000.0]
    mine = AccountLease("bybit", account, LeaseStore(redis_url, "host:1:a", ttl=3), clock=lambda: now[0])
    theirs = AccountLease("bybit", account, LeaseStore(redis_url, "host:2:b", ttl=3), clock=lambda: now[0])
    assert not mine.safe() and mine.view()["state"] == "standby"
    assert mine.acquire() and mine.safe()
    assert not theirs.acquire() and not theirs.safe()
    assert theirs.view() == {"state": "standby", "owner": "host:2:b", "holder": "host:1:a", "ttl": 3.0}
    now[0] += 2.0  # no renew for longer than ttl - margin: not safe any more, even though the key is ours
    assert not mine.safe() and mine.holding
    assert mine.renew() and mine.safe() and not mine.lost_now()
    mine.store.release(mine.key)  # as if it had expired: someone else takes it
    assert theirs.acquire()
    assert not mine.renew() and not mine.safe()
    assert mine.lost_now() and not mine.holding and not mine.lost_now()  # told once
    assert mine.view()["holder"] == "host:2:b"
    theirs.release()
    assert theirs.holder() is None


def test_an_unreachable_redis_leaves_only_the_last_confirmed_renewal(account):
    now = [50.0]
    lease = AccountLease("gate", account, LeaseStore("redis://127.0.0.1:1/0", "host:1:a", ttl=3),
                         clock=lambda: now[0])
    assert not lease.acquire() and not lease.safe()
    lease.renewed_at = 50.0  # confirmed a moment ago, then Redis went away
    assert lease.renew() and lease.safe()  # unknown: still trusted until its margin
    now[0] += 2.5
    assert not lease.renew() and not lease.safe()


def test_without_redis_every_lease_is_held():
    lease = AccountLease.always_held("bybit", "main")
    assert lease.holding and lease.acquire() and lease.renew() and lease.safe() and not lease.active
    lease.release()
    assert lease.holding and lease.safe() and not lease.lost_now() and lease.view() == {"state": "held", "leases": "off"}


def test_lease_ttl_is_a_positive_number_in_the_config(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[redis]\nurl = 'redis://127.0.0.1:6379/0'\nlease_ttl = 3\n"
                    "[gate]\nrequest_timeout = 2.5\n[bybit]\nrequest_timeout = 2\n")
    assert load(path, env={}).redis.lease_ttl == 3.0
    assert load(None, env={}).redis.lease_ttl == 60.0
    path.write_text("[redis]\nlease_ttl = 0\n")
    with pytest.raises(ConfigError) as bad:
        load(path, env={})
    assert bad.value.key == "redis.lease_ttl"


def test_a_lease_shorter_than_a_request_timeout_is_refused(tmp_path):
    """A Gate take sent just after a renew could still be running when another daemon takes over."""
    path = tmp_path / "c.toml"
    path.write_text("[redis]\nurl = 'redis://127.0.0.1:6379/0'\nlease_ttl = 20\n")  # Gate's default timeout is 30
    with pytest.raises(ConfigError) as bad:
        load(path, env={})
    assert bad.value.problems == [("redis.lease_ttl", "must be above the slowest request timeout "
                                                      "(gate.request_timeout = 30s), got 20s")]
    path.write_text("[redis]\nlease_ttl = 20\n")  # no Redis, no leases: nothing to outlive
    assert load(path, env={}).redis.lease_ttl == 20.0
