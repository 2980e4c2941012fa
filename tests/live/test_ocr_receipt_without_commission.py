"""Issue 12 item 13: a buyer posts the receipt as a screenshot of a narrow phone screen (each value under its
label) in the Bybit chat. Its fee row reads «Без комиссии»; read by real Tesseract, the receipt must still
verify (fee 0, Итого = Сумма), so that after the operator accepts the chat receipt the deal completes."""
from __future__ import annotations

import copy
from decimal import Decimal

from itrader.sandbox import personas
from tests.pipeline.harness import TERMINAL

# chat-only-receipt, with a PNG screenshot instead of the bank's PDF
SCRIPT = copy.deepcopy(personas.PERSONAS["chat-only-receipt"][:-1]) + [
    {"send_receipt": {"via": "chat", "format": "png", "layout": "narrow"}}]


def test_a_screenshot_receipt_without_commission_read_by_ocr_verifies_and_the_deal_completes(world, make_daemon):
    daemon = make_daemon()
    payout = world.create_payout(Decimal("4800"), "sbp", "sberbank", script=SCRIPT)

    def verified() -> bool:
        row = daemon.deal_for_payout(payout["id"])
        return row is not None and row.state in {"RECEIPT_OK"} | TERMINAL
    daemon.wait_for(verified, 150, "the screenshot receipt to be verified")
    row = daemon.deal_for_payout(payout["id"])
    assert row.state == "RECEIPT_OK", row.reason
    transfer = world.bank.transfers()[-1]
    assert transfer.fee == Decimal(0)  # the receipt says «Без комиссии»
    assert world.ledger.entries("bybit_release") == []  # a chat receipt waits for the operator

    assert daemon.system.confirm_deal(row.id)["confirmed"] == "accept_receipt"
    row = daemon.wait_state(payout["id"], TERMINAL, timeout=60)
    assert row.state == "COMPLETED", row.reason
    assert world.audit() == []
