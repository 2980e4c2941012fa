"""The receipt desk's pure decisions: which deals a receipt may be for, what their payouts require,
what an operator is shown, and how a received file is named (DESIGN §5 invariants 1, 2, 6).

The desk (actors/receipt_desk.py) reads the file, asks these, verifies each candidate
(receipts.verify) and binds (receipts.binding); nothing here does I/O.
"""
from __future__ import annotations

from typing import Any, Iterable, Protocol

from ..recipients import paid_to
from .parse import Receipt
from .verify import PayoutTerms, Verdict

_MAGIC_EXTENSIONS = ((b"%PDF-", "pdf"), (b"\x89PNG\r\n\x1a\n", "png"), (b"\xff\xd8\xff", "jpg"))


class DealRow(Protocol):
    """What the desk reads of a stored deal (itrader.store.Deal)."""

    id: int
    amount_rub: Any
    wallet: str | None
    method: str | None
    bank: str | None
    created_at: Any
    payout_id: Any


def file_extension(content: bytes) -> str:
    """By content, never by the sender's file name (which may say anything)."""
    head = content[:1024]
    for magic, extension in _MAGIC_EXTENSIONS:
        if head.startswith(magic) or (extension == "pdf" and magic in head):
            return extension
    return "bin"


def paid_to_wallet(receipt: Receipt, wallet: str | None) -> bool:
    """The receipt's recipient is this wallet (itrader.recipients: phone by its last 10 digits, card by
    its last 4 and the printed head)."""
    return paid_to(receipt.recipient_phone, receipt.recipient_card, wallet)


def candidate_deals(receipt: Receipt, deals: Iterable[DealRow]) -> list:
    """Deals this receipt may be for: same amount or same recipient, oldest first."""
    return sorted((deal for deal in deals
                   if deal.amount_rub == receipt.amount or paid_to_wallet(receipt, deal.wallet)),
                  key=lambda deal: deal.id)


def payout_terms(deal: DealRow) -> PayoutTerms:
    """What the deal's payout requires, from the deal row (amount, wallet, method, bank)."""
    return PayoutTerms(
        amount=deal.amount_rub,
        wallet=deal.wallet or "",
        method=deal.method or "",
        bank_slug=deal.bank,
        created_at=deal.created_at,
        payout_id=int(deal.payout_id) if str(deal.payout_id).isdigit() else None,
    )


def summary_of(receipt: Receipt, document: Any, verdict: Verdict | None = None) -> dict[str, Any]:
    """What an operator needs to see about the receipt, without names, phones or cards.
    `document` is the ReceiptDocument message the file came in (its filename and source id)."""
    return {
        "receipt_number": receipt.receipt_number,
        "amount": str(receipt.amount),
        "status": receipt.status,
        "operation_time": receipt.operation_time.isoformat(),
        "transfer_type": receipt.transfer_type.value,
        "sha256": receipt.sha256,
        "source": receipt.source,
        "filename": document.filename,
        "source_id": document.source_id,
        "problems": [reason.text for reason in verdict.reasons] if verdict else [],
    }
