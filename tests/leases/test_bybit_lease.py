"""A BybitAccount with a lease (DESIGN §9), against the real Bybit sandbox and a real Redis: in standby
it makes no Bybit call at all, it takes the account over once the lease is free, and when another
process takes the lease it drops its work at once and makes no call any more."""
from __future__ import annotations

from decimal import Decimal

import redis as redis_client

from actors.bybit_account import BybitAccountActor
from actors.messages import AccountHealth, CancelAd, CreateAd, LeaseChanged
from itrader.config import BybitConfig
from itrader.deal import AdFailed
from itrader.leases import AccountLease, LeaseStore, lease_key
from tests.actors.test_bybit_account import AMOUNT, PRICE, SELLER_UID, Rig, probe, rig, wait_for  # noqa: F401

NAME = "leased1"
KEY = lease_key("bybit", NAME)
REDIS_DB = 8  # this module's own database of the session's Redis


def test_standby_takeover_and_loss(rig: Rig, redis_url: str) -> None:
    url = redis_url.rsplit("/", 1)[0] + f"/{REDIS_DB}"
    redis = redis_client.Redis.from_url(url)
    redis.flushdb()
    other = LeaseStore(url, "elsewhere:2:b", ttl=30)
    assert other.acquire(KEY)
    deals = probe(rig.directory, "deals")
    lease = AccountLease("bybit", NAME, LeaseStore(url, "here:1:a", ttl=1.5))
    settings = BybitConfig(base_url=rig.world.base_url, poll_interval=0.2)
    rig.actor = actor = BybitAccountActor.start(NAME, rig.world.client(account=NAME), rig.store, rig.directory,
                                                rig.events, settings, lease=lease)

    # standby: unhealthy, tries again and again, never calls Bybit, refuses an ad
    wait_for(lambda: len([m for m in rig.allocator.inbox if isinstance(m, AccountHealth)]) >= 3,
             what="standby heartbeats")
    assert not any(m.healthy for m in rig.allocator.inbox if isinstance(m, AccountHealth))
    deal = rig.deal(1)
    actor.tell(CreateAd(1, AMOUNT, PRICE, Decimal("70"), "sbp", deal.ref))
    refused = deal.wait(AdFailed)
    assert "standby" in refused.error and not refused.permanent
    assert rig.sandbox.request_log(SELLER_UID) == []
    assert deals.of(LeaseChanged) == [LeaseChanged("bybit", NAME, False)]  # said once: no deal of it runs here
    assert actor.proxy().stats().get(timeout=5)["lease"] == {
        "state": "standby", "owner": "here:1:a", "holder": "elsewhere:2:b", "ttl": 1.5}

    # the holder lets go: this one takes the account over and works
    other.release(KEY)
    deals.wait(LeaseChanged, platform="bybit", account=NAME, held=True)
    wait_for(lambda: any(isinstance(m, AccountHealth) and m.healthy for m in rig.allocator.inbox),
             what="a healthy report")
    ad_id = rig.create_ad(2)
    assert [ad["item_id"] for ad in rig.sandbox.ads(SELLER_UID, online_only=True)] == [ad_id]
    assert redis.get(KEY) == b"here:1:a"

    # another process holds the key now (ours expired and was taken): stop at once
    redis.set(KEY, "elsewhere:2:b", px=30_000)
    wait_for(lambda: deals.of(LeaseChanged)[-1].held is False, what="the lease lost")
    lost = [e for e in rig.events.since(0) if e["type"] == "lease_lost"]
    assert lost and lost[0]["holder"] == "elsewhere:2:b" and lost[0]["account"] == NAME
    stats = actor.proxy().stats().get(timeout=5)
    assert (stats["active"], stats["healthy"], stats["watches"], stats["ads"], stats["writes"]) == (
        False, False, 0, 0, 0)
    calls = len(rig.sandbox.request_log(SELLER_UID))
    actor.tell(CancelAd(2, ad_id))
    actor.proxy().stats().get(timeout=5)  # the cancel has been handled (refused) by now
    wait_for(lambda: len([m for m in rig.allocator.inbox if isinstance(m, AccountHealth)
                          and not m.healthy]) >= 3, what="more standby heartbeats")
    assert len(rig.sandbox.request_log(SELLER_UID)) == calls
    assert [ad["item_id"] for ad in rig.sandbox.ads(SELLER_UID, online_only=True)] == [ad_id]
    assert redis.get(KEY) == b"elsewhere:2:b"  # a former holder never renews nor deletes it
