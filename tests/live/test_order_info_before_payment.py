"""Issue 12, item 11: /v5/p2p/order/info before the buyer pays has `paymentType` 0 and lists every seller
payment term (Bybit P2P docs, Get Order Detail), and live answers may nest the result once more
({"result": {"result": {...}}}). Neither shape breaks a deal or makes it pick a payment term: the deal
runs on its ad's method and goes through."""
from decimal import Decimal

import requests

from tests.pipeline.harness import TERMINAL


def test_a_deal_goes_through_with_the_pre_payment_and_nested_order_detail(world, make_daemon):
    answer = requests.put(world.urls["sandbox"] + "/bybit/shapes", json={"order_info_nesting": "nested"},
                          timeout=10)
    assert answer.status_code == 200 and answer.json()["order_info_nesting"] == "nested", answer.text
    daemon = make_daemon()
    payout = world.create_payout(Decimal("6200"), "sbp", "sberbank", persona="honest")
    row = daemon.wait_state(payout["id"], TERMINAL, timeout=120)
    assert row.state == "COMPLETED", row.reason
    # Bybit listed both of the seller's terms before payment; the buyer paid to the ad's SBP term.
    assert world.bybit.order(row.order_id)["paymentType"] == 382
    assert [e["order_id"] for e in world.ledger.entries("bybit_release")] == [row.order_id]
    assert world.audit() == []
