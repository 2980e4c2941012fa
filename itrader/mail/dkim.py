"""Is this e-mail really from the bank? Sender address + DKIM signature of the bank's domain.

A receipt counts only from a trusted channel (DESIGN §5.3): the From address must be one of the bank's
senders AND a DKIM signature whose d= is that sender's domain must verify. The key comes from DNS in
production (dkimpy's resolver); in the sandbox profile it comes from the sandbox bank's published
record, through the same `dnsfunc` hook, so the verification code is the same in both. This module
does not know the sandbox: the composition place registers its key source (`add_key_source`).
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from email.utils import getaddresses
from typing import Callable, Mapping, Optional

import dkim as dkimpy

BANK_SENDERS = frozenset({"noreply@tinkoff.ru", "noreply@tbank.ru"})

DnsFunc = Callable[..., Optional[bytes]]


@dataclass(frozen=True)
class DkimVerdict:
    ok: bool
    reason: str  # "verified" or why not, for the operator
    sender: str = ""
    domain: str = ""  # d= of the signature that was checked


def static_dnsfunc(records: Mapping[str, bytes]) -> DnsFunc:
    """A dkimpy dnsfunc answering from a fixed table (name with trailing dot -> TXT bytes)."""
    table = {name.rstrip(".").lower(): value for name, value in records.items()}

    def lookup(name, timeout: float = 5) -> Optional[bytes]:
        text = name.decode("ascii", "replace") if isinstance(name, bytes) else str(name)
        return table.get(text.rstrip(".").lower())

    return lookup


# Where the bank's DKIM public key comes from, by the config's `email.dkim_key_source`.
# "dns" is built in; "sandbox" is added by the one place that composes the sandbox profile
# (actors/tree.py), so production code never imports the twin's keys (DESIGN §5.7).
_KEY_SOURCES: dict[str, Callable[[], Optional[DnsFunc]]] = {"dns": lambda: None}


def add_key_source(name: str, make_dnsfunc: Callable[[], Optional[DnsFunc]]) -> None:
    """Make `dnsfunc_for(name)` answer with `make_dnsfunc()` (None means: resolve in DNS)."""
    _KEY_SOURCES[name] = make_dnsfunc


def dnsfunc_for(key_source: str) -> Optional[DnsFunc]:
    """`dns` -> None (dkimpy resolves TXT records itself); another known source -> its lookup."""
    make = _KEY_SOURCES.get(key_source)
    if make is None:
        raise ValueError(f"unknown DKIM key source {key_source!r} (expected 'dns' or 'sandbox'; "
                         "'sandbox' only where the sandbox profile is composed)")
    return make()


def sender_address(raw: bytes) -> tuple[str, str]:
    """(address, problem): the single From address in lower case, or "" and why it is unusable."""
    headers = BytesHeaderParser(policy=default_policy).parsebytes(raw[:65536])
    from_values = headers.get_all("From") or []
    if len(from_values) != 1:
        return "", f"message has {len(from_values)} From headers"
    addresses = [addr for _name, addr in getaddresses([str(from_values[0])]) if addr]
    if len(addresses) != 1:
        return "", "From header does not hold exactly one address"
    return addresses[0].strip().lower(), ""


class _Collector(logging.Logger):
    """Keeps dkimpy's log messages: they are the only place it says *why* a signature failed."""

    def __init__(self) -> None:
        super().__init__("itrader.mail.dkim.check", logging.DEBUG)
        self.messages: list[str] = []

    def handle(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.INFO:
            self.messages.append(record.getMessage())


def _signature_tags(value: bytes) -> dict[str, str]:
    tags = {}
    for part in re.sub(rb"\s+", b"", value).split(b";"):
        if b"=" in part:
            key, _, val = part.partition(b"=")
            tags[key.decode("ascii", "replace").lower()] = val.decode("ascii", "replace")
    return tags


def verify_bank_mail(raw: bytes, dnsfunc: Optional[DnsFunc] = None,
                     bank_senders: frozenset[str] = BANK_SENDERS) -> DkimVerdict:
    """Check sender and DKIM. Never raises on bad input: a malformed message is simply not ok."""
    sender, problem = sender_address(raw)
    if problem:
        return DkimVerdict(False, problem)
    if sender not in bank_senders:
        return DkimVerdict(False, f"sender {sender} is not the bank's", sender)
    sender_domain = sender.rsplit("@", 1)[1]

    try:
        checker = dkimpy.DKIM(raw, logger=_Collector())
    except dkimpy.DKIMException as error:
        return DkimVerdict(False, f"malformed message: {error}", sender)
    signatures = [value for name, value in checker.headers if name.lower() == b"dkim-signature"]
    if not signatures:
        return DkimVerdict(False, "no DKIM signature", sender)

    reasons = []
    for index, value in enumerate(signatures):
        tags = _signature_tags(value)
        domain = tags.get("d", "").lower()
        if domain != sender_domain:
            reasons.append(f"signature d={domain or '?'} is not the sender's domain {sender_domain}")
            continue
        if "l" in tags:
            # a body-length limit lets anyone append content under a valid signature
            reasons.append("signature covers only part of the body (l= tag)")
            continue
        logger = _Collector()
        checker.logger = logger
        try:
            kwargs = {"dnsfunc": dnsfunc} if dnsfunc is not None else {}
            if checker.verify(idx=index, **kwargs):
                return DkimVerdict(True, "verified", sender, domain)
            reasons.append(_failure_reason(logger.messages))
        except dkimpy.DKIMException as error:
            reasons.append(_failure_reason([str(error)]) if "body hash" in str(error)
                           else f"DKIM check failed: {error}")
        except Exception as error:  # DNS trouble, odd key formats: a failed check, not a crash
            reasons.append(f"DKIM check failed: {type(error).__name__}: {error}")
    return DkimVerdict(False, "; ".join(reasons), sender, _signature_tags(signatures[0]).get("d", "").lower())


def _failure_reason(messages: list[str]) -> str:
    text = " ".join(messages).lower()
    if "body hash mismatch" in text:
        return "DKIM body hash mismatch: the message was changed after signing"
    if "missing public key" in text or "no key" in text or "dnstimeout" in text or "keyformat" in text:
        return "DKIM public key not found for the signature's selector"
    return "DKIM signature does not verify with the bank's published key"
