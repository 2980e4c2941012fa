"""The money-safety audit over hand-written ledgers: one clean deal, then each way to lose money."""
from decimal import Decimal

import pytest

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
        ledger.record("bank_transfer", transfer_id=oid, buyer_id="B" + oid[1:], payout_id=None, order_id=oid,
                      payer_name=None, wallet=wallet, bank="sberbank", amount="5000", receipt_number="n")
        ledger.record("gate_approve", payout_id=pid, account="t", amount="5000", wallet=wallet, attachments=1)
        ledger.record("bybit_release", uid="S", order_id=oid, item_id="I", buyer_uid="B", amount="5000", quantity="1")
    assert kinds(ledger) == []


# --- who paid ---------------------------------------------------------------------------------------

OTHER = "79005550000"


def payers_ledger() -> Ledger:
    """Payout 1 (5000 RUB to WALLET): order O1 by buyer B1 (Иван Смирнов), order O2 by buyer B2 (Анна Попова)."""
    ledger = Ledger()
    ledger.record("payout_created", payout_id=1, amount=Decimal("5000"), wallet=WALLET, bank="sberbank")
    for oid, bid, name in (("O1", "B1", "Иван Смирнов"), ("O2", "B2", "Анна Попова")):
        ledger.record("buyer_order", payout_id=1, order_id=oid, item_id="I" + oid, buyer_id=bid, amount="5000",
                      real_name=name.upper(), payer_name=name)
    return ledger


def pay(ledger: Ledger, order_id, buyer_id, payer_name, wallet=WALLET, amount="5000") -> None:
    ledger.record("bank_transfer", transfer_id=order_id, buyer_id=buyer_id, payout_id=1, order_id=order_id,
                  payer_name=payer_name, wallet=wallet, bank="sberbank", amount=amount, receipt_number="n")


def approve(ledger: Ledger, pid=1) -> None:
    ledger.record("gate_approve", payout_id=pid, account="t", amount="5000", wallet=WALLET, attachments=1)


def release(ledger: Ledger, order_id, buyer_uid) -> None:
    ledger.record("bybit_release", uid="S1", order_id=order_id, item_id="I" + order_id, buyer_uid=buyer_uid,
                  amount="5000", quantity="62.5")


@pytest.mark.parametrize("payer", ["Иван Смирнов", "  иван   смирнов "])  # however the bank spaces and cases it
def test_a_release_backed_by_its_own_buyers_payment_is_clean(payer):
    ledger = payers_ledger()
    pay(ledger, "O1", "B1", payer)
    approve(ledger)
    release(ledger, "O1", "B1")
    assert kinds(ledger) == []


def test_releasing_the_order_of_a_buyer_who_did_not_pay_is_flagged():
    """B1 paid the recipient for O1; the seller approved and released O2, whose buyer paid nothing."""
    ledger = payers_ledger()
    pay(ledger, "O1", "B1", "Иван Смирнов")
    approve(ledger)
    release(ledger, "O2", "B2")
    violations = audit(ledger.entries())
    assert [(v.kind, v.order_id) for v in violations] == [("release_to_non_payer", "O2"), ("payer_not_served", "O1")]
    assert "Иван Смирнов" in violations[0].detail and "order O1" in violations[0].detail


def test_releasing_a_third_party_payers_order_is_flagged():
    ledger = payers_ledger()
    pay(ledger, "O1", "B1", "Пётр Сидоров")  # B1's order, paid from somebody else's account
    approve(ledger)
    release(ledger, "O1", "B1")
    violations = audit(ledger.entries())
    assert [(v.kind, v.order_id, v.payout_id) for v in violations] == [("release_to_non_payer", "O1", 1)]
    assert "Пётр Сидоров" in violations[0].detail


def test_a_third_party_payer_who_is_not_released_is_no_violation():
    ledger = payers_ledger()
    pay(ledger, "O1", "B1", "Пётр Сидоров")
    assert kinds(ledger) == []


def test_a_payer_whose_payout_was_completed_for_another_order_is_flagged():
    """Both buyers were sent to the same recipient and both paid; the payout was done once, for O2."""
    ledger = payers_ledger()
    pay(ledger, "O1", "B1", "Иван Смирнов")
    pay(ledger, "O2", "B2", "Анна Попова")
    approve(ledger)
    release(ledger, "O2", "B2")
    violations = audit(ledger.entries())
    assert [(v.kind, v.order_id, v.payout_id) for v in violations] == [("payer_not_served", "O1", 1)]
    assert "order O2 was released" in violations[0].detail


def test_a_payer_whose_deal_went_to_an_operator_is_no_violation():
    ledger = payers_ledger()
    pay(ledger, "O1", "B1", "Иван Смирнов")
    approve(ledger)  # approved, the release still waits for an operator
    assert kinds(ledger) == []


def test_paying_after_ones_own_order_was_cancelled_is_not_payer_not_served():
    ledger = payers_ledger()
    ledger.record("bybit_order_status", order_id="O1", status=40)
    pay(ledger, "O1", "B1", "Иван Смирнов")
    pay(ledger, "O2", "B2", "Анна Попова")
    approve(ledger)
    release(ledger, "O2", "B2")
    assert kinds(ledger) == []


def test_transfers_without_an_order_id_do_not_crash_the_audit():
    """Older entries had no order_id: the buyer id (when there is one) tells who paid."""
    ledger = payers_ledger()
    ledger.record("bank_transfer", transfer_id=1, buyer_id="B1", payout_id=1, wallet=WALLET, bank="sberbank",
                  amount="5000", receipt_number="n")
    approve(ledger)
    release(ledger, "O1", "B1")
    assert kinds(ledger) == []

    anonymous = payers_ledger()
    anonymous.record("bank_transfer", transfer_id=1, wallet=WALLET, bank="sberbank", amount="5000", receipt_number="n")
    approve(anonymous)
    release(anonymous, "O1", "B1")
    assert kinds(anonymous) == ["release_to_non_payer"]


def test_an_unlinked_order_in_a_transfer_is_ignored():
    ledger = payers_ledger()
    pay(ledger, "O7", "B7", "Кто-то Другой", wallet=OTHER)
    assert kinds(ledger) == []
