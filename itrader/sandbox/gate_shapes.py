"""The Gate panel twin's data and its JSON shapes (reference/gate-api.md §6-§7): the payouts, accounts,
sessions and uploads `GateSandbox` (gate.py) keeps, and how the panel renders them."""
from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import ROUND_HALF_UP, Decimal
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import quote

import bottle

PLATFORM = "gate"
CDN_PREFIX = "/cdn"

STATUS_OFFERED = 4
STATUS_TAKEN = 5
STATUS_APPROVED = 6
STATUS_COMPLETED = 7
STATUS_HISTORY = 9  # the sandbox's choice for cancelled and expired payouts

# Bank catalogue: slug -> (id, SBP member code, label). Codes are illustrative.
BANKS: dict[str, tuple[int, str, str]] = {
    "sberbank": (1, "100000000111", "Сбербанк"),
    "tinkoff": (2, "100000000004", "T-Банк (Тинькофф)"),
    "alfabank": (3, "100000000008", "Альфа-Банк"),
    "vtb": (4, "100000000005", "ВТБ"),
    "ozonbank": (5, "100000000273", "Озон Банк (Ozon)"),
    "rncb": (6, "100000000014", "РНКБ Банк"),
    "otpbank": (7, "100000000018", "ОТП Банк"),
    "psbank": (8, "100000000010", "ПСБ"),
    "sovcombank": (9, "100000000013", "Совкомбанк"),
    "raiffeisen": (10, "100000000007", "Райффайзенбанк"),
    "gazprombank": (11, "100000000001", "Газпромбанк"),
}

METHODS = {
    # kind -> (method id, method "name" code, label)
    "card": (4, 1, "OUT: P2P Card"),
    "sbp": (5, 2, "OUT: Система быстрых платежей (СБП)"),
}

# Lenient-type cases seen in real rows (reference §3): emitted on request or every Nth payout.
QUIRKS = ("bank_null", "bank_code_numeric")

RUB = {"id": 1, "iso_code": "643", "code": "rub", "name": "Russian ruble", "decimals": 2}


def iso(ts: float | None) -> str | None:
    """Laravel-style timestamp: `2025-06-10T05:54:01.000000Z`."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def json_number(value: Decimal) -> int | float:
    """Money goes out as a JSON number, integral amounts without a fraction (as captured)."""
    return int(value) if value == value.to_integral_value() else float(value)


def laravel_cookie_value() -> str:
    """An opaque value shaped like Laravel's encrypted cookie (base64 JSON, URL-encoded)."""
    blob = {k: base64.b64encode(os.urandom(n)).decode() for k, n in (("iv", 16), ("value", 160), ("mac", 32))}
    blob["tag"] = ""
    return quote(base64.b64encode(json.dumps(blob).encode()).decode(), safe="")


@dataclass
class Account:
    login: str
    password: str
    trader_id: int
    balance: Decimal


@dataclass
class Session:
    """One login of one trader; its cookie pairs point here, so renewing keeps the session."""

    login: str
    last_seen: float
    ended: bool = False


@dataclass
class CookiePair:
    session: Session
    rsid: str
    issued: float | None  # None: registered by add_session and not used yet


@dataclass
class Upload:
    media_id: int
    file_name: str
    data: bytes
    content_type: str
    created_at: float

    @property
    def original_url(self) -> str:
        return f"{self.media_id}/{self.file_name}"


@dataclass
class Payout:
    id: int
    kind: str  # "sbp" | "card"
    bank: str
    wallet: str
    amount: Decimal
    course: Decimal
    reward: Decimal
    expires_in: float
    quirk: str | None
    created_at: float
    updated_at: float
    status: int = STATUS_OFFERED
    account: str | None = None
    taken_at: float | None = None
    expired_at: float | None = None
    approved_at: float | None = None
    uploads: list[Upload] = field(default_factory=list)


@dataclass(frozen=True)
class RequestRecord:
    ts: float
    method: str
    path: str
    status: int
    account: str | None
    fault: str | None = None  # the injected fault (faults.py) that answered this request, if any


def render_payout(payout: Payout, account: Account | None, *, detailed: bool, reveal: bool = False) -> dict:
    """A payout as the panel shows it (reference §7); `account`: the trader who took it, if any."""
    hidden = payout.status == STATUS_OFFERED and not reveal
    usdt = (payout.amount / payout.course).quantize(Decimal("0.01"), ROUND_HALF_UP)
    total = (payout.amount * payout.reward).quantize(Decimal("0.001"), ROUND_HALF_UP)
    total_usdt = (total / payout.course).quantize(Decimal("0.01"), ROUND_HALF_UP)
    method_id, method_name, method_label = METHODS[payout.kind]
    method: dict[str, Any] = {"id": method_id, "type": 2, "name": method_name, "label": method_label,
                              "status": 1, "payment_provider_id": 1, "wallet_currency_id": 1}
    if detailed:
        method["currency"] = dict(RUB, network=None)
        method["provider"] = {"id": 1, "label": "Gate", "provider": 1, "status": 1}
    return {
        "id": payout.id,
        "payment_method_id": method_id,
        "wallet": payout.wallet,
        "amount": [] if hidden else {"trader": {"643": json_number(payout.amount), "000001": json_number(usdt)}},
        "total": [] if hidden else {"trader": {"643": json_number(total), "000001": json_number(total_usdt)}},
        "status": payout.status,
        "approved_at": iso(payout.approved_at),
        "expired_at": iso(payout.expired_at),
        "created_at": iso(payout.created_at),
        "updated_at": iso(payout.updated_at),
        "meta": {"courses": {"trader": json_number(payout.course)}, "reason": {"trader": None, "support": None}},
        "method": method,
        "attachments": [render_upload(u) for u in payout.uploads],
        "tooltip": {"payments": {"success": None, "rejected": None, "percent": None}, "reasons": []},
        "bank": render_bank(payout.bank, payout.kind, payout.quirk),
        "trader": {"id": account.trader_id, "name": account.login.split("@")[0]} if account else None,
    }

def render_upload(upload: Upload) -> dict:
    path = PurePosixPath(upload.file_name)
    return {
        "name": path.stem, "file_name": upload.file_name, "original_url": upload.original_url,
        "extension": path.suffix.lstrip(".").lower(), "size": len(upload.data),
        "created_at": iso(upload.created_at),
        "custom_properties": {"fake": not upload.data.startswith(b"%PDF")},
    }


def render_bank(slug: str, kind: str, quirk: str | None) -> dict | None:
    if quirk == "bank_null":
        return None
    if quirk == "bank_code_numeric":
        # The one real row with a numeric code looked like this.
        return {"id": 99, "name": "Central Bank of Russia", "code": 0, "label": " (MIR)",
                "meta": {"system": "MIR", "country": "RUS"}}
    bank_id, code, label = BANKS.get(slug, (100 + sum(slug.encode()) % 900, "", slug.title()))
    if kind == "card":
        return {"id": bank_id, "name": slug, "code": code, "label": f"{label} (MIR)",
                "meta": {"system": "MIR", "country": "RUS"}}
    return {"id": bank_id, "name": slug, "code": code, "label": label, "active": True,
            "meta": {"parser": {"sms": True, "push": True}, "1click": []}}


def default_wallet(kind: str, payout_id: int) -> str:
    digits = f"{payout_id * 7919 % 10**9:09d}"
    return f"79{digits}" if kind == "sbp" else f"2200{payout_id % 10**12:012d}"


def safe_file_name(raw: str | None) -> str:
    name = PurePosixPath((raw or "receipt.pdf").replace("\\", "/")).name
    cleaned = "".join(c if c.isalnum() or c in "._-" else "_" for c in name).strip("._")
    return cleaned or "receipt.pdf"


def json_body() -> dict:
    try:
        body = json.loads(bottle.request.body.read() or b"{}")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def int_param(raw: str | None, default: int) -> int:
    try:
        return int(raw) if raw not in (None, "") else default
    except ValueError:
        return default
