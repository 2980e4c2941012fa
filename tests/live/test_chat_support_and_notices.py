"""Issue 12 item 3: Bybit's support writes in an order chat (msgType 5/6) and Bybit shows notices and the
ad's remark under the seller's own userId. Support's words go to the operator as an event and never reach
the dialogue; the notices are neither the buyer's words nor ours."""
from __future__ import annotations

from decimal import Decimal

import gevent
import requests

from tests.live.test_chat_read_without_unread_counts import chat_switches
from tests.pipeline.harness import TERMINAL


def support_says(world, order_id: str, text: str) -> str:
    reply = requests.post(f"{world.urls['sandbox']}/bybit/orders/{order_id}/support", json={"text": text},
                          timeout=10)
    assert reply.status_code == 200, reply.text
    return reply.json()["message_id"]


def support_events(daemon, order_id: str) -> list[dict]:
    return [e for e in daemon.system.events.since(0)
            if e["type"] == "bybit_support_message" and e["order_id"] == order_id]


def order_with_notices(world, make_daemon, amount: str, bank: str, persona: str):
    """A daemon, and a payout whose buyer opened an order, with notices and the remark in its chat."""
    chat_switches(world, order_notices=True)
    daemon = make_daemon()
    payout = world.create_payout(Decimal(amount), "sbp", bank, persona=persona)
    daemon.wait_for(lambda: world.buyer(payout["id"]).order_id is not None, 60, "the buyer's order")
    return daemon, payout, world.buyer(payout["id"]).order_id


def test_support_s_yes_never_answers_our_questions_and_the_operator_hears_of_it(world, make_daemon):
    daemon, payout, order_id = order_with_notices(world, make_daemon, "5600", "sberbank", "silent")

    def greeted() -> bool:
        return any(m["message"].startswith("Здравствуйте!") for m in world.bybit.messages(order_id))
    daemon.wait_for(greeted, 30, "our greeting")
    message_id = support_says(world, order_id, "Да")

    daemon.wait_for(lambda: support_events(daemon, order_id), 15, "the operator event for support's message")
    assert support_events(daemon, order_id)[0]["message_id"] == message_id
    gevent.sleep(2.0)  # ten polls: time enough for a wrongly delivered «Да» to be answered
    row = daemon.deal_for_payout(payout["id"])
    assert row.state == "CHATTING", row.state
    ours = [m["message"] for m in world.bybit.messages(order_id) if m["userId"] not in ("0", world.buyer(
        payout["id"]).buyer_id) and m["msgType"] == 1]
    assert not any(text.startswith(("При СБП", "Реквизиты")) for text in ours), ours
    assert len(support_events(daemon, order_id)) == 1


def test_an_honest_deal_completes_among_notices_the_echoed_remark_and_support_s_words(world, make_daemon):
    daemon, payout, order_id = order_with_notices(world, make_daemon, "5650", "alfabank", "honest")
    support_says(world, order_id, "Напоминаем: не отпускайте монеты до поступления оплаты.")
    row = daemon.wait_state(payout["id"], TERMINAL, timeout=150)
    assert row.state == "COMPLETED", row.reason
    assert len(support_events(daemon, order_id)) == 1
    assert len(world.ledger.entries("bybit_release")) == 1 and world.audit() == []
