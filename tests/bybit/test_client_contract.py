"""Every client call against the Bybit sandbox over real HTTP, with Bybit's quirks."""
from __future__ import annotations

from decimal import Decimal

import pytest
import requests

from itrader.bybit import (
    AdLimitReached, AdParameterException, AdPriceTooClose, SecurityRiskRequired,
    AdRejected, AdRequest, AuthError, InsufficientBalance, InvalidRequest, NotFound, OrderNotReleasable, PermanentError,
    TimestampError,
)
from itrader.bybit.models import ORDER_APPEALING, ORDER_CANCELLED, ORDER_FINISHED, ORDER_WAITING_PAYMENT
from tests.bybit.conftest import SELLER_SECRET, SELLER_UID, ManualClock, bybit_world

BUYER = "2900000"


def sell_ad(payment_id: str, amount: str = "5000", price: str = "80.50") -> AdRequest:
    amount_d, price_d = Decimal(amount), Decimal(price)
    quantity = (amount_d / price_d + 5).quantize(Decimal("0.01"))
    return AdRequest(price=price_d, min_amount=amount_d, max_amount=amount_d, quantity=quantity,
                     payment_ids=(payment_id,), remark="Оплата по СБП")


@pytest.fixture
def sbp_id(client) -> str:
    return next(m.id for m in client.payment_methods() if m.payment_type == 382)


@pytest.fixture
def live_order(world, client, sbp_id):
    item_id = client.create_ad(sell_ad(sbp_id))
    order_id = world.sandbox.place_order(item_id, BUYER, Decimal("5000"))
    return item_id, order_id


# ---------------------------------------------------------------- account


def test_server_time_and_clock_offset_against_a_clock_an_hour_ahead():
    with bybit_world(clock=lambda: __import__("time").time() + 3600) as world:
        client = world.client(auto_sync_clock=False)
        with pytest.raises(TimestampError) as failure:
            client.payment_methods()
        assert failure.value.code == 10002
        offset = client.sync_clock()
        assert 3_599_000 < offset < 3_601_000
        assert client.payment_methods()  # signed with the corrected timestamp


def test_client_resyncs_its_clock_by_itself_on_10002():
    with bybit_world(clock=lambda: __import__("time").time() - 120) as world:
        client = world.client()
        assert [m.payment_type for m in client.payment_methods()] == [382, 75]
        assert client.clock_offset_ms < -100_000


def test_account_info_gives_our_user_id(client):
    assert client.account_info()["userId"] == SELLER_UID


def test_payment_methods_skip_the_internal_balance_method(client):
    methods = client.payment_methods()
    assert {m.name for m in methods} == {"SBP", "Tinkoff"}
    assert all(m.id != "-1" for m in methods)
    assert any(m.is_balance for m in client.payment_methods(include_balance=True))


def test_balance_reads_the_v5_envelope(client, sbp_id):
    assert client.balance() == Decimal("100000")
    client.create_ad(sell_ad(sbp_id))
    assert client.balance() < Decimal("100000")  # the ad's quantity is locked


# ---------------------------------------------------------------- ads


def test_ad_lifecycle_create_info_list_update_offline_activate_cancel(world, client, sbp_id):
    request = sell_ad(sbp_id)
    item_id = client.create_ad(request)
    ad = client.ad_info(item_id)
    assert (ad.status, ad.price, ad.min_amount, ad.max_amount) == (10, Decimal("80.50"), Decimal(5000), Decimal(5000))
    assert ad.payment_types == (382,) and ad.payment_ids == (sbp_id,)
    assert [a.id for a in client.my_ads().items] == [item_id]
    assert [a.id for a in client.my_ads(status=2).items] == [item_id]
    created = world.ledger.entries("bybit_ad_create")
    assert created[-1]["item_id"] == item_id and created[-1]["amount"] == "5000" and created[-1]["payment_type"] == 382

    client.update_ad(item_id, sell_ad(sbp_id, price="81.00"))
    assert client.ad_info(item_id).price == Decimal("81.00")

    world.sandbox.take_ad_offline(item_id)
    assert client.ad_info(item_id).status == 20
    with pytest.raises(PermanentError):  # MODIFY needs an online ad
        client.update_ad(item_id, sell_ad(sbp_id, price="81.00"))
    client.update_ad(item_id, sell_ad(sbp_id, price="81.00"), action="ACTIVE")
    assert client.ad_info(item_id).status == 10

    client.cancel_ad(item_id)
    assert client.ad_info(item_id).status == 30
    assert world.ledger.entries("bybit_ad_cancel")[-1]["item_id"] == item_id
    assert world.sandbox.ads(SELLER_UID, online_only=True) == []


def test_taken_ad_shows_frozen_quantity(world, client, live_order):
    item_id, _ = live_order
    ad = client.ad_info(item_id)
    assert ad.taken and ad.frozen_quantity == Decimal("62.1118")
    assert ad.last_quantity * ad.price < ad.min_amount  # the leftover cannot serve a second order
    assert [a.id for a in client.my_ads(status=1).items] == [item_id]


@pytest.mark.parametrize(
    "change, error, code",
    [
        ({"price": Decimal("200")}, AdRejected, 912120022),
        ({"quantity": Decimal("10")}, AdRejected, 912120023),
        ({"payment_ids": ("99999999",)}, AdRejected, 912300013),
        ({"payment_ids": ("SBP",)}, InvalidRequest, 10001),
        ({"min_amount": Decimal("6000")}, AdRejected, 912300015),
        ({"quantity": Decimal("200000")}, InsufficientBalance, 912120024),
    ],
)
def test_ad_creation_errors_are_typed(client, sbp_id, change, error, code):
    request = sell_ad(sbp_id)
    request = AdRequest(**{**request.__dict__, **change})
    with pytest.raises(error) as failure:
        client.create_ad(request)
    assert failure.value.code == code


def test_ads_the_account_cannot_post_are_typed_and_none_goes_up(world, client, sbp_id):
    sandbox = world.sandbox
    sandbox.post_ad_by_hand(SELLER_UID, price=Decimal("82"))
    sandbox.set_ad_rules(price_gap_percent="5")
    with pytest.raises(AdPriceTooClose) as failure:
        client.create_ad(sell_ad(sbp_id, price="83"))  # 1.2 % from the hand-posted 82
    assert failure.value.code == 912300905
    client.create_ad(sell_ad(sbp_id, price="90"))
    sandbox.post_ad_by_hand(SELLER_UID, price=Decimal("99"))  # the third sell ad: the docs' limit
    with pytest.raises(AdLimitReached) as failure:
        client.create_ad(sell_ad(sbp_id, price="70"))
    assert failure.value.code == 912300904 and client.my_ads().count == 3
    sandbox.set_ad_rules(side_limit=None, security_risk=True)
    with pytest.raises(SecurityRiskRequired):  # ret_code 0, needSecurityRisk: true and no itemId
        client.create_ad(sell_ad(sbp_id, price="70"))
    sandbox.set_ad_rules(security_risk=False, parameter_exception=True, uid=SELLER_UID)
    with pytest.raises(AdParameterException) as failure:
        client.create_ad(sell_ad(sbp_id, price="70"))
    assert failure.value.code == 912000004 and client.my_ads().count == 3


def test_online_ads_are_a_deterministic_paged_market_in_no_price_order(world, client, sbp_id):
    first, second = client.online_ads(page=1, size=10), client.online_ads(page=2, size=10)
    assert first.count == second.count == 90 and len(first.items) == len(second.items) == 10
    whole = client.online_ads(size=300).items
    prices = [a.price for a in whole]
    assert prices != sorted(prices) and prices != sorted(prices, reverse=True)  # Bybit documents no sort
    assert {tuple(sorted(a.payment_types)) for a in whole} > {(75,), (382,)}  # and filters no payment method
    assert not {a.id for a in first.items} & {a.id for a in second.items}
    with bybit_world() as other:
        assert [a.id for a in other.client().online_ads(page=1, size=10).items] == [a.id for a in first.items]
    item_id = client.create_ad(sell_ad(sbp_id, price="80.01"))
    listed = client.online_ads(size=300)
    assert listed.count == 91 and item_id in {a.id for a in listed.items}
    buyers = client.online_ads(side=0, size=300)
    assert buyers.count == 90 and all(a.price < Decimal("80") for a in buyers.items)


# ---------------------------------------------------------------- orders


def test_pending_list_has_the_order_and_its_unread_count_but_no_item_id(world, client, live_order):
    item_id, order_id = live_order
    pending = client.pending_orders()
    assert [o.id for o in pending.items] == [order_id]
    order = pending.items[0]
    assert order.status == ORDER_WAITING_PAYMENT and order.amount == Decimal(5000)
    assert order.has_news and "itemId" not in order.raw  # the "order created" system message
    client.chat_messages(order_id)
    assert not client.pending_orders().items[0].has_news
    world.sandbox.buyer_send_text(order_id, "Здравствуйте")
    world.sandbox.buyer_send_text(order_id, "да")
    assert client.pending_orders().items[0].unread_messages == 2
    detail = client.order_info(order_id)
    assert detail.item_id == item_id and detail.user_id == SELLER_UID and detail.buyer_uid == BUYER
    assert detail.payment_terms[0].payment_type == 382 and detail.quantity == Decimal("62.1118")


def test_order_list_filters_by_status(world, client, live_order):
    _, order_id = live_order
    assert [o.id for o in client.orders(status=10).items] == [order_id]
    assert client.orders(status=20).items == []
    world.sandbox.mark_paid(order_id)
    assert [o.id for o in client.orders(status=20).items] == [order_id]
    assert client.orders().count == 1


def test_status_filter_as_a_list_string_is_a_parameter_error(world, client):
    with pytest.raises(InvalidRequest) as failure:
        client._call("POST", "/v5/p2p/order/simplifyList", "read", {"page": 1, "size": 30, "status": "10,20,30"})
    assert failure.value.code == 10001


def test_pending_list_quirk_count_without_items_falls_back_to_simplify_list(world, client, live_order):
    _, order_id = live_order
    world.sandbox.pending_list_drops_items = True
    assert [o.id for o in client.pending_orders().items] == [order_id]


def test_release_only_from_status_20(world, client, live_order):
    item_id, order_id = live_order
    with pytest.raises(OrderNotReleasable):
        client.release(order_id)
    assert world.ledger.entries("bybit_release") == []
    assert world.ledger.entries("bybit_release_rejected")[-1]["order_id"] == order_id
    world.sandbox.mark_paid(order_id)
    assert client.order_info(order_id).paid_ms > 0
    client.release(order_id)
    assert client.order_info(order_id).status == ORDER_FINISHED
    release = world.ledger.entries("bybit_release")
    assert len(release) == 1 and release[0]["amount"] == "5000" and release[0]["quantity"] == "62.1118"
    with pytest.raises(OrderNotReleasable):
        client.release(order_id)  # a second release is refused
    assert len(world.ledger.entries("bybit_release")) == 1
    assert client.ad_info(item_id).executed_quantity == Decimal("62.1118")


def test_unpaid_order_expires_after_the_payment_period():
    clock = ManualClock()
    with bybit_world(clock=clock) as world:
        client = world.client()
        sbp = next(m.id for m in client.payment_methods() if m.payment_type == 382)
        item_id = client.create_ad(sell_ad(sbp))
        order_id = world.sandbox.place_order(item_id, BUYER, Decimal(5000))
        assert 0 < client.order_info(order_id).transfer_last_seconds <= 900
        clock.advance(15 * 60 + 1)
        assert client.order_info(order_id).status == ORDER_CANCELLED  # the client re-synced after the jump
        assert client.ad_info(item_id).frozen_quantity == 0
        assert {"order_id": order_id, "status": 40} in [
            {k: e[k] for k in ("order_id", "status")} for e in world.ledger.entries("bybit_order_status")]


def test_appeal_moves_the_order_to_30_and_blocks_release(world, client, live_order):
    _, order_id = live_order
    world.sandbox.mark_paid(order_id)
    world.sandbox.appeal(order_id)
    assert client.order_info(order_id).status == ORDER_APPEALING
    with pytest.raises(OrderNotReleasable):
        client.release(order_id)


def test_buyer_cancel_moves_the_order_to_40(world, client, live_order):
    _, order_id = live_order
    world.sandbox.buyer_cancel(order_id)
    assert client.order_info(order_id).status == ORDER_CANCELLED
    assert client.pending_orders().items == []


# ---------------------------------------------------------------- chat


@pytest.mark.parametrize("nesting", ["nested", "flat"])
def test_chat_reads_both_nestings_oldest_first_across_pages(world, client, live_order, nesting):
    _, order_id = live_order
    world.sandbox.chat_nesting = nesting
    for n in range(35):
        world.sandbox.buyer_send_text(order_id, f"сообщение {n}")
    client.send_text(order_id, "Здравствуйте! Оплата по СБП.")
    messages = client.chat_messages(order_id)
    assert len(messages) == 37
    assert messages[0].is_system
    assert [m.text for m in messages[1:36]] == [f"сообщение {n}" for n in range(35)]
    assert messages[-1].written_by(SELLER_UID) and not messages[1].written_by(SELLER_UID)


def test_sent_text_reaches_the_buyer_with_its_uuid(world, client, live_order):
    _, order_id = live_order
    msg_uuid = client.send_text(order_id, "Реквизиты: +7 900 000-00-00")
    last = world.sandbox.messages(order_id)[-1]
    assert last["message"] == "Реквизиты: +7 900 000-00-00" and last["msgUuid"] == msg_uuid
    assert last["userId"] == SELLER_UID and last["contentType"] == "str"


def test_upload_and_send_a_file_then_download_a_buyer_file(world, client, live_order):
    _, order_id = live_order
    pdf = b"%PDF-1.4\n% receipt\n"
    uploaded = client.upload_file("receipt.pdf", pdf)
    assert uploaded.url.startswith("/fiat/p2p/oss/showObj/") and uploaded.type == "PDF"
    client.send_file(order_id, uploaded, "receipt.pdf")
    sent = world.sandbox.messages(order_id)[-1]
    assert sent["contentType"] == "pdf" and sent["fileName"] == "receipt.pdf" and sent["message"] == uploaded.url
    url = world.sandbox.buyer_send_file(order_id, "check.png", b"\x89PNG fake", "image/png")
    buyer_file = client.chat_messages(order_id)[-1]
    assert buyer_file.is_file and buyer_file.text == url and buyer_file.content_type == "pic"
    assert client.download_file(buyer_file.text) == b"\x89PNG fake"
    with pytest.raises(InvalidRequest):
        client.upload_file("notes.txt", b"plain text")


# ---------------------------------------------------------------- auth and paths


def test_wrong_secret_and_unknown_key_are_auth_errors(world, caplog):
    caplog.set_level("DEBUG")
    with pytest.raises(AuthError) as bad_sign:
        world.client(secret="not-the-secret").payment_methods()
    assert bad_sign.value.code == 10004
    with pytest.raises(AuthError) as bad_key:
        world.client(key="UNKNOWN-KEY").payment_methods()
    assert bad_key.value.code == 10003
    for text in (str(bad_sign.value), repr(bad_sign.value), caplog.text):
        assert SELLER_SECRET not in text and "not-the-secret" not in text


WRONG_PATHS = [
    "/p2p/item/create", "/p2p/order/list", "/p2p/order/release", "/p2p/chat/send",
    "/v5/p2p/advertiser/create-ad", "/v5/p2p/advertise/list", "/v5/p2p/order/list", "/v5/p2p/order/detail",
    "/v5/p2p/order/confirm-payment", "/v5/p2p/order/release", "/v5/p2p/order/chat/messages",
    "/v5/p2p/order/chat/send", "/v5/p2p/order/cancel", "/v5/p2p/order/file/upload", "/v5/p2p/ad/ad-list",
    "/v5/p2p/ad/remove", "/v5/p2p/user/query-user-payment", "/v5/otc/item/list",
]


@pytest.mark.parametrize("path", WRONG_PATHS)
def test_undocumented_paths_answer_404(world, path):
    assert requests.post(world.base_url + path, data=b"{}", timeout=5).status_code == 404


def test_client_maps_404_to_not_found(client):
    with pytest.raises(NotFound):
        client._call("POST", "/v5/p2p/order/release", "write", {"orderId": "1"})


def test_sandbox_enforces_the_signature_over_the_raw_body(world):
    from itrader.bybit.signing import auth_headers
    client = world.client()
    client.sync_clock()
    body = b'{"orderId": "1"}'
    headers = auth_headers("SANDBOXKEY-SELLER-1", SELLER_SECRET, client.now_ms(), 5000, b'{"orderId":"1"}')
    answer = requests.post(world.base_url + "/v5/p2p/order/info", data=body, headers=headers, timeout=5).json()
    assert answer["retCode"] == 10004  # signed compact JSON, sent spaced JSON: rejected
