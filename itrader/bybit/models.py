"""Lenient models of Bybit P2P responses.

Bybit sends numbers as strings or ints depending on the endpoint; these parse
both and keep the original dict in `raw` for anything not modelled. Money is
Decimal, never float.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

BALANCE_PAYMENT_TYPE = 377
AD_ONLINE, AD_OFFLINE, AD_CLOSED = 10, 20, 30
ORDER_WAITING_PAYMENT = 10
ORDER_WAITING_RELEASE = 20
ORDER_APPEALING = 30
ORDER_CANCELLED = 40
ORDER_FINISHED = 50


def dec(value: Any, default: str = "0") -> Decimal:
    try:
        return Decimal(str(value)) if value not in (None, "") else Decimal(default)
    except InvalidOperation:
        return Decimal(default)


def num(value: Any, default: int = 0) -> int:
    try:
        return int(str(value)) if value not in (None, "") else default
    except ValueError:
        return default


def text(value: Any) -> str:
    return "" if value is None else str(value)


@dataclass(frozen=True)
class ServerTime:
    seconds: int
    nanos: int

    @property
    def ms(self) -> int:
        return self.nanos // 1_000_000 if self.nanos else self.seconds * 1000


@dataclass(frozen=True)
class PaymentMethod:
    id: str
    payment_type: int
    name: str
    account_no: str
    real_name: str
    raw: dict = field(repr=False, compare=False)

    @property
    def is_balance(self) -> bool:
        return self.id == "-1" or self.payment_type == BALANCE_PAYMENT_TYPE

    @classmethod
    def from_api(cls, d: dict) -> "PaymentMethod":
        config = d.get("paymentConfigVo") or {}
        return cls(id=text(d.get("id")), payment_type=num(d.get("paymentType")),
                   name=text(config.get("paymentName")), account_no=text(d.get("accountNo")),
                   real_name=text(d.get("realName")), raw=d)


@dataclass(frozen=True)
class AdRequest:
    """What we send to /item/create and /item/update. Bybit returns only the id: keep this."""

    price: Decimal
    min_amount: Decimal
    max_amount: Decimal
    quantity: Decimal
    payment_ids: tuple[str, ...]
    remark: str = ""
    payment_period: int = 15
    token: str = "USDT"
    currency: str = "RUB"
    side: int = 1
    trading_preferences: dict = field(default_factory=dict, compare=False)

    def body(self) -> dict:
        return {
            "tokenId": self.token, "currencyId": self.currency, "side": str(self.side), "priceType": "0",
            "premium": "", "price": str(self.price), "minAmount": str(self.min_amount),
            "maxAmount": str(self.max_amount), "remark": self.remark,
            "tradingPreferenceSet": dict(self.trading_preferences), "paymentIds": [str(p) for p in self.payment_ids],
            "quantity": str(self.quantity), "paymentPeriod": str(self.payment_period), "itemType": "ORIGIN",
        }


@dataclass(frozen=True)
class Ad:
    id: str
    status: int
    side: int
    price: Decimal
    quantity: Decimal
    last_quantity: Decimal
    frozen_quantity: Decimal
    executed_quantity: Decimal
    min_amount: Decimal
    max_amount: Decimal
    payment_types: tuple[int, ...]
    payment_ids: tuple[str, ...]
    payment_period: int
    user_id: str
    nickname: str
    raw: dict = field(repr=False, compare=False)

    @property
    def is_online(self) -> bool:
        return self.status == AD_ONLINE

    @property
    def taken(self) -> bool:
        """Someone has an order on it (frozen quantity > 0)."""
        return self.frozen_quantity > 0

    @classmethod
    def from_api(cls, d: dict) -> "Ad":
        terms = d.get("paymentTerms") or []
        return cls(
            id=text(d.get("id")), status=num(d.get("status")), side=num(d.get("side")), price=dec(d.get("price")),
            quantity=dec(d.get("quantity")), last_quantity=dec(d.get("lastQuantity")),
            frozen_quantity=dec(d.get("frozenQuantity")), executed_quantity=dec(d.get("executedQuantity")),
            min_amount=dec(d.get("minAmount")), max_amount=dec(d.get("maxAmount")),
            payment_types=tuple(num(p) for p in d.get("payments") or []),
            payment_ids=tuple(text(t.get("id")) for t in terms if isinstance(t, dict)),
            payment_period=num(d.get("paymentPeriod")), user_id=text(d.get("userId")),
            nickname=text(d.get("nickName")), raw=d,
        )


@dataclass(frozen=True)
class Page:
    count: int
    items: list

    @classmethod
    def from_api(cls, result: Any, parse) -> "Page":
        result = result or {}
        if "items" not in result and isinstance(result.get("result"), dict):  # nested once more, as the chat
            result = result["result"]
        items = [parse(item) for item in result.get("items") or [] if isinstance(item, dict)]
        return cls(count=num(result.get("count"), len(items)), items=items)


@dataclass(frozen=True)
class OrderSummary:
    """An item of simplifyList / pending/simplifyList (no itemId there)."""

    id: str
    status: int
    amount: Decimal
    price: Decimal
    quantity: Decimal
    buyer_uid: str
    buyer_nickname: str
    buyer_real_name: str
    unread_messages: int
    created_ms: int
    transfer_last_seconds: int
    raw: dict = field(repr=False, compare=False)
    appeal_last_seconds: int = 0  # in an appeal (30/100/110): the time left to answer it

    @property
    def has_news(self) -> bool:
        return self.unread_messages > 0

    @classmethod
    def from_api(cls, d: dict) -> "OrderSummary":
        unread = max(num(d.get("selfUnreadMsgCount")), num(d.get("unreadMsgCount")))
        return cls(
            id=text(d.get("id")), status=num(d.get("status")), amount=dec(d.get("amount")),
            price=dec(d.get("price")), quantity=dec(d.get("notifyTokenQuantity")),
            buyer_uid=text(d.get("targetUserId")), buyer_nickname=text(d.get("targetNickName")),
            buyer_real_name=text(d.get("buyerRealName")), unread_messages=unread,
            created_ms=num(d.get("createDate")), transfer_last_seconds=num(d.get("transferLastSeconds")), raw=d,
            appeal_last_seconds=num(d.get("appealLastSeconds")),
        )


@dataclass(frozen=True)
class OrderDetail:
    id: str
    item_id: str
    status: int
    user_id: str
    amount: Decimal
    price: Decimal
    quantity: Decimal
    payment_type: int
    buyer_uid: str
    buyer_nickname: str
    buyer_real_name: str
    paid_ms: int
    created_ms: int
    transfer_last_seconds: int
    payment_terms: tuple[PaymentMethod, ...]
    raw: dict = field(repr=False, compare=False)

    @property
    def paid_with(self) -> PaymentMethod | None:
        """The seller's term the buyer paid to; None before the buyer paid. Before payment Bybit sends
        `paymentType` 0 and lists every seller term (Bybit P2P docs, Get Order Detail), so no term of that
        list is the buyer's choice; afterwards `confirmedPayTerm` names it."""
        if self.payment_type == 0 or self.paid_ms == 0:
            return None
        chosen = self.raw.get("confirmedPayTerm")
        if isinstance(chosen, dict) and str(chosen.get("id") or ""):
            return PaymentMethod.from_api(chosen)
        matching = [t for t in self.payment_terms if t.payment_type == self.payment_type]
        return matching[0] if len(matching) == 1 else None

    @classmethod
    def from_api(cls, d: dict) -> "OrderDetail":
        return cls(
            id=text(d.get("id")), item_id=text(d.get("itemId")), status=num(d.get("status")),
            user_id=text(d.get("userId")), amount=dec(d.get("amount")), price=dec(d.get("price")),
            quantity=dec(d.get("quantity")), payment_type=num(d.get("paymentType")),
            buyer_uid=text(d.get("targetUserId")), buyer_nickname=text(d.get("targetNickName")),
            buyer_real_name=text(d.get("buyerRealName")), paid_ms=num(d.get("transferDate")),
            created_ms=num(d.get("createDate")), transfer_last_seconds=num(d.get("transferLastSeconds")),
            payment_terms=tuple(PaymentMethod.from_api(t) for t in d.get("paymentTermList") or []
                                if isinstance(t, dict)),
            raw=d,
        )


@dataclass(frozen=True)
class ChatMessage:
    id: str
    order_id: str
    user_id: str
    text: str
    msg_type: int
    content_type: str
    created_ms: int
    file_name: str
    role_type: str
    raw: dict = field(repr=False, compare=False)

    @property
    def is_system(self) -> bool:
        return self.msg_type == 0 or self.role_type == "sys"

    @property
    def is_file(self) -> bool:
        return self.content_type in ("pic", "pdf", "video")

    def written_by(self, user_id: str) -> bool:
        return not self.is_system and self.user_id == user_id

    @classmethod
    def from_api(cls, d: dict) -> "ChatMessage":
        return cls(
            id=text(d.get("id")), order_id=text(d.get("orderId")), user_id=text(d.get("userId")),
            text=text(d.get("message")), msg_type=num(d.get("msgType")),
            content_type=text(d.get("contentType")).lower(), created_ms=num(d.get("createDate")),
            file_name=text(d.get("fileName")), role_type=text(d.get("roleType")), raw=d,
        )


@dataclass(frozen=True)
class UploadedFile:
    url: str
    type: str

    @property
    def chat_content_type(self) -> str:
        return {"IMAGE": "pic", "PDF": "pdf", "VIDEO": "video"}.get(self.type.upper(), "pic")
