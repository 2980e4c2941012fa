"""What the store keeps of a deal's decisions and what a restarted deal reads back (itrader.deal.journal)."""
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import pytest

from itrader.deal import (
    APPROVE, CHAT_APPLIED_STEP, CHAT_SEEN_STEP, CREATE_AD, RECONCILE_STEP, RELEASE, SENT_TEXTS_STEP, TAKE, State,
    chat_rewind_mark, created_note, new_deal, reason_label, row_changes, saved_facts, sent_texts, step_done,
)

T0 = 1_000_000.0


@dataclass
class Entry:
    step: str
    data: Any = None


def fresh():
    return new_deal("p1", T0, "auto", wallet="79001234567", bank="sberbank", payout_method="sbp")


# --- step_done: the journal's outcome of a money step ----------------------------


def test_take_is_done_once_the_amount_is_known_and_the_deal_moved_on():
    facts = fresh()
    assert not step_done(TAKE, facts)
    assert not step_done(TAKE, replace(facts, amount=Decimal("5000")))  # still NEW: the take was not applied
    assert step_done(TAKE, replace(facts, amount=Decimal("5000"), state=State.ACCEPTED))
    assert not step_done(TAKE, replace(facts, state=State.ERROR))  # refused: no amount


def test_ad_approve_and_release_are_done_by_their_own_facts():
    facts = fresh()
    assert not step_done(CREATE_AD, facts) and step_done(CREATE_AD, replace(facts, ad_id="ad1"))
    assert not step_done(APPROVE, facts) and step_done(APPROVE, replace(facts, approved=True))
    assert not step_done(RELEASE, facts) and step_done(RELEASE, replace(facts, released=True))
    assert not step_done("accept_receipt", replace(facts, approved=True, released=True))


# --- row_changes: the store columns that follow the facts ------------------------


def test_no_change_no_columns():
    facts = fresh()
    assert row_changes(facts, facts) == {}


def test_changed_facts_set_their_columns():
    old = fresh()
    new = replace(old, amount=Decimal("5000"), price=Decimal("78"), quantity=Decimal("64.11"), ad_id="ad1",
                  order_id="o1", bank="tinkoff", wallet="79990000000", reason="why", buyer_name="IVAN PETROV")
    assert row_changes(old, new) == {
        "amount_rub": Decimal("5000"), "price": Decimal("78"), "quantity": Decimal("64.11"), "ad_id": "ad1",
        "order_id": "o1", "bank": "tinkoff", "wallet": "79990000000", "reason": "why", "buyer_name": "IVAN PETROV",
    }


def test_a_fact_cleared_does_not_clear_its_column():
    old = replace(fresh(), ad_id="ad1", account="acc1")
    assert row_changes(old, replace(old, ad_id=None)) == {}


def test_a_reason_that_stopped_holding_leaves_the_row():
    old = replace(fresh(), reason="waiting_for_twin: deal 3 pays the same recipient")
    assert row_changes(old, replace(old, reason=None)) == {"reason": None}


@pytest.mark.parametrize("method, column", [("card", {"method": "card"}), ("tinkoff", {}), (None, {})])
def test_only_a_known_payout_method_reaches_the_row(method, column):
    old = replace(fresh(), payout_method="sbp")
    assert row_changes(old, replace(old, payout_method=method)) == column


def test_requisites_time_and_manual_flag():
    old = fresh()
    new = replace(old, requisites_sent_at=T0 + 5, mode="manual")
    assert row_changes(old, new) == {"requisites_sent_at": datetime.fromtimestamp(T0 + 5, tz=timezone.utc),
                                     "manual": True}
    assert row_changes(new, replace(new, mode="auto")) == {"manual": False}


def test_reason_label_is_the_code_of_the_reason():
    assert reason_label(None) == "none" and reason_label("") == "none"
    assert reason_label("receipt_refused (email): name differs") == "receipt_refused"
    assert reason_label("stuck: no progress") == "stuck"
    assert len(reason_label("x" * 100)) == 40


# --- reading the journal back --------------------------------------------------


def test_created_note_and_saved_facts():
    facts = fresh()
    journal = [Entry("created", {"gate_account": "g1"}), Entry("PayoutSeen", {"facts": {"state": "NEW"}}),
               Entry("take", "intent"), Entry("note", {"facts": "not a dict"})]
    assert created_note(journal) == {"gate_account": "g1"}
    assert saved_facts(journal) == {"state": "NEW"}
    assert created_note([]) == {} and saved_facts([]) is None
    assert created_note([Entry("created", None)]) == {} and saved_facts([Entry("created", {})]) is None
    assert saved_facts([Entry("x", {"facts": facts.to_dict()})]) == facts.to_dict()


def test_chat_all_applied_needs_no_rewind():
    journal = [Entry(CHAT_SEEN_STEP, {"order_id": "o1", "message_id": 3}), Entry(CHAT_APPLIED_STEP, {})]
    assert chat_rewind_mark(journal, "o1") is None
    assert chat_rewind_mark([], "o1") is None


def test_chat_delivered_but_not_applied_goes_back_to_the_last_applied_delivery():
    journal = [Entry(CHAT_SEEN_STEP, {"order_id": "o1", "message_id": 3, "created_ms": 30}),
               Entry(CHAT_APPLIED_STEP, {}),
               Entry(CHAT_SEEN_STEP, {"order_id": "o1", "message_id": 5, "created_ms": 50})]
    assert chat_rewind_mark(journal, "o1") == {"order_id": "o1", "message_id": 3, "created_ms": 30, "rewound": True}


def test_chat_never_applied_goes_back_to_the_start():
    journal = [Entry(CHAT_SEEN_STEP, {"order_id": "o1", "message_id": 5, "created_ms": 50})]
    assert chat_rewind_mark(journal, "o1") == {"order_id": "o1", "message_id": 0, "created_ms": 0, "rewound": True}
    # a delivery applied for another order is no mark for this one
    journal = [Entry(CHAT_SEEN_STEP, {"order_id": "o0", "message_id": 9}), Entry(CHAT_APPLIED_STEP, {})] + journal
    assert chat_rewind_mark(journal, "o1")["message_id"] == 0


def test_sent_texts_only_since_the_last_reconcile():
    note = Entry(SENT_TEXTS_STEP, {"order_id": "o1", "texts": ["hello", "requisites"]})
    assert sent_texts([note], "o1") == ("hello", "requisites")
    assert sent_texts([note], None) is None
    assert sent_texts([note], "o2") is None  # another order's chat
    assert sent_texts([note, Entry(RECONCILE_STEP, {})], "o1") is None  # read for an earlier reconcile
    assert sent_texts([Entry(SENT_TEXTS_STEP, {"order_id": "o1"})], "o1") == ()
    older = Entry(SENT_TEXTS_STEP, {"order_id": "o1", "texts": ["old"]})
    assert sent_texts([older, Entry("x", "not a dict"), note], "o1") == ("hello", "requisites")
