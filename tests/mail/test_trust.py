"""What the mailbox decides about one e-mail (itrader.mail.trust)."""
from itrader.mail.message import IncomingReceipt
from itrader.mail.trust import is_trusted, outcome_of, untrusted_note

BANK = "noreply@tbank.ru"


def mail(sender=BANK, dkim_ok=True, reason="", attachments=(("r.pdf", b"%PDF-"),), problems=()):
    return IncomingReceipt(message_id="<m1>", uid=1, uidvalidity=1, sender=sender, subject="Чек",
                           received_at=None, dkim_ok=dkim_ok, dkim_reason=reason, attachments=attachments,
                           problems=problems)


def test_only_the_banks_sender_with_a_verified_signature_is_trusted():
    assert is_trusted(mail(), frozenset({BANK}))
    assert not is_trusted(mail(dkim_ok=False), frozenset({BANK}))
    assert not is_trusted(mail(sender="bank@evil.example"), frozenset({BANK}))
    assert untrusted_note(mail(), True) == ""
    assert untrusted_note(mail(reason="bad signature"), False) == "untrusted e-mail: bad signature"


def test_what_became_of_a_message():
    assert outcome_of(mail(), True) == "1 file(s) to the desk, trusted"
    assert outcome_of(mail(reason="no signature"), False) == "1 file(s) to the desk, untrusted (no signature)"
    assert outcome_of(mail(attachments=()), True) == "no receipt: no PDF attachment"
    assert outcome_of(mail(attachments=(), problems=("too big",)), True) == "no receipt: too big"
