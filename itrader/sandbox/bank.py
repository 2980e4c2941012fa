"""The sandbox bank: the buyer's T-Bank account that pays payout recipients and issues receipts.

Each transfer is recorded (in the bank and in the ledger) with everything its receipt shows and with
who paid: the buyer, the Bybit order it paid for, and the holder of the account it paid from
(`payer_name`, which the receipt prints as «Отправитель» exactly as given). The
receipt is rendered by `itrader.receipts.render` in T-Bank's layout, optionally with fields changed
(a forger's edit), and mailed through the `Mailer`. Synthetic details (recipient name, receipt number,
SBP id, debit account) are derived deterministically from the seed and the transfer, so a scenario
replays identically.

Which receipt a transfer produces (reference/receipts.md §2–3):
  phone to a T-Bank client   «По номеру телефона», no bank row, no SBP id
  phone to another bank      «По номеру телефона» with «Банк получателя», debit account and SBP id (SBP)
  card of a T-Bank client    «Клиенту Т-Банка», card `*NNNN`, recipient name
  card of another bank       «На карту», card `NNNNNN******NNNN`; a 1.5 % fee row on some transfers
"""
from __future__ import annotations

import hashlib
import random
import re
import threading
import time
from dataclasses import dataclass, fields, replace
from datetime import datetime, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Callable, Optional

from itrader.receipts.render import ReceiptSpec, render_pdf, render_png

from .faults import Faults
from .ledger import Ledger
from .mail import Mailer, SentMail

TBANK_SLUG = "tinkoff"
TRANSFER_TYPES = ("phone", "tbank_client", "card")
CARD_FEE_RATE = Decimal("0.015")

# How T-Bank prints other banks in «Банк получателя» (ПСБ and МТС-Банк are seen on real receipts).
BANK_NAMES = {
    "sberbank": "Сбербанк", "alfabank": "Альфа-Банк", "vtb": "Банк ВТБ", "ozonbank": "Озон Банк",
    "psbank": "ПСБ", "psb": "ПСБ", "mtsbank": "МТС-Банк", "mts": "МТС-Банк", "raiffeisen": "Райффайзенбанк",
    "gazprombank": "Газпромбанк", "sovcombank": "Совкомбанк", "rncb": "РНКБ Банк", "otpbank": "ОТП Банк",
    "yandexbank": "Яндекс Банк", "rosselkhozbank": "Россельхозбанк", "pochtabank": "Почта Банк",
}

FIRST_NAMES = ("Алексей", "Мария", "Дмитрий", "Анна", "Сергей", "Екатерина", "Иван", "Ольга", "Павел",
               "Наталья", "Андрей", "Елена", "Михаил", "Татьяна", "Николай", "Юлия")
LAST_INITIALS = "АБВГДЕЗИКЛМНОПРСТФХШЯ"


@dataclass(frozen=True)
class Transfer:
    id: int
    receipt_number: str
    time: datetime  # UTC; the receipt prints it in Moscow time
    payer_name: str
    wallet: str
    bank: str  # the recipient bank's slug, as Gate names it
    amount: Decimal
    transfer_type: str
    recipient_name: str
    fee: Optional[Decimal]  # None: the receipt has no fee row
    sbp_operation_id: Optional[str] = None
    debit_account: Optional[str] = None
    payout_id: Optional[int] = None
    buyer_id: Optional[str] = None
    order_id: Optional[str] = None  # the buyer's Bybit order this payment was for
    status: str = "Успешно"


def derive_transfer_type(wallet: str, bank_slug: str) -> str:
    """A card number (16+ digits) is paid by card, anything else by phone (SBP or intra-bank)."""
    if len(re.sub(r"\D", "", wallet)) >= 16:
        return "tbank_client" if bank_slug == TBANK_SLUG else "card"
    return "phone"


def bank_display_name(bank_slug: str) -> str:
    return BANK_NAMES.get(bank_slug.lower(), bank_slug)


def recipient_name_for(wallet: str) -> str:
    """`Имя Ф.` as receipts abbreviate it, the same for the same wallet every time."""
    digest = hashlib.sha256(re.sub(r"\D", "", wallet).encode()).digest()
    return f"{FIRST_NAMES[digest[0] % len(FIRST_NAMES)]} {LAST_INITIALS[digest[1] % len(LAST_INITIALS)]}."


def masked_card(wallet: str, transfer_type: str) -> str:
    digits = re.sub(r"\D", "", wallet)
    if transfer_type == "tbank_client":
        return "*" + digits[-4:]
    return digits[:6] + "******" + digits[-4:]


def receipt_spec(transfer: Transfer, tamper: Optional[dict[str, Any]] = None) -> ReceiptSpec:
    """What the receipt of `transfer` says; `tamper` overrides fields (as a forger would edit them).

    `tamper` keys: any ReceiptSpec field, or the shortcuts `wallet` (the phone or card shown) and
    `bank` (a bank slug for «Банк получателя»)."""
    kind = transfer.transfer_type
    spec = ReceiptSpec(
        transfer_type=kind,
        amount=transfer.amount,
        fee=transfer.fee,
        sender_name=transfer.payer_name,
        operation_time=transfer.time,
        receipt_number=transfer.receipt_number,
        recipient_name=transfer.recipient_name,
        recipient_phone=transfer.wallet if kind == "phone" else None,
        recipient_card=masked_card(transfer.wallet, kind) if kind != "phone" else None,
        recipient_bank=bank_display_name(transfer.bank) if kind == "phone" and transfer.bank != TBANK_SLUG else None,
        sbp_operation_id=transfer.sbp_operation_id,
        debit_account=transfer.debit_account,
        status=transfer.status,
    )
    if not tamper:
        return spec
    changes = dict(tamper)
    known = {f.name for f in fields(ReceiptSpec)}
    if "wallet" in changes:
        wallet = str(changes.pop("wallet"))
        if spec.transfer_type == "phone":
            changes.setdefault("recipient_phone", wallet)
        else:
            changes.setdefault("recipient_card", masked_card(wallet, spec.transfer_type))
    if "bank" in changes:
        slug = changes.pop("bank")
        changes.setdefault("recipient_bank", bank_display_name(slug) if slug and slug != TBANK_SLUG else None)
    unknown = set(changes) - known
    if unknown:
        raise ValueError(f"unknown receipt field(s) to tamper: {', '.join(sorted(unknown))}")
    for key in ("amount", "fee"):
        if changes.get(key) is not None:
            changes[key] = Decimal(str(changes[key]))
    if "operation_time" in changes:
        changes["operation_time"] = _as_datetime(changes["operation_time"])
    return replace(spec, **changes)


def _as_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, timezone.utc)
    return datetime.fromisoformat(str(value))


class Bank:
    """The buyers' bank. Thread-safe; `transfer` never fails (the sandbox's money always arrives)."""

    def __init__(self, ledger: Ledger, faults: Faults, clock: Callable[[], float] = time.time,
                 mailer: Optional[Mailer] = None, seed: int = 1) -> None:
        self._ledger = ledger
        self._faults = faults
        self._clock = clock
        self._mailer = mailer
        self._seed = seed
        self._lock = threading.RLock()
        self._transfers: list[Transfer] = []

    def transfer(self, payer_name: str, wallet: str, bank_slug: str, amount: Decimal,
                 transfer_type: Optional[str] = None, recipient_name: Optional[str] = None,
                 payout_id: Optional[int] = None, buyer_id: Optional[str] = None,
                 order_id: Optional[str] = None) -> Transfer:
        """Pay `amount` RUB from the account of `payer_name` to `wallet` at `bank_slug`, for `buyer_id`'s
        Bybit order `order_id`; the type is derived from the wallet when not given."""
        payer_name = " ".join(str(payer_name or "").split())
        if not payer_name:
            raise ValueError("a transfer needs the payer's name (the account holder)")
        kind = transfer_type or derive_transfer_type(wallet, bank_slug)
        if kind not in TRANSFER_TYPES:
            raise ValueError(f"transfer_type must be one of {', '.join(TRANSFER_TYPES)}, got {kind!r}")
        amount = Decimal(str(amount))
        if amount <= 0:
            raise ValueError(f"transfer amount must be positive, got {amount}")
        with self._lock:
            transfer_id = len(self._transfers) + 1
            rng = random.Random(f"{self._seed}:{transfer_id}")
            sbp = kind == "phone" and bank_slug != TBANK_SLUG
            transfer = Transfer(
                id=transfer_id,
                receipt_number=_receipt_number(rng),
                time=datetime.fromtimestamp(self._clock(), timezone.utc).replace(microsecond=0),
                payer_name=payer_name,
                wallet=wallet,
                bank=bank_slug,
                amount=amount,
                transfer_type=kind,
                recipient_name=recipient_name or recipient_name_for(wallet),
                fee=_fee(kind, amount, rng),
                sbp_operation_id=_sbp_operation_id(rng) if sbp else None,
                debit_account=_debit_account(rng) if sbp else None,
                payout_id=payout_id,
                buyer_id=buyer_id,
                order_id=None if order_id is None else str(order_id),
            )
            self._transfers.append(transfer)
        self._ledger.record("bank_transfer", transfer_id=transfer.id, buyer_id=buyer_id, payout_id=payout_id,
                            order_id=transfer.order_id, payer_name=payer_name, wallet=wallet, bank=bank_slug,
                            amount=amount, receipt_number=transfer.receipt_number, transfer_type=kind)
        return transfer

    def receipt_pdf(self, transfer: Transfer, tamper: Optional[dict[str, Any]] = None) -> bytes:
        return render_pdf(receipt_spec(transfer, tamper))

    def receipt_png(self, transfer: Transfer, tamper: Optional[dict[str, Any]] = None, layout: str = "wide") -> bytes:
        """A buyer's phone screenshot of the receipt, as posted in the chat; "narrow" is a narrow phone
        screen, each value under its label."""
        return render_png(receipt_spec(transfer, tamper), stacked=layout == "narrow")

    def mail_receipt(self, transfer: Transfer, to_addr: str, dkim: str = "valid",
                     tamper: Optional[dict[str, Any]] = None, filename: str = "Receipt.pdf") -> SentMail:
        """Render the receipt and e-mail it from the bank, as T-Bank's «send receipt by e-mail» does."""
        if self._mailer is None:
            raise RuntimeError("this sandbox bank has no mailer")
        return self._mailer.send_receipt(to_addr, self.receipt_pdf(transfer, tamper), filename, dkim=dkim)

    def transfers(self) -> list[Transfer]:
        with self._lock:
            return list(self._transfers)

    def reset(self) -> None:
        """Forget transfers; ids (and so receipt numbers) start over, as in a fresh world."""
        with self._lock:
            self._transfers.clear()


def _receipt_number(rng: random.Random) -> str:
    """`1-NN-NNN-NNN-NNN` (the second group has 2–3 digits on real receipts)."""
    middle = rng.choice((rng.randint(10, 99), rng.randint(100, 199)))
    return f"1-{middle}-{rng.randint(100, 999)}-{rng.randint(100, 999)}-{rng.randint(100, 999)}"


def _sbp_operation_id(rng: random.Random) -> str:
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    return "A" + "".join(rng.choice(alphabet) for _ in range(31))


def _debit_account(rng: random.Random) -> str:
    digits = "40817810" + "".join(str(rng.randint(0, 9)) for _ in range(12))
    return digits[:12] + "****" + digits[16:]


def _fee(kind: str, amount: Decimal, rng: random.Random) -> Optional[Decimal]:
    if kind == "phone":
        return Decimal(0)  # «Без комиссии»
    if kind == "card" and rng.random() < 0.5:
        return (amount * CARD_FEE_RATE).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return None  # no fee row, as on `rec.pdf` and `receipt.pdf`
