"""Does this receipt prove this payout was paid? A pure decision (DESIGN §5.1, §5.2, §5.6; order-flow §8.2).

verify(receipt, payout, facts) -> Verdict. Every rule is checked and every failure reported with a
stable code, so an operator sees all that is wrong at once. No I/O: "was this receipt seen before" is
a callable the caller supplies from its store.

The payer rule: the receipt's «Отправитель» must be the order's buyer (`DealFacts.buyer_name`, Bybit's
`buyerRealName`; names.same_person). A receipt without a usable sender name, or a deal whose buyer name
is not known, is refused as `payer_unknown`; a sender who is someone else as `payer_mismatch`. Either
refusal sends the deal to an operator, never to an automatic release.

fits(receipt, payout) is the narrower question the receipt desk asks when it looks for the deal a
receipt belongs to: did this money reach this payout's recipient (amount and recipient equal)?
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Callable, Mapping, Optional

from ..recipients import CARD, GATE_METHOD_IDS, SBP, payout_method, same_card, same_phone  # noqa: F401
from .names import identifiable, same_person
from .parse import ISSUER_TBANK, STATUS_SUCCESS, Receipt, TransferType

STATUS_NOT_SUCCESS = "status_not_success"
AMOUNT_MISMATCH = "amount_mismatch"
METHOD_MISMATCH = "method_mismatch"
RECIPIENT_MISMATCH = "recipient_mismatch"
BANK_MISMATCH = "bank_mismatch"
TOO_EARLY = "too_early"
IN_FUTURE = "in_future"
DUPLICATE_RECEIPT = "duplicate_receipt"
PAYER_MISMATCH = "payer_mismatch"  # the sender is not the order's buyer
PAYER_UNKNOWN = "payer_unknown"  # no usable sender name on the receipt, or the buyer's name is not known

# Bank and our clock may disagree a little; a receipt this far "ahead" of us is still not future.
CLOCK_SKEW = timedelta(seconds=60)

METHOD_SBP = SBP
METHOD_CARD = CARD

# Canonical bank -> Gate slugs and receipt spellings (receipt names as T-Bank prints «Банк получателя»).
BANKS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "sberbank": (("sberbank", "sber"), ("Сбербанк", "Сбер", "СберБанк", "ПАО Сбербанк")),
    "tinkoff": (("tinkoff", "tbank"), ("Т-Банк", "T-Банк", "Тинькофф", "Тинькофф Банк", "ТБанк",
                                        "T-Банк (Тинькофф)")),
    "vtb": (("vtb",), ("ВТБ", "Банк ВТБ")),
    "alfabank": (("alfabank", "alfa"), ("Альфа-Банк", "Альфа Банк", "Альфа")),
    "psbank": (("psbank", "psb", "promsvyazbank"), ("ПСБ", "Промсвязьбанк")),
    "mtsbank": (("mtsbank", "mts"), ("МТС-Банк", "МТС Банк", "МТС")),
    "ozonbank": (("ozonbank", "ozon"), ("Озон Банк", "Ozon Банк", "ОЗОН Банк", "Озон")),
    "yandexbank": (("yandexbank", "yandex"), ("Яндекс Банк", "Яндекс")),
    "raiffeisen": (("raiffeisen", "raiffeisenbank", "raif"), ("Райффайзенбанк", "Райффайзен Банк", "Райффайзен")),
    "gazprombank": (("gazprombank", "gpb"), ("Газпромбанк", "ГПБ")),
    "rncb": (("rncb",), ("РНКБ", "РНКБ Банк")),
    "otpbank": (("otpbank", "otp"), ("ОТП Банк", "ОТП")),
    "sovcombank": (("sovcombank", "sovcom"), ("Совкомбанк",)),
    "rshb": (("rshb", "rosselkhozbank"), ("Россельхозбанк", "РСХБ")),
    "pochtabank": (("pochtabank", "pochta"), ("Почта Банк",)),
    "otkritie": (("otkritie", "openbank"), ("Банк Открытие", "Открытие")),
    "homecredit": (("homecredit", "homebank"), ("Хоум Банк", "Хоум Кредит", "Хоум Кредит Банк")),
    "uralsib": (("uralsib",), ("Уралсиб", "Банк Уралсиб")),
    "akbars": (("akbars",), ("Ак Барс", "Ак Барс Банк", "АК БАРС БАНК")),
    "rosbank": (("rosbank",), ("Росбанк",)),
    "mkb": (("mkb", "mcb"), ("МКБ", "Московский Кредитный Банк")),
    "russtandart": (("russtandart", "rsb"), ("Русский Стандарт", "Банк Русский Стандарт")),
    "yoomoney": (("yoomoney", "umoney"), ("ЮMoney", "ЮМани")),
}


def _bank_key(name: str) -> str:
    """Spelling-insensitive key: case, ё, Latin/Cyrillic look-alike Т, quotes, spaces, hyphens."""
    folded = name.casefold().replace("ё", "е").replace("t-", "т-")
    return re.sub(r"[\s\-«»\"'().,]+", "", folded)


SLUG_TO_BANK = {slug: bank for bank, (slugs, _) in BANKS.items() for slug in slugs}
NAME_TO_BANK = {_bank_key(name): bank for bank, (_, names) in BANKS.items() for name in names}


def bank_of_receipt_name(name: str) -> Optional[str]:
    """«ПСБ» -> "psbank"; None for a name the table does not know."""
    return NAME_TO_BANK.get(_bank_key(name))


def bank_of_gate_slug(slug: str) -> Optional[str]:
    return SLUG_TO_BANK.get(slug.casefold())


@dataclass(frozen=True)
class Reason:
    code: str
    text: str


@dataclass(frozen=True)
class Verdict:
    accepted: bool
    reasons: tuple[Reason, ...] = ()

    @property
    def codes(self) -> list[str]:
        return [reason.code for reason in self.reasons]


@dataclass(frozen=True)
class PayoutTerms:
    """What a Gate payout requires of the payment (gate-api.md §7)."""

    amount: Decimal  # amount["643"], RUB
    wallet: str  # SBP: phone 7XXXXXXXXXX; card: the card number
    method: str  # "sbp" or "card"
    bank_slug: Optional[str] = None  # bank.name
    bank_label: Optional[str] = None  # bank.label
    created_at: Optional[datetime] = None
    payout_id: Optional[int] = None

    @classmethod
    def from_gate(cls, payout: Mapping) -> "PayoutTerms":
        """From a Gate payout object; raises ValueError when the payout hides its amount (status 4)."""
        amounts = payout.get("amount")
        if isinstance(amounts, Mapping) and isinstance(amounts.get("trader"), Mapping):
            amounts = amounts["trader"]
        if not isinstance(amounts, Mapping) or amounts.get("643") is None:
            raise ValueError("payout has no RUB amount (amount[\"643\"]); take it in work first")
        wallet = str(payout.get("wallet") or "")
        gate_method = payout.get("method") or {}
        method_id = payout.get("payment_method_id") or gate_method.get("id")
        method = payout_method(method_id, gate_method.get("label"), wallet)  # the Gate account's rule too
        bank = payout.get("bank") or {}
        created = payout.get("created_at")
        return cls(
            amount=Decimal(str(amounts["643"])),
            wallet=wallet,
            method=method,
            bank_slug=bank.get("name") or None,
            bank_label=bank.get("label") or None,
            created_at=parse_gate_time(created) if created else None,
            payout_id=payout.get("id"),
        )


def parse_gate_time(text: str) -> datetime:
    """Gate's `2025-06-10T09:00:05.000000Z` -> aware UTC datetime."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def never_seen(receipt_number: str, sha256: str) -> bool:
    return False


@dataclass(frozen=True)
class DealFacts:
    """What the deal knows: when our requisites went to the buyer (None = no lower bound), the time
    now, whether a receipt with this number or file hash was already used, and the order's buyer
    (Bybit `buyerRealName`; None = not known, and then no receipt is accepted)."""

    now: datetime
    requisites_sent_at: Optional[datetime] = None
    already_seen: Callable[[str, str], bool] = field(default=never_seen)
    buyer_name: Optional[str] = None


def seen_in(receipt_numbers=(), sha256s=()) -> Callable[[str, str], bool]:
    """An `already_seen` over known receipt numbers and file hashes."""
    numbers, hashes = frozenset(receipt_numbers), frozenset(sha256s)
    return lambda number, digest: number in numbers or digest in hashes


def verify(receipt: Receipt, payout: PayoutTerms, facts: DealFacts) -> Verdict:
    """Accept only when every rule holds; otherwise refuse with each failed rule's reason."""
    reasons = [
        *_status(receipt),
        *_amount(receipt, payout),
        *_recipient(receipt, payout),
        *_bank(receipt, payout),
        *_time(receipt, facts),
        *_reuse(receipt, facts),
        *_payer(receipt, facts),
    ]
    return Verdict(accepted=not reasons, reasons=tuple(reasons))


def fits(receipt: Receipt, payout: PayoutTerms) -> bool:
    """The money reached this payout's recipient: amount equal and recipient (phone or card) equal.

    Not a verdict: status, bank, time, reuse and payer are still verify()'s to check.
    """
    return not any(_amount(receipt, payout)) and not any(_recipient(receipt, payout))


def _status(receipt: Receipt):
    if receipt.status != STATUS_SUCCESS:
        yield Reason(STATUS_NOT_SUCCESS, f"receipt status is «{receipt.status}», not «{STATUS_SUCCESS}»")


def _amount(receipt: Receipt, payout: PayoutTerms):
    if receipt.amount != payout.amount:
        yield Reason(AMOUNT_MISMATCH, f"receipt Сумма {receipt.amount} RUB ≠ payout amount {payout.amount} RUB")


def _recipient(receipt: Receipt, payout: PayoutTerms):
    """The reasons for itrader.recipients' rule: the method the payout wants, then the recipient."""
    if payout.method == METHOD_SBP:
        if receipt.recipient_phone is None:
            yield Reason(METHOD_MISMATCH, "payout is by phone (SBP) but the receipt is a card transfer")
        elif not same_phone(receipt.recipient_phone, payout.wallet):
            yield Reason(RECIPIENT_MISMATCH, "recipient phone differs from the payout's phone")
        return
    if receipt.recipient_card is None:
        yield Reason(METHOD_MISMATCH, "payout is to a card but the receipt is a phone transfer")
        return
    if not same_card(receipt.recipient_card, payout.wallet):
        yield Reason(RECIPIENT_MISMATCH, "recipient card differs from the payout's card")


def _bank(receipt: Receipt, payout: PayoutTerms):
    """The bank that received the money, by the receipt, against the payout's bank.

    «Клиенту Т-Банка», and T-Bank phone transfers without a «Банк получателя» row, went to a T-Bank
    client (receipts.md §6). «На карту» names no bank: the card number already pins the recipient.
    """
    if receipt.transfer_type is TransferType.CARD:
        return
    if receipt.recipient_bank:
        received = bank_of_receipt_name(receipt.recipient_bank)
        described = f"«{receipt.recipient_bank}»"
        if received is None:
            yield Reason(BANK_MISMATCH, f"receipt bank {described} is not in the bank alias table")
            return
    elif receipt.issuer == ISSUER_TBANK:
        received, described = "tinkoff", "T-Bank (recipient is a T-Bank client)"
    else:
        yield Reason(BANK_MISMATCH, "receipt names no recipient bank")
        return
    expected = bank_of_gate_slug(payout.bank_slug or "")
    if expected is None and payout.bank_label:
        label = re.sub(r"\s*\((?:MIR|VISA|MASTERCARD|UNIONPAY|МИР)\)\s*$", "", payout.bank_label, flags=re.I)
        expected = bank_of_receipt_name(label)
    if expected is None:
        yield Reason(BANK_MISMATCH, f"payout bank {payout.bank_slug or payout.bank_label or 'none'!s} "
                                    "is not in the bank alias table")
    elif expected != received:
        yield Reason(BANK_MISMATCH, f"money went to {described}, payout wants {payout.bank_slug}")


def _time(receipt: Receipt, facts: DealFacts):
    when = receipt.operation_time
    if facts.requisites_sent_at is not None and when < facts.requisites_sent_at.replace(microsecond=0):
        yield Reason(TOO_EARLY, f"operation at {when.isoformat()} is before the requisites were sent "
                                f"({facts.requisites_sent_at.astimezone(when.tzinfo).isoformat()})")
    if when > facts.now + CLOCK_SKEW:
        yield Reason(IN_FUTURE, f"operation at {when.isoformat()} is in the future")


def _reuse(receipt: Receipt, facts: DealFacts):
    if facts.already_seen(receipt.receipt_number, receipt.sha256):
        yield Reason(DUPLICATE_RECEIPT, f"receipt № {receipt.receipt_number} (or this very file) was already used")


def _payer(receipt: Receipt, facts: DealFacts):
    if not identifiable(receipt.sender_name):
        yield Reason(PAYER_UNKNOWN, "the receipt shows no sender name that identifies a person "
                                    "(a first name alone is not enough)")
    elif not identifiable(facts.buyer_name):
        yield Reason(PAYER_UNKNOWN, "the order's buyer name is not known")
    else:
        match = same_person(receipt.sender_name, facts.buyer_name)
        if not match.same:
            yield Reason(PAYER_MISMATCH, f"the receipt's sender is not the order's buyer: {match.why}")
