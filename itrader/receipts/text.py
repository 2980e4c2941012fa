"""The text of a receipt as the extractor hands it to the parser: plain data, no I/O.

Both `extract` (which reads files: PDFium, Tesseract, temp files) and `parse` (pure) import it,
so the parser and the verifier never pull in the extractor's I/O.
"""
from __future__ import annotations

from dataclasses import dataclass

SOURCE_PDF_TEXT = "pdf_text"
SOURCE_OCR = "ocr"


@dataclass(frozen=True)
class ExtractedText:
    """The text of a receipt, one visual line per text line; `source` is pdf_text or ocr."""

    text: str
    source: str
    sha256: str

    def __repr__(self) -> str:  # the text holds personal data: keep it out of logs
        return f"ExtractedText(source={self.source!r}, chars={len(self.text)}, sha256={self.sha256[:12]}…)"
