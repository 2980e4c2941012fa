"""Who may send a receipt: the bank's sender with a DKIM signature of the bank's own domain."""
from __future__ import annotations

import pytest

from itrader.config import EmailConfig
from itrader.mail import Cursor, cursor_from_processed, dnsfunc_for, intake_from_config, static_dnsfunc, verify_bank_mail
from itrader.mail.message import pdf_attachments
from itrader.sandbox.mail import (BANK_PRIVATE_KEY_PEM, build_receipt_message, dns_txt_records,
                                  impostor_private_key, public_key_txt, sign_message)

PDF = b"%PDF-1.4\n%%EOF\n"
SANDBOX_KEYS = dnsfunc_for("sandbox")


def message(from_addr: str = "noreply@tinkoff.ru", pdf: bytes = PDF, filename: str = "Receipt.pdf") -> bytes:
    from datetime import datetime, timezone

    return build_receipt_message("desk@example.org", pdf, filename, from_addr, datetime(2025, 5, 29, tzinfo=timezone.utc))


def test_bank_signed_mail_verifies_for_both_bank_domains():
    for domain in ("tinkoff.ru", "tbank.ru"):
        verdict = verify_bank_mail(sign_message(message(f"noreply@{domain}"), BANK_PRIVATE_KEY_PEM, "sandbox", domain),
                                   SANDBOX_KEYS)
        assert verdict.ok and verdict.domain == domain and verdict.sender == f"noreply@{domain}"


def test_valid_signature_of_another_domain_does_not_make_it_the_bank():
    other_key = impostor_private_key()
    keys = static_dnsfunc({**dns_txt_records(), "s1._domainkey.evil.example.": public_key_txt(other_key)})
    raw = sign_message(message(), other_key, "s1", "evil.example")  # verifies, but for evil.example
    verdict = verify_bank_mail(raw, keys)
    assert not verdict.ok and "not the sender's domain" in verdict.reason


def test_signature_limited_to_part_of_the_body_is_refused():
    import dkim

    raw = message()
    signature = dkim.sign(raw, b"sandbox", b"tinkoff.ru", BANK_PRIVATE_KEY_PEM, length=True)
    verdict = verify_bank_mail(signature + raw + b"appended by a forger\r\n", SANDBOX_KEYS)
    assert not verdict.ok and "l= tag" in verdict.reason


def test_two_from_headers_are_refused():
    raw = sign_message(message(), BANK_PRIVATE_KEY_PEM, "sandbox", "tinkoff.ru")
    verdict = verify_bank_mail(b"From: noreply@tinkoff.ru\r\n" + raw, SANDBOX_KEYS)
    assert not verdict.ok and "2 From headers" in verdict.reason


def test_garbage_is_not_ok_and_does_not_raise():
    for raw in (b"", b"\x00\xff" * 100, b"From: noreply@tinkoff.ru\r\nDKIM-Signature: v=1; d=tinkoff.ru; x\r\n\r\n"):
        assert not verify_bank_mail(raw, SANDBOX_KEYS).ok


def test_pdf_attachments_by_name_or_type_with_safe_names():
    raw = message(filename="../../etc/Receipt.PDF")
    attachments, problems = pdf_attachments(raw, 1000)
    assert attachments == [("Receipt.PDF", PDF)] and problems == []


def test_cursor_follows_the_latest_uidvalidity():
    assert cursor_from_processed([]) == Cursor()
    assert cursor_from_processed([(5, 1), (5, 9), (7, 2), (7, 3)]) == Cursor(7, 3)


def test_intake_from_config_uses_the_configured_key_source():
    config = EmailConfig(imap_host="127.0.0.1", imap_port=1143, imap_ssl=False, address="a@b", password="secret",
                         dkim_key_source="sandbox")
    intake = intake_from_config(config)
    assert intake.settings.username == "a@b" and "secret" not in repr(intake) + repr(intake.settings)
    with pytest.raises(ValueError):
        dnsfunc_for("ldap")
