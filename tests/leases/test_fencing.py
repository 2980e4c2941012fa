"""Fenced leases (DESIGN §9), piece by piece against a real Redis, a real store and the real Gate sandbox:
a lease taken records its epoch in the store before the account acts; a client's retry checks the lease
before it goes out; a Deal writes its money step's intent under the epoch of the account's lease, and a
Deal whose epoch is stale — another process took the account over — writes nothing, sends nothing and
stands down. (The two-daemon drill with a holder paused past its ttl is tests/pipeline/test_fencing.py.)"""
from __future__ import annotations

import uuid
from decimal import Decimal

import bottle
import pykka
import pytest
import redis as redis_client

from actors.deal import DealActor
from actors.directory import Directory
from actors.lease_guard import LeaseGuard
from actors.messages import LeaseChanged, PayoutOffer, TakePayout
from itrader import deal
from itrader.events import EventLog
from itrader.leases import AccountLease, Fence, LeaseLost, LeaseStore, lease_key
from itrader.sandbox.faults import Faults
from itrader.store import EventKind, StaleLeaseEpoch, Store, open_database
from tests.actors.test_gate_account import LOGIN, Probe, Rig, rig, store, wait_for, world  # noqa: F401
from tests.leases.test_gate_lease import start_leased

REDIS_DB = 10  # this module's own database of the session's Redis


@pytest.fixture
def redis_db(redis_url: str) -> str:
    url = redis_url.rsplit("/", 1)[0] + f"/{REDIS_DB}"
    redis_client.Redis.from_url(url).flushdb()
    return url


# --- taking a lease ------------------------------------------------------------------


def test_a_lease_taken_is_recorded_with_its_epoch_before_the_account_acts(redis_db: str, store: Store) -> None:
    account = f"acct-{uuid.uuid4().hex[:6]}"
    key = lease_key("bybit", account)
    store.fences.advance(Fence(key, 41))  # the key's epochs before Redis lost its counter (a flushed Redis)

    def guard(owner: str) -> LeaseGuard:
        lease = AccountLease("bybit", account, LeaseStore(redis_db, owner, ttl=30))
        return LeaseGuard(lease, "bybit", account, EventLog(), fences=store.fences)

    mine = guard("here:1:a")
    assert mine.take()
    assert mine.lease.epoch == 42 == store.fences.newest(key)  # above every epoch the store has seen
    mine.lease.release()
    theirs = guard("there:2:b")
    assert theirs.take() and theirs.lease.epoch == 43 == store.fences.newest(key)
    with pytest.raises(StaleLeaseEpoch):  # from now on nothing of the old holding is accepted
        store.fences.advance(Fence(key, 42))


def test_without_the_store_no_lease_is_taken(redis_db: str, tmp_path) -> None:
    """An epoch that cannot be recorded is not acted under: the lease is let go again at once."""
    db = open_database(tmp_path / "unmigrated.sqlite3")  # no tables: every store call fails
    account = f"acct-{uuid.uuid4().hex[:6]}"
    lease = AccountLease("gate", account, LeaseStore(redis_db, "here:1:a", ttl=30))
    guard = LeaseGuard(lease, "gate", account, EventLog(), fences=Store(db).fences)
    assert not guard.take() and not lease.holding
    assert lease.holder() is None  # released: another process may take it
    db.close()


# --- a client's retry ---------------------------------------------------------------------


def test_a_client_retry_checks_the_lease_before_it_goes_out(rig: Rig, world, redis_db: str) -> None:
    """The first /show of a take gets a 502 (the panel may or may not have acted), and while the client
    backs off another process takes the account over. The retry is not sent: the lease check runs
    before every HTTP attempt, not only before the step."""
    redis = redis_client.Redis.from_url(redis_db)
    key = lease_key("gate", LOGIN)
    payout = world.payout("5000", "sbp", "tinkoff")
    ref, lease = start_leased(rig, world, redis_db, ttl=60, poll_interval=600.0)
    wait_for(lambda: any(isinstance(m, PayoutOffer) and m.payout_id == payout for m in rig.offers),
             what="the payout offered")
    assert rig.store.fences.newest(key) == lease.epoch >= 1

    faults = world.faults
    plain_draw = faults.draw

    def taken_over_during_the_first_show(platform: str, kinds: tuple[str, ...] = Faults.GENERIC) -> str | None:
        if bottle.request.path.endswith("/show") and not world.requests("/show"):
            redis.set(key, "elsewhere:2:b", px=60_000)  # the other daemon's acquire
            return "error_5xx"
        return plain_draw(platform, kinds)

    faults.draw = taken_over_during_the_first_show
    ref.tell(TakePayout(1, payout, rig.deal))
    wait_for(lambda: [m for m in rig.offers if isinstance(m, LeaseChanged)][-1:] == [
        LeaseChanged("gate", "desk1", False)], what="the lease lost")
    assert ref.proxy().stats().get(timeout=5)["active"] is False
    assert [r.status for r in world.requests("/show")] == [502], "the retry never left"
    assert world.sandbox.payout(payout)["status"] == 4 and rig.replies == []


# --- a Deal's intents ----------------------------------------------------------------------


class Fences:
    """Stands in for the process's LeaseBook: the fence this process would write under."""

    def __init__(self, fence: Fence | None = None, lost: bool = False) -> None:
        self.fence, self.lost, self.asked = fence, lost, []

    def __call__(self, platform: str, account: str | None) -> Fence | None:
        self.asked.append((platform, account))
        if self.lost:
            raise LeaseLost(f"{platform}:{account} not held here")
        return self.fence


def start_deal(store: Store, fences: Fences, tmp_path) -> tuple[int, list, pykka.ActorRef]:
    row, _ = store.deals.create_deal(2600001, Decimal(0), data={"gate_account": "desk1"})
    directory, gate_inbox = Directory(), []
    directory.register("gate:desk1", Probe.start(gate_inbox))
    ref = DealActor.start(row.id, store, directory, EventLog(), deal.DEFAULT_SETTINGS, "auto", tmp_path,
                          fence_of=fences)
    return row.id, gate_inbox, ref


def test_a_deal_writes_its_take_under_the_gate_leases_epoch(store: Store, tmp_path) -> None:
    key = lease_key("gate", LOGIN)
    store.fences.advance(Fence(key, 7))
    fences = Fences(Fence(key, 7))
    deal_id, gate_inbox, ref = start_deal(store, fences, tmp_path)
    try:
        take = wait_for(lambda: [m for m in gate_inbox if isinstance(m, TakePayout)], what="the take sent")[0]
        assert take.payout_id == 2600001 and fences.asked == [("gate", "desk1")]
        intents = [(e.step, e.lease_key, e.lease_epoch) for e in store.deals.journal(deal_id)
                   if e.kind == EventKind.INTENT]
        assert intents == [("take", key, 7)]
    finally:
        ref.stop()
        pykka.ActorRegistry.stop_all(block=True, timeout=5)


@pytest.mark.parametrize("why", ["the store saw a newer epoch", "this process lost the lease"])
def test_a_deal_under_a_stale_epoch_writes_nothing_sends_nothing_and_stands_down(store: Store, tmp_path,
                                                                                  why: str) -> None:
    """A holder that was paused past its ttl wakes up: its Deal tries to take the payout. Another process
    took the Gate account over meanwhile, so the intent is refused, no take goes out, and the Deal stops —
    the new holder drives the deal from the store."""
    key = lease_key("gate", LOGIN)
    store.fences.advance(Fence(key, 8))  # the new holder's epoch
    fences = Fences(Fence(key, 7)) if why.startswith("the store") else Fences(lost=True)
    deal_id, gate_inbox, ref = start_deal(store, fences, tmp_path)
    journal = store.deals.journal(deal_id)
    try:
        wait_for(lambda: not ref.is_alive(), what="the deal actor stood down")
        assert store.deals.journal(deal_id) == journal  # only the row's creation: no decision, no intent
        assert [e.kind for e in journal] == [EventKind.TRANSITION]
        assert store.deals.get(deal_id).state == "NEW"
        assert gate_inbox == []
    finally:
        pykka.ActorRegistry.stop_all(block=True, timeout=5)

