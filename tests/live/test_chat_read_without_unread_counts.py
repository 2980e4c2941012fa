"""Issue 12 item 1: the buyer's answer is read although Bybit's pending list shows no unread count (the
operator opened the chat in the Bybit app, or the list leaves the counts out): the chat of a live order is
read on a fallback interval whatever the counts say."""
from __future__ import annotations

from decimal import Decimal

import pytest
import requests

from tests.pipeline.harness import TERMINAL


def chat_switches(world, **switches) -> dict:
    reply = requests.put(f"{world.urls['sandbox']}/bybit/chat", json=switches, timeout=10)
    assert reply.status_code == 200, reply.text
    return reply.json()


@pytest.mark.parametrize("counts", ["absent", "zero"])
def test_an_honest_deal_completes_when_the_pending_list_shows_no_unread_messages(world, make_daemon, counts):
    assert chat_switches(world, unread_counts=counts)["unread_counts"] == counts
    daemon = make_daemon()
    payout = world.create_payout(Decimal("5100"), "sbp", "tinkoff", persona="honest")
    row = daemon.wait_state(payout["id"], TERMINAL, timeout=150)
    assert row.state == "COMPLETED", row.reason
    assert len(world.ledger.entries("bybit_release")) == 1
    assert world.audit() == []


def test_the_operator_reading_the_chat_in_the_app_does_not_hide_the_buyer_s_answer(world, make_daemon):
    """The buyer's «Да» arrives, the operator opens the chat in the Bybit app at once (the count clears
    before our next poll), and the deal still hears it."""
    daemon = make_daemon()
    payout = world.create_payout(Decimal("5150"), "sbp", "tinkoff",
                                 script=[{"open_order": {"timeout": 120}}, {"expect": ".", "timeout": 60}])
    daemon.wait_for(lambda: world.buyer(payout["id"]).finished, 60, "our greeting to reach the buyer")
    order_id = world.buyer(payout["id"]).order_id
    # The answer and the operator's reading of it in the app, with no poll of ours in between.
    world.bybit.buyer_send_text(order_id, "Да")
    assert world.bybit.mark_chat_read(order_id) >= 1

    def answered() -> bool:  # the next question (SBP ads) or the requisites came after the yes
        return any(m["message"].startswith(("При СБП", "Реквизиты для оплаты")) for m in world.bybit.messages(order_id))
    daemon.wait_for(answered, 15, "our answer to the buyer's yes")
    assert daemon.deal_for_payout(payout["id"]).state in ("CHATTING", "REQUISITES_SENT")
