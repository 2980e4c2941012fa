"""The receipt desk's pure decisions (itrader.receipts.matching)."""
from datetime import datetime, timezone
from decimal import Decimal
from types import SimpleNamespace

from itrader.receipts.matching import candidate_deals, file_extension, payout_terms, summary_of
from itrader.receipts.parse import ISSUER_TBANK, STATUS_SUCCESS, Receipt, TransferType
from itrader.receipts.verify import Reason, Verdict

RECEIPT = Receipt(
    issuer=ISSUER_TBANK, status=STATUS_SUCCESS, operation_time=datetime(2025, 6, 1, 15, tzinfo=timezone.utc),
    transfer_type=TransferType.PHONE, amount=Decimal("5000"), total=Decimal("5000"), fee=None,
    sender_name="Иван Петров", recipient_name="Пётр С.", recipient_phone="79001234567", recipient_card=None,
    recipient_bank=None, sbp_operation_id=None, receipt_number="1-2-3", sha256="ab" * 32, source="pdf-text")


def deal(deal_id, amount="5000", wallet="79001234567", payout_id="42"):
    return SimpleNamespace(id=deal_id, amount_rub=Decimal(amount), wallet=wallet, method="sbp", bank="tinkoff",
                           created_at=None, payout_id=payout_id)


def test_a_file_is_named_by_its_content():
    assert file_extension(b"%PDF-1.7 ...") == "pdf"
    assert file_extension(b"junk before %PDF-1.4") == "pdf"
    assert file_extension(b"\x89PNG\r\n\x1a\n....") == "png"
    assert file_extension(b"\xff\xd8\xff\xe0") == "jpg"
    assert file_extension(b"MZ\x90\x00") == "bin"


def test_candidates_share_the_amount_or_the_recipient_oldest_first():
    deals = [deal(3, amount="7000"), deal(1), deal(2, wallet="79990000000"), deal(4, "7000", "79990000000")]
    assert [d.id for d in candidate_deals(RECEIPT, deals)] == [1, 2, 3]


def test_payout_terms_and_summary():
    terms = payout_terms(deal(1, payout_id="p-1"))
    assert (terms.amount, terms.wallet, terms.method, terms.bank_slug, terms.payout_id) == (
        Decimal("5000"), "79001234567", "sbp", "tinkoff", None)
    assert payout_terms(deal(1)).payout_id == 42
    document = SimpleNamespace(filename="r.pdf", source_id="<m1>")
    summary = summary_of(RECEIPT, document, Verdict(False, (Reason("x", "why"),)))
    assert summary["amount"] == "5000" and summary["problems"] == ["why"] and summary["source_id"] == "<m1>"
    assert "79001234567" not in str(summary)  # no phones in what an operator's page shows
