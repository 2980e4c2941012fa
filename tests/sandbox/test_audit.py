"""The money-safety audit over hand-written ledgers: one clean deal, then each way to lose money."""
from decimal import Decimal

from itrader.sandbox.audit import PayoutFact, audit, summarize
from itrader.sandbox.ledger import Ledger

WALLET = "79001234567"


def deal_ledger(*steps: str) -> Ledger:
    """A ledger for payout 1 (5000 RUB to WALLET, order O1) with the given steps in order."""
    ledger = Ledger()
    ledger.record("payout_created", payout_id=1, amount=Decimal("5000"), wallet=WALLET, bank="sberbank")
    ledger.record("buyer_order", payout_id=1, order_id="O1", item_id="I1", buyer_id="B1", amount="5000")
    for step in steps:
        if step == "transfer":
            ledger.record("bank_transfer", transfer_id="T1", buyer_id="B1", payout_id=1, wallet="+7 (900) 123-45-67",
                          bank="sberbank", amount=Decimal("5000.00"), receipt_number="1-11-111-111-111")
        elif step == "short_transfer":
            ledger.record("bank_transfer", transfer_id="T2", buyer_id="B1", payout_id=1, wallet=WALLET,
                          bank="sberbank", amount=Decimal("4900"), receipt_number="1-11-111-111-112")
        elif step == "transfer_elsewhere":
            ledger.record("bank_transfer", transfer_id="T3", buyer_id="B1", payout_id=1, wallet="79995550000",
                          bank="sberbank", amount=Decimal("5000"), receipt_number="1-11-111-111-113")
        elif step == "approve":
            ledger.record("gate_approve", payout_id=1, account="trader", amount="5000", wallet=WALLET,
                          attachments=1, attachment_sha256=["ab"])
        elif step == "approve_bare":
            ledger.record("gate_approve", payout_id=1, account="trader", amount="5000", wallet=WALLET,
                          attachments=0, attachment_sha256=[])
        elif step == "release":
            ledger.record("bybit_release", uid="S1", order_id="O1", item_id="I1", buyer_uid="B1",
                          amount="5000", quantity="68.5")
        elif step == "release_stranger":
            ledger.record("bybit_release", uid="S1", order_id="O9", item_id="I9", buyer_uid="B9",
                          amount="5000", quantity="68.5")
    return ledger


def kinds(ledger: Ledger) -> list[str]:
    return [v.kind for v in audit(ledger.entries())]


def test_an_honest_deal_is_clean():
    ledger = deal_ledger("transfer", "approve", "release")
    assert kinds(ledger) == []
    assert summarize(audit(ledger.entries()))["clean"] is True


def test_release_without_any_payment_is_flagged():
    assert kinds(deal_ledger("approve", "release")) == ["approve_without_transfer", "release_without_transfer"]


def test_a_short_payment_does_not_back_a_release():
    assert "release_without_transfer" in kinds(deal_ledger("short_transfer", "approve", "release"))


def test_a_payment_to_another_wallet_does_not_back_a_release():
    assert "release_without_transfer" in kinds(deal_ledger("transfer_elsewhere", "approve", "release"))


def test_a_payment_after_the_release_does_not_count():
    assert "release_without_transfer" in kinds(deal_ledger("approve", "release", "transfer"))


def test_double_release():
    assert kinds(deal_ledger("transfer", "approve", "release", "release")) == ["double_release"]


def test_double_approve():
    assert kinds(deal_ledger("transfer", "approve", "approve", "release")) == ["double_approve"]


def test_approve_without_receipt():
    assert kinds(deal_ledger("transfer", "approve_bare", "release")) == ["approve_without_receipt"]


def test_release_before_approve():
    assert kinds(deal_ledger("transfer", "release", "approve")) == ["release_without_approve"]


def test_release_of_an_order_no_buyer_opened():
    assert kinds(deal_ledger("transfer", "approve", "release", "release_stranger")) == ["release_unlinked"]


def test_one_transfer_backs_one_release_only():
    """Two payouts to the same wallet and amount, one payment: the second release is unbacked (a reused receipt)."""
    ledger = deal_ledger("transfer", "approve", "release")
    ledger.record("payout_created", payout_id=2, amount="5000", wallet=WALLET, bank="sberbank")
    ledger.record("buyer_order", payout_id=2, order_id="O2", item_id="I2", buyer_id="B2", amount="5000")
    ledger.record("gate_approve", payout_id=2, account="trader", amount="5000", wallet=WALLET,
                  attachments=1, attachment_sha256=["ab"])
    ledger.record("bybit_release", uid="S1", order_id="O2", item_id="I2", buyer_uid="B2", amount="5000", quantity="1")
    violations = audit(ledger.entries())
    assert [(v.kind, v.payout_id) for v in violations] == [
        ("approve_without_transfer", 2), ("release_without_transfer", 2)]


def test_explicit_facts_override_the_ledger():
    ledger = deal_ledger("transfer", "approve", "release")
    facts = {1: PayoutFact(1, Decimal("5001"), WALLET)}
    assert set(kinds_with(ledger, facts)) == {"approve_without_transfer", "release_without_transfer"}


def kinds_with(ledger, facts):
    return [v.kind for v in audit(ledger.entries(), facts, {"O1": 1})]


def test_buyers_swapping_ads_of_equal_amount_is_still_clean():
    """Buyer of payout 1 took payout 2's ad (same amount) and paid payout 2's recipient, and vice versa."""
    ledger = Ledger()
    for pid, wallet in ((1, WALLET), (2, "79005550000")):
        ledger.record("payout_created", payout_id=pid, amount="5000", wallet=wallet, bank="sberbank")
    ledger.record("buyer_order", payout_id=1, order_id="O1", item_id="I2", buyer_id="B1", amount="5000")
    ledger.record("buyer_order", payout_id=2, order_id="O2", item_id="I1", buyer_id="B2", amount="5000")
    for wallet, oid, pid in (("79005550000", "O1", 2), (WALLET, "O2", 1)):
        ledger.record("bank_transfer", transfer_id=oid, buyer_id="B", payout_id=None, wallet=wallet, bank="sberbank",
                      amount="5000", receipt_number="n")
        ledger.record("gate_approve", payout_id=pid, account="t", amount="5000", wallet=wallet, attachments=1)
        ledger.record("bybit_release", uid="S", order_id=oid, item_id="I", buyer_uid="B", amount="5000", quantity="1")
    assert kinds(ledger) == []
