"""The renderer draws receipts whose text layer reads like the real T-Bank ones (receipts.md §2, §4)."""
import subprocess
import sys
from datetime import datetime
from decimal import Decimal

from itrader.receipts.render import Degrade, ReceiptSpec, render_jpeg, render_pdf, render_png


def _layout_text(pdf: bytes, tmp_path) -> str:
    path = tmp_path / "receipt.pdf"
    path.write_bytes(pdf)
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True,
                          capture_output=True, text=True).stdout


def test_card_receipt_with_fee_reads_like_the_real_one(tmp_path):
    spec = ReceiptSpec("card", Decimal(67200), "Пётр Сидоров", datetime(2025, 6, 2, 18, 28, 30),
                       "1-106-100-200-300", fee=Decimal(1008), recipient_card="220070******4321")
    text = _layout_text(render_pdf(spec), tmp_path)
    lines = [" ".join(line.split()) for line in text.splitlines() if line.strip()]
    assert lines[:3] == ["02.06.2025 18:28:30", "Итого 68 208 i", "Перевод На карту"]
    assert "Сумма 67 200 i" in lines and "Комиссия 1 008 i" in lines
    assert "Карта получателя 220070******4321" in lines
    assert "Квитанция № 1-106-100-200-300" in lines and "Служба поддержки fb@tbank.ru" in lines
    assert "Получатель" not in text and "Банк получателя" not in text


def test_sbp_receipt_wraps_the_operation_id_like_the_real_one(tmp_path):
    spec = ReceiptSpec("phone", Decimal(12437), "Иван Петров", datetime(2025, 5, 28, 17, 3, 34),
                       "1-24-111-222-333", recipient_name="Мария С.", recipient_phone="79001234567",
                       recipient_bank="ПСБ", debit_account="408178101234****5678",
                       sbp_operation_id="A51481403345670B0000000011570301")
    lines = [" ".join(line.split()) for line in _layout_text(render_pdf(spec), tmp_path).splitlines()]
    assert "Телефон получателя +7 (900) 123-45-67" in lines
    assert "Комиссия Без комиссии" in lines and "Банк получателя ПСБ" in lines
    assert "Идентификатор операции A51481403345670B00000000115" in lines
    assert "СБП 70301" in lines


def test_images_are_png_and_jpeg_of_the_same_page():
    spec = ReceiptSpec("tbank_client", Decimal(500), "Иван Петров", datetime(2025, 6, 2, 18, 22, 11),
                       "1-24-000-000-001", fee=None, recipient_card="*1234", recipient_name="Олег К.")
    png = render_png(spec)
    degraded = render_png(spec, degrade=Degrade(rotate=2, blur=0.6, noise=8, jpeg_quality=60))
    jpeg = render_jpeg(spec)
    assert png.startswith(b"\x89PNG") and degraded.startswith(b"\x89PNG")
    assert jpeg.startswith(b"\xff\xd8\xff")


def test_the_renderer_imports_neither_parser_nor_verifier():
    """The sandbox imports only the renderer (DESIGN §1): it must not drag in our reading code."""
    probe = ("import sys, itrader.receipts.render; "
             "print(sorted(m for m in sys.modules if m.startswith('itrader.receipts.')))")
    loaded = subprocess.run([sys.executable, "-c", probe], check=True,
                            capture_output=True, text=True).stdout
    assert loaded.strip() == "['itrader.receipts.render']"
