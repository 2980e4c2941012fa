"""Lenient parsing of shapes the real panel sent (reference/gate-api.md §3, §6, §7) — pure functions."""
from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import pytest

from itrader.gate.models import Amount, Me, Payout, PayoutPage

CAPTURED_LIKE = {
    "id": 2600001, "payment_method_id": 5, "wallet": "79001234567",
    "amount": {"trader": {"643": 28500, "000001": Decimal("356.65")}},
    "total": {"trader": {"643": Decimal("29127.351"), "000001": Decimal("364.5")}},
    "status": 6, "approved_at": "2025-05-27T11:59:45.000000Z", "expired_at": "2025-05-27T10:56:01.000000Z",
    "created_at": "2025-05-27T10:17:02.000000Z", "updated_at": "2025-05-27T11:59:45.000000Z",
    "meta": {"courses": {"trader": Decimal("79.91")}, "reason": {"trader": None, "support": None}},
    "method": {"id": 5, "type": 2, "name": 2, "label": "OUT: Система быстрых платежей (СБП)"},
    "attachments": [{"name": "Receipt", "file_name": "Receipt.pdf", "original_url": "3500001/Receipt.pdf",
                     "extension": "pdf", "size": 60507, "created_at": "2025-05-27T11:59:42.000000Z",
                     "custom_properties": {"fake": True}}],
    "bank": None,
    "trader": {"id": 1001, "name": "trader_demo"},
}


def test_captured_approve_shape():
    payout = Payout.parse(CAPTURED_LIKE)
    assert payout.amount == Amount(Decimal(28500), Decimal("356.65"))
    assert payout.total.rub == Decimal("29127.351")
    assert payout.bank is None and payout.method == "sbp"
    assert payout.approved_at == datetime(2025, 5, 27, 11, 59, 45, tzinfo=timezone.utc)
    assert payout.attachments[0].fake is True and payout.attachments[0].size == 60507
    assert payout.course == Decimal("79.91")


@pytest.mark.parametrize("amount", [[], None, {}, {"trader": []}, "", {"trader": {"643": None}}])
def test_hidden_or_missing_amounts_are_hidden_not_errors(amount):
    payout = Payout.parse(dict(CAPTURED_LIKE, amount=amount, total=amount))
    assert payout.amount.hidden and payout.total.hidden


def test_numeric_bank_code_and_strings_where_numbers_were_expected():
    payout = Payout.parse(dict(
        CAPTURED_LIKE, id="2600002", status="5",
        bank={"id": 99, "name": "cbr", "code": 0, "label": " (MIR)"},
        amount={"trader": {"643": "7000", "000001": "87.68"}},
        approved_at="not a date", attachments=None, method=None, meta=[], trader=None,
    ))
    assert payout.id == 2600002 and payout.status == 5
    assert payout.bank.code == "0" and payout.bank.label == "(MIR)"
    assert payout.amount.rub == Decimal(7000)
    assert payout.approved_at is None and payout.attachments == () and payout.trader_id is None


def test_payout_without_id_is_refused():
    with pytest.raises(ValueError):
        Payout.parse({"status": 4})


def test_me_with_string_balances_and_either_currency_code():
    me = Me.parse({"user": {"id": 1001, "name": "t", "login": None, "wallets": [
        {"balance": "12.50", "currency": {"code": "usdt"}},
        {"balance": "10000000.00", "currency": {"iso_code": "643", "code": "RUB"}},
    ]}})
    assert me.rub_balance == Decimal("10000000.00") and me.login == ""
    assert Me.parse({"user": {"wallets": [{"balance": 5, "currency": {"code": "643"}}]}}).rub_balance == 5


def test_flat_laravel_paginator_and_bare_lists():
    flat = PayoutPage.parse({"payouts": {"current_page": 2, "last_page": 4, "per_page": 30, "total": 100,
                                         "data": [CAPTURED_LIKE]}}, requested_page=2)
    assert (flat.current_page, flat.last_page, flat.has_next) == (2, 4, True)
    bare = PayoutPage.parse({"payouts": [CAPTURED_LIKE]}, requested_page=1)
    assert len(bare.payouts) == 1 and not bare.has_next
