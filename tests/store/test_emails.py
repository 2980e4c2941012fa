from __future__ import annotations


def test_an_email_is_processed_once_per_mailbox_and_uidvalidity(store):
    emails = store.emails
    assert not emails.is_email_processed("receipts@bank", 1700000000, 42)
    assert emails.mark_email_processed("receipts@bank", 1700000000, 42, message_id="<a@tbank.ru>",
                                       outcome="receipt matched deal 7") is True
    assert emails.is_email_processed("receipts@bank", 1700000000, 42)
    assert emails.mark_email_processed("receipts@bank", 1700000000, 42, message_id="<a@tbank.ru>",
                                       outcome="again") is False
    assert emails.email_outcome("receipts@bank", 1700000000, 42) == "receipt matched deal 7"

    # the same UID in another mailbox, or after the server renumbered the folder, is a different message
    assert not emails.is_email_processed("other@bank", 1700000000, 42)
    assert not emails.is_email_processed("receipts@bank", 1800000000, 42)
    assert emails.mark_email_processed("receipts@bank", 1800000000, 42, message_id=None, outcome="no pdf")


def test_large_imap_numbers_fit(store):
    assert store.emails.mark_email_processed("m", 4_294_967_295, 4_294_967_295, message_id=None, outcome="ok")
    assert store.emails.is_email_processed("m", 4_294_967_295, 4_294_967_295)
