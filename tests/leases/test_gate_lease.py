"""A GateAccount with a lease (DESIGN §9), against the real Gate sandbox and a real Redis: in standby it
makes no Gate call — no login, no balance, no poll, no take — it takes the account over once the
lease is free, and when another process takes the lease it stops calling Gate at once (and leaves the
working balance to the new holder when it stops)."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

import gevent
import redis as redis_client

from actors.gate_account import GateAccountActor
from actors.messages import LeaseChanged, PayoutOffer, TakePayout
from itrader.config import GateConfig
from itrader.leases import AccountLease, LeaseStore, lease_key
from tests.actors.test_gate_account import LOGIN, TARGET, Rig, rig, store, wait_for, world  # noqa: F401

KEY = lease_key("gate", LOGIN)
REDIS_DB = 9  # this module's own database of the session's Redis


def start_leased(rig: Rig, world, url: str, ttl: float, poll_interval: float) -> tuple[Any, AccountLease]:
    """A GateAccount "desk1" on the rig whose lease lives in the Redis at `url`, owned as "here:1:a"."""
    lease = AccountLease("gate", LOGIN, LeaseStore(url, "here:1:a", ttl=ttl))
    settings = GateConfig(base_url=world.base_url, poll_interval=poll_interval, balance_check_interval=3600.0,
                          session_refresh=3600.0, target_balance=TARGET)
    ref = GateAccountActor.start("desk1", rig.client(), rig.store, rig.directory, rig.events, settings,
                                 lease=lease)
    rig.refs.append(ref)
    return ref, lease


def test_standby_takeover_and_loss(rig: Rig, world, redis_url: str) -> None:
    url = redis_url.rsplit("/", 1)[0] + f"/{REDIS_DB}"
    redis = redis_client.Redis.from_url(url)
    redis.flushdb()
    other = LeaseStore(url, "elsewhere:2:b", ttl=30)
    assert other.acquire(KEY)
    payout = world.payout("5000", "sbp", "tinkoff")
    ref, lease = start_leased(rig, world, url, ttl=1.5, poll_interval=0.05)

    # standby: nothing reaches Gate, a take is not done
    ref.tell(TakePayout(1, payout, rig.deal))
    stats = ref.proxy().stats().get(timeout=5)
    assert (stats["active"], stats["lease"]) == (False, {"state": "standby", "owner": "here:1:a",
                                                       "holder": "elsewhere:2:b", "ttl": 1.5})
    gevent.sleep(lease.ttl)  # a few tries to take the lease over
    assert world.sandbox.request_log(LOGIN) == [] and rig.replies == []
    assert rig.offers == [LeaseChanged("gate", "desk1", False)]  # said once: no deal of it runs here

    # the holder lets go: this one logs in, sets the balance, offers the payout
    other.release(KEY)
    wait_for(lambda: any(isinstance(m, LeaseChanged) and m.held for m in rig.offers), what="lease taken")
    wait_for(lambda: any(isinstance(m, PayoutOffer) and m.payout_id == payout for m in rig.offers),
             what="the payout offered")
    assert any(e["account"] == LOGIN and Decimal(e["balance"]) == TARGET
               for e in world.ledger.entries("gate_balance"))
    assert any(e["type"] == "lease_acquired" and e["account"] == "desk1" for e in rig.events.since(0))

    # another process holds the key now: stop at once
    redis.set(KEY, "elsewhere:2:b", px=30_000)
    wait_for(lambda: [m for m in rig.offers if isinstance(m, LeaseChanged)][-1].held is False, what="lease lost")
    calls = len(world.sandbox.request_log(LOGIN))
    assert calls > 0
    ref.tell(TakePayout(1, payout, rig.deal))
    assert ref.proxy().stats().get(timeout=5)["lease"]["holder"] == "elsewhere:2:b"
    assert len(world.sandbox.request_log(LOGIN)) == calls and rig.replies == []
    ref.stop(block=True, timeout=10)  # in standby: the balance stays as the holder wants it
    assert len(world.sandbox.request_log(LOGIN)) == calls
    assert not any(Decimal(e["balance"]) == 0 for e in world.ledger.entries("gate_balance"))
    assert redis.get(KEY) == b"elsewhere:2:b"


def test_a_money_step_checks_the_lease_itself_not_only_the_next_tick(rig: Rig, world, redis_url: str) -> None:
    url = redis_url.rsplit("/", 1)[0] + f"/{REDIS_DB}"
    redis = redis_client.Redis.from_url(url)
    redis.flushdb()
    payout = world.payout("5000", "sbp", "tinkoff")
    ref, _lease = start_leased(rig, world, url, ttl=60, poll_interval=600.0)  # renewed by ticks every 20 s
    wait_for(lambda: any(isinstance(m, PayoutOffer) and m.payout_id == payout for m in rig.offers),
             what="the payout offered")  # the one poll for the next ten minutes

    redis.set(KEY, "elsewhere:2:b", px=60_000)  # taken over while no tick is due
    shows = len([r for r in world.sandbox.request_log(LOGIN) if r.path.endswith("/show")])
    ref.tell(TakePayout(1, payout, rig.deal))
    assert ref.proxy().stats().get(timeout=5)["lease"]["state"] == "standby"
    assert [m for m in rig.offers if isinstance(m, LeaseChanged)][-1] == LeaseChanged("gate", "desk1", False)
    assert len([r for r in world.sandbox.request_log(LOGIN) if r.path.endswith("/show")]) == shows == 0
    assert rig.replies == []
