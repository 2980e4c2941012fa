"""The one recipient rule and the one payout-method rule (itrader.recipients), and that every place that
used its own copy — the receipt verifier, the receipt desk, the allocator's twin check, the Gate
account — now answers as the rule does."""
from datetime import datetime, timezone
from decimal import Decimal

import pytest

from actors.gate_account import payout_method as gate_payout_method
from actors.receipt_desk import paid_to_wallet
from itrader import allocation, recipients
from itrader.gate.models import Payout
from itrader.receipts.parse import ISSUER_TBANK, STATUS_SUCCESS, Receipt, TransferType
from itrader.receipts.verify import METHOD_MISMATCH, RECIPIENT_MISMATCH, DealFacts, PayoutTerms, fits, verify


def receipt(phone=None, card=None, amount="5000"):
    return Receipt(
        issuer=ISSUER_TBANK, status=STATUS_SUCCESS, operation_time=datetime(2025, 6, 1, 12, tzinfo=timezone.utc),
        transfer_type=TransferType.PHONE if phone else TransferType.CARD, amount=Decimal(amount),
        total=Decimal(amount), fee=None, sender_name="Иван Петров", recipient_name="Пётр С.",
        recipient_phone=phone, recipient_card=card, recipient_bank=None, sbp_operation_id=None,
        receipt_number="1-2-3", sha256="ab" * 32)


def gate_json(wallet, method_id=None, label="", amount=5000):
    payout = {"id": 7, "status": 5, "wallet": wallet, "amount": {"643": amount},
              "method": {"id": method_id, "label": label}, "bank": {"name": "tinkoff"}}
    if method_id is not None:
        payout["payment_method_id"] = method_id
    return payout


@pytest.mark.parametrize("wallet", ["79001234567", "+7 (900) 123-45-67", "89001234567", "9001234567"])
def test_a_phone_is_the_same_recipient_by_its_last_ten_digits(wallet):
    assert recipients.same_phone("79001234567", wallet)
    assert recipients.paid_to("79001234567", None, wallet)
    assert not recipients.same_phone("79001234568", wallet)
    assert not recipients.same_phone("79001234567", "1234567")  # too short to be a phone


def test_a_card_is_the_same_recipient_by_its_last_four_and_the_printed_head():
    assert recipients.same_card("*4321", "2200 7012 3456 4321")
    assert recipients.same_card("220070******4321", "2200701234564321")
    assert not recipients.same_card("220070******4321", "4276001234564321")  # the head says another card
    assert not recipients.same_card("*4322", "2200701234564321")
    assert not recipients.paid_to(None, None, "2200701234564321")  # a receipt with no recipient pays no one


def test_the_desk_the_verifier_and_the_twin_key_agree_on_the_recipient():
    cases = [
        (receipt(phone="79001234567"), "89001234567", True),
        (receipt(phone="79001234567"), "79001234568", False),
        (receipt(card="*4321"), "2200701234564321", True),
        (receipt(card="220070******4321"), "4276001234564321", False),  # the desk used to take last 4 only
    ]
    for paid, wallet, same in cases:
        method = recipients.SBP if paid.recipient_phone else recipients.CARD
        terms = PayoutTerms(amount=paid.amount, wallet=wallet, method=method)
        assert paid_to_wallet(paid, wallet) is same, (paid, wallet)
        assert fits(paid, terms) is same, (paid, wallet)
    assert allocation.recipient_key is recipients.recipient_key
    assert recipients.recipient_key("8 (900) 123-45-67") == recipients.recipient_key("79001234567")


def test_the_verifier_still_names_a_method_mismatch_and_a_recipient_mismatch():
    facts = DealFacts(now=datetime(2025, 6, 1, 13, tzinfo=timezone.utc))
    card_payout = PayoutTerms(amount=Decimal("5000"), wallet="2200701234564321", method="card")
    assert METHOD_MISMATCH in verify(receipt(phone="79001234567"), card_payout, facts).codes
    phone_payout = PayoutTerms(amount=Decimal("5000"), wallet="79001234568", method="sbp")
    assert RECIPIENT_MISMATCH in verify(receipt(phone="79001234567"), phone_payout, facts).codes


@pytest.mark.parametrize("method_id, label, wallet, expected", [
    (5, "", "2200701234564321", "sbp"),  # the id decides over the wallet's shape
    (4, "", "79001234567", "card"),
    ("5", "", "", "sbp"),
    (None, "СБП", "9001234567", "sbp"),  # no id: the label
    (None, "Перевод на карту", "", "card"),
    (None, "", "2200 7012 3456 4321", "card"),  # no id, no label: the wallet's shape
    (None, "", "+7 900 123 45 67", "sbp"),
    (9, "", "12345", ""),  # nothing tells
])
def test_the_payout_method_rule(method_id, label, wallet, expected):
    assert recipients.payout_method(method_id, label, wallet) == expected


@pytest.mark.parametrize("raw", [
    gate_json("9001234567", label="СБП"),  # the verifier used to say card (not an 11-digit 7… phone)
    gate_json("79001234567", method_id=9, label="Перевод на карту"),  # the verifier used to say sbp
    gate_json("2200701234564321"),
    gate_json("79001234567", method_id=5),
    gate_json("2200701234564321", method_id=4),
    gate_json("79001234567"),
])
def test_the_gate_account_and_the_verifier_agree_on_the_payout_method(raw):
    assert PayoutTerms.from_gate(raw).method == gate_payout_method(Payout.parse(raw))


def test_a_phone_payout_labelled_sbp_is_verified_as_sbp_like_the_gate_account_offers_it():
    raw = gate_json("9001234567", label="СБП")
    assert gate_payout_method(Payout.parse(raw)) == "sbp"
    assert fits(receipt(phone="79001234567"), PayoutTerms.from_gate(raw))
