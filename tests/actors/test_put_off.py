"""No waiting inside actors (DESIGN §2): a 429 never sleeps in a handler. The Gate account puts the
rate-limited request off (a timer tells it to the actor again) and answers other messages meanwhile.
Against the real Gate sandbox; judged by the order in which the replies arrive, never by timings."""
from __future__ import annotations

import gevent

from actors.later import Again, PutOff
from actors.messages import DealNews, PayoutRead, ReadPayout, TakePayout
from itrader.deal import PayoutTaken, TakeFailed
from tests.actors.test_gate_account import Probe, Rig, rig, store, wait_for, world  # noqa: F401


def _shows(world) -> list[int]:
    return [r.status for r in world.requests("/show")]


def test_a_rate_limited_take_is_put_off_and_the_actor_answers_meanwhile(rig: Rig, world) -> None:
    ref = rig.start()
    wanted, other = world.payout("5000"), world.payout("6000")
    world.faults.add_scripted("gate", "payouts/{id}/show", "rate_limited", retry_after_seconds=1.5)

    ref.tell(TakePayout(1, wanted, rig.deal))
    wait_for(lambda: _shows(world) == [429], what="the take rate-limited")
    ref.tell(ReadPayout(2, other, rig.deal))  # told after the 429: answered while the take waits

    rig.news(PayoutTaken, deal_id=1)
    replies = [type(m.event) if isinstance(m, DealNews) else type(m) for m in rig.replies]
    assert replies == [PayoutRead, PayoutTaken], "the read was answered first: nobody slept in the handler"
    assert _shows(world) == [429, 200]  # the same take, once, after the wait
    assert world.sandbox.payout(wanted)["status"] == 5


def test_a_long_retry_after_never_holds_the_actor(rig: Rig, world) -> None:
    """The panel asks for 100 s (the lease is shorter): the actor goes on answering, the take waits in a
    timer and is not sent again meanwhile."""
    ref = rig.start()
    wanted, other = world.payout("5000"), world.payout("6000")
    world.faults.add_scripted("gate", "payouts/{id}/show", "rate_limited", retry_after_seconds=100)

    ref.tell(TakePayout(1, wanted, rig.deal))
    wait_for(lambda: _shows(world) == [429], what="the take rate-limited")
    ref.tell(ReadPayout(2, other, rig.deal))
    assert rig.reply(PayoutRead, payout_id=other).status == 4
    assert ref.proxy().stats().get(timeout=5)["active"] is True
    assert _shows(world) == [429]
    assert not rig.outcomes((PayoutTaken, TakeFailed))  # put off, not failed


def test_a_request_put_off_too_often_fails_as_temporary(rig: Rig, world) -> None:
    ref = rig.start()
    wanted = world.payout("5000")
    limit = PutOff().limit
    world.faults.add_scripted("gate", "payouts/{id}/show", "rate_limited", count=limit + 1, retry_after_seconds=0)

    ref.tell(TakePayout(1, wanted, rig.deal))
    assert not rig.news(TakeFailed, deal_id=1).event.permanent
    assert _shows(world) == [429] * (limit + 1)


def test_put_off_tells_the_message_again_wrapped_and_counts_the_put_offs() -> None:
    inbox: list = []
    ref = Probe.start(inbox)
    put_off = PutOff(limit=2)
    try:
        assert put_off.open("hello") == "hello" and put_off.attempt == 0
        assert put_off.later(ref, "hello", 0.01)
        wait_for(lambda: inbox, what="the message again")
        assert inbox == [Again("hello", 1)]
        assert put_off.open(inbox[0]) == "hello" and put_off.attempt == 1
        assert put_off.later(ref, "hello", 0.01)
        wait_for(lambda: len(inbox) == 2, what="the message again")
        assert put_off.open(inbox[1]) == "hello" and put_off.attempt == 2
        assert not put_off.later(ref, "hello", 0.01)  # the limit: the caller fails it

        put_off.open("other")
        assert put_off.later(ref, "other", 30) and len(put_off) == 1
        put_off.cancel_all()  # a lost lease: nothing put off comes back
        gevent.sleep(0.05)
        assert len(put_off) == 0 and len(inbox) == 2
    finally:
        ref.stop()

