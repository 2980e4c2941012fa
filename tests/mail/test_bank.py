"""The sandbox bank: transfers in the ledger, T-Bank receipts by transfer type, mailed through Dovecot."""
from __future__ import annotations

import subprocess
from decimal import Decimal

from itrader.mail import Cursor, MailIntake, dnsfunc_for
from itrader.sandbox.bank import Bank
from itrader.sandbox.faults import Faults
from itrader.sandbox.ledger import Ledger
from itrader.sandbox.mail import Mailer

from .conftest import CLIENT_ADDRESS, settings_for

CLOCK = lambda: 1_748_513_872.0  # 29.05.2025 10:17:52 UTC = 13:17:52 Moscow


def pdf_text(pdf: bytes) -> str:
    """Text as `pdftotext -layout` sees it (poppler, independent of our parser), spaces squeezed."""
    out = subprocess.run(["pdftotext", "-layout", "-", "-"], input=pdf, capture_output=True, check=True).stdout
    return "\n".join(" ".join(line.split()) for line in out.decode().splitlines() if line.strip())


def make_bank(mailer: Mailer | None = None) -> tuple[Bank, Ledger]:
    ledger = Ledger()
    return Bank(ledger, Faults(seed=1), CLOCK, mailer), ledger


def test_sbp_transfer_to_another_bank_has_bank_row_and_sbp_id():
    bank, ledger = make_bank()
    transfer = bank.transfer("Иван Петров", "+7 (912) 345-67-89", "psbank", Decimal("12437"), payout_id=7, buyer_id="b1")
    text = pdf_text(bank.receipt_pdf(transfer))

    assert "29.05.2025 13:17:52" in text
    assert "Перевод По номеру телефона" in text
    assert "Сумма 12 437 i" in text or "12 437 i Сумма" in text
    assert "Телефон получателя +7 (912) 345-67-89" in text
    assert "Банк получателя ПСБ" in text
    assert transfer.sbp_operation_id[:27] in text and "СБП" in text
    assert f"Квитанция № {transfer.receipt_number}" in text and "fb@tbank.ru" in text
    [entry] = ledger.entries("bank_transfer")
    assert entry["amount"] == "12437" and entry["payout_id"] == 7 and entry["receipt_number"] == transfer.receipt_number


def test_tbank_client_by_phone_has_no_bank_row():
    bank, _ = make_bank()
    transfer = bank.transfer("Иван Петров", "79123456789", "tinkoff", Decimal("15000"))
    text = pdf_text(bank.receipt_pdf(transfer))
    assert transfer.transfer_type == "phone"
    assert "Телефон получателя +7 (912) 345-67-89" in text
    assert "Банк получателя" not in text and "СБП" not in text


def test_card_transfers_by_recipient_bank():
    bank, _ = make_bank()
    tbank_card = bank.transfer("Иван Петров", "2200700012345678", "tinkoff", Decimal("67200"))
    other_card = bank.transfer("Иван Петров", "2202200012344321", "sberbank", Decimal("28800"))
    tbank_text, other_text = pdf_text(bank.receipt_pdf(tbank_card)), pdf_text(bank.receipt_pdf(other_card))
    assert "Клиенту Т-Банка" in tbank_text and "Карта получателя *5678" in tbank_text
    assert "На карту" in other_text and "Карта получателя 220220******4321" in other_text


def test_synthetic_details_are_deterministic():
    first, _ = make_bank()
    second, _ = make_bank()
    a = first.transfer("Иван Петров", "+79123456789", "sberbank", Decimal("5000"))
    b = second.transfer("Иван Петров", "+79123456789", "sberbank", Decimal("5000"))
    assert a == b


def test_tampered_receipt_shows_the_forged_fields():
    bank, _ = make_bank()
    transfer = bank.transfer("Иван Петров", "+79123456789", "sberbank", Decimal("5000"))
    text = pdf_text(bank.receipt_pdf(transfer, tamper={"amount": "50000", "wallet": "+79990001122",
                                                       "status": "В обработке"}))
    assert "50 000 i" in text and "+7 (999) 000-11-22" in text and "В обработке" in text
    assert "5 000 i" not in text.replace("50 000 i", "")


def test_bank_receipt_mail_arrives_through_dovecot_and_verifies(imap_mailbox):
    bank, _ = make_bank(Mailer(None, deliver=imap_mailbox.deliver))
    transfer = bank.transfer("Иван Петров", "+79123456789", "sberbank", Decimal("5000"), payout_id=1)
    pdf = bank.receipt_pdf(transfer)
    bank.mail_receipt(transfer, CLIENT_ADDRESS)

    with MailIntake(settings_for(imap_mailbox), dnsfunc=dnsfunc_for("sandbox")) as intake:
        [message] = intake.fetch_new(Cursor()).messages
    assert message.dkim_ok, message.dkim_reason
    [(name, data)] = message.attachments
    assert name == "Receipt.pdf" and data == pdf
    assert f"Квитанция № {transfer.receipt_number}" in pdf_text(data)
