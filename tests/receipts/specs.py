"""Synthetic receipt specs covering every transfer type, with and without a fee (names are made up)."""
from datetime import datetime
from decimal import Decimal

from itrader.receipts.render import ReceiptSpec

SPECS = {
    "sbp_other_bank": ReceiptSpec(
        "phone", Decimal(12437), "Иван Петров", datetime(2025, 5, 28, 17, 3, 34), "1-24-111-222-333",
        recipient_name="Мария С.", recipient_phone="79001234567", recipient_bank="ПСБ",
        debit_account="408178101234****5678", sbp_operation_id="A51481403345670B0000000011570301"),
    "phone_tbank_client": ReceiptSpec(
        "phone", Decimal(15000), "Анна Смирнова", datetime(2025, 5, 29, 13, 17, 52), "1-24-444-555-666",
        recipient_name="Олег К.", recipient_phone="79161112233"),
    "phone_with_fee": ReceiptSpec(
        "phone", Decimal(150000), "Сергей Волков", datetime(2025, 6, 1, 9, 5, 0), "1-106-700-800-900",
        fee=Decimal(750), recipient_name="Павел Н.", recipient_phone="79035556677",
        recipient_bank="МТС-Банк", debit_account="408178109999****1111",
        sbp_operation_id="A61481403345670C0000000022670402"),
    "tbank_client_no_fee_row": ReceiptSpec(
        "tbank_client", Decimal(67200), "Иван Петров", datetime(2025, 6, 2, 18, 22, 11), "1-24-123-123-123",
        fee=None, recipient_card="*4321", recipient_name="Ольга В."),
    "tbank_client_with_fee": ReceiptSpec(
        "tbank_client", Decimal(3999), "Елена Козлова", datetime(2025, 6, 3, 0, 0, 59), "1-25-321-321-321",
        fee=Decimal(40), recipient_card="*0007", recipient_name="Глеб Ш."),
    "card_with_fee": ReceiptSpec(
        "card", Decimal(67200), "Пётр Сидоров", datetime(2025, 6, 2, 18, 28, 30), "1-106-100-200-300",
        fee=Decimal(1008), recipient_card="220070******4321"),
    "card_no_fee_row": ReceiptSpec(
        "card", Decimal(28800), "Пётр Сидоров", datetime(2025, 6, 2, 18, 26, 12), "1-106-100-200-301",
        fee=None, recipient_card="553691******9876"),
}


def expected_fields(spec: ReceiptSpec) -> dict:
    """What the parser must report for a receipt rendered from `spec` (JSON form)."""
    fee = None if spec.fee is None else str(spec.fee)
    return {
        "issuer": "T-Bank",
        "status": spec.status,
        "successful": spec.status == "Успешно",
        "operation_time": spec.operation_time.isoformat() + "+03:00",
        "transfer_type": spec.transfer_type,
        "amount": str(spec.amount),
        "total": str(spec.amount + (spec.fee or 0)),
        "fee": fee,
        "sender_name": spec.sender_name,
        "recipient_name": spec.recipient_name,
        "recipient_phone": spec.recipient_phone,
        "recipient_card": spec.recipient_card,
        "recipient_bank": spec.recipient_bank,
        "sbp_operation_id": spec.sbp_operation_id,
        "receipt_number": spec.receipt_number,
    }
