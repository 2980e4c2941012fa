"""Lease fencing in the store (DESIGN §9), on SQLite and PostgreSQL: the highest lease epoch seen per
lease key, and intents refused — nothing written — under an older one."""
from __future__ import annotations

from dataclasses import dataclass

import gevent
import pytest

from itrader.errors import FencedOff
from itrader.store import EventKind, StaleLeaseEpoch, Store, migrate

KEY = "itrader:lease:gate:desk1"


@dataclass(frozen=True)
class Fence:
    key: str
    epoch: int


def _intents(store: Store, deal_id: int) -> list[tuple[str, str | None, int | None]]:
    return [(e.step, e.lease_key, e.lease_epoch) for e in store.deals.journal(deal_id) if e.kind == EventKind.INTENT]


def test_a_lease_taken_raises_the_newest_epoch_and_an_older_one_is_refused(store):
    assert store.fences.newest(KEY) == 0
    store.fences.advance(Fence(KEY, 3))
    store.fences.advance(Fence(KEY, 3))  # the same holding again (a restarted actor): fine
    assert store.fences.newest(KEY) == 3
    with pytest.raises(StaleLeaseEpoch) as refused:
        store.fences.advance(Fence(KEY, 2))
    assert (refused.value.key, refused.value.epoch, refused.value.newest) == (KEY, 2, 3)
    assert isinstance(refused.value, FencedOff)
    assert store.fences.newest(KEY) == 3
    assert store.fences.newest("itrader:lease:bybit:other") == 0  # keys are independent


def test_an_intent_under_an_older_epoch_is_refused_and_nothing_is_written(store):
    deal, _ = store.deals.create_deal(1, "5000")
    store.deals.record_intent(deal.id, "take", {"state": "NEW"}, fence=Fence(KEY, 4))
    before = (store.deals.journal(deal.id), store.deals.get(deal.id))

    store.fences.advance(Fence(KEY, 5))  # another process took the account over
    with pytest.raises(StaleLeaseEpoch, match="epoch 4 is older than epoch 5"):
        store.deals.record_intent(deal.id, "take", {"state": "NEW"}, fence=Fence(KEY, 4))

    assert (store.deals.journal(deal.id), store.deals.get(deal.id)) == before  # not a row, not a seq
    store.deals.record_intent(deal.id, "approve", {"state": "RECEIPT_OK"}, fence=Fence(KEY, 5))
    store.deals.record_intent(deal.id, "release", {}, fence=Fence("itrader:lease:bybit:b1", 1))
    assert _intents(store, deal.id) == [("take", KEY, 4), ("approve", KEY, 5),
                                        ("release", "itrader:lease:bybit:b1", 1)]


def test_an_intent_under_a_newer_epoch_becomes_the_newest(store):
    deal, _ = store.deals.create_deal(1, "5000")
    store.fences.advance(Fence(KEY, 2))
    store.deals.record_intent(deal.id, "take", {}, fence=Fence(KEY, 7))
    assert store.fences.newest(KEY) == 7
    with pytest.raises(StaleLeaseEpoch):
        store.fences.advance(Fence(KEY, 6))


def test_without_leases_intents_carry_no_epoch_and_nothing_is_refused(store):
    deal, _ = store.deals.create_deal(1, "5000")
    store.fences.advance(Fence(KEY, 9))
    store.deals.record_intent(deal.id, "take", {"state": "NEW"})
    assert _intents(store, deal.id) == [("take", None, None)]


def test_a_refused_intent_takes_the_decision_written_with_it_along(store):
    """The Deal actor writes a decision and its intent as one (deals.atomic): refused, neither is there."""
    deal, _ = store.deals.create_deal(1, "5000")
    store.fences.advance(Fence(KEY, 5))
    journal = store.deals.journal(deal.id)
    with pytest.raises(StaleLeaseEpoch):
        with store.deals.atomic():
            store.deals.transition(deal.id, "NEW", "ACCEPTED", "PayoutTaken", {"facts": {}})
            store.deals.record_intent(deal.id, "create_ad", {}, fence=Fence(KEY, 4))
    assert store.deals.journal(deal.id) == journal and store.deals.get(deal.id).state == "NEW"


def test_a_paused_holder_is_refused_after_another_process_took_over(open_db):
    """Two processes on one database: the old holder's intent, written after the new holder recorded its
    epoch, is refused; written concurrently, exactly the newer epoch wins."""
    old_holder, new_holder = open_db(), open_db()
    migrate(old_holder)
    old, new = Store(old_holder), Store(new_holder)
    deal, _ = old.deals.create_deal(1, "5000")
    old.fences.advance(Fence(KEY, 1))
    old.deals.record_intent(deal.id, "take", {}, fence=Fence(KEY, 1))
    new.fences.advance(Fence(KEY, 2))  # took the lease while the old holder was paused
    with pytest.raises(StaleLeaseEpoch):
        old.deals.record_intent(deal.id, "take", {}, fence=Fence(KEY, 1))

    other, _ = old.deals.create_deal(2, "6000")
    jobs = [gevent.spawn(old.deals.record_intent, other.id, "take", {}, fence=Fence(KEY, 2)),
            gevent.spawn(new.deals.record_intent, other.id, "take", {}, fence=Fence(KEY, 3))]
    gevent.joinall(jobs)
    written = _intents(new, other.id)
    assert ("take", KEY, 3) in written and new.fences.newest(KEY) == 3
    if ("take", KEY, 2) in written:  # it came first: then it must be before the newer one
        assert written == [("take", KEY, 2), ("take", KEY, 3)]
    else:
        assert isinstance(jobs[0].exception, StaleLeaseEpoch)


def test_epochs_must_be_positive(store):
    with pytest.raises(ValueError):
        store.fences.advance(Fence(KEY, 0))
