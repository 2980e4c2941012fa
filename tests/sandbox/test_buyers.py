"""Simulated buyers against the real Bybit sandbox over HTTP: we play the seller by hand."""
from decimal import Decimal

import requests

from .hand import GREETING, buyer_lines, eventually, order_info, orders, post_ad, send


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
