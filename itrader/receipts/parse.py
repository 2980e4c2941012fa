"""T-Bank receipt text -> typed `Receipt` (fields and pitfalls: reference/receipts.md §2–§4, §6).

Pure: text in, record out. Works on the line text of either extractor path: PDF text lines carry
`label  value` (or `value label` from other extractors), OCR lines `label value`. The ruble sign
comes out as `i` (PDF) or `Р`/`P`/a stray digit (OCR); thousands are separated by (thin/nbsp) spaces.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from difflib import SequenceMatcher
from enum import Enum
from typing import Optional

from .errors import ReceiptUnparseable
from .text import SOURCE_OCR, ExtractedText

try:
    from zoneinfo import ZoneInfo

    MOSCOW = ZoneInfo("Europe/Moscow")
except Exception:  # no tz database: Moscow has been UTC+3 without DST since 2014
    MOSCOW = timezone(timedelta(hours=3), "MSK")

ISSUER_TBANK = "T-Bank"
STATUS_SUCCESS = "Успешно"


class TransferType(str, Enum):
    PHONE = "phone"  # «По номеру телефона» (SBP, or intra-bank to a T-Bank client)
    TBANK_CLIENT = "tbank_client"  # «Клиенту Т-Банка» (to a T-Bank card)
    CARD = "card"  # «На карту» (to another bank's card)


@dataclass(frozen=True)
class Receipt:
    """One parsed T-Bank receipt. Money in Decimal roubles; `fee` None when the fee row is absent."""

    issuer: str
    status: str
    operation_time: datetime  # Moscow time, timezone-aware
    transfer_type: TransferType
    amount: Decimal  # «Сумма»: what the recipient got
    total: Decimal  # «Итого»: amount + fee
    fee: Optional[Decimal]
    sender_name: str  # «Отправитель»; "" when the receipt has no such row
    recipient_name: Optional[str]
    recipient_phone: Optional[str]  # digits with country code, e.g. 79001234567
    recipient_card: Optional[str]  # as printed: *1234 or 220070******1234
    recipient_bank: Optional[str]  # «Банк получателя» as printed; None when the row is absent
    sbp_operation_id: Optional[str]
    receipt_number: str
    sha256: str = ""
    source: str = ""

    @property
    def successful(self) -> bool:
        return self.status == STATUS_SUCCESS

    def __repr__(self) -> str:  # names and phones are personal data: keep them out of logs
        return (f"Receipt(number={self.receipt_number!r}, type={self.transfer_type.value}, "
                f"amount={self.amount}, status={self.status!r}, time={self.operation_time.isoformat()})")


def receipt_to_json(receipt: Receipt) -> dict:
    """The record as JSON-ready values (decimal strings, ISO time with offset)."""
    return {
        "issuer": receipt.issuer,
        "status": receipt.status,
        "successful": receipt.successful,
        "operation_time": receipt.operation_time.isoformat(),
        "transfer_type": receipt.transfer_type.value,
        "amount": str(receipt.amount),
        "total": str(receipt.total),
        "fee": None if receipt.fee is None else str(receipt.fee),
        "sender_name": receipt.sender_name,
        "recipient_name": receipt.recipient_name,
        "recipient_phone": receipt.recipient_phone,
        "recipient_card": receipt.recipient_card,
        "recipient_bank": receipt.recipient_bank,
        "sbp_operation_id": receipt.sbp_operation_id,
        "receipt_number": receipt.receipt_number,
        "sha256": receipt.sha256,
        "source": receipt.source,
    }


# Row labels, longest first so that «Получатель» does not swallow «Телефон получателя».
LABELS = {
    "Телефон получателя": "recipient_phone",
    "Идентификатор операции": "sbp_operation_id",
    "Карта получателя": "recipient_card",
    "Банк получателя": "recipient_bank",
    "Счет списания": "debit_account",
    "Отправитель": "sender_name",
    "Получатель": "recipient_name",
    "Комиссия": "fee",
    "Перевод": "transfer",
    "Статус": "status",
    "Сумма": "amount",
    "Итого": "total",
}
NO_FEE = "без комиссии"
# The support address fb@tbank.ru is on every T-Bank receipt; OCR may mangle the rest of the line.
TBANK_MARK = re.compile(r"tbank|t-банк|т-банк|тинькофф|tinkoff")
DATE_TIME = re.compile(r"(\d{2})\.(\d{2})\.(\d{4})\s+(\d{1,2}):(\d{2}):(\d{2})")
RECEIPT_NUMBER = re.compile(r"Квитанция\s*(?:№|N[oо°e]?|#)?\s*(\d{1,3}(?:\s*-\s*\d{1,4}){2,6})", re.IGNORECASE)
SPACES = re.compile(r"[\s\u00a0\u2007\u2009\u202f]+")
RUBLE_SIGN = re.compile(r"(?<=\d)\s*(?:₽|руб\.?|RUB|[iIlР₽PрpР?])$")  # OCR: ₽ read as a letter or «?»
SBP_CHUNK = re.compile(r"[A-ZА-Я0-9]+")


def parse_receipt(extracted: ExtractedText) -> Receipt:
    """Parse the text of a receipt; raises ReceiptUnparseable naming what is missing or odd."""
    return parse_text(extracted.text, source=extracted.source, sha256=extracted.sha256)


def parse_text(text: str, *, source: str = "pdf_text", sha256: str = "") -> Receipt:
    lines = [SPACES.sub(" ", line).strip() for line in text.splitlines()]
    lines = [line for line in lines if line]
    fuzzy = source == SOURCE_OCR
    rows = _rows(lines, fuzzy)
    flat = "\n".join(lines)

    if not TBANK_MARK.search(flat.casefold().replace(" ", "")):
        raise ReceiptUnparseable("not a T-Bank receipt (no fb@tbank.ru support line)")
    moment = DATE_TIME.search(flat)
    if not moment:
        raise ReceiptUnparseable("no operation date and time")
    day, month, year, hour, minute, second = (int(part) for part in moment.groups())
    try:
        operation_time = datetime(year, month, day, hour, minute, second, tzinfo=MOSCOW)
    except ValueError:
        raise ReceiptUnparseable(f"impossible operation time {moment.group(0)!r}") from None
    number = RECEIPT_NUMBER.search(flat)
    if not number:
        raise ReceiptUnparseable("no receipt number (Квитанция №)")

    transfer_type = _transfer_type(_required(rows, "transfer", "Перевод"))
    amount, total, fee = _consistent_amounts(rows)

    phone = card = None
    if transfer_type is TransferType.PHONE:
        phone = _phone(_required(rows, "recipient_phone", "Телефон получателя"))
    else:
        card = _card(_required(rows, "recipient_card", "Карта получателя"))

    return Receipt(
        issuer=ISSUER_TBANK,
        status=_required(rows, "status", "Статус"),
        operation_time=operation_time,
        transfer_type=transfer_type,
        amount=amount,
        total=total,
        fee=fee,
        sender_name=rows.get("sender_name", ""),  # absent: "" — the verifier refuses it (payer_unknown)
        recipient_name=rows.get("recipient_name"),
        recipient_phone=phone,
        recipient_card=card,
        recipient_bank=rows.get("recipient_bank"),
        sbp_operation_id=_sbp_id(rows.get("sbp_operation_id")),
        receipt_number=re.sub(r"\s+", "", number.group(1)),
        sha256=sha256,
        source=source,
    )


def _rows(lines: list[str], fuzzy: bool) -> dict[str, str]:
    """field -> value for every labelled line; the wrapped SBP id keeps its continuation line."""
    rows: dict[str, str] = {}
    for index, line in enumerate(lines):
        found = _label_of(line, fuzzy)
        if not found:
            continue
        field, value = found
        follows = lines[index + 1] if index + 1 < len(lines) and not _label_of(lines[index + 1], fuzzy) else None
        if field == "sbp_operation_id" and follows is not None:
            value = f"{value} {follows}"
        elif not value.strip(" :|") and follows is not None:
            value = follows  # the value under its label: a narrow screen, or OCR splitting a wide row
        value = value.strip(" :")
        if value and field not in rows:
            rows[field] = value
    return rows


def _label_of(line: str, fuzzy: bool) -> Optional[tuple[str, str]]:
    """(field, value) when the line is `label value` or `value label`; None otherwise."""
    folded = line.casefold().replace("ё", "е")
    for label, field in LABELS.items():
        key = label.casefold()
        if folded.startswith(key) and (len(folded) == len(key) or not folded[len(key)].isalpha()):
            return field, line[len(label):]
        if folded.endswith(key) and len(folded) > len(key):
            return field, line[: len(line) - len(label)]
    if fuzzy:  # OCR: tolerate a misread letter or two in the label words
        words = line.split(" ")
        for label, field in LABELS.items():
            count = label.count(" ") + 1
            head = " ".join(words[:count]).casefold()
            if len(words) > count and SequenceMatcher(None, head, label.casefold()).ratio() >= 0.85:
                return field, " ".join(words[count:])
    return None


def _required(rows: dict[str, str], field: str, label: str) -> str:
    value = rows.get(field)
    if not value:
        raise ReceiptUnparseable(f"no «{label}» row")
    return value


def _transfer_type(value: str) -> TransferType:
    folded = value.casefold()
    if "номеру" in folded or "телефон" in folded:
        return TransferType.PHONE
    if "клиенту" in folded:
        return TransferType.TBANK_CLIENT
    if "карту" in folded:
        return TransferType.CARD
    raise ReceiptUnparseable(f"unknown transfer type {value!r}")


def _money_readings(value: str, label: str) -> list[Decimal]:
    """Possible values of `12 437 i` / `12 437 Р` / `12 437,50 ₽`, most literal first.

    T-Bank groups thousands by spaces (`1 008`, `12 437`). OCR has no ruble sign in its alphabet and
    may read it as a digit, glued (`12 4372`, `10082`) or apart (`12 437 2`); readings without that
    digit are offered too, and the caller keeps the one that makes Итого = Сумма + Комиссия.
    """
    stripped = RUBLE_SIGN.sub("", value.strip()).strip()
    match = re.fullmatch(r"(\d+(?: \d+)*)(?:[.,](\d{2}))?", stripped)
    if not match:
        raise ReceiptUnparseable(f"«{label}» is not an amount: {value!r}")
    groups = match.group(1).split(" ")
    kopecks = Decimal(match.group(2)) / 100 if match.group(2) else Decimal(0)
    shapes = [groups]
    if stripped == value.strip() and not match.group(2):  # no sign seen: it may be the last digit
        if len(groups) >= 2 and len(groups[-1]) == 1:
            shapes.append(groups[:-1])
        if len(groups[-1]) >= 2:
            shapes.append(groups[:-1] + [groups[-1][:-1]])
    readings = [Decimal("".join(shape)) + kopecks for shape in shapes if _well_grouped(shape)]
    if not readings:
        raise ReceiptUnparseable(f"«{label}» is not a well-formed amount: {value!r}")
    return readings


def _well_grouped(groups: list[str]) -> bool:
    """`12 437`-style: a head of 1–3 digits then groups of exactly 3 (or one run, if OCR lost spaces)."""
    if len(groups) == 1:
        return True
    return 1 <= len(groups[0]) <= 3 and all(len(group) == 3 for group in groups[1:])


def says_no_fee(value: str) -> bool:
    """«Без комиссии», also as OCR reads it: «Ges комиссия», «| без комиссии», «Ses помиссии». A fee row
    without a digit that ends in a word like «комиссии» says no fee; the amounts check (Итого = Сумма +
    Комиссия) still has to hold, so a misread cannot let a wrong amount through."""
    folded = value.casefold().replace("ё", "е")
    if any(char.isdigit() for char in folded):
        return False
    if SequenceMatcher(None, folded.strip(" |:"), NO_FEE).ratio() >= 0.8:
        return True
    words = re.findall(r"[^\W\d_]+", folded)
    return len(words) >= 2 and SequenceMatcher(None, words[-1], "комиссии").ratio() >= 0.75


def _consistent_amounts(rows: dict[str, str]) -> tuple[Decimal, Decimal, Optional[Decimal]]:
    """(amount, total, fee) with Итого = Сумма + Комиссия, the check that catches misread digits."""
    amounts = _money_readings(_required(rows, "amount", "Сумма"), "Сумма")
    totals = _money_readings(_required(rows, "total", "Итого"), "Итого")
    fee_text = rows.get("fee")
    if fee_text is None:
        fees: list[Optional[Decimal]] = [None]
    elif says_no_fee(fee_text):
        fees = [Decimal(0)]
    else:
        fees = list(_money_readings(fee_text, "Комиссия"))
    matches = [(amount, total, fee) for total in totals for amount in amounts for fee in fees
               if total == amount + (fee or 0)]
    if not matches:
        raise ReceiptUnparseable(
            f"Итого {totals[0]} ≠ Сумма {amounts[0]} + Комиссия {fees[0] or 0}: amounts misread")
    if len({match[:2] for match in matches}) > 1:
        raise ReceiptUnparseable("amounts are ambiguous (ruble sign or spaces misread)")
    return matches[0]


def _phone(value: str) -> str:
    digits = re.sub(r"\D", "", value)
    if len(digits) == 11 and digits[0] in "78":
        return "7" + digits[1:]
    if len(digits) == 10:
        return "7" + digits
    raise ReceiptUnparseable(f"«Телефон получателя» is not a Russian phone number: {len(digits)} digits")


def _card(value: str) -> str:
    card = re.sub(r"\s", "", value)
    if not re.fullmatch(r"\d{0,6}\*+\d{4}|\d{16,19}", card):
        raise ReceiptUnparseable(f"«Карта получателя» is not a masked card number: {value!r}")
    return card


def _sbp_id(value: Optional[str]) -> Optional[str]:
    if not value:
        return None
    chunks = [chunk for chunk in SBP_CHUNK.findall(value) if chunk != "СБП"]
    return "".join(chunks) or None
