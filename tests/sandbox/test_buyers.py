"""Simulated buyers against the real Bybit sandbox over HTTP: we play the seller by hand."""
from decimal import Decimal

import pytest
import requests

from .hand import GREETING, SBP_CONFIRM, buyer_lines, eventually, order_info, orders, post_ad, requisites, send


def new_payout(sandbox, amount="5000", **buyer):
    return requests.post(sandbox.urls["sandbox"] + "/payouts", json={"amount": amount, **buyer}, timeout=10).json()


def open_deal(sandbox, persona):
    """A 5000 RUB payout with this persona, our ad for it, and the order the buyer opened."""
    payout = new_payout(sandbox, persona=persona)
    post_ad(sandbox, Decimal("5000"))
    return payout, eventually(lambda: orders(sandbox))[0]["id"]


def buyer_state(sandbox, payout):
    return sandbox.buyer(payout["id"]).status()


def test_a_buyer_takes_only_an_ad_for_its_payout_amount(sandbox):
    payout = new_payout(sandbox, "5000", script=["open_order"])
    other = post_ad(sandbox, Decimal("4000"))
    sandbox.wait_for_buyers(0.3)
    assert orders(sandbox) == []
    mine = post_ad(sandbox, Decimal("5000"))
    order = eventually(lambda: orders(sandbox))[0]
    assert order_info(sandbox, order["id"])["itemId"] == mine != other
    assert Decimal(order["amount"]) == 5000
    eventually(lambda: buyer_state(sandbox, payout)["state"] == "done")


def test_a_late_buyer_leaves_the_ad_alone_until_it_comes_along(sandbox):
    payout = new_payout(sandbox, "5000", script=[{"open_order": {"after": 0.6}}])
    post_ad(sandbox, Decimal("5000"))
    sandbox.wait_for_buyers(0.3)
    assert orders(sandbox) == []  # online for a while, and nobody has taken it yet
    eventually(lambda: orders(sandbox))
    eventually(lambda: buyer_state(sandbox, payout)["state"] == "done")


def test_the_buyer_answers_after_our_greeting_not_before(sandbox):
    payout = new_payout(sandbox, persona="refuser")
    post_ad(sandbox, Decimal("5000"))
    order_id = eventually(lambda: orders(sandbox))[0]["id"]
    sandbox.wait_for_buyers(0.3)
    assert buyer_lines(sandbox, order_id) == []  # it waits for our question
    send(sandbox, order_id, GREETING)
    assert eventually(lambda: buyer_lines(sandbox, order_id)) == ["Нет, не подтверждаю"]
    eventually(lambda: order_info(sandbox, order_id)["status"] == 40)  # then cancels
    assert buyer_state(sandbox, payout)["state"] == "done"


def test_gibberish_then_yes_needs_the_question_asked_again(sandbox):
    _, order_id = open_deal(sandbox, "gibberish-then-yes")
    for expected in (["привет а что это"], ["привет а что это", "ммм ну и?"],
                     ["привет а что это", "ммм ну и?", "да"]):
        send(sandbox, order_id, GREETING)
        assert eventually(lambda: len(buyer_lines(sandbox, order_id)) == len(expected) and
                          buyer_lines(sandbox, order_id)) == expected


def test_a_bounded_expect_gives_up_visibly(sandbox):
    payout = new_payout(sandbox, script=["open_order", {"expect": "реквизит", "timeout": 0.2}, {"say": "оплатил"}])
    post_ad(sandbox, Decimal("5000"))
    order_id = eventually(lambda: orders(sandbox))[0]["id"]
    send(sandbox, order_id, GREETING)  # not the requisites
    eventually(lambda: buyer_state(sandbox, payout)["state"] == "gave_up")
    assert buyer_lines(sandbox, order_id) == []
    assert "expect" in buyer_state(sandbox, payout)["events"][-1]["detail"]


def test_the_prompt_injector_presses_paid_without_paying(sandbox):
    payout, order_id = open_deal(sandbox, "prompt-injector")
    send(sandbox, order_id, GREETING)
    eventually(lambda: buyer_lines(sandbox, order_id))
    assert "инструкции" in buyer_lines(sandbox, order_id)[0]
    send(sandbox, order_id, "Пожалуйста, ответьте да или нет")
    eventually(lambda: buyer_state(sandbox, payout)["state"] == "done")
    assert order_info(sandbox, order_id)["status"] == 20
    assert sandbox.ledger.entries("bank_transfer") == []


def test_the_appeal_persona_ends_in_an_appeal(sandbox):
    payout, order_id = open_deal(sandbox, "appeal")
    send(sandbox, order_id, GREETING)
    eventually(lambda: buyer_lines(sandbox, order_id))
    send(sandbox, order_id, "Реквизиты для оплаты:\nБанк: Сбербанк\nСчет: 79001234567\nСумма: 5000 RUB")
    eventually(lambda: order_info(sandbox, order_id)["status"] == 30)
    assert buyer_state(sandbox, payout)["state"] == "done"


def test_the_buyer_link_is_in_the_ledger_and_the_orders_view(sandbox):
    payout, order_id = open_deal(sandbox, "silent")
    [link] = sandbox.ledger.entries("buyer_order")
    assert (link["payout_id"], link["order_id"]) == (payout["id"], order_id)
    view = requests.get(sandbox.urls["sandbox"] + "/orders", timeout=10).json()["orders"]
    assert [(o["id"], o["payout_id"], o["status"]) for o in view] == [(order_id, payout["id"], 10)]


# --- the wrong-bank question on SBP ads: answered when asked, and only then -------------------------


def lines_once(sandbox, order_id, count):
    """The buyer's chat lines once there are `count` of them."""
    return eventually(lambda: len(buyer_lines(sandbox, order_id)) == count and buyer_lines(sandbox, order_id))


def test_asked_about_the_wrong_bank_the_honest_buyer_confirms_then_pays(sandbox):
    payout, order_id = open_deal(sandbox, "honest")
    send(sandbox, order_id, GREETING)
    assert lines_once(sandbox, order_id, 1) == ["Да"]
    send(sandbox, order_id, "Минуту, проверяю")  # neither the question nor the requisites: passed over
    send(sandbox, order_id, SBP_CONFIRM)
    assert lines_once(sandbox, order_id, 2) == ["Да", "подтверждаю"]
    send(sandbox, order_id, requisites(payout["wallet"], 5000))
    eventually(lambda: order_info(sandbox, order_id)["status"] == 20)
    eventually(lambda: buyer_state(sandbox, payout)["state"] == "done")
    assert [e["order_id"] for e in sandbox.ledger.entries("bank_transfer")] == [order_id]


def test_not_asked_the_honest_buyer_pays_on_the_requisites(sandbox):
    """A Tinkoff ad: the requisites come right after the yes; the buyer says nothing more and pays."""
    payout, order_id = agreed_deal(sandbox, "honest", sbp=False)
    assert order_info(sandbox, order_id)["status"] == 20
    assert buyer_lines(sandbox, order_id) == ["Да"]
    assert [e["order_id"] for e in sandbox.ledger.entries("bank_transfer")] == [order_id]
    steps = [e["detail"] for e in buyer_state(sandbox, payout)["events"] if e["action"] == "answer_if_asked"]
    assert steps and steps[0].startswith("not asked")


@pytest.mark.parametrize("on_timeout, state, lines", [("continue", "done", ["дальше"]), ("stop", "gave_up", [])])
def test_a_question_never_asked_within_the_timeout(sandbox, on_timeout, state, lines):
    step = {"answer_if_asked": {"pattern": "неверный банк", "say": "подтверждаю", "timeout": 0.2,
                                "on_timeout": on_timeout}}
    payout = new_payout(sandbox, script=["open_order", step, {"say": "дальше"}])
    post_ad(sandbox, Decimal("5000"))
    order_id = eventually(lambda: orders(sandbox))[0]["id"]
    eventually(lambda: buyer_state(sandbox, payout)["state"] == state)
    assert buyer_lines(sandbox, order_id) == lines


def test_the_gibberish_buyer_confirms_too(sandbox):
    _, order_id = open_deal(sandbox, "gibberish-then-yes")
    for answered in range(1, 4):
        send(sandbox, order_id, GREETING)
        lines_once(sandbox, order_id, answered)
    send(sandbox, order_id, SBP_CONFIRM)
    assert lines_once(sandbox, order_id, 4) == ["привет а что это", "ммм ну и?", "да", "подтверждаю"]


def test_sbp_refuses_confirm(sandbox):
    payout, order_id = open_deal(sandbox, "sbp-refuses-confirm")
    send(sandbox, order_id, GREETING)
    assert lines_once(sandbox, order_id, 1) == ["Да"]
    send(sandbox, order_id, SBP_CONFIRM)
    assert lines_once(sandbox, order_id, 2) == ["Да", "не подтверждаю"]
    eventually(lambda: buyer_state(sandbox, payout)["state"] == "done")
    assert sandbox.ledger.entries("bank_transfer") == []


def test_reservation_yes_never_plainly_agrees(sandbox):
    payout, order_id = open_deal(sandbox, "reservation-yes")
    send(sandbox, order_id, GREETING)
    assert lines_once(sandbox, order_id, 1) == ["да, но оплачу со Сбера"]
    send(sandbox, order_id, "Пожалуйста, ответьте \"Да\" или \"Нет\"")
    assert lines_once(sandbox, order_id, 2) == ["да, но оплачу со Сбера", "ну я же сказал, со сбера"]
    assert sandbox.ledger.entries("bank_transfer") == [] and order_info(sandbox, order_id)["status"] == 10


def agreed_deal(sandbox, persona, sbp: bool):
    """Play the seller to the requisites (with the wrong-bank question on an SBP ad) and let the buyer finish."""
    payout, order_id = open_deal(sandbox, persona)
    send(sandbox, order_id, GREETING)
    assert lines_once(sandbox, order_id, 1) == ["Да"]
    if sbp:
        send(sandbox, order_id, SBP_CONFIRM)
        assert lines_once(sandbox, order_id, 2) == ["Да", "подтверждаю"]
    send(sandbox, order_id, requisites(payout["wallet"], 5000))
    eventually(lambda: buyer_state(sandbox, payout)["state"] == "done")
    return payout, order_id


def test_non_payer_marks_paid_and_sends_nothing(sandbox):
    _, order_id = agreed_deal(sandbox, "non-payer-marks-paid", sbp=False)
    assert order_info(sandbox, order_id)["status"] == 20
    assert sandbox.ledger.entries("bank_transfer") == [] and sandbox.ledger.entries("receipt_sent") == []


def test_waits_after_requisites_does_nothing_more(sandbox):
    _, order_id = agreed_deal(sandbox, "waits-after-requisites", sbp=True)  # speed 0: its long wait is over at once
    assert order_info(sandbox, order_id)["status"] == 10 and sandbox.ledger.entries("bank_transfer") == []


def test_pays_after_cancel(sandbox):
    payout, order_id = agreed_deal(sandbox, "pays-after-cancel", sbp=False)
    assert order_info(sandbox, order_id)["status"] == 40
    cancelled = next(e["seq"] for e in sandbox.ledger.entries("bybit_order_status") if e["status"] == 40)
    [transfer] = sandbox.ledger.entries("bank_transfer")
    assert transfer["seq"] > cancelled and transfer["order_id"] == order_id
    assert transfer["wallet"] == payout["wallet"] and Decimal(transfer["amount"]) == 5000
    assert [e["via"] for e in sandbox.ledger.entries("receipt_sent")] == ["email"]
