"""Each rule of DESIGN §5.1/§5.2 accepts the right receipt and refuses each wrong one with its code."""
import dataclasses
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from itrader.receipts import read_receipt
from itrader.receipts.render import render_pdf
from itrader.receipts.parse import parse_text
from itrader.receipts.verify import (DealFacts, PayoutTerms, bank_of_receipt_name, fits, seen_in, verify)

from .specs import SPECS

MSK = timezone(timedelta(hours=3))


def gate_payout(amount, wallet, method_id, bank_name, bank_label="", created="2025-05-28T13:55:00.000000Z"):
    """A taken (status 5) payout as Gate's JSON shows it (gate-api.md §7)."""
    return {
        "id": 2600001, "payment_method_id": method_id, "wallet": wallet, "status": 5,
        "amount": {"trader": {"643": amount, "000001": round(amount / 79.1, 2)}},
        "created_at": created, "method": {"id": method_id},
        "bank": {"id": 1, "name": bank_name, "label": bank_label},
    }


@pytest.fixture(scope="module")
def receipts():
    return {name: read_receipt(render_pdf(spec)) for name, spec in SPECS.items()}


# Each sample sender's Bybit KYC name (buyerRealName), spelled as Bybit may show it.
BUYER_OF = {
    "Иван Петров": "PETROV IVAN",
    "Анна Смирнова": "Anna Smirnova",
    "Сергей Волков": "VOLKOV SERGEY",
    "Елена Козлова": "Yelena Kozlova",
    "Пётр Сидоров": "SIDOROV PIOTR",
}


def facts_for(receipt, **changes):
    base = dict(requisites_sent_at=receipt.operation_time - timedelta(minutes=3),
                now=receipt.operation_time + timedelta(minutes=2), buyer_name=BUYER_OF[receipt.sender_name])
    base.update(changes)
    return DealFacts(**base)


SBP_PSB = gate_payout(12437, "79001234567", 5, "psbank", "ПСБ")


def test_matching_sbp_receipt_to_another_bank_is_accepted(receipts):
    receipt = receipts["sbp_other_bank"]
    verdict = verify(receipt, PayoutTerms.from_gate(SBP_PSB), facts_for(receipt))
    assert verdict.accepted and verdict.reasons == ()


@pytest.mark.parametrize("name, payout", [
    ("phone_tbank_client", gate_payout(15000, "79161112233", 5, "tinkoff", "T-Банк (Тинькофф)")),
    ("phone_with_fee", gate_payout(150000, "79035556677", 5, "mts")),
    ("tbank_client_no_fee_row", gate_payout(67200, "2200700011114321", 4, "tinkoff", "T-Банк (Тинькофф) (MIR)")),
    ("card_with_fee", gate_payout(67200, "2200701234564321", 4, "sberbank", "Сбербанк (MIR)")),
])
def test_each_transfer_type_is_accepted_for_its_payout(receipts, name, payout):
    receipt = receipts[name]
    verdict = verify(receipt, PayoutTerms.from_gate(payout), facts_for(receipt))
    assert verdict.accepted, verdict.reasons


def _refusal(receipt, payout, facts=None):
    verdict = verify(receipt, PayoutTerms.from_gate(payout), facts or facts_for(receipt))
    assert not verdict.accepted
    return verdict.codes


def test_status_other_than_success_is_refused(receipts):
    failed = dataclasses.replace(receipts["sbp_other_bank"], status="Отклонено")
    assert _refusal(failed, SBP_PSB) == ["status_not_success"]


def test_amount_must_equal_payout_amount_exactly(receipts):
    receipt = receipts["sbp_other_bank"]
    assert _refusal(receipt, {**SBP_PSB, "amount": {"trader": {"643": 12437.01}}}) == ["amount_mismatch"]
    assert _refusal(receipt, {**SBP_PSB, "amount": {"trader": {"643": 12436}}}) == ["amount_mismatch"]


def test_total_with_fee_is_not_the_amount(receipts):
    payout = gate_payout(68208, "2200701234564321", 4, "sberbank")  # Итого, not Сумма
    assert _refusal(receipts["card_with_fee"], payout) == ["amount_mismatch"]


def test_phone_must_match_the_payout_wallet(receipts):
    assert _refusal(receipts["sbp_other_bank"], {**SBP_PSB, "wallet": "79001234568"}) == ["recipient_mismatch"]
    assert verify(receipts["sbp_other_bank"], PayoutTerms.from_gate({**SBP_PSB, "wallet": "89001234567"}),
                  facts_for(receipts["sbp_other_bank"])).accepted  # only the last 10 digits count


def test_card_must_match_last_four_and_shown_first_six(receipts):
    card = receipts["card_with_fee"]
    assert _refusal(card, gate_payout(67200, "2200701234561234", 4, "sberbank")) == ["recipient_mismatch"]
    assert _refusal(card, gate_payout(67200, "4276001234564321", 4, "sberbank")) == ["recipient_mismatch"]


def test_card_receipt_for_an_sbp_payout_is_refused(receipts):
    payout = gate_payout(67200, "79001234321", 5, "sberbank")
    assert _refusal(receipts["card_with_fee"], payout) == ["method_mismatch"]


def test_bank_must_match_through_the_alias_table(receipts):
    assert _refusal(receipts["sbp_other_bank"], {**SBP_PSB, "bank": {"name": "vtb"}}) == ["bank_mismatch"]
    assert bank_of_receipt_name("МТС-Банк") == "mtsbank" and bank_of_receipt_name("Озон Банк") == "ozonbank"
    assert bank_of_receipt_name("Альфа-Банк") == "alfabank" and bank_of_receipt_name("Яндекс Банк") == "yandexbank"


def test_unknown_receipt_bank_is_refused(receipts):
    odd = dataclasses.replace(receipts["sbp_other_bank"], recipient_bank="Банк Рога и Копыта")
    assert _refusal(odd, SBP_PSB) == ["bank_mismatch"]


def test_tbank_phone_receipt_without_bank_row_needs_a_tinkoff_payout(receipts):
    receipt = receipts["phone_tbank_client"]
    payout = gate_payout(15000, "79161112233", 5, "vtb")  # like problem_receipts/2449415_vtb
    assert _refusal(receipt, payout) == ["bank_mismatch"]


def test_tbank_client_card_receipt_needs_a_tinkoff_payout(receipts):
    payout = gate_payout(67200, "2200700011114321", 4, "alfabank")
    assert _refusal(receipts["tbank_client_no_fee_row"], payout) == ["bank_mismatch"]


def test_operation_before_requisites_were_sent_is_refused(receipts):
    receipt = receipts["sbp_other_bank"]
    late = facts_for(receipt, requisites_sent_at=receipt.operation_time + timedelta(seconds=5))
    assert _refusal(receipt, SBP_PSB, late) == ["too_early"]
    utc_before = receipt.operation_time.astimezone(timezone.utc) - timedelta(seconds=1)
    assert verify(receipt, PayoutTerms.from_gate(SBP_PSB), facts_for(receipt, requisites_sent_at=utc_before)).accepted


def test_operation_in_the_future_is_refused(receipts):
    receipt = receipts["sbp_other_bank"]
    past = facts_for(receipt, now=receipt.operation_time - timedelta(hours=1),
                     requisites_sent_at=receipt.operation_time - timedelta(hours=2))
    assert _refusal(receipt, SBP_PSB, past) == ["in_future"]


def test_a_receipt_serves_one_deal_only(receipts):
    receipt = receipts["sbp_other_bank"]
    by_number = facts_for(receipt, already_seen=seen_in(receipt_numbers=[receipt.receipt_number]))
    by_file = facts_for(receipt, already_seen=seen_in(sha256s=[receipt.sha256]))
    assert _refusal(receipt, SBP_PSB, by_number) == ["duplicate_receipt"]
    assert _refusal(receipt, SBP_PSB, by_file) == ["duplicate_receipt"]


def test_reusing_a_receipt_for_a_second_deal_is_refused(receipts):
    """The first deal accepts and records it; the same file for the next deal is refused."""
    pdf = render_pdf(SPECS["sbp_other_bank"])
    used_numbers, used_files = set(), set()

    def deal(now_receipt):
        facts = facts_for(now_receipt, already_seen=lambda number, digest: number in used_numbers or digest in used_files)
        verdict = verify(now_receipt, PayoutTerms.from_gate(SBP_PSB), facts)
        if verdict.accepted:
            used_numbers.add(now_receipt.receipt_number)
            used_files.add(now_receipt.sha256)
        return verdict

    assert deal(read_receipt(pdf)).accepted
    assert deal(read_receipt(pdf)).codes == ["duplicate_receipt"]


def test_every_failed_rule_is_reported_with_human_text(receipts):
    receipt = dataclasses.replace(receipts["sbp_other_bank"], status="В обработке")
    payout = gate_payout(999, "79990000000", 5, "sberbank")
    facts = facts_for(receipt, requisites_sent_at=datetime(2030, 1, 1, tzinfo=MSK),
                      already_seen=seen_in(receipt_numbers=[receipt.receipt_number]), buyer_name="PETR SIDOROV")
    verdict = verify(receipt, PayoutTerms.from_gate(payout), facts)
    assert verdict.codes == ["status_not_success", "amount_mismatch", "recipient_mismatch",
                             "bank_mismatch", "too_early", "duplicate_receipt", "payer_mismatch"]
    assert all(reason.text for reason in verdict.reasons)


def test_payout_terms_from_gate_json():
    terms = PayoutTerms.from_gate(SBP_PSB)
    assert (terms.amount, terms.wallet, terms.method, terms.bank_slug) == (Decimal(12437), "79001234567", "sbp", "psbank")
    assert terms.created_at == datetime(2025, 5, 28, 13, 55, tzinfo=timezone.utc)
    with pytest.raises(ValueError, match="no RUB amount"):
        PayoutTerms.from_gate({**SBP_PSB, "amount": []})


# --- the payer (DESIGN §5.6) --------------------------------------------------


def test_a_receipt_paid_by_someone_else_is_refused(receipts):
    receipt = receipts["sbp_other_bank"]  # sent by «Иван Петров»
    for other in ["IVAN SIDOROV", "PETROV PAVEL", "Ivanova Petra", "Пётр Иванов"]:
        assert _refusal(receipt, SBP_PSB, facts_for(receipt, buyer_name=other)) == ["payer_mismatch"], other
    for same in ["IVAN PETROV", "Petrov Ivan", "Иван Петров", "Петров Иван Сергеевич"]:
        assert verify(receipt, PayoutTerms.from_gate(SBP_PSB), facts_for(receipt, buyer_name=same)).accepted, same


def test_an_unknown_buyer_name_is_refused_as_payer_unknown(receipts):
    receipt = receipts["sbp_other_bank"]
    for unknown in [None, "", "   ", "IVAN"]:
        verdict = verify(receipt, PayoutTerms.from_gate(SBP_PSB), facts_for(receipt, buyer_name=unknown))
        assert not verdict.accepted and verdict.codes == ["payer_unknown"], unknown
    assert DealFacts(now=receipt.operation_time).buyer_name is None  # the default accepts nothing


@pytest.mark.parametrize("sender", ["", "Иван", "И. П."])
def test_a_receipt_without_a_usable_sender_is_refused_as_payer_unknown(receipts, sender):
    receipt = dataclasses.replace(receipts["sbp_other_bank"], sender_name=sender)
    facts = facts_for(receipts["sbp_other_bank"])
    assert _refusal(receipt, SBP_PSB, facts) == ["payer_unknown"]


def test_a_receipt_text_without_a_sender_row_parses_and_is_refused():
    text = """02.06.2025  18:28:30
Итого 67 200 i
Перевод На карту
Статус Успешно
Сумма 67 200 i
Карта получателя 220070******4321
Служба поддержки fb@tbank.ru
Квитанция  № 1-106-100-200-399
"""
    receipt = parse_text(text)
    assert receipt.sender_name == ""
    payout = PayoutTerms.from_gate(gate_payout(67200, "2200701234564321", 4, "sberbank"))
    facts = DealFacts(now=receipt.operation_time + timedelta(minutes=1), buyer_name="PETR SIDOROV")
    assert verify(receipt, payout, facts).codes == ["payer_unknown"]
    assert fits(receipt, payout)


def test_fits_is_amount_and_recipient_only(receipts):
    receipt = receipts["sbp_other_bank"]
    terms = PayoutTerms.from_gate(SBP_PSB)
    assert fits(receipt, terms)
    assert fits(dataclasses.replace(receipt, status="Отклонено", sender_name=""), terms)  # not verify()
    assert fits(receipt, PayoutTerms.from_gate({**SBP_PSB, "bank": {"name": "vtb"}}))
    assert fits(receipt, PayoutTerms.from_gate({**SBP_PSB, "wallet": "89001234567"}))  # last 10 digits
    assert not fits(receipt, PayoutTerms.from_gate({**SBP_PSB, "wallet": "79001234568"}))
    assert not fits(receipt, PayoutTerms.from_gate({**SBP_PSB, "amount": {"trader": {"643": 12438}}}))
    card = receipts["card_with_fee"]  # 220070******4321
    assert not fits(card, PayoutTerms.from_gate(gate_payout(67200, "79001234321", 5, "sberbank")))
    assert fits(card, PayoutTerms.from_gate(gate_payout(67200, "2200701234564321", 4, "sberbank")))
    assert not fits(card, PayoutTerms.from_gate(gate_payout(67200, "4276001234564321", 4, "sberbank")))
    assert not fits(card, PayoutTerms.from_gate(gate_payout(68208, "2200701234564321", 4, "sberbank")))
