"""/v5/p2p/order/info as live Bybit answers it (issue 12, item 11): before the buyer pays, `paymentType` 0
and every seller payment term listed (Bybit P2P docs, Get Order Detail); the result sometimes nested once
more ({"result": {"result": {...}}}). The client reads both, and names the buyer's payment term only once
the buyer paid."""
from __future__ import annotations

import pytest

from itrader.bybit.models import OrderSummary, Page
from itrader.bybit.envelope import unwrap_object
from tests.bybit.test_client_contract import BUYER, live_order, sbp_id, sell_ad  # noqa: F401  (fixtures)


@pytest.mark.parametrize("nesting", ["flat", "nested"])
def test_before_payment_no_term_is_the_buyers_and_after_it_the_confirmed_one_is(world, client, live_order,
                                                                               sbp_id, nesting):
    item_id, order_id = live_order
    world.sandbox.order_info_nesting = nesting
    before = client.order_info(order_id)
    assert before.id == order_id and before.item_id == item_id and before.status == 10
    assert before.payment_type == 0 and {t.payment_type for t in before.payment_terms} == {382, 75}
    assert before.paid_with is None  # every seller term is listed: none of them is the buyer's choice yet
    world.sandbox.mark_paid(order_id)
    after = client.order_info(order_id)
    assert after.status == 20 and after.paid_with is not None
    assert after.paid_with.id == sbp_id and after.paid_with.payment_type == 382


def test_an_object_is_unwrapped_only_when_nested():
    order = {"id": "1", "result": {"id": "inner"}}
    assert unwrap_object(order) is order  # an object that has its own id is never replaced
    assert unwrap_object({"result": {"id": "2"}}) == {"id": "2"}
    assert unwrap_object(None) is None and unwrap_object([1]) == [1]
    page = Page.from_api({"result": {"count": 1, "items": [{"id": "x", "status": 10}]}}, OrderSummary.from_api)
    assert [o.id for o in page.items] == ["x"] and page.count == 1



def test_the_pending_list_fallback_finds_an_order_waiting_for_an_objection(world, client, live_order):
    _, order_id = live_order
    world.sandbox.mark_paid(order_id)
    world.sandbox.set_appeal_status(order_id, 110, 900)
    world.sandbox.pending_list_drops_items = True  # count > 0 with no items: read by status instead
    [order] = client.pending_orders().items
    assert order.id == order_id and order.status == 110 and 0 < order.appeal_last_seconds <= 900
