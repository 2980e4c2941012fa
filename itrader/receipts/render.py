"""Synthetic T-Bank receipts in the layout of the real ones (reference/receipts.md §2), as PDF and PNG.

Used by the sandbox bank and by tests. Deliberately independent of the parser and the verifier: this
module spells out labels and formats itself, so a parser bug cannot hide behind a shared constant.

Like the real files, the ruble sign is *drawn* while the text layer carries the Latin letter `i`
(the real receipts' ruble font maps its glyph to `i`), and the content stream writes some values
before their labels and the footer bottom-up, as real receipts do for some extractors.
"""
from __future__ import annotations

import io
from math import cos, radians, sin
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Optional

MOSCOW = timezone(timedelta(hours=3), "MSK")
FONT_DIR = "/usr/share/fonts/truetype/dejavu/"
FONT_FILE = "DejaVuSansCondensed.ttf"
BOLD_FONT_FILE = "DejaVuSansCondensed-Bold.ttf"

TRANSFER_TITLES = {
    "phone": "По номеру телефона",
    "tbank_client": "Клиенту Т-Банка",
    "card": "На карту",
}

PAGE_WIDTH = 270.0
LEFT = 20.0
RIGHT = 250.0
ROW_STEP = 22.0
WRAP_STEP = 11.0
ROW_SIZE = 8.5
GREY = (146, 153, 162)
BLACK = (51, 51, 51)
YELLOW = (255, 221, 45)
STAMP_BLUE = (60, 90, 190)


@dataclass
class ReceiptSpec:
    """What a receipt says. `fee` None = no fee row; 0 = «Без комиссии». Total = amount + fee.

    `recipient_phone` may be digits ("79001234567") or already formatted; `recipient_card` is printed
    as given ("*1234" for T-Bank clients, "220070******1234" for other banks' cards).
    A naive `operation_time` is taken as Moscow time.
    """

    transfer_type: str
    amount: Decimal
    sender_name: str
    operation_time: datetime
    receipt_number: str
    fee: Optional[Decimal] = Decimal(0)
    recipient_name: Optional[str] = None
    recipient_phone: Optional[str] = None
    recipient_card: Optional[str] = None
    recipient_bank: Optional[str] = None
    sbp_operation_id: Optional[str] = None
    debit_account: Optional[str] = None
    status: str = "Успешно"

    @property
    def total(self) -> Decimal:
        return Decimal(self.amount) + Decimal(self.fee or 0)


@dataclass
class Degrade:
    """Image damage for OCR tests: rotation in degrees, Gaussian blur radius (px), noise sigma
    (grey levels), JPEG quality (None = no JPEG round trip)."""

    rotate: float = 0.0
    blur: float = 0.0
    noise: float = 0.0
    jpeg_quality: Optional[int] = None
    seed: int = 1


@dataclass
class _Row:
    label: str
    value: str
    money: bool = False
    value_first: bool = False
    wrap_value_at: Optional[int] = None
    label_lines: list[str] = field(default_factory=list)


def format_rub(amount: Decimal) -> str:
    """`12437` -> `12 437`; kopecks, when any, after a comma (`12 437,50`)."""
    amount = Decimal(amount)
    whole = int(amount)
    text = f"{whole:,}".replace(",", " ")
    cents = (amount - whole) * 100
    if cents:
        text += f",{int(cents):02d}"
    return text


def format_phone(phone: str) -> str:
    """Digits (10 or 11, leading 7/8) -> `+7 (9XX) XXX-XX-XX`; anything else is printed as given."""
    digits = "".join(ch for ch in phone if ch.isdigit())
    if len(digits) == 11 and digits[0] in "78":
        digits = digits[1:]
    if len(digits) != 10:
        return phone
    return f"+7 ({digits[:3]}) {digits[3:6]}-{digits[6:8]}-{digits[8:]}"


def _rows(spec: ReceiptSpec) -> list[_Row]:
    if spec.transfer_type not in TRANSFER_TITLES:
        raise ValueError(f"unknown transfer type {spec.transfer_type!r}")
    rows = [
        _Row("Перевод", TRANSFER_TITLES[spec.transfer_type]),
        _Row("Статус", spec.status),
        _Row("Сумма", format_rub(spec.amount), money=True, value_first=True),
    ]
    if spec.fee is not None:
        fee = Decimal(spec.fee)
        rows.append(_Row("Комиссия", format_rub(fee), money=True) if fee else _Row("Комиссия", "Без комиссии"))
    rows.append(_Row("Отправитель", spec.sender_name, value_first=spec.transfer_type == "phone"))
    if spec.transfer_type == "phone":
        if not spec.recipient_phone:
            raise ValueError("a phone transfer needs recipient_phone")
        rows.append(_Row("Телефон получателя", format_phone(spec.recipient_phone)))
        if spec.recipient_name:
            rows.append(_Row("Получатель", spec.recipient_name))
        if spec.recipient_bank:
            rows.append(_Row("Банк получателя", spec.recipient_bank))
        if spec.debit_account:
            rows.append(_Row("Счет списания", spec.debit_account))
        if spec.sbp_operation_id:
            rows.append(_Row("", spec.sbp_operation_id, wrap_value_at=27,
                             label_lines=["Идентификатор операции", "СБП"]))
    else:
        if not spec.recipient_card:
            raise ValueError("a card transfer needs recipient_card")
        rows.append(_Row("Карта получателя", spec.recipient_card))
        if spec.transfer_type == "tbank_client" and spec.recipient_name:
            rows.append(_Row("Получатель", spec.recipient_name))
    return rows


class _Page:
    """Drawing helpers over one fpdf2 page (units: pt, y grows downwards, text y = baseline)."""

    def __init__(self, height: float):
        from fpdf import FPDF

        pdf = FPDF(unit="pt", format=(PAGE_WIDTH, height))
        pdf.set_auto_page_break(False)
        pdf.set_margin(0)
        pdf.add_font("Sans", "", FONT_DIR + FONT_FILE)
        pdf.add_font("Sans", "B", FONT_DIR + BOLD_FONT_FILE)
        pdf.add_page()
        self.pdf = pdf

    def text(self, x: float, y: float, text: str, size: float, color=BLACK, bold: bool = False) -> None:
        self.pdf.set_font("Sans", "B" if bold else "", size)
        self.pdf.set_text_color(*color)
        self.pdf.text(x, y, text)

    def width(self, text: str, size: float, bold: bool = False) -> float:
        self.pdf.set_font("Sans", "B" if bold else "", size)
        return self.pdf.get_string_width(text)

    def right_text(self, y: float, text: str, size: float, money: bool = False, bold: bool = False) -> float:
        """Right-align at RIGHT; with `money`, append a drawn ruble sign. Returns the left x."""
        sign_width = 0.62 * size if money else 0.0
        body = text + " " if money else text
        x = RIGHT - sign_width - self.width(body, size, bold)
        self.text(x, y, body, size, bold=bold)
        if money:
            self.ruble_sign(RIGHT - sign_width, y, size)
        return x

    def ruble_sign(self, x: float, baseline: float, size: float) -> None:
        """Draw ₽ with strokes and put an invisible `i` under it, as the real ruble font extracts."""
        from fpdf.enums import TextMode

        pdf = self.pdf
        with pdf.local_context(text_mode=TextMode.INVISIBLE):
            self.text(x + 0.12 * size, baseline, "i", size)
        em = size
        stem = x + 0.14 * em
        top = baseline - 0.72 * em
        bowl_bottom = baseline - 0.34 * em
        radius = (bowl_bottom - top) / 2
        pdf.set_draw_color(*BLACK)
        pdf.set_line_width(0.1 * em)
        pdf.line(stem, baseline, stem, top)
        bowl_left = stem + 0.14 * em
        points = [(stem, top), (bowl_left, top)]
        for step in range(0, 13):
            angle = -90 + 15 * step
            points.append((bowl_left + radius * cos(radians(angle)), top + radius + radius * sin(radians(angle))))
        points += [(stem - 0.1 * em, bowl_bottom)]
        pdf.polyline(points)
        pdf.line(stem - 0.1 * em, baseline - 0.17 * em, stem + 0.3 * em, baseline - 0.17 * em)

    def rule(self, y: float) -> None:
        self.pdf.set_fill_color(*YELLOW)
        self.pdf.rect(LEFT, y, RIGHT - LEFT, 1.5, style="F")

    def logo(self, y: float) -> None:
        self.pdf.set_fill_color(*YELLOW)
        self.pdf.rect(LEFT, y, 26, 26, style="F", round_corners=True, corner_radius=5)
        self.pdf.set_fill_color(*BLACK)
        self.pdf.rect(LEFT + 8, y + 7, 10, 2.5, style="F")
        self.pdf.rect(LEFT + 11.75, y + 7, 2.5, 12, style="F")

    def stamp(self, y: float) -> None:
        """The bank's blue stamp and signature are an image in real receipts: vector shapes, no text."""
        pdf = self.pdf
        pdf.set_draw_color(*STAMP_BLUE)
        pdf.set_line_width(1.2)
        pdf.rect(LEFT + 10, y, 110, 36, round_corners=True, corner_radius=6)
        pdf.set_line_width(0.6)
        pdf.rect(LEFT + 15, y + 5, 100, 26, round_corners=True, corner_radius=4)
        pdf.set_draw_color(40, 40, 90)
        pdf.polyline([(LEFT + 140, y + 30), (LEFT + 150, y + 8), (LEFT + 158, y + 28),
                      (LEFT + 170, y + 10), (LEFT + 185, y + 26)])


def _fitting_size(page: _Page, label: str, value: str, money: bool) -> float:
    """Row font size: the standard one, shrunk a little when a long value would touch its label."""
    size = ROW_SIZE
    while size >= 6.0:
        label_end = LEFT + page.width(label, size)
        value_start = RIGHT - page.width(value + (" i" if money else ""), size) - (0.4 * size if money else 0)
        if value_start >= label_end + 6:
            return size
        size -= 0.25
    raise ValueError(f"value of {label!r} too long for the receipt width")


def _moscow(moment: datetime) -> datetime:
    return moment.replace(tzinfo=MOSCOW) if moment.tzinfo is None else moment.astimezone(MOSCOW)


def _render_pdf_sync(spec: ReceiptSpec, stacked: bool = False) -> bytes:
    """`stacked`: each value on the line under its label, as a phone screen too narrow for both shows them."""
    rows = _rows(spec)
    body_height = sum(ROW_STEP + (WRAP_STEP if row.wrap_value_at or stacked else 0) for row in rows)
    height = 112 + body_height + 125
    page = _Page(height)
    when = _moscow(spec.operation_time)
    page.pdf.set_creation_date(when.astimezone(timezone.utc) + timedelta(seconds=40))
    page.pdf.set_subject("/reports/IB/Receipt")
    page.pdf.set_creator("iTrader sandbox receipt renderer")

    page.logo(20)
    page.text(LEFT, 64, when.strftime("%d.%m.%Y  %H:%M:%S"), 7.5, GREY)
    page.text(LEFT, 90, "Итого", 14, bold=True)
    page.right_text(90, format_rub(spec.total), 14, money=True, bold=True)
    page.rule(100)

    y = 112 + 10
    for row in rows:
        if stacked:
            page.text(LEFT, y, row.label or " ".join(row.label_lines), ROW_SIZE, GREY)
            page.right_text(y + WRAP_STEP, row.value, ROW_SIZE, money=row.money)
            y += ROW_STEP + WRAP_STEP
            continue
        if row.wrap_value_at:
            head, tail = row.value[: row.wrap_value_at], row.value[row.wrap_value_at:]
            size = _fitting_size(page, row.label_lines[0], head, money=False)
            page.text(LEFT, y, row.label_lines[0], size, GREY)
            page.right_text(y, head, size)
            page.text(LEFT, y + WRAP_STEP, row.label_lines[1], size, GREY)
            page.right_text(y + WRAP_STEP, tail, size)
            y += ROW_STEP + WRAP_STEP
            continue
        size = _fitting_size(page, row.label, row.value, row.money)
        if row.value_first:
            page.right_text(y, row.value, size, money=row.money)
            page.text(LEFT, y, row.label, size, GREY)
        else:
            page.text(LEFT, y, row.label, size, GREY)
            page.right_text(y, row.value, size, money=row.money)
        y += ROW_STEP

    page.stamp(y + 4)
    footer_top = y + 56
    page.rule(footer_top)
    footer = [
        (f"Квитанция  № {spec.receipt_number}", BLACK),
        ("По вопросам зачисления обращайтесь к получателю", GREY),
        ("Служба поддержки fb@tbank.ru", GREY),
    ]
    for index in reversed(range(len(footer))):
        text, color = footer[index]
        page.text(LEFT, footer_top + 20 + 13 * index, text, 7.5, color)
    return bytes(page.pdf.output())


def render_pdf(spec: ReceiptSpec) -> bytes:
    """The receipt as a one-page text PDF (runs in the gevent hub's threadpool)."""
    from .offload import off_hub

    return off_hub(_render_pdf_sync, spec)


def _pdf_to_image(pdf: bytes, dpi: float):
    import pypdfium2 as pdfium

    from .offload import pdfium_lock

    with pdfium_lock:
        document = pdfium.PdfDocument(pdf)
        try:
            bitmap = document[0].render(scale=dpi / 72.0)
            return bitmap.to_pil().convert("RGB")
        finally:
            document.close()


def _degrade(image, degrade: Degrade):
    import numpy as np
    from PIL import Image, ImageFilter

    if degrade.rotate:
        image = image.rotate(degrade.rotate, resample=Image.BICUBIC, expand=True, fillcolor=(255, 255, 255))
    if degrade.blur:
        image = image.filter(ImageFilter.GaussianBlur(degrade.blur))
    if degrade.noise:
        rng = np.random.default_rng(degrade.seed)
        pixels = np.asarray(image, dtype=np.float32)
        pixels = pixels + rng.normal(0.0, degrade.noise, pixels.shape[:2])[..., None]
        image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    if degrade.jpeg_quality:
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=degrade.jpeg_quality)
        image = Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
    return image


def _render_image_sync(spec: ReceiptSpec, degrade: Optional[Degrade], dpi: float, fmt: str,
                       stacked: bool = False) -> bytes:
    image = _pdf_to_image(_render_pdf_sync(spec, stacked), dpi)
    if degrade is not None:
        image = _degrade(image, degrade)
    buffer = io.BytesIO()
    if fmt == "JPEG":
        image.save(buffer, "JPEG", quality=(degrade.jpeg_quality if degrade and degrade.jpeg_quality else 90))
    else:
        image.save(buffer, "PNG", optimize=False)
    return buffer.getvalue()


def render_png(spec: ReceiptSpec, degrade: Optional[Degrade] = None, dpi: float = 200, *,
               stacked: bool = False) -> bytes:
    """The receipt as a PNG screenshot-like image (PDF rendered at `dpi`), optionally degraded; `stacked`:
    each value under its label (a narrow phone screen)."""
    from .offload import off_hub

    return off_hub(_render_image_sync, spec, degrade, dpi, "PNG", stacked)


def render_jpeg(spec: ReceiptSpec, degrade: Optional[Degrade] = None, dpi: float = 200) -> bytes:
    """Like `render_png` but JPEG-encoded (quality from `degrade.jpeg_quality`, else 90)."""
    from .offload import off_hub

    return off_hub(_render_image_sync, spec, degrade, dpi, "JPEG")
