"""Rendered receipts of every kind read back field by field, through the PDF text layer and OCR."""
import hashlib
import os
from decimal import Decimal

import pytest

from itrader.receipts import read_receipt
from itrader.receipts.errors import ReceiptUnparseable
from itrader.receipts.parse import TransferType, parse_text, receipt_to_json
from itrader.receipts.render import Degrade, render_jpeg, render_pdf, render_png

from .specs import SPECS, expected_fields


def _fields(receipt) -> dict:
    fields = receipt_to_json(receipt)
    del fields["sha256"], fields["source"]
    return fields


@pytest.mark.parametrize("name", sorted(SPECS))
def test_text_pdf_gives_every_field(name):
    pdf = render_pdf(SPECS[name])
    receipt = read_receipt(pdf)
    assert receipt.source == "pdf_text"
    assert receipt.sha256 == hashlib.sha256(pdf).hexdigest()
    assert _fields(receipt) == expected_fields(SPECS[name])


def test_fee_is_zero_without_commission_and_none_without_the_row():
    assert read_receipt(render_pdf(SPECS["sbp_other_bank"])).fee == Decimal(0)
    assert read_receipt(render_pdf(SPECS["card_no_fee_row"])).fee is None
    card = read_receipt(render_pdf(SPECS["card_with_fee"]))
    assert (card.amount, card.fee, card.total) == (Decimal(67200), Decimal(1008), Decimal(68208))
    assert card.transfer_type is TransferType.CARD


@pytest.mark.parametrize("name", ["sbp_other_bank", "tbank_client_no_fee_row", "card_with_fee"])
def test_ocr_of_a_clean_screenshot_gives_every_field(name):
    receipt = read_receipt(render_png(SPECS[name]))
    assert receipt.source == "ocr"
    assert _fields(receipt) == expected_fields(SPECS[name])


@pytest.mark.parametrize("name, degrade", [
    ("phone_with_fee", Degrade(rotate=2.5, blur=0.7, noise=10, jpeg_quality=55)),
    ("phone_tbank_client", Degrade(rotate=-1.5, noise=14)),
])
def test_ocr_of_a_degraded_photo_gives_every_field(name, degrade):
    receipt = read_receipt(render_png(SPECS[name], degrade=degrade))
    assert receipt.source == "ocr"
    assert _fields(receipt) == expected_fields(SPECS[name])


def test_ocr_of_a_jpeg_screenshot():
    receipt = read_receipt(render_jpeg(SPECS["tbank_client_with_fee"]))
    assert _fields(receipt) == expected_fields(SPECS["tbank_client_with_fee"])


# Text shapes other extractors produce (receipts.md §4), written by hand.
PYPDF_ORDER = """02.06.2025  18:28:30
Итого 68 208 i
Перевод На карту
Статус Успешно
67 200 iСумма
Комиссия 1 008 i
Отправитель Пётр Сидоров
Карта получателя 220070******4321
Служба поддержки fb@tbank.ru
По вопросам зачисления обращайтесь к получателю
Квитанция  № 1-106-100-200-300
"""


def test_values_glued_before_labels_and_reversed_footer():
    receipt = parse_text(PYPDF_ORDER)
    assert _fields(receipt) == expected_fields(SPECS["card_with_fee"])


def test_thin_and_nonbreaking_spaces_and_ocr_ruble_sign():
    text = PYPDF_ORDER.replace("68 208 i", "68\u2009208\u00a0₽").replace("1 008 i", "1\u202f008 Р")
    assert parse_text(text).total == Decimal(68208)
    assert parse_text(text, source="ocr").fee == Decimal(1008)


def test_ruble_sign_read_as_a_digit_by_ocr_is_dropped():
    text = PYPDF_ORDER.replace("67 200 iСумма", "Сумма 67 2002").replace("68 208 i", "68 2082")
    receipt = parse_text(text, source="ocr")
    assert (receipt.amount, receipt.total) == (Decimal(67200), Decimal(68208))


@pytest.mark.parametrize("change, complaint", [
    (("fb@tbank.ru", "help@example.com"), "not a T-Bank receipt"),
    (("67 200 iСумма", "67 300 iСумма"), "misread"),
    (("Перевод На карту", "Перевод Куда-то"), "unknown transfer type"),
    (("Квитанция  № 1-106-100-200-300", "Квитанция"), "receipt number"),
    (("Карта получателя 220070******4321", ""), "Карта получателя"),
])
def test_a_text_that_is_not_a_whole_receipt_is_refused_with_a_reason(change, complaint):
    with pytest.raises(ReceiptUnparseable, match=complaint):
        parse_text(PYPDF_ORDER.replace(*change))


SAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "test_data", "receipts")


@pytest.mark.parametrize("name", ["sbp_other_bank", "phone_tbank_client", "tbank_client_no_fee_row",
                                  "card_with_fee", "card_no_fee_row"])
def test_committed_sample_pdfs_still_read(name):
    with open(f"{SAMPLES}/{name}.pdf", "rb") as handle:
        assert _fields(read_receipt(handle.read())) == expected_fields(SPECS[name])


def test_a_receipt_without_a_sender_row_parses_with_an_empty_sender():
    """The verifier, not the parser, refuses it (payer_unknown): the operator still sees the receipt."""
    receipt = parse_text(PYPDF_ORDER.replace("Отправитель Пётр Сидоров\n", ""))
    assert receipt.sender_name == "" and isinstance(receipt.sender_name, str)
    assert receipt_to_json(receipt)["sender_name"] == ""
    assert parse_text(PYPDF_ORDER).sender_name == "Пётр Сидоров"


def test_the_repr_keeps_names_and_numbers_out_of_logs():
    shown = repr(parse_text(PYPDF_ORDER))
    assert "Пётр" not in shown and "Сидоров" not in shown and "4321" not in shown


# «Без комиссии» on the OCR path (issue 12 item 13): the text path reads it as a fee of 0; so must OCR.
def test_ocr_of_a_narrow_phone_screenshot_reads_without_commission_as_a_zero_fee():
    # each value under its label: Tesseract gives «Комиссия» and «Без комиссии» as lines of their own
    spec = SPECS["sbp_other_bank"]
    receipt = read_receipt(render_png(spec, stacked=True))
    assert receipt.source == "ocr"
    assert (receipt.amount, receipt.fee, receipt.total) == (Decimal(12437), Decimal(0), Decimal(12437))
    expected = expected_fields(spec)
    got = _fields(receipt)
    for key in ("transfer_type", "status", "sender_name", "recipient_phone", "recipient_bank", "receipt_number",
                "operation_time"):
        assert got[key] == expected[key], key


@pytest.mark.parametrize("fee_row", ["Комиссия Ges комиссия", "Комиссия Ses помиссии", "Комиссия | без комиссии",
                                     "Комиссии es комиссии", "Комиссия\nБез комиссии"])
def test_tesseract_misreads_of_without_commission_are_a_zero_fee(fee_row):
    # each row as real Tesseract read a degraded render of sbp_other_bank
    text = OCR_SBP.replace("Комиссия Без комиссии", fee_row)
    receipt = parse_text(text, source="ocr")
    assert (receipt.amount, receipt.fee, receipt.total) == (Decimal(12437), Decimal(0), Decimal(12437))


def test_a_misread_without_commission_cannot_hide_a_wrong_total():
    text = OCR_SBP.replace("Комиссия Без комиссии", "Комиссия Ges комиссия").replace("Итого 12 437 Р", "Итого 13 437 Р")
    with pytest.raises(ReceiptUnparseable, match="misread"):
        parse_text(text, source="ocr")


OCR_SBP = """28.05.2025 17:03:34
Итого 12 437 Р
Перевод По номеру телефона
Статус Успешно
Сумма 12 4372
Комиссия Без комиссии
Отправитель Иван Петров
Телефон получателя +7 (900) 123-45-67
Получатель Мария С.
Банк получателя ПСБ
Квитанция № 1-24-111-222-333
Служба поддержки fb@tbank.ru
"""
