"""Payment receipts: extract (PDF text, OCR), parse (T-Bank fields), verify (rules), render (synthetic).

Kept import-free on purpose: the sandbox imports only `itrader.receipts.render`, and importing that
must not drag in the parser or the verifier (an independent twin cannot share their bugs).
"""


def read_receipt(data: bytes, *, file_name: str = ""):
    """Extract and parse one receipt file (PDF, PNG or JPEG) into a `parse.Receipt`.

    Raises `errors.ReceiptUnreadable` or `errors.ReceiptUnparseable` (both `errors.ReceiptError`).
    """
    from .extract import extract_text
    from .parse import parse_receipt

    return parse_receipt(extract_text(data, file_name=file_name))
