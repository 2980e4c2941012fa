"""The sandbox bank's mail: T-Bank-like receipt e-mails, DKIM-signed, delivered into a Maildir.

The bank's DKIM key pair is fixed and shipped here (a throwaway key made for the sandbox, never used
anywhere real), so a daemon in another process can verify what `itrader sandbox` signs: in the
sandbox profile its verifier looks the public key up through `dns_txt_records()` instead of DNS.

This module signs by its own code (dkimpy) and imports nothing from the daemon's mail client.
"""
from __future__ import annotations

import base64
import functools
import mailbox
import os
import threading
import time
import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, formataddr, make_msgid
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Optional

import dkim
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

BANK_DOMAIN = "tinkoff.ru"
BANK_SENDER = "noreply@tinkoff.ru"
BANK_SENDER_NAME = "Т-Банк"
BANK_SELECTOR = "sandbox"
BANK_DOMAINS = ("tinkoff.ru", "tbank.ru")
DKIM_VARIANTS = ("valid", "invalid", "tampered", "absent")
RECEIPT_SUBJECT = "Квитанция по операции"

# Sandbox-only RSA-2048 key: the sandbox bank's DKIM signing key.
BANK_PRIVATE_KEY_PEM = b"""-----BEGIN RSA PRIVATE KEY-----
MIIEowIBAAKCAQEAxFdYtaY+RdROEc88uipQVCjfvS1RLAfhAU5b2LTyH12kmzT/
ZMx4tsMkYShqWYAYdw//mzDmtZwynmQFQjRJh0Q2Cl2OOHAoSj5RcbXEhqhSj8y6
E8CquE+IH+PyyXCwdE21TEwKuGYR6A+GOf745P59MbvcwsQQX665hDODgawdLJ3T
23Ybw82ZkapgEVQNJ3UPGGhDumwSZ94h22Ny2QhB00RNEoi8g3QdiL4ZAKs5MVed
zCt2NxJOShrVLrOW5SBl+u3nmqrSUHUI7mmp53s+hK1bpRK6sw7CKzwG8s50xOln
hYzNeuNmp2qZWyLApHjEZkCMUDSb+0+Za3KeEwIDAQABAoIBAFRv/goMxx4vyi1V
kxe659XxyBrq+Mw3TThLEyvU0YXUt1w6RBV86/MpZCVWhLod4SefHT2IH8f9tzUv
7aUFqJOALb9ycZ3q+iDHwS3mTnDcxbjrAiFJjAH8zh1s4jZofLJf0vbPgxK/brb+
qiqZ8T9GBOBVGwE14ZbMpSLqJoWmlcPSz3o7Qsvw9wQ8fjrgeGeLCsoy9tcoRsBw
feNiHERqdrVEhNPTqBxwMKiMWXILvZnm+P53QhzV2EUAkIz81WmWU+5rCqQxg0qZ
53Q5fIgxdM+4jxLoaaQAkLpCryttVEurLR7X4/f3PXRIB96r2eb1TZZkiVPXEIkS
kQ8bxC0CgYEA+0uipAIttR0kj3/ZvJPrp4iwscF9IOfNVT9h9zoJUFbh9x249DZN
Paqzi3p23Cu8eLNlQf21w835p+d+MAmm9F4u4U6FD3HZCW2yfxhMF6XD9VM/9RFO
2GAe9ZAnJtsJehCM9OdegEa9KzlSnAzlMmBfIv552t3KFfUFwimDB4UCgYEAyARW
C8jIB9TomkPZQRFN+NCR1TOD4nR0molLRjZDca9KPuv+sPwp8pvWvu2eyMP5E/V/
H5rZCqWET1NzBro/dIgQILjKOQXmAO1JDFStvS+XRwChTF5VolSWhAeUMB4ffnZw
H5laZ+QRLtmStD12TkFYmkFZb6s+svv0ocjIprcCgYBz6vzYOOUKsanGxAwVcAp5
WpVfOcjVn/fYxgcTuuLG+3z6t+w0QsQ4mQB/a3terpIe/2nLGhR5gQ8Tw7YyxJEO
Ek//wG+iozqhnceD1xpqoh2VkdRj4JsFNrmxPtDAnLNvaikLY5r1AyyJvsR7lXs4
VLot80MUkdCBdmg0m1+E3QKBgDi1agP7UCNQTQZ32B/nnRi/Yal16p2I8QpjhLEK
b4LK9Rzz4gkh5W7AmlkVm+BGF9d90iYOzByFowaunT06DwWmEhSE7+jM8FIw9HYH
iB7MYHKkDhdN46+blfUnBO/DiqBbShzbaNNtySVkUIDDsEgtpMZPYuETRzqNzuUT
vTfvAoGBAOX0sXwbkRfPUybeAbwGiPthoiSCM1qL+eDxTLJOMtOdqgQbywT53BMP
mpI2pdp9r5ILvdqzwxyrXVJTZoZ4XYhNgcwmJkvcGPQoCgME6xVlJf8EkLLT1tLR
dAGqTtnY1WMJS2UD4XIJnoVBsI4T763k2T2t+I12e9NjXEEVMKPM
-----END RSA PRIVATE KEY-----
"""

SIGNED_HEADERS = (b"From", b"To", b"Subject", b"Date", b"Message-ID", b"MIME-Version", b"Content-Type")


def public_key_txt(private_key_pem: bytes = BANK_PRIVATE_KEY_PEM) -> bytes:
    """The DNS TXT record a bank publishes at <selector>._domainkey.<domain> for this key."""
    key = serialization.load_pem_private_key(private_key_pem, password=None)
    der = key.public_key().public_bytes(serialization.Encoding.DER,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    return b"v=DKIM1; k=rsa; p=" + base64.b64encode(der)


def dns_txt_records(selector: str = BANK_SELECTOR,
                    private_key_pem: bytes = BANK_PRIVATE_KEY_PEM) -> dict[str, bytes]:
    """DNS name -> TXT record of the sandbox bank's key, for both T-Bank mail domains."""
    txt = public_key_txt(private_key_pem)
    return {f"{selector}._domainkey.{domain}.": txt for domain in BANK_DOMAINS}


@functools.lru_cache(maxsize=1)
def impostor_private_key() -> bytes:
    """A key nobody published: mail signed with it claims the bank's domain but cannot verify."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption())


@dataclass(frozen=True)
class SentMail:
    message_id: str
    raw: bytes
    dkim: str


def build_receipt_message(to_addr: str, pdf: bytes, filename: str, from_addr: str, sent_at: datetime,
                          subject: str = RECEIPT_SUBJECT, message_id: Optional[str] = None) -> bytes:
    """A receipt e-mail shaped like T-Bank's: a short HTML note and the PDF attached (CRLF lines)."""
    msg = EmailMessage(policy=SMTP)
    msg["From"] = formataddr((BANK_SENDER_NAME, from_addr))
    msg["To"] = to_addr
    msg["Subject"] = subject
    msg["Date"] = format_datetime(sent_at)
    msg["Message-ID"] = message_id or make_msgid(idstring=uuid.uuid4().hex[:12], domain=from_addr.split("@")[-1])
    msg.set_content("Квитанция об операции во вложении.\nС уважением, Т-Банк\n")
    msg.add_alternative("<html><body><p>Квитанция об операции во вложении.</p>"
                        "<p>С уважением, Т-Банк</p></body></html>", subtype="html")
    msg.add_attachment(pdf, maintype="application", subtype="pdf", filename=filename)
    return msg.as_bytes()


def sign_message(raw: bytes, private_key_pem: bytes, selector: str, domain: str) -> bytes:
    """The message with a DKIM-Signature header prepended (relaxed/relaxed, rsa-sha256)."""
    signature = dkim.sign(raw, selector.encode(), domain.encode(), private_key_pem,
                          canonicalize=(b"relaxed", b"relaxed"), include_headers=list(SIGNED_HEADERS))
    return signature + raw


def tamper_body(raw: bytes) -> bytes:
    """Change one byte of the attachment after signing: what a forger editing a receipt does."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    marker = body.rfind(b"Content-Transfer-Encoding: base64")
    start = body.find(b"\r\n\r\n", marker) + 4
    flipped = b"B" if body[start:start + 1] != b"B" else b"C"
    return head + sep + body[:start] + flipped + body[start + 1:]


class MaildirDelivery:
    """Writes messages into <path>/new like a local delivery agent (thread-safe)."""

    def __init__(self, path: str | os.PathLike, owner: Optional[tuple[int, int]] = None) -> None:
        self.path = Path(path)
        self._owner = owner
        self._lock = threading.Lock()
        for sub in ("tmp", "new", "cur"):  # Maildir(create=True) skips them when the root exists
            (self.path / sub).mkdir(parents=True, exist_ok=True)

    def __call__(self, raw: bytes) -> str:
        with self._lock:
            box = mailbox.Maildir(str(self.path), create=False)
            key = box.add(raw)
            if self._owner is not None:
                os.chown(self.path / "new" / key, *self._owner)
            return key


class Mailer:
    """Sends the sandbox bank's receipt e-mails into one mailbox.

    `dkim`: "valid" (signed with the bank's key), "invalid" (signed for the bank's domain with a key
    nobody published), "tampered" (validly signed, then the attachment changed), "absent" (unsigned).
    `deliver` overrides the plain Maildir delivery (a test server may need to set file ownership).
    """

    def __init__(self, maildir_path: str | os.PathLike | None, bank_private_key: bytes = BANK_PRIVATE_KEY_PEM,
                 selector: str = BANK_SELECTOR, domain: str = BANK_DOMAIN,
                 clock: Callable[[], float] = time.time,
                 deliver: Optional[Callable[[bytes], object]] = None) -> None:
        if deliver is None:
            if maildir_path is None:
                raise ValueError("Mailer needs a maildir path or a deliver function")
            deliver = MaildirDelivery(maildir_path)
        self._deliver = deliver
        self._key = bank_private_key
        self.selector = selector
        self.domain = domain
        self._clock = clock
        self._lock = threading.Lock()
        self._sent: list[SentMail] = []

    def send_receipt(self, to_addr: str, pdf: bytes, filename: str = "Receipt.pdf", dkim: str = "valid",
                     from_addr: str = BANK_SENDER, subject: str = RECEIPT_SUBJECT) -> SentMail:
        if dkim not in DKIM_VARIANTS:
            raise ValueError(f"dkim must be one of {', '.join(DKIM_VARIANTS)}, got {dkim!r}")
        sent_at = datetime.fromtimestamp(self._clock(), timezone.utc)
        raw = build_receipt_message(to_addr, pdf, filename, from_addr, sent_at, subject)
        # the bank signs with the domain it sends from (both are published)
        sender_domain = from_addr.rsplit("@", 1)[-1].lower()
        domain = sender_domain if sender_domain in BANK_DOMAINS else self.domain
        if dkim == "valid":
            raw = sign_message(raw, self._key, self.selector, domain)
        elif dkim == "invalid":
            raw = sign_message(raw, impostor_private_key(), self.selector, domain)
        elif dkim == "tampered":
            raw = tamper_body(sign_message(raw, self._key, self.selector, domain))
        sent = SentMail(message_id=_header(raw, b"Message-ID"), raw=raw, dkim=dkim)
        self._deliver(raw)
        with self._lock:
            self._sent.append(sent)
        return sent

    def sent(self) -> list[SentMail]:
        with self._lock:
            return list(self._sent)


def _header(raw: bytes, name: bytes) -> str:
    head = raw.split(b"\r\n\r\n", 1)[0]
    for line in head.split(b"\r\n"):
        if line.lower().startswith(name.lower() + b":"):
            return line.split(b":", 1)[1].strip().decode("ascii", "replace")
    return ""
