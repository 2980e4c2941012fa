"""Account leases (DESIGN §9) against a real Redis: one holder at a time, expiry, takeover."""
from __future__ import annotations

import uuid

import gevent
import pytest

from itrader.config import ConfigError, load
from itrader.leases import (
    AccountLease, Fence, LeaseBook, LeaseLost, LeaseStore, lease_is_safe, lease_key, new_owner_id,
)


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


# --- fencing epochs ----------------------------------------------------------------


def test_every_acquire_gets_a_higher_epoch_and_renewals_keep_it(redis_url, account):
    key = lease_key("gate", account)
    first, second = LeaseStore(redis_url, "host:1:a", ttl=0.5), LeaseStore(redis_url, "host:2:b", ttl=0.5)
    epoch = first.acquire(key)
    assert epoch >= 1
    assert first.acquire(key) == epoch  # its own key again: the same holding, the same epoch
    assert first.renew(key) and first.acquire(key) == epoch
    assert second.acquire(key) == 0  # not acquired
    gevent.sleep(0.7)  # the holder died: the key expires, the counter does not
    taken_over = second.acquire(key)
    assert taken_over == epoch + 1
    assert second.release(key) and first.acquire(key) == epoch + 2


def test_the_new_epoch_stays_above_what_the_store_has_seen(redis_url, account):
    """A Redis that lost its data starts counting again; the floor (the store's newest epoch) keeps a new
    holder's epoch above every epoch ever recorded, or its intents would all be refused."""
    key = lease_key("bybit", account)
    store = LeaseStore(redis_url, "host:1:a", ttl=30)
    assert store.acquire(key, floor=41) == 42
    assert store.acquire(key, floor=41) == 42  # renewed: kept
    assert store.release(key)
    assert store.acquire(key, floor=0) == 43  # the counter went on from there
    assert store.acquire(key, floor=50) == 51  # ours, but the store saw more: a new epoch above it


def test_an_account_lease_fences_only_while_it_is_safely_held(redis_url, account):
    now = [1000.0]
    mine = AccountLease("gate", account, LeaseStore(redis_url, "host:1:a", ttl=3), clock=lambda: now[0])
    with pytest.raises(LeaseLost):
        mine.fence()  # not acquired yet
    assert mine.acquire()
    fence = mine.fence()
    assert fence == Fence(lease_key("gate", account), mine.epoch) and fence.epoch >= 1
    assert mine.renew() and mine.fence() == fence
    assert mine.view()["epoch"] == fence.epoch
    now[0] += 2.5  # paused past ttl − margin (SIGSTOP, a long GC): a holder that woke up knows
    with pytest.raises(LeaseLost):
        mine.fence()
    assert mine.renew() and mine.fence() == fence  # nobody took it meanwhile: still the same holding
    mine.release()
    assert mine.epoch is None
    with pytest.raises(LeaseLost):
        mine.fence()


def test_without_redis_there_is_nothing_to_fence():
    lease = AccountLease.always_held("bybit", "main")
    assert lease.fence() is None and lease.epoch is None
    book = LeaseBook()
    book.add("main", lease)
    assert book.fence("bybit", "main") is None
    assert book.fence("gate", "unknown") is None


def test_the_lease_book_finds_an_accounts_current_lease_by_its_actor_name(redis_url, account):
    book = LeaseBook()
    first = book.add("desk", AccountLease("gate", account, LeaseStore(redis_url, "host:1:a", ttl=30)))
    with pytest.raises(LeaseLost):
        book.fence("gate", "desk")
    assert first.acquire()
    first_epoch = first.epoch
    assert book.fence("gate", "desk") == Fence(lease_key("gate", account), first_epoch)
    first.release()
    again = book.add("desk", AccountLease("gate", account, LeaseStore(redis_url, "host:1:a", ttl=30)))
    assert again.acquire()  # the account actor restarted with a new lease object: the book follows
    assert book.fence("gate", "desk") == Fence(lease_key("gate", account), first_epoch + 1)
