"""Receipt e-mails from the sandbox bank, through a real Dovecot over IMAP, into our intake."""
from __future__ import annotations

import gevent
import gevent.queue
import pytest

from itrader.mail import Cursor, MailIntake, MailLoginError, MailWatcher, dnsfunc_for
from itrader.sandbox.mail import Mailer

from .conftest import CLIENT_ADDRESS, settings_for

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
BOUND = 20  # seconds: a bounded wait, far above what the wake-up takes


def test_signed_receipt_wakes_idle_and_verifies(intake: MailIntake, mailer: Mailer):
    first = intake.fetch_new(Cursor())
    assert first.messages == []
    assert intake.supports_idle

    waiter = gevent.spawn(intake.wait_for_mail)  # IDLE, renewed only after 60 s
    gevent.sleep(0)
    sent = mailer.send_receipt(CLIENT_ADDRESS, PDF, "Receipt.pdf", dkim="valid")
    assert waiter.get(timeout=BOUND) is True  # the server's EXISTS woke it, not a timeout

    result = intake.fetch_new(first.cursor)
    [message] = result.messages
    assert message.message_id == sent.message_id
    assert message.sender == "noreply@tinkoff.ru"
    assert "квитанция" in message.subject.lower()
    assert message.dkim_ok, message.dkim_reason
    assert message.attachments == (("Receipt.pdf", PDF),)
    assert message.problems == ()
    assert message.uidvalidity == result.cursor.uidvalidity and message.uid == result.cursor.last_uid


def test_mail_arriving_between_fetch_and_wait_is_not_missed(intake: MailIntake, mailer: Mailer):
    first = intake.fetch_new(Cursor())
    sent = mailer.send_receipt(CLIENT_ADDRESS, PDF)  # before we go idle: no EXISTS will come later
    assert gevent.spawn(intake.wait_for_mail).get(timeout=BOUND) is True
    assert [m.message_id for m in intake.fetch_new(first.cursor).messages] == [sent.message_id]


def test_mail_racing_with_idle_start_still_wakes_it(intake: MailIntake, mailer: Mailer):
    """Mail landing while IDLE starts: its EXISTS can come in the same packet as `+ idling`."""
    cursor = intake.fetch_new(Cursor()).cursor
    for _ in range(10):
        waiter = gevent.spawn(intake.wait_for_mail)
        gevent.sleep(0)
        sent = mailer.send_receipt(CLIENT_ADDRESS, PDF)
        assert waiter.get(timeout=BOUND) is True
        result = intake.fetch_new(cursor)
        assert [m.message_id for m in result.messages] == [sent.message_id]
        cursor = result.cursor


def test_forged_receipts_fail_verification(intake: MailIntake, mailer: Mailer, imap_mailbox):
    mailer.send_receipt(CLIENT_ADDRESS, PDF, dkim="tampered")
    mailer.send_receipt(CLIENT_ADDRESS, PDF, dkim="absent")
    mailer.send_receipt(CLIENT_ADDRESS, PDF, dkim="invalid")
    # a look-alike sender with a valid signature of its own domain's key is still not the bank
    Mailer(None, deliver=imap_mailbox.deliver, domain="tinkoff.ru.example").send_receipt(
        CLIENT_ADDRESS, PDF, from_addr="noreply@tinkoff.ru.example")

    tampered, unsigned, other_key, lookalike = intake.fetch_new().messages
    assert not tampered.dkim_ok and "changed after signing" in tampered.dkim_reason
    assert not unsigned.dkim_ok and unsigned.dkim_reason == "no DKIM signature"
    assert not other_key.dkim_ok and "does not verify" in other_key.dkim_reason
    assert not lookalike.dkim_ok and "not the bank" in lookalike.dkim_reason
    assert lookalike.attachments == ()  # not even downloaded
    # the PDFs of the bank-sender mails are still handed over: the desk shows them, never trusts them
    assert [m.attachments for m in (tampered, unsigned, other_key)] != [(), (), ()]


def test_oversized_attachment_gives_clear_error_and_message_is_kept(imap_mailbox, mailer: Mailer):
    limit = 20_000
    with MailIntake(settings_for(imap_mailbox, max_attachment_bytes=limit), dnsfunc=dnsfunc_for("sandbox")) as intake:
        mailer.send_receipt(CLIENT_ADDRESS, PDF + b"%" * 60_000, "Big.pdf")
        mailer.send_receipt(CLIENT_ADDRESS, PDF, "Small.pdf")
        big, small = intake.fetch_new().messages

    assert big.attachments == ()
    assert big.problems == (f"attachment 'Big.pdf' is {len(PDF) + 60_000} bytes, over the {limit}-byte limit; skipped",)
    assert big.dkim_ok  # the message itself is fine and gets recorded as processed
    assert small.attachment_names == ["Small.pdf"] and small.problems == ()


def test_message_over_the_size_limit_is_not_downloaded(imap_mailbox, mailer: Mailer):
    with MailIntake(settings_for(imap_mailbox, max_attachment_bytes=1_000), dnsfunc=dnsfunc_for("sandbox")) as intake:
        mailer.send_receipt(CLIENT_ADDRESS, PDF + b"%" * 1_500_000)
        [huge] = intake.fetch_new().messages
    assert huge.attachments == () and not huge.dkim_ok
    assert "over the" in huge.problems[0] and "not downloaded" in huge.problems[0]


def test_second_pass_fetches_only_new_messages(intake: MailIntake, mailer: Mailer):
    a = mailer.send_receipt(CLIENT_ADDRESS, PDF)
    b = mailer.send_receipt(CLIENT_ADDRESS, PDF)
    first = intake.fetch_new(Cursor())
    assert [m.message_id for m in first.messages] == [a.message_id, b.message_id]

    c = mailer.send_receipt(CLIENT_ADDRESS, PDF)
    second = intake.fetch_new(first.cursor)
    assert [m.message_id for m in second.messages] == [c.message_id]
    assert not second.rescanned
    assert intake.fetch_new(second.cursor).messages == []


def test_uidvalidity_change_rescans_and_skips_processed(imap_mailbox, mailer: Mailer):
    settings = settings_for(imap_mailbox)
    processed: set[str] = set()
    old = [mailer.send_receipt(CLIENT_ADDRESS, PDF) for _ in range(2)]
    with MailIntake(settings, dnsfunc=dnsfunc_for("sandbox")) as intake:
        first = intake.fetch_new(Cursor())
    processed.update(m.message_id for m in first.messages)
    assert processed == {m.message_id for m in old}

    imap_mailbox.reset_uidvalidity(first.cursor.uidvalidity + 1000)  # e.g. the mailbox was restored
    new = mailer.send_receipt(CLIENT_ADDRESS, PDF)
    with MailIntake(settings, dnsfunc=dnsfunc_for("sandbox")) as intake:
        second = intake.fetch_new(first.cursor, already_processed=processed.__contains__)

    assert second.rescanned
    assert second.cursor.uidvalidity == first.cursor.uidvalidity + 1000
    # UIDs restarted at 1, so the old cursor would have hidden everything; the rescan found the new one
    assert [m.message_id for m in second.messages] == [new.message_id]
    assert second.messages[0].dkim_ok


def test_watcher_hands_over_new_mail_via_idle(imap_mailbox, mailer: Mailer):
    received = gevent.queue.Queue()
    intake = MailIntake(settings_for(imap_mailbox), dnsfunc=dnsfunc_for("sandbox"))
    watcher = MailWatcher(intake, received.put).start()
    try:
        sent = mailer.send_receipt(CLIENT_ADDRESS, PDF)
        message = received.get(timeout=BOUND)
        assert message.message_id == sent.message_id and message.dkim_ok
        later = mailer.send_receipt(CLIENT_ADDRESS, PDF)
        assert received.get(timeout=BOUND).message_id == later.message_id
    finally:
        watcher.stop()


def test_polling_fallback_without_idle(imap_mailbox, mailer: Mailer):
    received = gevent.queue.Queue()
    intake = MailIntake(settings_for(imap_mailbox, use_idle=False, poll_interval=0.2),
                        dnsfunc=dnsfunc_for("sandbox"))
    watcher = MailWatcher(intake, received.put).start()
    try:
        sent = mailer.send_receipt(CLIENT_ADDRESS, PDF)
        assert received.get(timeout=BOUND).message_id == sent.message_id
    finally:
        watcher.stop()


def test_wrong_password_is_a_login_error_without_the_password(imap_mailbox):
    intake = MailIntake(settings_for(imap_mailbox, password="not-the-password"))
    with pytest.raises(MailLoginError) as caught:
        intake.connect()
    assert "login refused" in str(caught.value)
    assert "not-the-password" not in str(caught.value) and "not-the-password" not in repr(intake.settings)
