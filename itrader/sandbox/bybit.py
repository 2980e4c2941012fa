"""Simulated Bybit P2P (V5) for the sandbox world.

An independent twin of Bybit, written from reference/bybit-p2p-api.md: it
checks HMAC signatures over the raw query or raw body, the timestamp window,
per-UID read/write rates and the per-IP limit (403 ban), and answers with the
snake_case P2P envelope (V5 envelope for server time, balance and gateway-level
errors). Sellers use the HTTP API; simulated buyers call the buyer-side methods
in-process. Money steps are recorded in the shared Ledger.

Choices where the reference is silent (documented so the client does not lean
on them as facts):
* gateway errors (10002/10003/10004/10006) use the V5 envelope, business
  errors the snake_case one — a client must read both;
* the chat list is newest first; size > 30 is rejected with 10001;
* releasing an order that is not in status 20 answers ORDER_STATE_ERROR;
* `selfUnreadMsgCount` and `unreadMsgCount` both count the messages (system
  and buyer) the seller has not yet fetched with message/listpage.
"""
from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import random
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any, Callable

import bottle

from itrader.sandbox.faults import Faults, fault_plugin, recorder
from itrader.sandbox.ledger import Ledger

# Codes from reference §7.
PARAM_ERROR = 10001
TIMESTAMP_ERROR = 10002
INVALID_KEY = 10003
SIGN_ERROR = 10004
TOO_MANY_VISITS = 10006
PRICE_OUT_OF_RANGE = 912120022
MIN_ABOVE_TOTAL = 912120023
INSUFFICIENT_BALANCE = 912120024
PAYMENT_NOT_FOUND = 912300013
MIN_AMOUNT_ERROR = 912300015
# Bybit does not document these; the sandbox's own choices.
ORDER_STATE_ERROR = 912300900
NOT_FOUND_ERROR = 912300901
AD_STATE_ERROR = 912300902
AD_MODIFY_LIMIT = 912300903

AD_ONLINE, AD_OFFLINE, AD_CLOSED = 10, 20, 30
ORDER_UNPAID, ORDER_PAID, ORDER_APPEAL, ORDER_CANCELLED, ORDER_FINISHED = 10, 20, 30, 40, 50
PENDING_STATUSES = {5, 10, 20, 30, 90, 100, 110}

TINKOFF, SBP, BALANCE = 75, 382, 377
PAYMENT_NAMES = {TINKOFF: "Tinkoff", SBP: "SBP", BALANCE: "Balance", 14: "Bank Transfer"}

REFERENCE_PRICE = Decimal("80.00")
PRICE_BAND_PERCENT = (Decimal(70), Decimal(130))
CURRENCY_MIN_QUOTE, CURRENCY_MAX_QUOTE = Decimal("500"), Decimal("2000000")
PAYMENT_PERIODS = (15, 30)
CHAT_PAGE_MAX = 30
ORDER_PAGE_MAX = 30
MY_ADS_PAGE_MAX = 50
ONLINE_PAGE_MAX = 300
AD_MODIFY_MAX, AD_MODIFY_WINDOW = 10, 300.0
HTTP_LOG_MAX = 100_000  # a long-running sandbox keeps the recent requests only

UPLOAD_TYPES = {"jpg": "IMAGE", "jpeg": "IMAGE", "png": "IMAGE", "pdf": "PDF", "mp4": "VIDEO"}
CHAT_CONTENT_TYPES = {"str": 1, "pic": 2, "pdf": 7, "video": 8}

WRONG_PATHS_NOTE = "reference §11: undocumented paths answer 404"


class ApiError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Account:
    uid: str
    api_key: str
    api_secret: str = field(repr=False)
    nickname: str
    read_per_second: float
    write_per_second: float
    account_id: str
    balance: Decimal
    payments: list[dict[str, Any]]


@dataclass
class Ad:
    id: str
    uid: str
    side: int
    token: str
    currency: str
    price_type: int
    price: Decimal
    premium: str
    quantity: Decimal
    last_quantity: Decimal
    frozen: Decimal
    executed: Decimal
    min_amount: Decimal
    max_amount: Decimal
    remark: str
    payment_ids: list[str]
    payment_period: int
    trading_preferences: dict
    item_type: str
    status: int
    created_ms: int
    updated_ms: int
    modifications: deque = field(default_factory=deque)


@dataclass
class Message:
    id: str
    order_id: str
    user_id: str
    account_id: str
    nickname: str
    msg_type: int
    content_type: str
    text: str
    created_ms: int
    file_name: str = ""
    msg_uuid: str = ""
    role_type: str = "user"
    msg_code: int = 0
    read_by_seller: bool = False
    read_by_buyer: bool = False


@dataclass
class Order:
    id: str
    item_id: str
    seller_uid: str
    buyer_uid: str
    buyer_nickname: str
    buyer_real_name: str
    price: Decimal
    quantity: Decimal
    amount: Decimal
    payment_id: str
    payment_type: int
    status: int
    created_ms: int
    expires_at: float
    paid_ms: int = 0
    messages: list[Message] = field(default_factory=list)


@dataclass
class StoredFile:
    name: str
    data: bytes
    content_type: str


def _dec(value: Any, name: str) -> Decimal:
    try:
        result = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise ApiError(PARAM_ERROR, f"request parameter error: {name}") from None
    if not result.is_finite():
        raise ApiError(PARAM_ERROR, f"request parameter error: {name}")
    return result


def _int(value: Any, name: str, default: int | None = None) -> int:
    if value is None or value == "":
        if default is None:
            raise ApiError(PARAM_ERROR, f"request parameter error: {name} is required")
        return default
    if isinstance(value, bool):
        raise ApiError(PARAM_ERROR, f"request parameter error: {name}")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    raise ApiError(PARAM_ERROR, f"request parameter error: {name}")


def _required(params: dict, *names: str) -> None:
    missing = [n for n in names if n not in params or params[n] is None]
    if missing:
        raise ApiError(PARAM_ERROR, f"request parameter error: missing {', '.join(missing)}")


def _money(value: Decimal, places: str = "0.00") -> str:
    return str(value.quantize(Decimal(places)))


def _qty(value: Decimal) -> str:
    text = format(value.quantize(Decimal("0.0001"), rounding=ROUND_DOWN), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def sign_payload(secret: str, payload: bytes) -> str:
    """The sandbox's own HMAC-SHA256 (hex) over timestamp+key+recv_window+X."""
    return hmac.new(secret.encode("utf-8"), payload, hashlib.sha256).hexdigest()


class BybitSandbox:
    """Bybit P2P state plus a Bottle app whose routes are relative to the /bybit mount."""

    def __init__(
        self,
        ledger: Ledger,
        faults: Faults,
        clock: Callable[[], float] = time.time,
        *,
        chat_nesting: str = "nested",
        market_seed: int = 20240610,
        market_size: int = 57,
        ip_requests_per_window: int = 600,
        ip_window_seconds: float = 5.0,
        ip_ban_seconds: float = 600.0,
        default_balance: Decimal = Decimal("100000"),
        pending_list_drops_items: bool = False,
    ) -> None:
        if chat_nesting not in ("nested", "flat"):
            raise ValueError("chat_nesting must be 'nested' or 'flat'")
        self.ledger = ledger
        self.faults = faults
        self.clock = clock
        self.chat_nesting = chat_nesting
        self.market_seed = market_seed
        self.market_size = market_size
        self.ip_requests_per_window = ip_requests_per_window
        self.ip_window_seconds = ip_window_seconds
        self.ip_ban_seconds = ip_ban_seconds
        self.default_balance = Decimal(default_balance)
        # Reproduces what the TypeScript rewrite saw: count > 0 with an empty items array.
        self.pending_list_drops_items = pending_list_drops_items
        self._lock = threading.RLock()
        self._reset_state()

    # ------------------------------------------------------------------ state

    def _reset_state(self) -> None:
        self._accounts: dict[str, Account] = {}
        self._by_key: dict[str, Account] = {}
        self._ads: dict[str, Ad] = {}
        self._orders: dict[str, Order] = {}
        self._files: dict[str, StoredFile] = {}
        self._request_log: dict[str, deque] = {}
        self._accepted: dict[tuple[str, str], deque] = {}
        self._rate_rejections: dict[str, int] = {}
        self._http_log: deque = deque(maxlen=HTTP_LOG_MAX)
        self._ip_hits: dict[str, deque] = {}
        self._ip_bans: dict[str, float] = {}
        self._ids = itertools.count(1)
        self._market = self._generate_market()

    def reset(self) -> None:
        with self._lock:
            self._reset_state()

    def _next_id(self, base: int) -> str:
        return str(base + next(self._ids))

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    # ------------------------------------------------------- control methods

    def add_account(
        self,
        uid: str,
        api_key: str,
        api_secret: str,
        nickname: str = "",
        read_per_second: float = 10,
        write_per_second: float = 5,
        balance: Decimal | None = None,
        real_name: str = "DEMO SELLER",
    ) -> None:
        """Register a seller with SBP (382) and Tinkoff (75) payment methods."""
        with self._lock:
            payments = []
            for ptype, account_no in ((SBP, "7900" + uid[-7:].rjust(7, "0")), (TINKOFF, "2200" + uid[-12:].rjust(12, "0"))):
                payments.append({"id": self._next_id(18000000), "paymentType": ptype, "accountNo": account_no,
                                 "realName": real_name})
            account = Account(
                uid=uid, api_key=api_key, api_secret=api_secret, nickname=nickname or f"Seller{uid}",
                read_per_second=read_per_second, write_per_second=write_per_second,
                account_id=str(int(uid) + 1) if uid.isdigit() else uid + "-acct",
                balance=self.default_balance if balance is None else Decimal(balance), payments=payments,
            )
            self._accounts[uid] = account
            self._by_key[api_key] = account

    def payment_methods(self, uid: str) -> list[dict]:
        with self._lock:
            return [dict(p) for p in self._accounts[uid].payments]

    def balance(self, uid: str) -> Decimal:
        with self._lock:
            return self._accounts[uid].balance

    def ads(self, uid: str | None = None, online_only: bool = False) -> list[dict]:
        with self._lock:
            self._tick()
            return [
                self._ad_internal(ad) for ad in self._ads.values()
                if (uid is None or ad.uid == uid) and (not online_only or ad.status == AD_ONLINE)
            ]

    def take_ad_offline(self, item_id: str) -> None:
        """What Bybit does on its own (e.g. a momentary balance shortfall)."""
        with self._lock:
            ad = self._ads[item_id]
            if ad.status == AD_ONLINE:
                ad.status = AD_OFFLINE
                ad.updated_ms = self._now_ms()

    def ban_ip(self, ip: str, seconds: float | None = None) -> None:
        with self._lock:
            self._ip_bans[ip] = self.clock() + (self.ip_ban_seconds if seconds is None else seconds)

    def lift_bans(self) -> None:
        with self._lock:
            self._ip_bans.clear()
            self._ip_hits.clear()

    def request_log(self, uid: str) -> list[tuple[float, str, str]]:
        """Every authenticated request of the uid: (server time, "read"|"write", path)."""
        with self._lock:
            return list(self._request_log.get(uid, []))

    def rate_rejections(self, uid: str) -> int:
        with self._lock:
            return self._rate_rejections.get(uid, 0)

    def http_log(self) -> list[dict[str, Any]]:
        """Every HTTP request that reached the app, faulted ones too: ts, ip, method, path, status,
        retry_after, fault (the injected fault that answered it, else None)."""
        with self._lock:
            return [dict(e) for e in self._http_log]

    def file(self, url: str) -> StoredFile | None:
        with self._lock:
            return self._files.get(url.split("?", 1)[0])

    # ------------------------------------------------------------ buyer side

    def place_order(
        self, item_id: str, buyer_uid: str, amount: Decimal, *, buyer_name: str = "DEMO BUYER",
        payment_type: int | None = None,
    ) -> str:
        """A buyer opens an order on an online ad: status 10, quantity frozen."""
        amount = Decimal(amount)
        with self._lock:
            self._tick()
            ad = self._ads.get(item_id)
            if ad is None or ad.status != AD_ONLINE:
                raise ApiError(AD_STATE_ERROR, "ad is not online")
            if ad.uid == buyer_uid:
                raise ApiError(PARAM_ERROR, "cannot trade with yourself")
            if not ad.min_amount <= amount <= ad.max_amount:
                raise ApiError(MIN_AMOUNT_ERROR, "amount outside the ad's limits")
            quantity = (amount / ad.price).quantize(Decimal("0.0001"), rounding=ROUND_DOWN)
            if quantity > ad.last_quantity:
                raise ApiError(AD_STATE_ERROR, "not enough quantity left on the ad")
            seller = self._accounts[ad.uid]
            methods = [p for p in seller.payments if p["id"] in ad.payment_ids]
            if payment_type is not None:
                methods = [p for p in methods if p["paymentType"] == payment_type] or methods
            method = methods[0]
            ad.last_quantity -= quantity
            ad.frozen += quantity
            now = self.clock()
            order = Order(
                id=self._next_id(1931000000000000000), item_id=ad.id, seller_uid=ad.uid, buyer_uid=buyer_uid,
                buyer_nickname=f"Buyer{buyer_uid}", buyer_real_name=buyer_name, price=ad.price,
                quantity=quantity, amount=amount, payment_id=method["id"], payment_type=method["paymentType"],
                status=ORDER_UNPAID, created_ms=int(now * 1000), expires_at=now + ad.payment_period * 60,
            )
            self._orders[order.id] = order
            self._system_message(order, "Order created. Please pay within the payment period.", 10)
            self.ledger.record("bybit_order", uid=ad.uid, order_id=order.id, item_id=ad.id, buyer_uid=buyer_uid,
                               amount=amount)
            self.ledger.record("bybit_order_status", order_id=order.id, status=ORDER_UNPAID)
            return order.id

    def buyer_send_text(self, order_id: str, text: str) -> None:
        with self._lock:
            order = self._live_order(order_id)
            self._add_message(order, order.buyer_uid, 1, "str", text, by_buyer=True)

    def buyer_send_file(self, order_id: str, filename: str, data: bytes, content_type: str) -> str:
        """A buyer posts a file in the chat; returns its relative URL."""
        with self._lock:
            order = self._live_order(order_id)
            ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
            kind = UPLOAD_TYPES.get(ext) or ("PDF" if "pdf" in content_type else "IMAGE")
            url = self._store_file(filename, data, content_type)
            chat_type = {"IMAGE": "pic", "PDF": "pdf", "VIDEO": "video"}[kind]
            self._add_message(order, order.buyer_uid, CHAT_CONTENT_TYPES[chat_type], chat_type, url,
                              by_buyer=True, file_name=filename)
            return url

    def mark_paid(self, order_id: str) -> None:
        with self._lock:
            order = self._live_order(order_id)
            if order.status != ORDER_UNPAID:
                raise ApiError(ORDER_STATE_ERROR, f"order status {order.status} cannot be marked paid")
            order.paid_ms = self._now_ms()
            self._set_status(order, ORDER_PAID, "The buyer has marked the order as paid.")

    def buyer_cancel(self, order_id: str) -> None:
        with self._lock:
            order = self._live_order(order_id)
            if order.status not in (ORDER_UNPAID, ORDER_PAID):
                raise ApiError(ORDER_STATE_ERROR, f"order status {order.status} cannot be cancelled")
            self._cancel(order, "The buyer cancelled the order.")

    def appeal(self, order_id: str) -> None:
        with self._lock:
            order = self._live_order(order_id)
            if order.status not in (ORDER_UNPAID, ORDER_PAID):
                raise ApiError(ORDER_STATE_ERROR, f"order status {order.status} cannot be appealed")
            self._set_status(order, ORDER_APPEAL, "An appeal has been raised for this order.")

    def order(self, order_id: str) -> dict:
        with self._lock:
            self._tick()
            return self._order_detail(self._orders[order_id])

    def orders(self, uid: str | None = None) -> list[dict]:
        with self._lock:
            self._tick()
            return [self._order_detail(o) for o in self._orders.values() if uid is None or o.seller_uid == uid]

    def messages(self, order_id: str) -> list[dict]:
        with self._lock:
            return [self._message_json(m) for m in self._orders[order_id].messages]

    # ----------------------------------------------------------- bookkeeping

    def _tick(self) -> None:
        """Expire unpaid orders whose payment period is over (→ 40)."""
        now = self.clock()
        for order in self._orders.values():
            if order.status == ORDER_UNPAID and now >= order.expires_at:
                self._cancel(order, "The order was cancelled: the payment period expired.")

    def _live_order(self, order_id: str) -> Order:
        self._tick()
        order = self._orders.get(order_id)
        if order is None:
            raise ApiError(NOT_FOUND_ERROR, "order not found")
        return order

    def _cancel(self, order: Order, text: str) -> None:
        ad = self._ads[order.item_id]
        ad.frozen -= order.quantity
        ad.last_quantity += order.quantity
        self._set_status(order, ORDER_CANCELLED, text)

    def _set_status(self, order: Order, status: int, text: str) -> None:
        order.status = status
        self._system_message(order, text, status)
        self.ledger.record("bybit_order_status", order_id=order.id, status=status)

    def _system_message(self, order: Order, text: str, code: int) -> None:
        message = Message(
            id=self._next_id(3000000000), order_id=order.id, user_id="0", account_id="0", nickname="System",
            msg_type=0, content_type="str", text=text, created_ms=self._now_ms(), role_type="sys", msg_code=code,
        )
        order.messages.append(message)

    def _add_message(self, order: Order, user_id: str, msg_type: int, content_type: str, text: str, *,
                     by_buyer: bool, file_name: str = "", msg_uuid: str = "") -> Message:
        if by_buyer:
            nickname, account_id = order.buyer_nickname, order.buyer_uid
        else:
            seller = self._accounts[order.seller_uid]
            nickname, account_id = seller.nickname, seller.account_id
        message = Message(
            id=self._next_id(3000000000), order_id=order.id, user_id=user_id, account_id=account_id,
            nickname=nickname, msg_type=msg_type, content_type=content_type, text=text, created_ms=self._now_ms(),
            file_name=file_name, msg_uuid=msg_uuid, read_by_seller=not by_buyer, read_by_buyer=by_buyer,
        )
        order.messages.append(message)
        return message

    def _store_file(self, filename: str, data: bytes, content_type: str) -> str:
        ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else "bin"
        token = hashlib.sha256(data + str(next(self._ids)).encode()).hexdigest()[:16]
        path = f"/fiat/p2p/oss/showObj/otc/9001/{token}.{ext}"
        self._files[path] = StoredFile(filename, data, content_type)
        expiry = int(self.clock()) + 86400
        return f"{path}?e={expiry}&token={token[:8]}"

    def _unread_for_seller(self, order: Order) -> int:
        return sum(1 for m in order.messages if not m.read_by_seller)

    def _available_balance(self, account: Account) -> Decimal:
        locked = sum(
            (ad.last_quantity + ad.frozen for ad in self._ads.values()
             if ad.uid == account.uid and ad.status in (AD_ONLINE, AD_OFFLINE)),
            Decimal(0),
        )
        return account.balance - locked

    # ------------------------------------------------------------ JSON shapes

    def _payment_json(self, payment: dict) -> dict:
        ptype = payment["paymentType"]
        return {
            "id": payment["id"], "realName": payment["realName"], "paymentType": ptype, "bankName": "",
            "branchName": "", "accountNo": payment["accountNo"], "qrcode": "", "online": "0", "visible": 1,
            "payMessage": "", "firstName": "", "lastName": "", "secondLastName": "", "clabe": "",
            "debitCardNumber": "", "mobile": "", "businessName": "", "concept": "", "countNo": "",
            "paymentTemplateVersion": 1, "hasPaymentTemplateChanged": False, "realNameVerified": True,
            "channel": "", "currencyBalance": [],
            "paymentConfigVo": {"paymentType": str(ptype), "checkType": 0, "sort": 0,
                                "paymentName": PAYMENT_NAMES.get(ptype, str(ptype)), "addTips": "", "itemTips": "",
                                "online": 0, "items": []},
        }

    def _ad_json(self, ad: Ad) -> dict:
        account = self._accounts[ad.uid]
        terms = [p for p in account.payments if p["id"] in ad.payment_ids]
        return {
            "id": ad.id, "accountId": account.account_id, "userId": ad.uid, "nickName": account.nickname,
            "tokenId": ad.token, "currencyId": ad.currency, "side": ad.side, "priceType": ad.price_type,
            "price": _money(ad.price), "premium": ad.premium, "lastQuantity": _qty(ad.last_quantity),
            "quantity": _qty(ad.quantity), "frozenQuantity": _qty(ad.frozen),
            "executedQuantity": _qty(ad.executed), "minAmount": _money(ad.min_amount),
            "maxAmount": _money(ad.max_amount), "remark": ad.remark, "status": ad.status,
            "createDate": str(ad.created_ms), "payments": [str(p["paymentType"]) for p in terms],
            "hiddenReason": "", "tradingPreferenceSet": ad.trading_preferences, "updateDate": str(ad.updated_ms),
            "feeRate": "0", "paymentPeriod": ad.payment_period, "itemType": ad.item_type, "version": 2,
            "paymentTerms": [{"id": p["id"], "paymentType": p["paymentType"], "realName": p["realName"],
                              "accountNo": p["accountNo"],
                              "paymentConfig": {"paymentType": p["paymentType"],
                                                "paymentName": PAYMENT_NAMES[p["paymentType"]]}} for p in terms],
            "symbolInfo": self._symbol_info(), "orderNum": 0, "finishNum": 0, "isOnline": True,
        }

    def _ad_internal(self, ad: Ad) -> dict:
        account = self._accounts[ad.uid]
        return {
            "item_id": ad.id, "uid": ad.uid, "status": ad.status, "price": ad.price, "quantity": ad.quantity,
            "last_quantity": ad.last_quantity, "frozen_quantity": ad.frozen, "executed_quantity": ad.executed,
            "min_amount": ad.min_amount, "max_amount": ad.max_amount, "payment_ids": list(ad.payment_ids),
            "payment_types": [p["paymentType"] for p in account.payments if p["id"] in ad.payment_ids],
            "payment_period": ad.payment_period, "remark": ad.remark,
        }

    @staticmethod
    def _symbol_info() -> dict:
        return {
            "tokenId": "USDT", "currencyId": "RUB", "itemDownRange": "70", "itemUpRange": "130",
            "currencyMinQuote": str(CURRENCY_MIN_QUOTE), "currencyMaxQuote": str(CURRENCY_MAX_QUOTE),
            "tokenMinQuote": "5", "tokenMaxQuote": "100000", "orderAutoCancelMinute": 15, "orderFinishMinute": 10,
            "itemSideLimit": 2, "buyFeeRate": "0", "sellFeeRate": "0",
            "currency": {"currencyId": "RUB", "scale": 2}, "token": {"tokenId": "USDT", "scale": 4},
            "buyAd": {"paymentPeriods": list(PAYMENT_PERIODS)}, "sellAd": {"paymentPeriods": list(PAYMENT_PERIODS)},
        }

    def _transfer_last_seconds(self, order: Order) -> str:
        if order.status != ORDER_UNPAID:
            return "0"
        return str(max(0, int(order.expires_at - self.clock())))

    def _order_list_item(self, order: Order) -> dict:
        seller = self._accounts[order.seller_uid]
        unread = str(self._unread_for_seller(order))
        return {
            "id": order.id, "side": 1, "tokenId": "USDT", "orderType": "ORIGIN",
            "amount": _money(order.amount, "0.000"), "currencyId": "RUB", "price": _money(order.price),
            "notifyTokenQuantity": _qty(order.quantity), "notifyTokenId": "USDT", "fee": "0",
            "targetNickName": order.buyer_nickname, "targetUserId": order.buyer_uid, "status": order.status,
            "selfUnreadMsgCount": unread, "createDate": str(order.created_ms),
            "transferLastSeconds": self._transfer_last_seconds(order), "appealLastSeconds": "0",
            "userId": order.seller_uid, "sellerRealName": seller.payments[0]["realName"],
            "buyerRealName": order.buyer_real_name,
            "judgeInfo": {"autoJudgeUnlockTime": "0", "dissentResult": "", "preDissent": "", "postDissent": ""},
            "unreadMsgCount": unread, "extension": {"isDelayWithdraw": False, "delayTime": "0", "startTime": ""},
            "bulkOrderFlag": False,
        }

    def _order_detail(self, order: Order) -> dict:
        seller = self._accounts[order.seller_uid]
        term = next(p for p in seller.payments if p["id"] == order.payment_id)
        term_json = {k: self._payment_json(term)[k]
                     for k in ("id", "realName", "paymentType", "bankName", "branchName", "accountNo", "qrcode")}
        ad = self._ads[order.item_id]
        return {
            "id": order.id, "side": 1, "itemId": order.item_id, "accountId": seller.account_id,
            "userId": seller.uid, "nickName": seller.nickname, "makerUserId": seller.uid,
            "targetUserId": order.buyer_uid, "targetNickName": order.buyer_nickname,
            "targetConnectInformation": "", "sellerRealName": term["realName"],
            "buyerRealName": order.buyer_real_name, "tokenId": "USDT", "currencyId": "RUB",
            "price": _money(order.price), "quantity": _qty(order.quantity), "amount": _money(order.amount, "0.000"),
            "paymentType": order.payment_type, "transferDate": str(order.paid_ms), "status": order.status,
            "createDate": str(order.created_ms), "paymentTermList": [term_json], "remark": ad.remark,
            "transferLastSeconds": self._transfer_last_seconds(order), "appealContent": "", "appealType": 0,
            "appealNickName": "", "canAppeal": "Y" if order.status == ORDER_PAID else "N",
            "confirmedPayTerm": term_json, "makerFee": "0", "takerFee": "0",
            "extension": {"isDelayWithdraw": False, "delayTime": "0", "startTime": ""}, "orderType": "ORIGIN",
            "appealUserId": "0", "notifyTokenId": "USDT", "notifyTokenQuantity": _qty(order.quantity),
            "cancelReason": "", "needBuyerExamineCancel": False, "usedCoupon": False, "couponTokenId": "",
            "couponQuantity": "0", "targetUserType": "PERSONAL", "orderFinishMinute": 10, "fee": "0",
            "unreadMsgCount": str(self._unread_for_seller(order)), "updateDate": str(self._now_ms()),
            "realOrderStatus": order.status,
        }

    @staticmethod
    def _message_json(m: Message) -> dict:
        return {
            "id": m.id, "accountId": m.account_id, "message": m.text, "msgType": m.msg_type,
            "msgCode": m.msg_code, "createDate": str(m.created_ms),
            "isRead": 1 if m.read_by_seller else 0, "contentType": m.content_type, "roleType": m.role_type,
            "userId": m.user_id, "orderId": m.order_id, "msgUuid": m.msg_uuid, "nickName": m.nickname,
            "read": 1 if m.read_by_seller else 0, "fileName": m.file_name, "onlyForCustomer": 0,
        }

    # ---------------------------------------------------------------- market

    def _generate_market(self) -> dict[int, list[dict]]:
        """A fixed fake USDT/RUB order book: the same seed gives the same ads."""
        rng = random.Random(self.market_seed)
        market: dict[int, list[dict]] = {0: [], 1: []}
        for side in (0, 1):
            for n in range(self.market_size):
                offset = Decimal(rng.randint(10, 400)) / 100
                price = REFERENCE_PRICE + offset if side == 1 else REFERENCE_PRICE - offset
                min_amount = Decimal(rng.choice((500, 1000, 3000, 5000)))
                quantity = Decimal(rng.randint(100, 20000))
                uid = str(5000000 + side * 100000 + n)
                market[side].append({
                    "id": str(1920000000000000000 + side * 100000 + n), "accountId": str(int(uid) + 1),
                    "userId": uid, "nickName": f"Maker{side}{n:03d}", "tokenId": "USDT", "currencyId": "RUB",
                    "side": str(side), "priceType": 0, "price": _money(price), "premium": "",
                    "lastQuantity": str(quantity), "quantity": str(quantity), "frozenQuantity": "0",
                    "executedQuantity": "0", "minAmount": str(min_amount),
                    "maxAmount": str(max(min_amount, (quantity * price / 2).quantize(Decimal(1)))),
                    "remark": "", "status": AD_ONLINE, "createDate": "1718000000000",
                    "payments": rng.choice((["382"], ["75"], ["382", "75"], ["14"])),
                    "orderNum": rng.randint(10, 5000), "finishNum": rng.randint(10, 5000),
                    "recentOrderNum": rng.randint(0, 300), "recentExecuteRate": rng.randint(80, 100),
                    "fee": "", "isOnline": True, "lastLogoutTime": "1718000000000", "blocked": "N",
                    "makerContact": False, "authTag": ["GA"], "paymentPeriod": 15, "version": 0,
                    "authStatus": 2, "recommend": False, "recommendTag": "", "userType": "PERSONAL",
                    "itemType": "ORIGIN", "tradingPreferenceSet": {},
                })
        return market

    def _market_ads(self, side: int) -> list[dict]:
        items = list(self._market[side])
        for ad in self._ads.values():
            if ad.status == AD_ONLINE and ad.side == side:
                item = self._ad_json(ad)
                item["side"] = str(side)
                items.append(item)
        # Best price for the taker first: cheapest sellers, highest buyers.
        items.sort(key=lambda a: (Decimal(a["price"]), a["id"]), reverse=(side == 0))
        return items

    # -------------------------------------------------------------- handlers

    def _h_personal_info(self, account: Account, params: dict) -> dict:
        return {
            "nickName": account.nickname, "defaultNickName": False, "isOnline": True, "kycLevel": "2",
            "email": "s****o@example.com", "mobile": "", "lastLogoutTime": "1718000000", "recentRate": "100",
            "totalFinishCount": 0, "totalFinishSellCount": 0, "totalFinishBuyCount": 0, "recentFinishCount": 0,
            "averageReleaseTime": "0", "averageTransferTime": "0", "accountCreateDays": 400,
            "firstTradeDays": 200, "realName": account.payments[0]["realName"], "recentTradeAmount": "0",
            "totalTradeAmount": "0", "registerTime": "1680000000", "authStatus": 2, "kycCountryCode": "RUS",
            "blocked": "", "goodAppraiseRate": "100", "goodAppraiseCount": 0, "badAppraiseCount": 0,
            "accountId": account.account_id, "paymentCount": len(account.payments), "contactCount": 0,
            "vipLevel": 1, "userCancelCountLimit": 1000, "paymentRealNameUneditable": True,
            "userId": account.uid, "realNameEn": account.payments[0]["realName"],
        }

    def _h_payment_list(self, account: Account, params: dict) -> list:
        balance = {"id": "-1", "realName": "", "paymentType": BALANCE, "accountNo": "", "online": "1",
                   "paymentConfigVo": {"paymentType": str(BALANCE), "paymentName": "Balance", "online": 1,
                                       "items": []}}
        return [balance] + [self._payment_json(p) for p in account.payments]

    def _h_balance(self, account: Account, params: dict) -> dict:
        if not params.get("accountType"):
            raise ApiError(PARAM_ERROR, "accountType is required")
        coins = [c for c in ("USDT",) if params.get("coin") in (None, "", c)]
        balance = account.balance if params["accountType"] == "FUND" else Decimal(0)
        available = self._available_balance(account) if params["accountType"] == "FUND" else Decimal(0)
        return {"memberId": account.uid, "accountType": params["accountType"],
                "balance": [{"coin": c, "walletBalance": _qty(balance), "transferBalance": _qty(available),
                             "bonus": "0"} for c in coins]}

    def _h_online(self, account: Account, params: dict) -> dict:
        _required(params, "tokenId", "currencyId", "side")
        if params["tokenId"] != "USDT" or params["currencyId"] != "RUB":
            return {"count": 0, "items": []}
        side = _int(params["side"], "side")
        if side not in (0, 1):
            raise ApiError(PARAM_ERROR, "request parameter error: side")
        page = _int(params.get("page"), "page", 1)
        size = _int(params.get("size"), "size", 10)
        if page < 1 or not 1 <= size <= ONLINE_PAGE_MAX:
            raise ApiError(PARAM_ERROR, "request parameter error: page/size")
        items = self._market_ads(side)
        return {"count": len(items), "items": items[(page - 1) * size: page * size]}

    def _validated_ad_fields(self, account: Account, params: dict) -> dict:
        price = _dec(params["price"], "price")
        min_amount = _dec(params["minAmount"], "minAmount")
        max_amount = _dec(params["maxAmount"], "maxAmount")
        quantity = _dec(params["quantity"], "quantity")
        period = _int(params["paymentPeriod"], "paymentPeriod")
        payment_ids = params["paymentIds"]
        if not isinstance(payment_ids, list) or not 1 <= len(payment_ids) <= 5:
            raise ApiError(PARAM_ERROR, "request parameter error: paymentIds")
        if not all(isinstance(p, str) and p.lstrip("-").isdigit() for p in payment_ids):
            raise ApiError(PARAM_ERROR, "request parameter error: paymentIds must be payment ids")
        own_ids = {p["id"] for p in account.payments}
        if any(p not in own_ids for p in payment_ids):
            raise ApiError(PAYMENT_NOT_FOUND, "Error retrieving payment method")
        if not isinstance(params["tradingPreferenceSet"], dict):
            raise ApiError(PARAM_ERROR, "request parameter error: tradingPreferenceSet")
        if str(params.get("priceType", "0")) != "0":
            raise ApiError(PARAM_ERROR, "request parameter error: only fixed-price ads are simulated")
        low, high = (REFERENCE_PRICE * pct / 100 for pct in PRICE_BAND_PERCENT)
        if not low <= price <= high:
            raise ApiError(PRICE_OUT_OF_RANGE, "ad price outside the allowed range")
        if period not in PAYMENT_PERIODS:
            raise ApiError(PARAM_ERROR, "request parameter error: paymentPeriod")
        if quantity <= 0 or min_amount <= 0 or len(str(params.get("remark", ""))) > 900:
            raise ApiError(PARAM_ERROR, "request parameter error")
        if min_amount > max_amount or min_amount < CURRENCY_MIN_QUOTE or max_amount > CURRENCY_MAX_QUOTE:
            raise ApiError(MIN_AMOUNT_ERROR, "min amount parameter error")
        if min_amount > quantity * price:
            raise ApiError(MIN_ABOVE_TOTAL, "min amount greater than the ad's total amount")
        return {"price": price, "min_amount": min_amount, "max_amount": max_amount, "quantity": quantity,
                "payment_period": period, "payment_ids": list(payment_ids), "remark": str(params.get("remark", "")),
                "trading_preferences": params["tradingPreferenceSet"], "premium": str(params.get("premium", ""))}

    def _h_item_create(self, account: Account, params: dict) -> dict:
        _required(params, "tokenId", "currencyId", "side", "priceType", "premium", "price", "minAmount",
                  "maxAmount", "remark", "tradingPreferenceSet", "paymentIds", "quantity", "paymentPeriod")
        if params["tokenId"] != "USDT" or params["currencyId"] != "RUB" or str(params["side"]) not in ("0", "1"):
            raise ApiError(PARAM_ERROR, "request parameter error: tokenId/currencyId/side")
        fields_ = self._validated_ad_fields(account, params)
        if fields_["quantity"] > self._available_balance(account):
            raise ApiError(INSUFFICIENT_BALANCE, "insufficient balance in the Funding account")
        now_ms = self._now_ms()
        ad = Ad(id=self._next_id(1930000000000000000), uid=account.uid, side=int(params["side"]), token="USDT",
                currency="RUB", price_type=0, quantity=fields_["quantity"], last_quantity=fields_["quantity"],
                frozen=Decimal(0), executed=Decimal(0), item_type=str(params.get("itemType") or "ORIGIN"),
                status=AD_ONLINE, created_ms=now_ms, updated_ms=now_ms,
                **{k: v for k, v in fields_.items() if k != "quantity"})
        self._ads[ad.id] = ad
        payment_type = next(p["paymentType"] for p in account.payments if p["id"] == ad.payment_ids[0])
        self.ledger.record("bybit_ad_create", uid=account.uid, item_id=ad.id, amount=ad.max_amount,
                           payment_type=payment_type, price=ad.price, quantity=ad.quantity,
                           min_amount=ad.min_amount)
        return {"itemId": ad.id, "securityRiskToken": "", "riskTokenType": "", "riskVersion": "",
                "needSecurityRisk": False}

    def _own_ad(self, account: Account, item_id: Any) -> Ad:
        ad = self._ads.get(str(item_id))
        if ad is None or ad.uid != account.uid:
            raise ApiError(NOT_FOUND_ERROR, "ad not found")
        return ad

    def _h_item_update(self, account: Account, params: dict) -> dict:
        _required(params, "id", "priceType", "premium", "price", "minAmount", "maxAmount", "remark",
                  "tradingPreferenceSet", "paymentIds", "actionType", "quantity", "paymentPeriod")
        ad = self._own_ad(account, params["id"])
        action = params["actionType"]
        if action not in ("MODIFY", "ACTIVE"):
            raise ApiError(PARAM_ERROR, "request parameter error: actionType")
        if ad.status == AD_CLOSED or (action == "ACTIVE" and ad.status != AD_OFFLINE) or (
                action == "MODIFY" and ad.status != AD_ONLINE):
            raise ApiError(AD_STATE_ERROR, f"ad status {ad.status} does not allow {action}")
        now = self.clock()
        while ad.modifications and ad.modifications[0] <= now - AD_MODIFY_WINDOW:
            ad.modifications.popleft()
        if len(ad.modifications) >= AD_MODIFY_MAX:
            raise ApiError(AD_MODIFY_LIMIT, "an ad may be modified at most 10 times in 5 minutes")
        fields_ = self._validated_ad_fields(account, params)
        new_last = fields_["quantity"] - ad.frozen - ad.executed
        if new_last < 0:
            raise ApiError(PARAM_ERROR, "request parameter error: quantity below the traded quantity")
        if new_last - ad.last_quantity > self._available_balance(account):
            raise ApiError(INSUFFICIENT_BALANCE, "insufficient balance in the Funding account")
        ad.modifications.append(now)
        ad.price, ad.min_amount, ad.max_amount = fields_["price"], fields_["min_amount"], fields_["max_amount"]
        ad.quantity, ad.last_quantity = fields_["quantity"], new_last
        ad.payment_period, ad.payment_ids = fields_["payment_period"], fields_["payment_ids"]
        ad.remark, ad.trading_preferences = fields_["remark"], fields_["trading_preferences"]
        ad.premium = fields_["premium"]
        ad.status = AD_ONLINE
        ad.updated_ms = self._now_ms()
        self.ledger.record("bybit_ad_update", uid=account.uid, item_id=ad.id, action=action, price=ad.price,
                           amount=ad.max_amount)
        return {"securityRiskToken": "", "riskTokenType": "", "riskVersion": "", "needSecurityRisk": False}

    def _h_item_cancel(self, account: Account, params: dict) -> None:
        _required(params, "itemId")
        ad = self._own_ad(account, params["itemId"])
        if ad.status == AD_CLOSED:
            raise ApiError(AD_STATE_ERROR, "ad is already closed")
        ad.status = AD_CLOSED
        ad.updated_ms = self._now_ms()
        self.ledger.record("bybit_ad_cancel", uid=account.uid, item_id=ad.id)
        return None

    def _h_item_personal_list(self, account: Account, params: dict) -> dict:
        page = _int(params.get("page"), "page", 1)
        size = _int(params.get("size"), "size", 10)
        if page < 1 or not 1 <= size <= MY_ADS_PAGE_MAX:
            raise ApiError(PARAM_ERROR, "request parameter error: page/size")
        status_filter = params.get("status")
        ads = [ad for ad in self._ads.values() if ad.uid == account.uid]
        if params.get("itemId"):
            ads = [ad for ad in ads if ad.id == str(params["itemId"])]
        if status_filter not in (None, ""):
            wanted = _int(status_filter, "status")
            if wanted == 1:  # sold out
                ads = [ad for ad in ads if ad.last_quantity * ad.price < ad.min_amount]
            elif wanted == 2:  # available
                ads = [ad for ad in ads if ad.status == AD_ONLINE and ad.last_quantity * ad.price >= ad.min_amount]
            else:
                raise ApiError(PARAM_ERROR, "request parameter error: status")
        if params.get("side") not in (None, ""):
            ads = [ad for ad in ads if ad.side == _int(params["side"], "side")]
        ads.sort(key=lambda a: a.created_ms, reverse=True)
        return {"count": len(ads), "items": [self._ad_json(ad) for ad in ads[(page - 1) * size: page * size]],
                "hiddenFlag": False}

    def _h_item_info(self, account: Account, params: dict) -> dict:
        _required(params, "itemId")
        return self._ad_json(self._own_ad(account, params["itemId"]))

    def _order_list(self, account: Account, params: dict, pending_only: bool) -> dict:
        _required(params, "page", "size")
        page, size = _int(params["page"], "page"), _int(params["size"], "size")
        if page < 1 or not 1 <= size <= ORDER_PAGE_MAX:
            raise ApiError(PARAM_ERROR, "request parameter error: page/size")
        orders = [o for o in self._orders.values() if o.seller_uid == account.uid]
        if pending_only:
            orders = [o for o in orders if o.status in PENDING_STATUSES]
        if params.get("status") is not None:
            status = _int(params["status"], "status")  # "10,20,30" is rejected here, as on Bybit
            orders = [o for o in orders if o.status == status]
        if params.get("beginTime") not in (None, ""):
            orders = [o for o in orders if o.created_ms >= _int(params["beginTime"], "beginTime")]
        if params.get("endTime") not in (None, ""):
            orders = [o for o in orders if o.created_ms <= _int(params["endTime"], "endTime")]
        if params.get("side") is not None and _int(params["side"], "side") != 1:
            orders = []
        orders.sort(key=lambda o: (o.created_ms, o.id), reverse=True)
        if pending_only and self.pending_list_drops_items:
            return {"count": len(orders), "items": []}
        return {"count": len(orders),
                "items": [self._order_list_item(o) for o in orders[(page - 1) * size: page * size]]}

    def _h_orders(self, account: Account, params: dict) -> dict:
        return self._order_list(account, params, pending_only=False)

    def _h_pending_orders(self, account: Account, params: dict) -> dict:
        return self._order_list(account, params, pending_only=True)

    def _own_order(self, account: Account, order_id: Any) -> Order:
        order = self._orders.get(str(order_id))
        if order is None or order.seller_uid != account.uid:
            raise ApiError(NOT_FOUND_ERROR, "order not found")
        return order

    def _h_order_info(self, account: Account, params: dict) -> dict:
        _required(params, "orderId")
        return self._order_detail(self._own_order(account, params["orderId"]))

    def _h_counterparty_info(self, account: Account, params: dict) -> dict:
        _required(params, "originalUid", "orderId")
        order = self._own_order(account, params["orderId"])
        if str(params["originalUid"]) != order.buyer_uid:
            raise ApiError(PARAM_ERROR, "request parameter error: originalUid")
        return {"nickName": order.buyer_nickname, "realName": order.buyer_real_name, "kycLevel": "2",
                "recentRate": "100", "totalFinishCount": 5, "authStatus": 2, "userId": order.buyer_uid}

    def _h_order_finish(self, account: Account, params: dict) -> None:
        _required(params, "orderId")
        order = self._own_order(account, params["orderId"])
        if order.status != ORDER_PAID:
            reason = f"order status {order.status} does not allow release"
            self.ledger.record("bybit_release_rejected", uid=account.uid, order_id=order.id, reason=reason)
            raise ApiError(ORDER_STATE_ERROR, reason)
        ad = self._ads[order.item_id]
        ad.frozen -= order.quantity
        ad.executed += order.quantity
        account.balance -= order.quantity
        if ad.last_quantity == 0 and ad.frozen == 0:
            ad.status = AD_CLOSED
        self._set_status(order, ORDER_FINISHED, "The seller has released the assets. The order is completed.")
        self.ledger.record("bybit_release", uid=account.uid, order_id=order.id, item_id=order.item_id,
                           buyer_uid=order.buyer_uid, amount=order.amount, quantity=order.quantity)
        return None

    def _h_message_send(self, account: Account, params: dict) -> None:
        _required(params, "message", "contentType", "orderId", "msgUuid")
        if params["contentType"] not in CHAT_CONTENT_TYPES:
            raise ApiError(PARAM_ERROR, "request parameter error: contentType")
        if not str(params["msgUuid"]) or not str(params["message"]):
            raise ApiError(PARAM_ERROR, "request parameter error: message/msgUuid")
        order = self._own_order(account, params["orderId"])
        self._add_message(order, account.uid, CHAT_CONTENT_TYPES[params["contentType"]], params["contentType"],
                          str(params["message"]), by_buyer=False, file_name=str(params.get("fileName") or ""),
                          msg_uuid=str(params["msgUuid"]))
        return None

    def _h_message_list(self, account: Account, params: dict) -> Any:
        _required(params, "orderId", "size")
        size = _int(params["size"], "size")
        page = _int(params.get("currentPage"), "currentPage", 1)
        if page < 1 or not 1 <= size <= CHAT_PAGE_MAX:
            raise ApiError(PARAM_ERROR, "request parameter error: size (max 30)")
        order = self._own_order(account, params["orderId"])
        newest_first = sorted(order.messages, key=lambda m: (m.created_ms, int(m.id)), reverse=True)
        chunk = newest_first[(page - 1) * size: page * size]
        for message in chunk:
            message.read_by_seller = True
        items = [self._message_json(m) for m in chunk]
        return {"result": items} if self.chat_nesting == "nested" else items

    def _upload(self, account: Account, body: bytes) -> dict:
        upload = bottle.request.files.get("upload_file")
        if upload is None:
            raise ApiError(PARAM_ERROR, "request parameter error: upload_file part is required")
        name = upload.raw_filename or "file"
        ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
        if ext not in UPLOAD_TYPES:
            raise ApiError(PARAM_ERROR, "request parameter error: file type must be jpg, png, jpeg, pdf or mp4")
        data = upload.file.read()
        url = self._store_file(name, data, upload.content_type or "application/octet-stream")
        return {"uploadId": None, "type": UPLOAD_TYPES[ext], "url": url}

    # ------------------------------------------------------------ HTTP layer

    # path -> (method, handler name, "read"|"write"|None for public, envelope)
    ROUTES: dict[str, tuple[str, str, str | None, str]] = {
        "/v5/market/time": ("GET", "", None, "v5"),
        "/v5/asset/transfer/query-account-coins-balance": ("GET", "_h_balance", "read", "v5"),
        "/v5/p2p/user/personal/info": ("POST", "_h_personal_info", "read", "p2p"),
        "/v5/p2p/user/payment/list": ("POST", "_h_payment_list", "read", "p2p"),
        "/v5/p2p/user/order/personal/info": ("POST", "_h_counterparty_info", "read", "p2p"),
        "/v5/p2p/item/online": ("POST", "_h_online", "read", "p2p"),
        "/v5/p2p/item/create": ("POST", "_h_item_create", "write", "p2p"),
        "/v5/p2p/item/update": ("POST", "_h_item_update", "write", "p2p"),
        "/v5/p2p/item/cancel": ("POST", "_h_item_cancel", "write", "p2p"),
        "/v5/p2p/item/personal/list": ("POST", "_h_item_personal_list", "read", "p2p"),
        "/v5/p2p/item/info": ("POST", "_h_item_info", "read", "p2p"),
        "/v5/p2p/order/simplifyList": ("POST", "_h_orders", "read", "p2p"),
        "/v5/p2p/order/pending/simplifyList": ("POST", "_h_pending_orders", "read", "p2p"),
        "/v5/p2p/order/info": ("POST", "_h_order_info", "read", "p2p"),
        "/v5/p2p/order/finish": ("POST", "_h_order_finish", "write", "p2p"),
        "/v5/p2p/order/message/send": ("POST", "_h_message_send", "write", "p2p"),
        "/v5/p2p/order/message/listpage": ("POST", "_h_message_list", "read", "p2p"),
        "/v5/p2p/oss/upload_file": ("POST", "", "write", "upload"),
    }

    def _envelope(self, style: str, code: int, message: str, result: Any, path: str = "") -> dict:
        now = self.clock()
        if style == "v5":
            return {"retCode": code, "retMsg": message or ("OK" if code == 0 else "error"), "result": result,
                    "retExtInfo": {}, "time": int(now * 1000)}
        if style == "upload":
            return {"result": result, "token": None, "ret_code": code, "ret_msg": "成功" if code == 0 else message}
        body = {"ret_code": code, "ret_msg": "SUCCESS" if code == 0 else message, "result": result,
                "ext_code": "", "ext_info": {}}
        if path == "/v5/p2p/item/create":
            body["ext_map"] = {}
        body["time_now"] = f"{now:.6f}"
        return body

    def _json(self, body: dict, status: int = 200) -> str:
        bottle.response.status = status
        bottle.response.content_type = "application/json"
        return json.dumps(body, ensure_ascii=False)

    def _ip_check(self, ip: str) -> bool:
        """True when the IP is (or just became) banned for exceeding the per-IP limit."""
        now = self.clock()
        if self._ip_bans.get(ip, 0) > now:
            return True
        hits = self._ip_hits.setdefault(ip, deque())
        while hits and hits[0] <= now - self.ip_window_seconds:
            hits.popleft()
        hits.append(now)
        if len(hits) > self.ip_requests_per_window:
            self._ip_bans[ip] = now + self.ip_ban_seconds
            return True
        return False

    def _authenticate(self, raw_signed: bytes) -> Account:
        headers = bottle.request.headers
        key = headers.get("X-BAPI-API-KEY", "")
        account = self._by_key.get(key)
        if account is None:
            raise ApiError(INVALID_KEY, "API key is invalid.")
        timestamp = headers.get("X-BAPI-TIMESTAMP", "")
        recv_window = headers.get("X-BAPI-RECV-WINDOW", "5000")
        if not timestamp.isdigit() or not recv_window.isdigit():
            raise ApiError(TIMESTAMP_ERROR, "invalid request, please check your timestamp or recv_window param")
        server_ms = self._now_ms()
        if not server_ms - int(recv_window) <= int(timestamp) < server_ms + 1000:
            raise ApiError(
                TIMESTAMP_ERROR,
                f"invalid request, please check your server timestamp or recv_window param. "
                f"req_timestamp[{timestamp}],server_timestamp[{server_ms}],recv_window[{recv_window}]",
            )
        expected = sign_payload(account.api_secret, (timestamp + key + recv_window).encode() + raw_signed)
        if not hmac.compare_digest(expected, headers.get("X-BAPI-SIGN", "").lower()):
            raise ApiError(SIGN_ERROR, "error sign! origin_string[...]")
        return account

    def _rate_check(self, account: Account, kind: str) -> bool:
        now = self.clock()
        limit = account.read_per_second if kind == "read" else account.write_per_second
        accepted = self._accepted.setdefault((account.uid, kind), deque())
        while accepted and accepted[0] <= now - 1.0:
            accepted.popleft()
        if len(accepted) >= limit:
            self._rate_rejections[account.uid] = self._rate_rejections.get(account.uid, 0) + 1
            return False
        accepted.append(now)
        return True

    def _dispatch(self, path: str) -> Any:
        request = bottle.request
        ip = request.remote_addr or "unknown"
        has_body = request.content_length > 0
        # Read the body before taking the lock: it may wait on the socket.
        raw_body = request.body.read() if request.method != "GET" else b""
        with self._lock:
            self._tick()
            if self._ip_check(ip):
                bottle.response.status = 403
                bottle.response.content_type = "text/plain"
                return "403 Forbidden: access too frequent"
            if path.startswith("/fiat/p2p/oss/showObj/") and request.method == "GET":
                stored = self._files.get(path)
                if stored is None:
                    bottle.response.status = 404
                    return "not found"
                bottle.response.content_type = stored.content_type
                return stored.data
            route = self.ROUTES.get(path)
            if route is None:
                bottle.response.status = 404
                bottle.response.content_type = "text/plain"
                return f"404 page not found ({WRONG_PATHS_NOTE})"
            method, handler_name, kind, style = route
            if request.method != method:
                bottle.response.status = 400
                return "bad request method"
            if method == "GET" and has_body:
                bottle.response.status = 403
                return "GET with a body is forbidden"
            if kind is None:
                now = self.clock()
                result = {"timeSecond": str(int(now)), "timeNano": str(int(now * 1_000_000_000))}
                return self._json(self._envelope("v5", 0, "OK", result))
            signed = request.environ.get("QUERY_STRING", "").encode("latin-1") if method == "GET" else raw_body
            try:
                account = self._authenticate(signed)
            except ApiError as exc:
                return self._json(self._envelope("v5", exc.code, exc.message, {}))
            self._request_log.setdefault(account.uid, deque(maxlen=HTTP_LOG_MAX)).append((self.clock(), kind, path))
            if not self._rate_check(account, kind):
                reset_ms = self._now_ms() + 1000
                bottle.response.set_header("X-Bapi-Limit-Reset-Timestamp", str(reset_ms))
                return self._json(self._envelope("v5", TOO_MANY_VISITS, "Too many visits!", {}))
            try:
                if style == "upload":
                    result = self._upload(account, raw_body)
                else:
                    params = self._parse_params(method, raw_body)
                    result = getattr(self, handler_name)(account, params)
            except ApiError as exc:
                error_result = None if style == "upload" else ({} if style == "v5" else None)
                return self._json(self._envelope(style, exc.code, exc.message, error_result, path))
            return self._json(self._envelope(style, 0, "", result, path))

    @staticmethod
    def _parse_params(method: str, raw_body: bytes) -> dict:
        if method == "GET":
            return dict(bottle.request.query.decode().items())
        if not raw_body.strip():
            return {}
        try:
            params = json.loads(raw_body)
        except (ValueError, UnicodeDecodeError):
            raise ApiError(PARAM_ERROR, "request parameter error: body is not JSON") from None
        if not isinstance(params, dict):
            raise ApiError(PARAM_ERROR, "request parameter error: body must be a JSON object")
        return params

    def _record_request(self, started: float, status: int, fault: str | None) -> None:
        with self._lock:
            self._http_log.append({
                "ts": started, "ip": bottle.request.remote_addr, "method": bottle.request.method,
                "path": "/" + bottle.request.url_args.get("path", ""),
                "status": status, "retry_after": bottle.response.headers.get("Retry-After"), "fault": fault,
            })

    def make_app(self) -> bottle.Bottle:
        app = bottle.Bottle()
        # Installed first, so it is the outermost wrapper and also sees injected faults.
        app.install(recorder(self._record_request, self.clock))

        def rate_limited_body():
            return self._envelope("v5", TOO_MANY_VISITS, "Too many visits!", {})

        app.install(fault_plugin(self.faults, "bybit", rate_limited_body=rate_limited_body))

        @app.route("/<path:path>", method=["GET", "POST", "PUT", "DELETE", "PATCH"])
        def any_path(path: str):
            return self._dispatch("/" + path)

        return app
