"""The Deal actor's helpers (actors/deal_plumbing.py), without an actor: timers, reconcile read-backs,
receipt files, and the journal writes of a decision."""
import hashlib
from dataclasses import replace
from decimal import Decimal
from types import SimpleNamespace

import gevent

from actors import messages as msg
from actors.deal_plumbing import (
    PlatformReads, Timers, claimed_receipt, jsonable, receipt_file, record_decision, record_money_steps,
)
from itrader.deal import APPROVE, PlatformView, ReceiptChecked, State, new_deal

T0 = 1_000_000.0


def test_timers_tell_their_name_once_and_can_be_replaced_or_cancelled():
    told = []
    timers = Timers(told.append)
    timers.start("a", 0.01)
    timers.start("b", 0.01)
    timers.start("b", 0.03)  # re-armed: the first "b" never fires
    timers.start("c", 0.01)
    timers.cancel("c")
    gevent.sleep(0.06)
    assert told == [msg.Tick("a"), msg.Tick("b")]
    timers.start("d", 0.01)
    timers.cancel_all()
    gevent.sleep(0.03)
    assert len(told) == 2


def test_a_timer_whose_actor_stopped_fails_quietly():
    def dead(_message):
        raise RuntimeError("actor is dead")

    timers = Timers(dead)
    timers.start("a", 0.0)
    gevent.sleep(0.01)  # nothing raised into the hub


def test_platform_reads_wait_for_both_answers_and_build_the_view():
    reads = PlatformReads()
    assert not reads.complete
    reads.add(msg.OrderRead(7, "ad1", True, "o1", 20, "IVAN PETROV"))
    assert not reads.complete
    reads.add(msg.PayoutRead(7, 42, 5, {"amount": {"trader": {"643": "5000.00"}}}))
    assert reads.complete
    assert reads.view(("hello",)) == PlatformView(payout_status=5, payout_amount=Decimal("5000.00"), ad_id="ad1",
                                                  ad_online=True, order_id="o1", order_status=20,
                                                  sent_texts=("hello",), buyer_name="IVAN PETROV")
    assert reads.note() == {"payout_status": 5, "ad_id": "ad1", "ad_online": True, "order_id": "o1",
                            "order_status": 20}


def test_a_payout_not_read_has_no_amount():
    reads = PlatformReads()
    reads.add(msg.PayoutRead(7, 42, None))
    reads.add(msg.OrderRead(7, None, None, None, None))
    view = reads.view(None)
    assert view.payout_status is None and view.payout_amount is None and view.order_id is None


def _store_with(*receipts):
    return SimpleNamespace(receipts=SimpleNamespace(for_deal=lambda deal_id: list(receipts)))


def test_receipt_file_is_exactly_the_accepted_receipt_with_its_bytes(tmp_path):
    content = b"%PDF receipt"
    sha = hashlib.sha256(content).hexdigest()
    (tmp_path / f"{sha}.pdf").write_bytes(content)
    store = _store_with(SimpleNamespace(id=3, sha256=sha, verdict="accepted", source="email"))
    assert receipt_file(store, tmp_path, 7, "3") == tmp_path / f"{sha}.pdf"
    assert receipt_file(store, tmp_path, 7, "4") is None  # another receipt
    (tmp_path / f"{sha}.pdf").write_bytes(b"altered")
    assert receipt_file(store, tmp_path, 7, "3") is None


def test_claimed_receipt_is_the_first_accepted_one_whose_file_is_there(tmp_path):
    (tmp_path / "bbb.pdf").write_bytes(b"x")
    (tmp_path / "ccc.eml").write_bytes(b"y")
    store = _store_with(SimpleNamespace(id=1, sha256="aaa", verdict="accepted", source="email"),  # no file
                        SimpleNamespace(id=2, sha256="bbb", verdict="refused", source="email"),
                        SimpleNamespace(id=3, sha256="ccc", verdict="accepted", source="email"))
    assert claimed_receipt(store, tmp_path, 7) == msg.DealNews(7, ReceiptChecked(True, (), "email", "3", True),
                                                               receipt_path=str(tmp_path / "ccc.eml"))
    chat = _store_with(SimpleNamespace(id=4, sha256="ccc", verdict="accepted", source="chat"))
    assert claimed_receipt(chat, tmp_path, 7).event == ReceiptChecked(True, (), "chat", "4", False)
    assert claimed_receipt(_store_with(), tmp_path, 7) is None


class Deals:
    def __init__(self):
        self.calls = []

    def __getattr__(self, name):
        return lambda *args, **kwargs: self.calls.append((name, args, kwargs))


def test_a_state_change_is_one_transition_with_its_row_columns():
    deals = Deals()
    old = new_deal("p1", T0, "auto")
    new = replace(old, state=State.ACCEPTED, amount=Decimal("5000"))
    record_decision(deals, 7, old, new, "PayoutTaken", "taken")
    assert deals.calls == [("transition", (7, "NEW", "ACCEPTED", "PayoutTaken"),
                            {"data": {"facts": new.to_dict(), "reason": "taken"},
                             "changes": {"amount_rub": Decimal("5000")}})]


def test_no_state_change_updates_columns_then_notes_the_facts():
    deals = Deals()
    old = new_deal("p1", T0, "auto")
    record_decision(deals, 7, old, old, "TimerFired", None)
    assert [c[0] for c in deals.calls] == ["record_note"]
    deals.calls.clear()
    new = replace(old, wallet="79001234567")
    record_decision(deals, 7, old, new, "Reconciled", "reconciled")
    assert deals.calls == [("update_fields", (7, {"wallet": "79001234567"}), {"step": "Reconciled"}),
                           ("record_note", (7, "Reconciled", {"facts": new.to_dict(), "reason": "reconciled"}), {})]


def test_money_steps_record_the_intent_then_the_outcome():
    deals = Deals()
    before = replace(new_deal("p1", T0, "auto"), state=State.RECEIPT_OK)
    calling = replace(before, pending_intent=APPROVE)
    record_money_steps(deals, 7, before, calling)
    done = replace(calling, state=State.APPROVED, pending_intent=None, approved=True)
    record_money_steps(deals, 7, calling, done)
    record_money_steps(deals, 7, done, done)  # nothing under way: nothing written
    assert deals.calls == [("record_intent", (7, APPROVE, {"state": "RECEIPT_OK"}), {"fence": None}),
                           ("record_outcome", (7, APPROVE, True, {"state": "APPROVED"}), {})]


def test_jsonable_turns_what_json_cannot_hold_into_text():
    assert jsonable({"amount": Decimal("1.5"), "ids": (1, 2)}) == {"amount": "1.5", "ids": [1, 2]}
