"""The one lease guard (actors.lease_guard) against a real Redis: standby → held → lost, told once."""
from __future__ import annotations

import uuid
from typing import Any

import pytest

from actors.lease_guard import LeaseGuard
from actors.messages import LeaseChanged
from itrader.events import EventLog
from itrader.leases import AccountLease, LeaseStore


class Deals:
    """Stands in for the directory: records what "deals" is told."""

    def __init__(self) -> None:
        self.told: list[tuple[str, Any]] = []

    def tell(self, name: str, message: Any) -> bool:
        self.told.append((name, message))
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def account() -> str:
    return f"guard-{uuid.uuid4().hex[:8]}"


def guarded(redis_url: str, account: str, owner: str, clock: Clock, deals: Deals | None, events: EventLog,
            calls: list[str], **options: Any) -> LeaseGuard:
    lease = AccountLease("bybit", account, LeaseStore(redis_url, owner, ttl=3), clock=clock)
    return LeaseGuard(lease, "bybit", account, events, deals, forget=lambda: calls.append("forget"),
                      after_loss=lambda: calls.append("after"), **options)



def test_standby_then_held_then_lost_each_told_once(redis_url, account):
    clock, deals, events, calls = Clock(), Deals(), EventLog(), []
    other = AccountLease("bybit", account, LeaseStore(redis_url, "host:2:b", ttl=3), clock=clock)
    assert other.acquire()
    guard = guarded(redis_url, account, "host:1:a", clock, deals, events, calls)

    assert not guard.tend() and not guard.may_act()
    assert not guard.tend()
    assert deals.told == [("deals", LeaseChanged("bybit", account, False))], "standby is told once per spell"

    other.release()
    assert guard.tend() and guard.may_act(before_write=True)
    assert deals.told[-1] == ("deals", LeaseChanged("bybit", account, True))
    guard.announce()
    assert deals.told[-1] == ("deals", LeaseChanged("bybit", account, True))

    clock.now += 2.5  # no renewal for longer than ttl - margin: a read may not go ahead
    assert not guard.may_act()
    assert calls == ["forget", "after"]
    assert deals.told[-1] == ("deals", LeaseChanged("bybit", account, False))
    assert guard.lease.holder() is None, "a lost lease that is still ours is released for the next holder"
    told = len(deals.told)
    assert not guard.may_act() and calls == ["forget", "after"] and len(deals.told) == told  # lost once
    assert guard.tend(), "the free key is taken again on the next tick"
    lease_events = [(e["type"], e.get("reason")) for e in events.since(0) if e["type"].startswith("lease_")]
    assert lease_events == [("lease_acquired", None), ("lease_lost", "the lease was not renewed in time"),
                            ("lease_acquired", None)]


def test_a_write_renews_first_and_a_taken_over_key_is_lost_at_once(redis_url, account):
    clock, deals, events, calls = Clock(), Deals(), EventLog(), []
    guard = guarded(redis_url, account, "host:1:a", clock, deals, events, calls)
    assert guard.take()
    clock.now += 2.5
    assert guard.may_act(before_write=True), "renewed right before the write: still safe"
    guard.lease.store.release(guard.lease.key)  # as if it had expired
    thief = AccountLease("bybit", account, LeaseStore(redis_url, "host:2:b", ttl=3), clock=clock)
    assert thief.acquire()
    assert not guard.renewed()
    assert calls == ["forget", "after"]
    assert guard.lease.holder() == "host:2:b", "the new holder's key is never released by the old one"


def test_a_mailbox_guard_tells_nobody_and_keeps_its_key_until_it_expires(redis_url, account):
    clock, events, calls = Clock(), EventLog(), []
    guard = guarded(redis_url, account, "host:1:a", clock, None, events, calls, release_on_loss=False)
    assert guard.take()
    clock.now += 2.5
    assert not guard.may_act(before_write=False)
    assert calls == ["forget", "after"]
    assert guard.lease.holder() == "host:1:a"
    assert guard.take(), "its own key is taken back"


def test_without_redis_the_guard_always_lets_the_actor_act():
    deals, calls = Deals(), []
    guard = LeaseGuard(AccountLease.always_held("gate", "g1"), "gate", "g1", EventLog(), deals,
                       forget=lambda: calls.append("forget"))
    assert guard.tend() and guard.may_act(before_write=True) and guard.renewed() and guard.take()
    assert not calls and not deals.told
