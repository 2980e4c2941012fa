"""The simulated Bybit P2P's records, error codes and parameter checks (reference/bybit-p2p-api.md).

Shared by the parts of the sandbox's Bybit (itrader.sandbox.bybit and its bybit_* mixins); the
sandbox signs by its own code here, independent of the product's client.
"""
from __future__ import annotations

import hashlib
import hmac
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation, ROUND_DOWN
from typing import Any

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
    buyers_ignore: bool = False  # a notice in the seller's chat the simulated buyers do not answer


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


class IpWindows:
    """The most requests one IP sent in any 1-s and any 5-s window (arrival times), per IP."""

    SPANS = (1.0, 5.0)

    def __init__(self) -> None:
        self._recent: dict[str, tuple[deque, deque]] = {}
        self._max: dict[str, list[int]] = {}

    def arrived(self, ip: str, now: float) -> None:
        windows = self._recent.setdefault(ip, (deque(), deque()))
        most = self._max.setdefault(ip, [0, 0])
        for i, (span, hits) in enumerate(zip(self.SPANS, windows)):
            while hits and hits[0] <= now - span:
                hits.popleft()
            hits.append(now)
            most[i] = max(most[i], len(hits))

    def view(self) -> dict:
        return {"ips": {ip: {"max_1s": most[0], "max_5s": most[1]} for ip, most in self._max.items()},
                "max_1s": max((m[0] for m in self._max.values()), default=0),
                "max_5s": max((m[1] for m in self._max.values()), default=0)}
