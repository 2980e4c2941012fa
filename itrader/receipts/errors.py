"""Typed receipt errors: each carries one clear, human message (no personal data, no file bytes).

Bad input is permanent (itrader.errors): the deal goes to MANUAL_REVIEW, never to a retry loop.
"""
from itrader import errors as meaning



class ReceiptError(meaning.PermanentError):
    """Base of every receipt failure."""


class ReceiptUnreadable(ReceiptError):
    """The file cannot be read as a receipt: not a PDF/PNG/JPEG, broken, encrypted, too big, blank."""


class ReceiptUnparseable(ReceiptError):
    """Text was read but it is not a T-Bank receipt we understand (a required field is missing)."""
