"""Playing the daemon by hand in tests: a tiny Bybit signer of our own (not the client) and polling."""
import email
import hashlib
import hmac
import json
import mailbox
import subprocess
import time
import uuid
from decimal import ROUND_UP, Decimal

import gevent
import requests

from itrader.sandbox.world import BYBIT_ACCOUNTS

UID, API_KEY, API_SECRET, _ = BYBIT_ACCOUNTS[0]
GREETING = "Здравствуйте! 1. Оплата будет с Т банка? 2. Чек в формате PDF с почты Т банка сможете отправить?"
# The daemon's third question on SBP ads, after the buyer's yes (itrader/dialogue.py SBP_CONFIRM).
SBP_CONFIRM = ("При СБП, если оплата будет на неверный банк, деньги потеряны.\n"
               "(просто напишите подтверждаю/не подтверждаю)")


def signed_post(sandbox, path: str, body: dict, timeout: float = 10) -> requests.Response:
    """One signed Bybit P2P POST: HMAC-SHA256 over timestamp + key + recv_window + the exact body sent."""
    raw = json.dumps(body, separators=(",", ":"))
    timestamp, recv_window = str(int(time.time() * 1000)), "5000"
    signature = hmac.new(API_SECRET.encode(), (timestamp + API_KEY + recv_window + raw).encode(),
                         hashlib.sha256).hexdigest()
    headers = {"X-BAPI-API-KEY": API_KEY, "X-BAPI-TIMESTAMP": timestamp, "X-BAPI-RECV-WINDOW": recv_window,
               "X-BAPI-SIGN": signature, "X-BAPI-SIGN-TYPE": "2", "Content-Type": "application/json"}
    return requests.post(sandbox.urls["bybit"] + path, data=raw, headers=headers, timeout=timeout)


def bybit(sandbox, path: str, body: dict) -> dict:
    """A signed call that must succeed; over the per-uid rate it waits like a client and tries again."""
    for _ in range(50):
        reply = signed_post(sandbox, path, body).json()
        if reply.get("ret_code", reply.get("retCode")) != 10006:
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


def receipt_pdfs(sandbox) -> list[bytes]:
    """The PDFs of every receipt mail the bank sent so far."""
    box = mailbox.Maildir(str(sandbox.maildir / "Maildir"), create=False)
    mails = [email.message_from_bytes(box.get_bytes(key)) for key in box.keys()]
    return [part.get_payload(decode=True) for mail in mails for part in mail.walk()
            if part.get_content_type() == "application/pdf"]


def pdf_text(pdf: bytes) -> str:
    """Text as poppler's `pdftotext -layout` sees it (not our parser), spaces squeezed."""
    out = subprocess.run(["pdftotext", "-layout", "-", "-"], input=pdf, capture_output=True, check=True).stdout
    return "\n".join(" ".join(line.split()) for line in out.decode().splitlines() if line.strip())


def gate_session(sandbox) -> requests.Session:
    """A Gate trader session, logged in with the sandbox's default trader."""
    from itrader.sandbox.world import GATE_LOGIN, GATE_PASSWORD

    session = requests.Session()
    session.post(sandbox.urls["gate"] + "/auth/basic/login", json={"login": GATE_LOGIN, "password": GATE_PASSWORD},
                 timeout=10).raise_for_status()
    return session


def take(sandbox, gate: requests.Session, payout_id: int) -> dict:
    reply = gate.post(sandbox.urls["gate"] + f"/payments/payouts/{payout_id}/show", timeout=10).json()
    assert reply["success"], reply
    return reply["response"]["payout"]


def approve(sandbox, gate: requests.Session, payout_id: int, pdf: bytes, timeout: float = 10) -> requests.Response:
    return gate.post(sandbox.urls["gate"] + f"/payments/payouts/{payout_id}/approve", timeout=timeout,
                     files={"attachments[]": ("Receipt.pdf", pdf, "application/pdf")})
