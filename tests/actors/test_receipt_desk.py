"""ReceiptDesk with real rendered T-Bank receipts, the real parser and verifier, and a real SQLite store:
what each deal is told, and that a receipt serves one deal only."""
from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import gevent.queue
import pykka
import pytest

from actors.directory import Directory
from actors.messages import DealNews, ReceiptDocument
from actors.receipt_desk import ReceiptDeskActor
from itrader.deal import ReceiptChecked
from itrader.events import EventLog
from itrader.receipts.render import ReceiptSpec, render_pdf
from itrader.store import Store, migrate, open_database

BOUND = 60  # seconds: a bounded wait, far above what the check takes
NOW = datetime(2025, 6, 2, 15, 40, tzinfo=timezone.utc)  # 18:40 Moscow
REQUISITES_SENT_AT = NOW - timedelta(minutes=40)


class Probe(pykka.ThreadingActor):
    """Stands in for an actor under a directory name and keeps what it was told."""

    def __init__(self, inbox: gevent.queue.Queue) -> None:
        super().__init__()
        self.inbox = inbox

    def on_receive(self, message):
        self.inbox.put(message)


def start_probe(directory: Directory, name: str) -> gevent.queue.Queue:
    inbox: gevent.queue.Queue = gevent.queue.Queue()
    directory.register(name, Probe.start(inbox))
    return inbox


def phone_receipt(amount, phone: str, number: str, bank: str | None = "ПСБ", minute: int = 10,
                  sender: str = "Иван Петров") -> bytes:
    """A T-Bank SBP receipt paid `minute` minutes after our requisites went out."""
    when = (REQUISITES_SENT_AT + timedelta(minutes=minute)).astimezone(timezone(timedelta(hours=3)))
    return render_pdf(ReceiptSpec(
        "phone", Decimal(amount), sender, when.replace(tzinfo=None), number,
        recipient_name="Мария С.", recipient_phone=phone, recipient_bank=bank,
        sbp_operation_id="A51481403345670B0000000011570301"))


def email(content: bytes, trusted: bool = True, source_id: str = "<mail@tinkoff.ru>") -> ReceiptDocument:
    return ReceiptDocument(channel="email", trusted=trusted, filename="Receipt.pdf", content=content,
                           source_id=source_id)


@pytest.fixture
def store(tmp_path) -> Store:
    db = open_database(str(tmp_path / "itrader.sqlite3"))
    migrate(db)
    yield Store(db)
    db.close()


@pytest.fixture
def directory() -> Directory:
    return Directory()


@pytest.fixture
def events() -> EventLog:
    return EventLog()


@pytest.fixture
def desk(store, directory, events, tmp_path):
    ref = ReceiptDeskActor.start(store, directory, events, tmp_path / "receipts", clock=NOW.timestamp)
    yield ref
    ref.stop()


def deal_waiting(store: Store, directory: Directory, payout_id: int, amount, wallet: str,
                 bank: str = "psbank", state: str = "REQUISITES_SENT", buyer: str | None = "IVAN PETROV",
                 probe: bool = True):
    """A deal row waiting for a receipt; `buyer` is its order's buyerRealName (the receipts below are
    sent by «Иван Петров» unless told otherwise)."""
    deal, _ = store.deals.create_deal(payout_id, Decimal(amount), state=state, method="sbp", bank=bank,
                                      wallet=wallet, requisites_sent_at=REQUISITES_SENT_AT, buyer_name=buyer)
    return deal, (start_probe(directory, f"deal:{deal.id}") if probe else None)


def told(inbox: gevent.queue.Queue) -> DealNews:
    """The next news a deal was told: the desk's verdict, a ReceiptChecked in its envelope."""
    message = inbox.get(timeout=BOUND)
    assert isinstance(message, DealNews) and isinstance(message.event, ReceiptChecked)
    return message


def published(events: EventLog, kind: str) -> list[dict]:
    return [event for event in events.since(0) if event["type"] == kind]


def event_types(events: EventLog) -> list[str]:
    return [event["type"] for event in events.since(0)]


def test_bank_email_receipt_is_accepted_and_saved(store, directory, events, desk, tmp_path):
    deal, inbox = deal_waiting(store, directory, 1001, 12437, "79001234567")
    pdf = phone_receipt(12437, "79001234567", "1-24-111-222-333")
    assert directory.tell("desk", email(pdf))

    checked = told(inbox)
    assert checked.event.accepted and checked.event.trusted and checked.event.channel == "email"
    assert checked.deal_id == deal.id and checked.event.reasons == ()
    saved = Path(checked.receipt_path)
    assert saved.parent == tmp_path / "receipts" and saved.suffix == ".pdf"
    assert saved.read_bytes() == pdf
    assert [e["summary"]["sha256"] for e in published(events, "receipt.accepted")] == [saved.stem]
    claimed = store.receipts.find(receipt_number="1-24-111-222-333")
    assert str(claimed.id) == checked.event.receipt_id and claimed.deal_id == deal.id and claimed.source == "email"
    assert "receipt.accepted" in event_types(events)


def test_the_same_email_twice_is_accepted_again_for_its_own_deal(store, directory, desk):
    deal, inbox = deal_waiting(store, directory, 1002, 12437, "79001234567")
    pdf = phone_receipt(12437, "79001234567", "1-24-111-222-333")
    desk.tell(email(pdf))
    desk.tell(email(pdf))  # a mailbox restart may hand the same message over again
    first, second = told(inbox), told(inbox)
    assert first.event.accepted and second.event.accepted and first.event.receipt_id == second.event.receipt_id
    assert len(store.receipts.for_deal(deal.id)) == 1


def test_a_receipt_number_serves_one_deal_only(store, directory, desk):
    first_deal, first_inbox = deal_waiting(store, directory, 1003, 12437, "79001234567")
    desk.tell(email(phone_receipt(12437, "79001234567", "1-24-111-222-333")))
    assert told(first_inbox).event.accepted
    store.deals.transition(first_deal.id, "REQUISITES_SENT", "RECEIPT_OK", "receipt_ok")

    # another deal, and a receipt that fits it in every way except that its number was used already
    second_deal, second_inbox = deal_waiting(store, directory, 1004, 5000, "79005550000")
    desk.tell(email(phone_receipt(5000, "79005550000", "1-24-111-222-333")))
    refused = told(second_inbox)
    assert not refused.event.accepted and refused.event.reasons == ("duplicate_receipt",)
    assert store.receipts.for_deal(second_deal.id) == []
    assert first_inbox.empty()


def test_wrong_amount_is_refused_to_the_deal_of_that_recipient(store, directory, events, desk):
    deal, inbox = deal_waiting(store, directory, 1005, 7100, "79161112233")
    desk.tell(email(phone_receipt(7000, "79161112233", "1-24-444-555-666")))
    refused = told(inbox)
    assert not refused.event.accepted and refused.event.reasons == ("amount_mismatch",)
    assert published(events, "receipt.refused")[0]["summary"]["problems"]  # the operator sees why
    assert store.receipts.for_deal(deal.id) == []


def test_wrong_recipient_is_refused_to_the_deal_of_that_amount(store, directory, desk):
    deal, inbox = deal_waiting(store, directory, 1006, 8100, "79161114455")
    desk.tell(email(phone_receipt(8100, "79990000000", "1-24-777-888-999")))
    refused = told(inbox)
    assert not refused.event.accepted and refused.event.reasons == ("recipient_mismatch",)
    assert store.receipts.find(receipt_number="1-24-777-888-999") is None


def test_receipt_paid_before_the_requisites_or_to_another_bank_is_refused(store, directory, desk):
    deal, inbox = deal_waiting(store, directory, 1007, 9000, "79001234567", bank="sberbank")
    desk.tell(email(phone_receipt(9000, "79001234567", "1-24-101-101-101", minute=-5)))
    refused = told(inbox)
    assert not refused.event.accepted and set(refused.event.reasons) == {"too_early", "bank_mismatch"}


def test_untrusted_email_is_never_accepted_and_does_not_use_up_the_receipt(store, directory, events, desk):
    deal, inbox = deal_waiting(store, directory, 1008, 12437, "79001234567")
    pdf = phone_receipt(12437, "79001234567", "1-24-111-222-333")
    desk.tell(email(pdf, trusted=False, source_id="<forged@tinkoff.ru>"))
    refused = told(inbox)
    assert not refused.event.accepted and not refused.event.trusted and refused.event.reasons == ("untrusted_email",)
    assert store.receipts.find(receipt_number="1-24-111-222-333") is None
    assert "receipt.untrusted" in event_types(events)

    desk.tell(email(pdf))  # the bank's own, DKIM-verified mail with the same receipt still counts
    assert told(inbox).event.accepted


def test_chat_receipt_is_checked_but_never_trusted(store, directory, desk):
    deal, inbox = deal_waiting(store, directory, 1009, 15000, "79161112233", state="PAID", bank="tinkoff")
    pdf = phone_receipt(15000, "79161112233", "1-24-202-202-202", bank=None)  # T-Bank to T-Bank: no bank row
    desk.tell(ReceiptDocument(channel="chat", trusted=True, filename="photo.pdf", content=pdf,
                              source_id="chat-msg-1", deal_id=deal.id))
    checked = told(inbox)
    assert checked.event.accepted and checked.event.channel == "chat"
    assert not checked.event.trusted  # only an operator can accept a chat receipt
    assert store.receipts.find(receipt_number="1-24-202-202-202").source == "chat"


def test_receipt_fitting_no_single_deal_is_reported_unmatched(store, directory, events, desk):
    _, first = deal_waiting(store, directory, 1010, 3000, "79000000001")
    _, second = deal_waiting(store, directory, 1011, 3000, "79000000002")
    desk.tell(email(phone_receipt(3000, "79000000003", "1-24-303-303-303")))
    deal, inbox = deal_waiting(store, directory, 1012, 4000, "79000000004")
    desk.tell(email(phone_receipt(4000, "79000000004", "1-24-404-404-404")))
    assert told(inbox).event.accepted  # processed after the unmatched one
    assert first.empty() and second.empty()
    assert "receipt.unmatched" in event_types(events)


@pytest.mark.parametrize("content", [
    os.urandom(50_000),
    b"%PDF-1.7\n" + os.urandom(5_000),
    b"\x89PNG\r\n\x1a\n" + os.urandom(2_000),
    b"%PDF-1.4\n" + b"0" * (11 * 1024 * 1024),
], ids=["random", "broken-pdf", "broken-png", "huge"])
def test_hostile_file_never_crashes_the_desk(store, directory, events, desk, content):
    deal, inbox = deal_waiting(store, directory, 1013, 12437, "79001234567")
    desk.tell(email(content))
    desk.tell(ReceiptDocument(channel="chat", trusted=False, filename="../../etc/passwd", content=content,
                              source_id="chat-msg-2", deal_id=deal.id))
    refused = told(inbox)
    assert not refused.event.accepted and refused.event.reasons == ("unreadable",) and refused.receipt_path is None

    desk.tell(email(phone_receipt(12437, "79001234567", "1-24-111-222-333")))
    assert told(inbox).event.accepted  # the same desk is still alive and answering
    assert desk.is_alive()
    assert event_types(events).count("receipt.unreadable") == 2


# --- the receipt binds to the buyer who paid (DESIGN §5.6) ----------------------------------------


def test_of_two_deals_for_one_recipient_and_amount_the_payers_deal_gets_the_receipt(store, directory, desk):
    # Buyer A opened the older deal and did not pay; buyer B paid for the newer one.
    non_payer, non_payer_inbox = deal_waiting(store, directory, 2001, 5000, "79001234567", state="PAID",
                                              buyer="PETR SIDOROV")
    payer, payer_inbox = deal_waiting(store, directory, 2002, 5000, "79001234567", buyer="Петров Иван")
    desk.tell(email(phone_receipt(5000, "79001234567", "1-24-501-501-501")))
    checked = told(payer_inbox)
    assert checked.event.accepted and checked.deal_id == payer.id
    assert store.receipts.find(receipt_number="1-24-501-501-501").deal_id == payer.id
    gevent.sleep(0.3)
    assert non_payer_inbox.empty()  # nothing told to the deal whose buyer did not pay


def test_a_third_party_payment_is_refused_as_payer_mismatch(store, directory, desk):
    deal, inbox = deal_waiting(store, directory, 2003, 6400, "79001234567", buyer="PETR SIDOROV")
    desk.tell(email(phone_receipt(6400, "79001234567", "1-24-502-502-502", sender="Ольга Кузнецова")))
    refused = told(inbox)
    assert not refused.event.accepted and refused.event.reasons == ("payer_mismatch",)
    assert store.receipts.find(receipt_number="1-24-502-502-502") is None


def test_a_deal_whose_buyer_is_unknown_never_accepts_a_receipt(store, directory, desk):
    deal, inbox = deal_waiting(store, directory, 2004, 6500, "79001234567", buyer=None)
    desk.tell(email(phone_receipt(6500, "79001234567", "1-24-503-503-503")))
    refused = told(inbox)
    assert not refused.event.accepted and refused.event.reasons == ("payer_unknown",)


def test_when_two_deals_fit_in_every_way_none_is_chosen_and_both_are_flagged(store, directory, events, desk):
    first, first_inbox = deal_waiting(store, directory, 2005, 7000, "79001234567", buyer="IVAN PETROV")
    second, second_inbox = deal_waiting(store, directory, 2006, 7000, "+7 (900) 123-45-67", buyer="Иван Петров")
    desk.tell(email(phone_receipt(7000, "79001234567", "1-24-504-504-504")))
    flagged = {told(first_inbox).deal_id: None, told(second_inbox).deal_id: None}
    assert set(flagged) == {first.id, second.id}
    for inbox_message in (first_inbox, second_inbox):
        assert inbox_message.empty()
    assert store.receipts.find(receipt_number="1-24-504-504-504") is None  # bound to nobody
    ambiguous = [e for e in events.since(0) if e["type"] == "receipt.ambiguous"]
    assert sorted(e["deal_id"] for e in ambiguous) == sorted([first.id, second.id])


def test_each_flagged_deal_is_told_it_is_ambiguous(store, directory, desk):
    _, first_inbox = deal_waiting(store, directory, 2007, 7100, "79001234567")
    _, second_inbox = deal_waiting(store, directory, 2008, 7100, "79001234567")
    desk.tell(email(phone_receipt(7100, "79001234567", "1-24-505-505-505")))
    for inbox in (first_inbox, second_inbox):
        checked = told(inbox)
        assert not checked.event.accepted and checked.event.reasons[0] == "ambiguous_receipt"


# --- a receipt after a cancel is not lost -------------------------------------------------------


def test_a_bank_receipt_for_a_cancelled_deal_resumes_it_for_the_operator(store, directory, events, desk):
    deals_inbox = start_probe(directory, "deals")
    deal, _ = deal_waiting(store, directory, 2009, 8800, "79001234567", state="CANCELLED", probe=False)
    desk.tell(email(phone_receipt(8800, "79001234567", "1-24-506-506-506")))
    resume = deals_inbox.get(timeout=BOUND)
    assert resume.deal_id == deal.id
    late = resume.message
    assert isinstance(late, DealNews) and late.deal_id == deal.id
    assert late.event.late and late.event.trusted and not late.event.accepted
    assert late.event.reasons[0] == "paid_after_cancel"
    claimed = store.receipts.find(receipt_number="1-24-506-506-506")
    assert claimed.deal_id == deal.id and claimed.verdict == "late"  # it can serve no other deal now
    assert "receipt.paid_after_cancel" in event_types(events)


def test_a_running_rejected_deal_hears_of_the_late_payment_directly(store, directory, desk):
    deal, inbox = deal_waiting(store, directory, 2010, 8900, "79001234567", state="REJECTED_BUYER")
    desk.tell(email(phone_receipt(8900, "79001234567", "1-24-507-507-507")))
    late = told(inbox)
    assert late.event.late and late.event.reasons[0] == "paid_after_cancel"


def test_a_chat_receipt_never_reopens_an_ended_deal(store, directory, events, desk):
    deals_inbox = start_probe(directory, "deals")
    deal, _ = deal_waiting(store, directory, 2011, 9100, "79001234567", state="CANCELLED", probe=False)
    desk.tell(email(phone_receipt(9100, "79001234567", "1-24-508-508-508"), trusted=False))
    gevent.sleep(0.5)
    assert deals_inbox.empty()
    assert store.receipts.find(receipt_number="1-24-508-508-508") is None


def test_a_receipt_after_the_late_window_is_left_unmatched(store, directory, events, tmp_path):
    deals_inbox = start_probe(directory, "deals")
    deal_waiting(store, directory, 2012, 9200, "79001234567", state="CANCELLED", probe=False)
    # The desk's clock is two days past the deal's end; the window is one day.
    two_days_on = datetime.now(timezone.utc).timestamp() + 2 * 86400
    desk = ReceiptDeskActor.start(store, directory, events, tmp_path / "receipts", clock=lambda: two_days_on,
                                  late_window=86400)
    try:
        desk.tell(email(phone_receipt(9200, "79001234567", "1-24-509-509-509")))
        gevent.sleep(1.0)
        assert deals_inbox.empty()
        assert "receipt.unmatched" in [e["type"] for e in events.since(0)]
    finally:
        desk.stop()
