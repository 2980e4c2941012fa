"""Playing the daemon by hand in tests: a tiny Bybit signer of our own (not the client) and polling."""
import hashlib
import hmac
import json
import time
import uuid
from decimal import ROUND_UP, Decimal

import gevent
import requests

from itrader.sandbox.world import BYBIT_ACCOUNTS

UID, API_KEY, API_SECRET, _ = BYBIT_ACCOUNTS[0]
GREETING = "Здравствуйте! 1. Оплата будет с Т банка? 2. Чек в формате PDF с почты Т банка сможете отправить?"


def bybit(sandbox, path: str, body: dict) -> dict:
    """One signed Bybit P2P call: HMAC-SHA256 over timestamp + key + recv_window + the exact body sent."""
    raw = json.dumps(body, separators=(",", ":"))
    for _ in range(50):
        timestamp, recv_window = str(int(time.time() * 1000)), "5000"
        signature = hmac.new(API_SECRET.encode(), (timestamp + API_KEY + recv_window + raw).encode(),
                             hashlib.sha256).hexdigest()
        headers = {"X-BAPI-API-KEY": API_KEY, "X-BAPI-TIMESTAMP": timestamp, "X-BAPI-RECV-WINDOW": recv_window,
                   "X-BAPI-SIGN": signature, "X-BAPI-SIGN-TYPE": "2", "Content-Type": "application/json"}
        reply = requests.post(sandbox.urls["bybit"] + path, data=raw, headers=headers, timeout=10).json()
        if reply.get("ret_code", reply.get("retCode")) != 10006:  # over the per-uid rate: wait like a client
            break
        gevent.sleep(0.2)
    assert reply.get("ret_code") == 0, reply
    return reply["result"]


def eventually(check, timeout=20.0):
    """Poll `check` until it returns something truthy (buyers are greenlets; let them run)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        gevent.sleep(0.1)
    raise AssertionError(f"nothing happened within {timeout}s")


def post_ad(sandbox, amount: Decimal, price: Decimal = Decimal("80.00")) -> str:
    methods = bybit(sandbox, "/v5/p2p/user/payment/list", {})
    sbp = next(m for m in methods if str(m["paymentType"]) == "382")
    quantity = (amount / price + 5).quantize(Decimal("0.01"), ROUND_UP)
    return bybit(sandbox, "/v5/p2p/item/create", {
        "tokenId": "USDT", "currencyId": "RUB", "side": "1", "priceType": "0", "premium": "",
        "price": str(price), "minAmount": str(amount), "maxAmount": str(amount), "remark": "Только Т-Банк.",
        "tradingPreferenceSet": {}, "paymentIds": [sbp["id"]], "quantity": str(quantity),
        "paymentPeriod": "15", "itemType": "ORIGIN"})["itemId"]


def orders(sandbox) -> list[dict]:
    return bybit(sandbox, "/v5/p2p/order/simplifyList", {"page": 1, "size": 30})["items"]


def order_info(sandbox, order_id: str) -> dict:
    return bybit(sandbox, "/v5/p2p/order/info", {"orderId": order_id})


def send(sandbox, order_id: str, text: str) -> None:
    bybit(sandbox, "/v5/p2p/order/message/send", {"orderId": order_id, "message": text, "contentType": "str",
                                                   "msgUuid": uuid.uuid4().hex})


def chat(sandbox, order_id: str) -> list[dict]:
    result = bybit(sandbox, "/v5/p2p/order/message/listpage", {"orderId": order_id, "size": "30"})
    return result["result"] if isinstance(result, dict) else result


def buyer_lines(sandbox, order_id: str) -> list[str]:
    """The buyer's chat texts so far, oldest first."""
    buyer = order_info(sandbox, order_id)["targetUserId"]
    messages = sorted(chat(sandbox, order_id), key=lambda m: int(m["createDate"]))
    return [m["message"] for m in messages if m["userId"] == buyer and m["msgType"] == 1]


def requisites(wallet: str, amount, email: str = "receipts@sandbox.local") -> str:
    return f"Реквизиты для оплаты:\nБанк: Сбербанк\nСчет: {wallet}\n\nСумма: {amount} RUB\n\nEmail для чека: {email}"
