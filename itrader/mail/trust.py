"""What the mailbox decides about one e-mail (DESIGN §5 invariant 3) — pure.

A receipt e-mail is a trusted channel only when it comes from the bank's sender AND its DKIM
signature verified; and each processed message is recorded once with what became of it.
"""
from __future__ import annotations

from .dkim import BANK_SENDERS
from .message import IncomingReceipt


def is_trusted(mail: IncomingReceipt, bank_senders: frozenset[str] = BANK_SENDERS) -> bool:
    """A trusted channel: the bank's sender AND a verified DKIM signature of its domain."""
    return mail.dkim_ok and mail.sender in bank_senders


def untrusted_note(mail: IncomingReceipt, trusted: bool) -> str:
    """Why the desk must not trust the files of this message ("" when it may)."""
    return "" if trusted else f"untrusted e-mail: {mail.dkim_reason}"


def outcome_of(mail: IncomingReceipt, trusted: bool) -> str:
    """What became of the message, as recorded in store.emails."""
    if not mail.attachments:
        return "no receipt: " + "; ".join(mail.problems or (mail.dkim_reason or "no PDF attachment",))
    files = f"{len(mail.attachments)} file(s) to the desk"
    return f"{files}, trusted" if trusted else f"{files}, untrusted ({mail.dkim_reason})"
