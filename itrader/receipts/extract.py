"""Receipt file -> text lines, label and value kept together on one line.

PDF with a text layer: PDFium text rectangles are grouped into visual lines by position and read left
to right, so the order in which the content stream writes labels and values does not matter. PDF
without text, PNG or JPEG: the page image is cleaned with OpenCV (grayscale, deskew, scale, threshold)
and read by Tesseract (`rus+eng`, `--psm 6`).

Hostile input ends in `ReceiptUnreadable` with a clear message, never a hang: size limits on the file,
the page and the image are checked before any decoding or rendering, and Tesseract has a timeout.
PDFium and OpenCV work runs in the gevent hub's threadpool; the Tesseract child process is waited on
cooperatively by gevent (gevent can only watch child processes from the hub's own thread).
"""
from __future__ import annotations

import hashlib
import io
import os
import tempfile
from typing import Optional

from .errors import ReceiptUnreadable
from .offload import off_hub, pdfium_lock
from .text import SOURCE_OCR, SOURCE_PDF_TEXT, ExtractedText  # noqa: F401  (re-exported)

MAX_FILE_BYTES = 10 * 1024 * 1024
MAX_IMAGE_PIXELS = 30_000_000
MAX_PAGES = 10
RENDER_DPI = 300
OCR_TIMEOUT_SECONDS = 60
TARGET_GLYPH_HEIGHT = 26.0

PDF_MAGIC = b"%PDF-"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC = b"\xff\xd8\xff"


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def extract_text(data: bytes, *, file_name: str = "") -> ExtractedText:
    """Read a receipt file (PDF, PNG or JPEG, recognised by content, not by name)."""
    if len(data) > MAX_FILE_BYTES:
        raise ReceiptUnreadable(f"file too large: {len(data)} bytes (limit {MAX_FILE_BYTES})")
    digest = sha256_of(data)
    if PDF_MAGIC in data[:1024]:
        text = off_hub(_pdf_text_layer, data)
        if text is not None:
            return ExtractedText(text, SOURCE_PDF_TEXT, digest)
        return ExtractedText(_ocr(off_hub(_pdf_page_for_ocr, data)), SOURCE_OCR, digest)
    if data.startswith(PNG_MAGIC) or data.startswith(JPEG_MAGIC):
        return ExtractedText(_ocr(off_hub(_image_for_ocr, data)), SOURCE_OCR, digest)
    named = f" ({os.path.basename(file_name)})" if file_name else ""
    raise ReceiptUnreadable(f"not a PDF, PNG or JPEG file{named}")


# --- PDF ------------------------------------------------------------------------------------------


def _open_pdf(data: bytes):
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    try:
        document = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as error:
        if "password" in str(error).lower():
            raise ReceiptUnreadable("encrypted PDF: receipts are never password-protected") from None
        raise ReceiptUnreadable(f"broken PDF: {error}") from None
    if pdfium_c.FPDF_GetSecurityHandlerRevision(document.raw) != -1:
        document.close()
        raise ReceiptUnreadable("encrypted PDF: receipts are never encrypted")
    pages = len(document)
    if pages == 0 or pages > MAX_PAGES:
        document.close()
        raise ReceiptUnreadable(f"PDF has {pages} pages; a receipt has one")
    return document


def _pdf_text_layer(data: bytes) -> Optional[str]:
    """Text lines of page 1, or None when the page has no usable text layer."""
    with pdfium_lock:
        document = _open_pdf(data)
        try:
            page = document[0]
            textpage = page.get_textpage()
            segments = []
            for index in range(textpage.count_rects()):
                left, bottom, right, top = textpage.get_rect(index)
                text = textpage.get_text_bounded(left, bottom, right, top)
                if text.strip():
                    segments.append((left, bottom, right, top, text))
        finally:
            document.close()
    lines = _layout_lines(segments)
    text = "\n".join(lines)
    return text if sum(ch.isalnum() for ch in text) >= 10 else None


def _layout_lines(segments: list[tuple[float, float, float, float, str]]) -> list[str]:
    """Group text rectangles into visual lines (top to bottom) and join each line left to right,
    separating columns by two spaces the way `pdftotext -layout` does."""
    rows: list[list[tuple[float, float, float, float, str]]] = []
    for segment in sorted(segments, key=lambda s: -(s[1] + s[3])):
        middle = (segment[1] + segment[3]) / 2
        if rows:
            last = rows[-1][0]
            half = (last[3] - last[1]) / 2
            if abs(middle - (last[1] + last[3]) / 2) <= max(half, 1.0):
                rows[-1].append(segment)
                continue
        rows.append([segment])
    lines = []
    for row in rows:
        row.sort(key=lambda s: s[0])
        parts = [row[0][4]]
        for previous, current in zip(row, row[1:]):
            gap = current[0] - previous[2]
            height = previous[3] - previous[1]
            parts.append(("  " if gap > height else "") + current[4])
        lines.append(" ".join("".join(parts).replace("\r", " ").replace("\n", " ").split(" ")).strip())
    return [line for line in lines if line]


def _pdf_page_for_ocr(data: bytes):
    """Render page 1 of a text-less PDF to a cleaned binary image (refusing oversized pages)."""
    import numpy as np

    with pdfium_lock:
        document = _open_pdf(data)
        try:
            page = document[0]
            width, height = page.get_size()
            pixels = (width * RENDER_DPI / 72.0) * (height * RENDER_DPI / 72.0)
            if pixels > MAX_IMAGE_PIXELS:
                raise ReceiptUnreadable(
                    f"page too large to render: {width:.0f}×{height:.0f} pt "
                    f"({pixels / 1e6:.0f} megapixels at {RENDER_DPI} dpi, limit {MAX_IMAGE_PIXELS / 1e6:.0f})")
            bitmap = page.render(scale=RENDER_DPI / 72.0, grayscale=True)
            gray = np.array(bitmap.to_numpy(), copy=True)
        finally:
            document.close()
    if gray.ndim == 3:
        gray = gray[..., 0]
    return clean_for_ocr(gray)


# --- images and OCR -------------------------------------------------------------------------------


def _image_for_ocr(data: bytes):
    import cv2
    import numpy as np
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as header:  # reads the header only
            width, height = header.size
    except Exception as error:
        raise ReceiptUnreadable(f"broken image: {error}") from None
    if width * height > MAX_IMAGE_PIXELS:
        raise ReceiptUnreadable(
            f"image too large: {width}×{height} ({width * height / 1e6:.0f} megapixels, "
            f"limit {MAX_IMAGE_PIXELS / 1e6:.0f})")
    gray = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
    if gray is None or gray.size == 0:
        raise ReceiptUnreadable("broken image: cannot decode")
    return clean_for_ocr(gray)


def clean_for_ocr(gray):
    """Grayscale page -> deskewed, scaled, binarised image ready for Tesseract (black on white).

    Raises ReceiptUnreadable when the page is blank.
    """
    import cv2
    import numpy as np

    _, binary = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    ink = binary.size - cv2.countNonZero(binary)
    if gray.std() < 2.0 or ink < 0.0005 * binary.size:
        raise ReceiptUnreadable("no text layer and nothing readable on the page")
    angle = _skew_angle(binary)
    if abs(angle) >= 0.3:
        height, width = gray.shape
        turn = cv2.getRotationMatrix2D((width / 2, height / 2), angle, 1.0)
        gray = cv2.warpAffine(gray, turn, (width, height), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=255)
    scale = _scale_for_tesseract(binary)
    if abs(scale - 1.0) > 0.15:
        interpolation = cv2.INTER_CUBIC if scale > 1 else cv2.INTER_AREA
        gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=interpolation)
    gray = cv2.GaussianBlur(gray, (3, 3), 0)
    _, binary = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return np.ascontiguousarray(binary)


def _skew_angle(binary) -> float:
    """Rotation (degrees, OpenCV sign) that makes text lines horizontal: the angle whose row
    profile of ink is the most peaked, searched in ±6° on a small copy of the page."""
    import cv2
    import numpy as np

    ink = 255 - binary
    factor = 500.0 / max(ink.shape)
    small = cv2.resize(ink, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA) if factor < 1 else ink
    height, width = small.shape
    centre = (width / 2, height / 2)

    def sharpness(angle: float) -> float:
        turned = cv2.warpAffine(small, cv2.getRotationMatrix2D(centre, angle, 1.0), (width, height))
        return float(np.var(turned.sum(axis=1, dtype=np.float64)))

    best = max(np.arange(-6.0, 6.01, 1.0), key=sharpness)
    return float(max(np.arange(best - 0.8, best + 0.81, 0.2), key=sharpness))


def _scale_for_tesseract(binary) -> float:
    """Factor that brings the typical glyph height near what Tesseract reads best (~26 px)."""
    import cv2
    import numpy as np

    count, _, stats, _ = cv2.connectedComponentsWithStats(255 - binary, connectivity=8)
    heights = stats[1:, cv2.CC_STAT_HEIGHT]
    widths = stats[1:, cv2.CC_STAT_WIDTH]
    glyphs = heights[(heights >= 4) & (heights <= 200) & (widths <= heights * 3)]
    if glyphs.size < 20:
        return 1.0
    factor = TARGET_GLYPH_HEIGHT / float(np.median(glyphs))
    limit = (MAX_IMAGE_PIXELS / binary.size) ** 0.5
    return max(0.5, min(3.0, factor, limit))


def _ocr(binary) -> str:
    """Tesseract on a cleaned image; one text line per visual line."""
    import pytesseract

    # Tesseract's OpenMP threads spin-wait; on small machines one thread per page is ~5× faster and
    # leaves the other cores to the daemon. Operators may still set their own limit.
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    path = off_hub(_write_png, binary)
    try:
        text = pytesseract.image_to_string(path, lang="rus+eng", config="--psm 6",
                                           timeout=OCR_TIMEOUT_SECONDS)
    except pytesseract.TesseractNotFoundError:
        raise ReceiptUnreadable("OCR needed but tesseract is not installed") from None
    except RuntimeError as error:
        raise ReceiptUnreadable(f"OCR failed: {error}") from None
    finally:
        os.unlink(path)
    lines = [" ".join(line.split()) for line in text.splitlines()]
    lines = [line for line in lines if line]
    if sum(ch.isalnum() for line in lines for ch in line) < 10:
        raise ReceiptUnreadable("no text layer and OCR found no text")
    return "\n".join(lines)


def _write_png(binary) -> str:
    import cv2

    handle, path = tempfile.mkstemp(prefix="itrader-ocr-", suffix=".png")
    os.close(handle)
    if not cv2.imwrite(path, binary):
        os.unlink(path)
        raise ReceiptUnreadable("cannot write the image for OCR")
    return path
