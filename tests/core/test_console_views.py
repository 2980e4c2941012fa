"""The console's pure parts: what a page shows of the journal, and sessions that expire."""
from datetime import datetime, timezone

from itrader.console import views
from itrader.console.sessions import ANONYMOUS_SECONDS, SESSION_SECONDS, Sessions

NOW = datetime(2026, 12, 3, 18, 0, tzinfo=timezone.utc)


def refused(reason: str, state: str = "MANUAL_REVIEW") -> dict:
    return {"seq": 9, "kind": "transition", "step": "ReceiptChecked",
            "data": {"reason": "receipt refused", "facts": {"state": state, "reason": reason}}}


def test_each_receipt_check_fails_only_for_its_own_codes():
    verdicts = {row["check"]: row["verdict"] for row in views.receipt_checks(
        [refused("receipt_refused (email): amount_mismatch; payer_unknown")])}
    assert verdicts == {"status": "pass", "amount": "fail", "recipient": "pass", "bank": "pass", "time": "pass",
                        "reuse": "pass", "payer": "fail"}


def test_an_accepted_receipt_passes_every_check_and_no_receipt_shows_none():
    accepted = [{"step": "ReceiptChecked", "data": {"reason": "receipt verified (email)",
                                                    "facts": {"state": "RECEIPT_OK", "reason": None}}}]
    assert {row["verdict"] for row in views.receipt_checks(accepted)} == {"pass"}
    assert views.receipt_checks([{"step": "created", "data": {}}]) == []


def test_what_a_deal_waits_for():
    assert views.waits_for("AD_ONLINE", None) == "a buyer"
    assert views.waits_for("PAID", "approve") == "the operator to confirm approve"
    assert views.waits_for("DISPUTE", None) == "the operator"


def test_todays_totals_as_the_overview_shows_them():
    today = {"since": "2026-12-03T00:00:00+00:00", "completed": 2, "rub": "8100.50", "usdt_sold": "103.8555",
             "earned_usdt": "-0.0050", "earned_unknown": 1}
    assert views.today_shown(today) == {"completed": 2, "since": "2026-12-03 00:00", "rub": "8 100.50",
                                        "usdt": "103.86", "earned": "-0.01",
                                        "unknown": "1 deal(s) without Gate's credit figure not counted"}
    assert views.today_shown(None)["completed"] == 0 and views.today_shown(None)["unknown"] == ""


def test_the_transcript_keeps_both_sides_in_order_and_the_timeline_skips_watermarks():
    journal = [{"seq": 1, "step": "our_texts", "data": {"texts": ["Оплатите с Т-Банка?"]}},
               {"seq": 2, "step": "bybit_sent_texts", "data": {"texts": ["Оплатите с Т-Банка?"]}},
               {"seq": 3, "step": "bybit_chat_seen", "data": {"message_id": 5}},
               {"seq": 4, "step": "buyer_texts", "data": {"texts": ["<b>да</b>"]}}]
    assert [(line["who"], line["text"]) for line in views.chat(journal)] == [("us", "Оплатите с Т-Банка?"),
                                                                            ("buyer", "<b>да</b>")]
    assert [row["seq"] for row in views.timeline(journal)] == ["1", "4"]


def test_money_steps_pair_each_intent_with_its_outcome():
    journal = [{"kind": "intent", "step": "take", "ts": "t1", "data": {"state": "NEW"}},
               {"kind": "outcome", "step": "take", "ts": "t2", "data": {"state": "ACCEPTED"}},
               {"kind": "intent", "step": "approve", "ts": "t3", "data": {"state": "RECEIPT_OK"}},
               {"kind": "intent", "step": "return_payout", "ts": "t4", "data": {"state": "MANUAL_REVIEW"}},
               {"kind": "outcome", "step": "return_payout", "ts": "t5", "data": {"state": "CANCELLED"}}]
    assert views.money_steps(journal) == [{"step": "take", "called": "t1", "outcome": "t2 → ACCEPTED"},
                                          {"step": "approve", "called": "t3", "outcome": "pending"},
                                          {"step": "return_payout", "called": "t4", "outcome": "t5 → CANCELLED"}]


def test_sessions_expire_and_sign_in_issues_a_new_id_and_csrf_token():
    now = [1000.0]
    sessions = Sessions(clock=lambda: now[0])
    anonymous = sessions.start()
    assert sessions.signed_in(anonymous.id) is None
    signed = sessions.sign_in(anonymous)
    assert signed.id != anonymous.id and signed.csrf != anonymous.csrf
    assert sessions.get(anonymous.id) is None  # a planted pre-sign-in id is worth nothing afterwards
    assert Sessions.csrf_ok(signed, signed.csrf) and not Sessions.csrf_ok(signed, anonymous.csrf)
    assert not Sessions.csrf_ok(signed, "") and not Sessions.csrf_ok(None, signed.csrf)
    now[0] += SESSION_SECONDS - 1
    assert sessions.signed_in(signed.id) is signed
    now[0] += 1
    assert sessions.signed_in(signed.id) is None


def test_an_unsubmitted_sign_in_form_expires_sooner():
    now = [0.0]
    sessions = Sessions(clock=lambda: now[0])
    anonymous = sessions.start()
    now[0] += ANONYMOUS_SECONDS
    assert sessions.get(anonymous.id) is None
