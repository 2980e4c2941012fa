"""Pure helpers over raw e-mail bytes: header summary, PDF attachments, which UIDs to fetch."""
from __future__ import annotations

import hashlib
import posixpath
from dataclasses import dataclass, field
from datetime import datetime
from email import message_from_bytes
from email.header import decode_header, make_header
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from email.utils import getaddresses
from typing import Optional

Attachment = tuple[str, bytes]  # (file name, content)


@dataclass(frozen=True)
class Cursor:
    """Where a mailbox was read up to: UIDs are only meaningful within one UIDVALIDITY."""

    uidvalidity: Optional[int] = None
    last_uid: int = 0


@dataclass(frozen=True)
class IncomingReceipt:
    """One new e-mail as the intake saw it. `dkim_ok` means: the bank's sender and its DKIM verified.

    `problems` lists what could not be used (an oversized attachment, a message over the size limit);
    the message is still returned so the caller records it as processed.
    """

    message_id: str
    uid: int
    uidvalidity: int
    sender: str
    subject: str
    received_at: Optional[datetime]
    dkim_ok: bool
    dkim_reason: str
    attachments: tuple[Attachment, ...] = field(default=(), repr=False)
    problems: tuple[str, ...] = ()

    @property
    def attachment_names(self) -> list[str]:
        return [name for name, _data in self.attachments]


@dataclass(frozen=True)
class HeaderSummary:
    message_id: str  # the Message-ID, or a stable hash of the headers when there is none
    sender: str
    subject: str


def summarize_headers(header_bytes: bytes) -> HeaderSummary:
    headers = BytesHeaderParser(policy=default_policy).parsebytes(header_bytes)
    message_id = str(headers.get("Message-ID", "") or "").strip()
    if not message_id:
        message_id = "sha256:" + hashlib.sha256(header_bytes).hexdigest()
    from_values = headers.get_all("From") or []
    addresses = [addr for _n, addr in getaddresses([str(v) for v in from_values]) if addr]
    sender = addresses[0].strip().lower() if len(addresses) == 1 else ""
    return HeaderSummary(message_id=message_id, sender=sender, subject=_decoded(headers.get("Subject", "")))


def _decoded(value) -> str:
    try:
        return str(make_header(decode_header(str(value or "")))).strip()
    except Exception:  # a broken encoded-word: show it raw rather than fail
        return str(value or "").strip()


def _is_pdf(filename: str, content_type: str) -> bool:
    return filename.lower().endswith(".pdf") or content_type.lower() == "application/pdf"


def _safe_name(filename: str) -> str:
    """Only the base name: a sender controls this string and it may end up in a path."""
    name = posixpath.basename(filename.replace("\\", "/")).strip()
    return name or "attachment.pdf"


def pdf_attachments(raw: bytes, max_bytes: int) -> tuple[list[Attachment], list[str]]:
    """The PDF attachments (by .pdf name or application/pdf type) and the problems met.

    An attachment over `max_bytes` is left out with a problem naming it; malformed parts likewise."""
    attachments: list[Attachment] = []
    problems: list[str] = []
    try:
        message = message_from_bytes(raw, policy=default_policy)
    except Exception as error:
        return [], [f"message cannot be parsed: {error}"]
    for part in message.walk():
        if part.is_multipart():
            continue
        filename = part.get_filename() or ""
        if not _is_pdf(filename, part.get_content_type()):
            continue
        name = _safe_name(filename)
        try:
            data = part.get_payload(decode=True) or b""
        except Exception as error:
            problems.append(f"attachment {name!r} cannot be decoded: {error}")
            continue
        if len(data) > max_bytes:
            problems.append(f"attachment {name!r} is {len(data)} bytes, over the {max_bytes}-byte limit; skipped")
            continue
        attachments.append((name, data))
    return attachments, problems


def message_size_limit(max_attachment_bytes: int) -> int:
    """Largest message worth downloading: base64 grows content by 4/3, plus room for the rest."""
    return max_attachment_bytes * 2 + 1024 * 1024


def cursor_from_processed(records) -> Cursor:
    """The cursor implied by processed-message records `(uidvalidity, uid)` in processing order:
    the latest UIDVALIDITY and the highest UID seen under it."""
    records = list(records)
    if not records:
        return Cursor()
    uidvalidity = records[-1][0]
    return Cursor(uidvalidity, max(uid for validity, uid in records if validity == uidvalidity))


def uids_after(uids: list[int], last_uid: int) -> list[int]:
    """New UIDs only. `UID SEARCH n:*` always answers the highest UID even when it is below n."""
    return sorted(uid for uid in uids if uid > last_uid)
