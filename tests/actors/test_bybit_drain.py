"""A Bybit account disabled by the operator (Drain from its AccountGroup) against the Bybit sandbox on
loopback: it finishes the order open on it, lets its un-taken ad go, and only then says Drained."""
from __future__ import annotations

import gevent

from actors.messages import CancelAd, Drain, Drained, ReleaseOrder
from itrader.deal import ReleaseSucceeded
from tests.actors.test_bybit_account import (  # noqa: F401 (the rig fixture)
    RELEASE_RESULT, Rig, probe, rig, wait_for,
)


def test_a_disabled_account_says_drained_only_when_nothing_runs_on_it(rig: Rig) -> None:
    rig.start()
    untaken = rig.create_ad(1, method="tinkoff")
    deal, sold_ad, order_id = rig.open_order(2)
    group = probe()

    rig.actor.tell(Drain(group.ref))
    gevent.sleep(1.0)  # five polls
    assert group.inbox == []  # an order is open and an ad is up
    assert rig.actor.proxy().stats().get(timeout=5)["draining"] is True

    rig.actor.tell(CancelAd(1, untaken))  # the deal moving away has it cancelled
    rig.sync()
    gevent.sleep(0.6)
    assert group.inbox == []  # the order still runs here

    rig.sandbox.mark_paid(order_id)
    rig.actor.tell(ReleaseOrder(2, order_id, deal.ref))
    assert isinstance(deal.wait(RELEASE_RESULT), ReleaseSucceeded)
    rig.actor.tell(CancelAd(2, sold_ad))  # the finished deal takes its ad (the spare USDT) down
    wait_for(lambda: group.inbox, timeout=30, what="Drained")
    assert group.inbox == [Drained("bybit", "acc1", None)]


def test_an_idle_account_is_drained_at_once(rig: Rig) -> None:
    rig.start()
    group = probe()
    rig.actor.tell(Drain(group.ref))
    wait_for(lambda: group.inbox, timeout=5, what="Drained")
    assert group.inbox == [Drained("bybit", "acc1", None)]
