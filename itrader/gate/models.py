"""Lenient models of the Gate panel's JSON (reference/gate-api.md §6–§7).

The panel is loose with types: hidden amounts are `[]`, `bank` may be null,
`bank.code` may be the number 0, balances are strings while amounts are
numbers. Parsers here accept all of that and never raise on a missing or
oddly-typed optional field; only a payout without an integer `id` is refused.
Money is Decimal throughout (JSON is parsed with floats as Decimal).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Mapping

RUB_CODE = "643"
USDT_CODE = "000001"
METHOD_CARD = 4
METHOD_SBP = 5


def to_decimal(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value).strip().replace(" ", "").replace(",", "."))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def to_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        number = to_decimal(value)
        return int(number) if number is not None and number == number.to_integral_value() else None


def to_text(value: Any) -> str:
    return "" if value is None else str(value)


def to_time(value: Any) -> datetime | None:
    """`2025-06-10T05:54:01.000000Z` (or any ISO-8601) to an aware datetime; None if absent or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


@dataclass(frozen=True)
class Amount:
    """One `amount`/`total` field: RUB and USDT figures, both None while hidden (`[]`)."""

    rub: Decimal | None = None
    usdt: Decimal | None = None

    @property
    def hidden(self) -> bool:
        return self.rub is None

    @classmethod
    def parse(cls, raw: Any) -> "Amount":
        figures = _mapping(_mapping(raw).get("trader", raw))
        return cls(rub=to_decimal(figures.get(RUB_CODE)), usdt=to_decimal(figures.get(USDT_CODE)))


@dataclass(frozen=True)
class Bank:
    name: str  # slug: "tinkoff", "sberbank", …
    code: str  # SBP member id; numeric codes (e.g. 0) become their text
    label: str
    id: int | None = None

    @classmethod
    def parse(cls, raw: Any) -> "Bank | None":
        if not isinstance(raw, Mapping):
            return None
        return cls(name=to_text(raw.get("name")), code=to_text(raw.get("code")),
                   label=to_text(raw.get("label")).strip(), id=to_int(raw.get("id")))


@dataclass(frozen=True)
class Attachment:
    file_name: str
    original_url: str  # relative to the CDN
    size: int | None = None
    extension: str = ""
    name: str = ""
    created_at: datetime | None = None
    fake: bool | None = None

    @classmethod
    def parse(cls, raw: Any) -> "Attachment | None":
        if not isinstance(raw, Mapping):
            return None
        fake = _mapping(raw.get("custom_properties")).get("fake")
        return cls(file_name=to_text(raw.get("file_name")), original_url=to_text(raw.get("original_url")),
                   size=to_int(raw.get("size")), extension=to_text(raw.get("extension")),
                   name=to_text(raw.get("name")), created_at=to_time(raw.get("created_at")),
                   fake=fake if isinstance(fake, bool) else None)


@dataclass(frozen=True)
class Payout:
    id: int
    status: int | None
    wallet: str
    amount: Amount
    total: Amount
    method_id: int | None
    method_label: str
    bank: Bank | None
    course: Decimal | None
    trader_id: int | None
    trader_name: str
    created_at: datetime | None
    updated_at: datetime | None
    expired_at: datetime | None
    approved_at: datetime | None
    attachments: tuple[Attachment, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def amount_rub(self) -> Decimal | None:
        return self.amount.rub

    @property
    def method(self) -> str:
        """"sbp", "card" or "" for a method we do not know."""
        return {METHOD_SBP: "sbp", METHOD_CARD: "card"}.get(self.method_id or 0, "")

    @classmethod
    def parse(cls, raw: Any) -> "Payout":
        if not isinstance(raw, Mapping) or to_int(raw.get("id")) is None:
            raise ValueError("payout without an integer id")
        method = _mapping(raw.get("method"))
        trader = _mapping(raw.get("trader"))
        attachments = raw.get("attachments") if isinstance(raw.get("attachments"), list) else []
        return cls(
            id=to_int(raw["id"]),  # type: ignore[arg-type]
            status=to_int(raw.get("status")),
            wallet=to_text(raw.get("wallet")),
            amount=Amount.parse(raw.get("amount")),
            total=Amount.parse(raw.get("total")),
            method_id=to_int(raw.get("payment_method_id", method.get("id"))),
            method_label=to_text(method.get("label")),
            bank=Bank.parse(raw.get("bank")),
            course=to_decimal(_mapping(_mapping(raw.get("meta")).get("courses")).get("trader")),
            trader_id=to_int(trader.get("id")),
            trader_name=to_text(trader.get("name")),
            created_at=to_time(raw.get("created_at")),
            updated_at=to_time(raw.get("updated_at")),
            expired_at=to_time(raw.get("expired_at")),
            approved_at=to_time(raw.get("approved_at")),
            attachments=tuple(a for a in map(Attachment.parse, attachments) if a is not None),
            raw=raw,
        )


@dataclass(frozen=True)
class PayoutPage:
    payouts: tuple[Payout, ...]
    current_page: int
    last_page: int
    per_page: int | None
    total: int | None

    @property
    def has_next(self) -> bool:
        return self.current_page < self.last_page

    @classmethod
    def parse(cls, response: Any, requested_page: int) -> "PayoutPage":
        """Accepts the `meta` object form, Laravel's flat paginator, or a bare list."""
        container = _mapping(response).get("payouts", response)
        if isinstance(container, list):
            rows, meta = container, {}
        else:
            container = _mapping(container)
            rows = container.get("data") if isinstance(container.get("data"), list) else []
            meta = _mapping(container.get("meta")) or container
        current = to_int(meta.get("current_page")) or requested_page
        return cls(
            payouts=tuple(Payout.parse(row) for row in rows),
            current_page=current,
            last_page=max(to_int(meta.get("last_page")) or current, current),
            per_page=to_int(meta.get("per_page")),
            total=to_int(meta.get("total")),
        )


@dataclass(frozen=True)
class Wallet:
    balance: Decimal | None  # sent as a string ("10000000.00")
    currency: str  # lower-cased `currency.code` ("rub") or, without one, `iso_code` ("643")
    iso_code: str = ""
    available: Decimal | None = None
    locked: Decimal | None = None

    @property
    def is_rub(self) -> bool:
        return self.iso_code == RUB_CODE or self.currency in (RUB_CODE, "rub")

    @classmethod
    def parse(cls, raw: Any) -> "Wallet":
        raw = _mapping(raw)
        currency = _mapping(raw.get("currency"))
        iso_code = to_text(currency.get("iso_code"))
        return cls(balance=to_decimal(raw.get("balance")),
                   currency=(to_text(currency.get("code")) or iso_code).lower(), iso_code=iso_code,
                   available=to_decimal(raw.get("available")), locked=to_decimal(raw.get("locked")))


@dataclass(frozen=True)
class Me:
    id: int | None
    name: str
    login: str
    wallets: tuple[Wallet, ...] = ()

    @property
    def rub_balance(self) -> Decimal | None:
        return next((w.balance for w in self.wallets if w.is_rub), None)

    @classmethod
    def parse(cls, response: Any) -> "Me":
        user = _mapping(_mapping(response).get("user", response))
        wallets = user.get("wallets") if isinstance(user.get("wallets"), list) else []
        return cls(id=to_int(user.get("id")), name=to_text(user.get("name")),
                   login=to_text(user.get("login", user.get("email"))),
                   wallets=tuple(Wallet.parse(w) for w in wallets))
