"""One honest buyer, end to end: take, ad, chat, payment, mailed receipt, approve, release."""
from decimal import Decimal


def test_honest_deal_completes_with_receipt_and_clean_audit(world, make_daemon):
    daemon = make_daemon()
    payout = world.create_payout(Decimal("5000"), "sbp", "sberbank", persona="honest")
    row = daemon.wait_state(payout["id"], {"COMPLETED", "MANUAL_REVIEW", "ERROR", "CANCELLED"}, timeout=90)
    assert row.state == "COMPLETED", row.reason
    approvals = world.ledger.entries("gate_approve")
    releases = world.ledger.entries("bybit_release")
    assert [a["payout_id"] for a in approvals] == [payout["id"]]
    assert approvals[0]["attachments"] == 1
    assert len(releases) == 1 and Decimal(releases[0]["amount"]) == Decimal("5000")
    assert world.audit() == []
    steps = [(e.kind.value if hasattr(e.kind, "value") else e.kind, e.step) for e in daemon.journal(row.id)]
    # every money step journaled as an intent before its outcome
    for step in ("take", "create_ad", "approve", "release"):
        assert steps.index(("intent", step)) < steps.index(("outcome", step)), step
