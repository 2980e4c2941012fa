"""One scenario per sandbox buyer persona: each ends in its documented state, and the sandbox's
audit of every money movement is clean afterwards (DESIGN §5)."""
from decimal import Decimal

import pytest

from tests.pipeline.harness import TERMINAL

# persona -> (end state, a word the recorded reason must contain, released?)
EXPECTED = {
    "honest": ("COMPLETED", None, True),
    "gibberish-then-yes": ("COMPLETED", None, True),
    "refuser": ("REJECTED_BUYER", "", False),
    "silent": ("MANUAL_REVIEW", "answer", False),
    "wrong-amount": ("MANUAL_REVIEW", "amount", False),
    "wrong-recipient": ("MANUAL_REVIEW", "recipient", False),
    "forged-email": ("MANUAL_REVIEW", "untrusted", False),
    "paid-but-not-marked": ("MANUAL_REVIEW", "", False),
    "appeal": ("DISPUTE", "", False),
    "prompt-injector": ("MANUAL_REVIEW", "", False),
}


def released_orders(world) -> list:
    return world.ledger.entries("bybit_release")


@pytest.mark.parametrize("persona", sorted(EXPECTED))
def test_persona_ends_in_its_documented_state(world, make_daemon, persona):
    state, reason_word, released = EXPECTED[persona]
    daemon = make_daemon()
    payout = world.create_payout(Decimal("7300"), "sbp", "alfabank", persona=persona)
    row = daemon.wait_state(payout["id"], TERMINAL, timeout=120)
    assert row.state == state, f"{persona}: {row.state} ({row.reason})"
    if reason_word:
        assert reason_word in (row.reason or ""), row.reason
    assert bool(released_orders(world)) is released
    approvals = world.ledger.entries("gate_approve")
    assert bool(approvals) is released
    assert world.audit() == []


def test_reused_receipt_is_refused_for_the_second_deal(world, make_daemon):
    daemon = make_daemon()
    first = world.create_payout(Decimal("6100"), "sbp", "tinkoff", persona="honest")
    assert daemon.wait_state(first["id"], TERMINAL, timeout=120).state == "COMPLETED"
    second = world.create_payout(Decimal("6100"), "sbp", "tinkoff", persona="reused-receipt")
    row = daemon.wait_state(second["id"], TERMINAL, timeout=120)
    assert row.state == "MANUAL_REVIEW" and "duplicate" in (row.reason or ""), row.reason
    assert len(released_orders(world)) == 1
    assert world.audit() == []


def test_chat_receipt_waits_for_an_operator_then_completes(world, make_daemon):
    daemon = make_daemon()
    payout = world.create_payout(Decimal("4400"), "sbp", "sberbank", persona="chat-only-receipt")

    def waits_for_operator() -> bool:
        row = daemon.deal_for_payout(payout["id"])
        return row is not None and row.state == "RECEIPT_OK"
    daemon.wait_for(waits_for_operator, 120, "the chat receipt to be verified")
    row = daemon.deal_for_payout(payout["id"])
    assert released_orders(world) == [] and world.ledger.entries("gate_approve") == []
    assert daemon.system.confirm_deal(row.id)["confirmed"] == "accept_receipt"
    row = daemon.wait_state(payout["id"], TERMINAL, timeout=60)
    assert row.state == "COMPLETED", row.reason
    assert world.audit() == []
