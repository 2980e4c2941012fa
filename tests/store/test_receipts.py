from __future__ import annotations

import hashlib

import peewee
import pytest

from itrader.store import DuplicateReceipt, Store

PARSED = {"status": "Успешно", "amount": "1500.00", "receipt_number": "1-10-111-111-111"}


def _sha(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


@pytest.fixture
def two_deals(store):
    first, _ = store.deals.create_deal(100, "1500.00")
    second, _ = store.deals.create_deal(200, "1500.00")
    return first, second


def test_a_receipt_binds_to_one_deal(store, two_deals):
    first, _ = two_deals
    receipt = store.receipts.claim_receipt("1-10-111-111-111", _sha(b"pdf-1"), first.id, source="email",
                                           parsed=PARSED, verdict="verified")
    assert (receipt.deal_id, receipt.parsed, receipt.verdict) == (first.id, PARSED, "verified")
    assert store.receipts.for_deal(first.id) == [receipt]
    assert store.receipts.find(sha256=_sha(b"pdf-1").upper()) == receipt


def test_the_same_number_cannot_serve_a_second_deal(store, two_deals):
    first, second = two_deals
    store.receipts.claim_receipt("1-10-111-111-111", _sha(b"pdf-1"), first.id, source="email",
                                 parsed=PARSED, verdict="verified")
    with pytest.raises(DuplicateReceipt) as caught:  # re-rendered PDF: new bytes, same receipt number
        store.receipts.claim_receipt("1-10-111-111-111", _sha(b"pdf-1 re-rendered"), second.id, source="email",
                                     parsed=PARSED, verdict="verified")
    assert (caught.value.field, caught.value.existing_deal_id) == ("receipt_number", first.id)
    assert store.receipts.for_deal(second.id) == []


def test_the_same_file_cannot_serve_a_second_deal(store, two_deals):
    first, second = two_deals
    store.receipts.claim_receipt("1-10-111-111-111", _sha(b"pdf-1"), first.id, source="email",
                                 parsed=PARSED, verdict="verified")
    with pytest.raises(DuplicateReceipt) as caught:  # same file, number misread differently
        store.receipts.claim_receipt("1-10-111-111-999", _sha(b"pdf-1"), second.id, source="chat",
                                     parsed=PARSED, verdict="verified")
    assert (caught.value.field, caught.value.existing_deal_id) == ("sha256", first.id)


def test_reclaiming_for_the_same_deal_names_that_deal(store, two_deals):
    first, _ = two_deals
    args = ("1-10-111-111-111", _sha(b"pdf-1"), first.id)
    store.receipts.claim_receipt(*args, source="email", parsed=PARSED, verdict="verified")
    with pytest.raises(DuplicateReceipt) as caught:
        store.receipts.claim_receipt(*args, source="email", parsed=PARSED, verdict="verified")
    assert caught.value.existing_deal_id == first.id


def test_uniqueness_holds_across_separate_connections(store, two_deals, open_db):
    first, second = two_deals
    other_process = Store(open_db())
    store.receipts.claim_receipt("N-1", _sha(b"a"), first.id, source="email", parsed={}, verdict="verified")
    with pytest.raises(DuplicateReceipt):
        other_process.receipts.claim_receipt("N-1", _sha(b"b"), second.id, source="email", parsed={},
                                             verdict="verified")
    with pytest.raises(DuplicateReceipt):
        other_process.receipts.claim_receipt("N-2", _sha(b"a"), second.id, source="email", parsed={},
                                             verdict="verified")


def test_bad_claims_are_refused(store, two_deals):
    first, _ = two_deals
    with pytest.raises(ValueError, match="without a number"):
        store.receipts.claim_receipt("", _sha(b"x"), first.id, source="email", parsed={}, verdict="v")
    with pytest.raises(ValueError, match="64 hex"):
        store.receipts.claim_receipt("N", "abc", first.id, source="email", parsed={}, verdict="v")
    with pytest.raises(peewee.IntegrityError):  # unknown deal: a foreign-key error, not a duplicate
        store.receipts.claim_receipt("N", _sha(b"x"), 999_999, source="email", parsed={}, verdict="v")
