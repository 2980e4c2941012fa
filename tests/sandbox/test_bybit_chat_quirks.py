"""The sandbox's live Bybit chat switches (issue 12), set over the control API and seen through the real
Bybit client: unread counts, msgUuid not echoed, notices under the seller's userId, support's messages,
chat files on their own host and broken downloads."""
from __future__ import annotations

from decimal import Decimal

import pytest
import requests

from itrader.bybit import AdRequest, BybitClient, TemporaryError

BUYER = "2900009"


def control(sandbox, method: str, path: str, **kwargs) -> requests.Response:
    return requests.request(method, sandbox.urls["sandbox"] + path, timeout=10, **kwargs)


def seller(sandbox) -> BybitClient:
    creds = sandbox.credentials()["bybit"][0]
    return BybitClient(sandbox.urls["bybit"], creds["api_key"], creds["api_secret"],
                       file_base_url=sandbox.urls["bybit_files"])


def open_order(sandbox, client: BybitClient, remark: str = "Только Т-Банк.") -> str:
    payment_id = next(m.id for m in client.payment_methods() if m.payment_type == 382)
    ad_id = client.create_ad(AdRequest(price=Decimal("80"), min_amount=Decimal("5000"), max_amount=Decimal("5000"),
                                       quantity=Decimal("70"), payment_ids=(payment_id,), remark=remark))
    return sandbox.bybit.place_order(ad_id, BUYER, Decimal("5000"))


def test_unread_counts_are_counted_zero_or_absent_and_the_operator_can_read_a_chat(sandbox):
    client = seller(sandbox)
    order_id = open_order(sandbox, client)
    sandbox.bybit.buyer_send_text(order_id, "да")
    assert client.pending_orders().items[0].unread_messages == 2  # "order created" and the buyer's words
    assert control(sandbox, "PUT", "/bybit/chat", json={"unread_counts": "zero"}).json()["unread_counts"] == "zero"
    assert client.pending_orders().items[0].raw["unreadMsgCount"] == "0"
    control(sandbox, "PUT", "/bybit/chat", json={"unread_counts": "absent"})
    listed = client.pending_orders().items[0].raw
    assert "unreadMsgCount" not in listed and "selfUnreadMsgCount" not in listed
    assert "unreadMsgCount" not in client.order_info(order_id).raw
    control(sandbox, "PUT", "/bybit/chat", json={"unread_counts": "counted"})
    read = control(sandbox, "POST", f"/bybit/orders/{order_id}/read")
    assert read.json() == {"order_id": order_id, "marked_read": 2}
    assert client.pending_orders().items[0].unread_messages == 0


def test_the_message_list_can_leave_msg_uuid_empty(sandbox):
    client = seller(sandbox)
    order_id = open_order(sandbox, client)
    client.send_text(order_id, "Здравствуйте!", "uuid-1")
    assert [m.raw["msgUuid"] for m in client.chat_messages(order_id) if m.text == "Здравствуйте!"] == ["uuid-1"]
    control(sandbox, "PUT", "/bybit/chat", json={"echo_msg_uuid": False})
    assert [m.raw["msgUuid"] for m in client.chat_messages(order_id) if m.text == "Здравствуйте!"] == [""]


def test_new_orders_show_a_notice_and_the_remark_as_the_seller_s_and_support_writes_as_admin(sandbox):
    client = seller(sandbox)
    control(sandbox, "PUT", "/bybit/chat", json={"order_notices": True})
    order_id = open_order(sandbox, client, remark="Только Т-Банк. Чек PDF на почту.")
    our_id = client.order_info(order_id).user_id
    ours = [m for m in client.chat_messages(order_id) if m.user_id == our_id]
    assert [m.msg_type for m in ours] == [1, 1]
    assert "Bybit will never" in ours[0].text and ours[1].text == "Только Т-Банк. Чек PDF на почту."
    reply = control(sandbox, "POST", f"/bybit/orders/{order_id}/support", json={"text": "Поддержка Bybit: апелляция"})
    support = [m for m in client.chat_messages(order_id) if m.id == reply.json()["message_id"]]
    assert [(m.msg_type, m.text) for m in support] == [(5, "Поддержка Bybit: апелляция")]
    assert support[0].user_id not in (our_id, BUYER)
    assert control(sandbox, "POST", f"/bybit/orders/{order_id}/support", json={"text": " "}).status_code == 400
    assert control(sandbox, "POST", "/bybit/orders/404/support", json={"text": "x"}).status_code == 404


def test_chat_files_come_from_their_own_host_and_break_on_the_switch(sandbox):
    client = seller(sandbox)
    order_id = open_order(sandbox, client)
    url = sandbox.bybit.buyer_send_file(order_id, "Screenshot.png", b"\x89PNG-bytes", "image/png")
    pdf_url = sandbox.bybit.buyer_send_file(order_id, "Receipt.pdf", b"%PDF-1.4", "application/pdf")
    assert client.download_file(url) == b"\x89PNG-bytes"
    control(sandbox, "PUT", "/bybit/chat", json={"broken_files": ["png"]})
    with pytest.raises(TemporaryError):
        client.download_file(url)
    assert requests.get(sandbox.urls["bybit"] + url, timeout=10).status_code == 502  # on the API host too
    assert client.download_file(pdf_url) == b"%PDF-1.4"


def test_bad_chat_switches_are_explained(sandbox):
    assert "unread_counts" in control(sandbox, "PUT", "/bybit/chat", json={"unread_counts": "some"}).json()["error"]
    assert "unknown chat switch" in control(sandbox, "PUT", "/bybit/chat", json={"colour": 1}).json()["error"]
    assert control(sandbox, "PUT", "/bybit/chat", json={"echo_msg_uuid": "no"}).status_code == 400
    assert control(sandbox, "PUT", "/bybit/chat", json={"broken_files": "png"}).status_code == 400
    assert control(sandbox, "GET", "/bybit/chat").json() == {
        "unread_counts": "counted", "echo_msg_uuid": True, "order_notices": False, "broken_files": []}
