"""IMAP intake of bank receipt e-mails (imapclient; cooperative under gevent's monkey patch).

`MailIntake` is the client: log in, read only what is new since a `Cursor`, wait for new mail with
IDLE (or a poll pause when the server has no IDLE). It never changes the mailbox: the folder is
opened read-only and bodies are fetched with BODY.PEEK, so the operator's \\Seen flags stay as they were.

Exactly-once is the caller's: it keeps the cursor and a record of processed messages (by
Message-ID). When UIDVALIDITY changes, old UIDs mean nothing; the intake then re-scans the recent
messages and skips those the caller has already processed.

`MailWatcher` runs the loop in a greenlet: fetch, hand over, wait, and reconnect after failures.
"""
from __future__ import annotations

import logging
import random
import re
import socket
import time
import ssl as ssl_module
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone
from imaplib import IMAP4
from typing import Callable, Optional

import gevent
import gevent.select
from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError

from itrader import errors as meaning

from .dkim import BANK_SENDERS, DnsFunc, dnsfunc_for, verify_bank_mail
from .message import (Cursor, IncomingReceipt, message_size_limit, pdf_attachments, summarize_headers,
                      uids_after)

log = logging.getLogger(__name__)

HEADER_FIELDS = b"BODY.PEEK[HEADER.FIELDS (FROM SUBJECT MESSAGE-ID DATE)]"
FETCH_BATCH = 50


class MailError(meaning.TemporaryError):
    """The mailbox could not be read now (network, server); retrying later may help."""


class MailLoginError(MailError, meaning.PermanentError):
    """The server refused the credentials: an operator must fix the account."""


@dataclass(frozen=True)
class MailboxSettings:
    host: str
    port: int
    username: str
    password: str = field(repr=False)
    ssl: bool = True
    folder: str = "INBOX"
    poll_interval: float = 30.0  # pause between polls when the server has no IDLE
    # Longest IDLE wait before the mailbox is read again anyway: a server that files a message
    # without announcing it (or an announcement lost with a dropped line) costs at most this long.
    idle_timeout: float = 30.0
    max_attachment_bytes: int = 10 * 1024 * 1024
    timeout: float = 30.0  # network timeout for connect and each command
    rescan_days: int = 7  # after a UIDVALIDITY change (or on first run), look back this far
    use_idle: bool = True


@dataclass(frozen=True)
class FetchResult:
    messages: list[IncomingReceipt]
    cursor: Cursor
    rescanned: bool  # UIDVALIDITY was new: the recent messages were scanned again


AlreadyProcessed = Callable[[str], bool]


def _never_processed(_message_id: str) -> bool:
    return False


class MailIntake:
    def __init__(self, settings: MailboxSettings, dnsfunc: Optional[DnsFunc] = None,
                 bank_senders: frozenset[str] = BANK_SENDERS) -> None:
        self.settings = settings
        self._dnsfunc = dnsfunc
        self._bank_senders = bank_senders
        self._client: Optional[IMAPClient] = None
        self._selected = False
        self._idling = False  # an IDLE is open: a LOGOUT now would only wait out the timeout

    def __repr__(self) -> str:
        s = self.settings
        return f"MailIntake({s.username}@{s.host}:{s.port}/{s.folder})"

    # --- connection -----------------------------------------------------

    def connect(self) -> None:
        s = self.settings
        try:
            context = ssl_module.create_default_context() if s.ssl else None
            client = IMAPClient(s.host, port=s.port, ssl=s.ssl, ssl_context=context, timeout=s.timeout)
            client.normalise_times = False  # keep the server's time zone; we convert to UTC
            client.login(s.username, s.password)
        except LoginError as error:
            raise MailLoginError(f"{self!r}: login refused: {_text(error)}") from None
        except (OSError, IMAP4.error, IMAPClientError) as error:
            raise MailError(f"{self!r}: cannot connect: {_text(error)}") from None
        self._client = client

    def close(self) -> None:
        client, self._client = self._client, None
        self._selected = False
        idling, self._idling = self._idling, False
        if client is None:
            return
        try:
            if idling:  # killed mid-IDLE (watcher stopped): the server waits for DONE, not LOGOUT
                raise ConnectionAbortedError
            client.logout()
        except Exception:  # already broken; the socket goes away either way
            try:
                client.shutdown()
            except Exception:
                pass

    def __enter__(self) -> "MailIntake":
        self.connect()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def connected(self) -> bool:
        return self._client is not None

    @property
    def supports_idle(self) -> bool:
        return self.settings.use_idle and self._require().has_capability("IDLE")

    def _require(self) -> IMAPClient:
        if self._client is None:
            raise MailError(f"{self!r}: not connected")
        return self._client

    # --- reading --------------------------------------------------------

    def fetch_new(self, cursor: Cursor = Cursor(),
                  already_processed: AlreadyProcessed = _never_processed) -> FetchResult:
        """Every message after `cursor` (or, on a new UIDVALIDITY, every recent one not yet processed)."""
        try:
            return self._fetch_new(cursor, already_processed)
        except (OSError, IMAP4.error, IMAPClientError) as error:
            self.close()
            raise MailError(f"{self!r}: reading failed: {_text(error)}") from None

    def _fetch_new(self, cursor: Cursor, already_processed: AlreadyProcessed) -> FetchResult:
        client = self._require()
        selected = client.select_folder(self.settings.folder, readonly=True)
        self._selected = True
        uidvalidity = int(selected[b"UIDVALIDITY"])
        rescan = cursor.uidvalidity != uidvalidity
        if rescan:
            since = date.today() - timedelta(days=self.settings.rescan_days)
            uids = sorted(int(uid) for uid in client.search(["SINCE", since]))
            if cursor.uidvalidity is not None:
                log.warning("%r: UIDVALIDITY changed %s -> %s; re-scanning %d recent messages",
                            self, cursor.uidvalidity, uidvalidity, len(uids))
            last_uid = 0
        else:
            uids = uids_after([int(u) for u in client.search(["UID", f"{cursor.last_uid + 1}:*"])],
                              cursor.last_uid)
            last_uid = cursor.last_uid

        messages: list[IncomingReceipt] = []
        for start in range(0, len(uids), FETCH_BATCH):
            batch = uids[start:start + FETCH_BATCH]
            summaries = client.fetch(batch, [b"RFC822.SIZE", b"INTERNALDATE", HEADER_FIELDS])
            for uid in batch:
                data = summaries.get(uid)
                if data is None:  # expunged meanwhile
                    continue
                incoming = self._read_one(client, uid, uidvalidity, data, already_processed)
                if incoming is not None:
                    messages.append(incoming)
        new_cursor = Cursor(uidvalidity=uidvalidity, last_uid=max([last_uid, *uids]))
        return FetchResult(messages=messages, cursor=new_cursor, rescanned=rescan)

    def _read_one(self, client: IMAPClient, uid: int, uidvalidity: int, data: dict,
                  already_processed: AlreadyProcessed) -> Optional[IncomingReceipt]:
        header_bytes = next((v for k, v in data.items() if k.upper().startswith(b"BODY[HEADER")), b"") or b""
        summary = summarize_headers(header_bytes)
        if already_processed(summary.message_id):
            return None
        received_at = _utc(data.get(b"INTERNALDATE"))
        base = IncomingReceipt(message_id=summary.message_id, uid=uid, uidvalidity=uidvalidity,
                               sender=summary.sender, subject=summary.subject, received_at=received_at,
                               dkim_ok=False, dkim_reason="")
        if summary.sender not in self._bank_senders:
            # not downloaded: only the bank's mail can carry a receipt we may trust
            return replace(base, dkim_reason=f"sender {summary.sender or '?'} is not the bank's")
        size = int(data.get(b"RFC822.SIZE", 0))
        size_limit = message_size_limit(self.settings.max_attachment_bytes)
        if size > size_limit:
            return replace(base, dkim_reason="not checked: message too large",
                           problems=(f"message is {size} bytes, over the {size_limit}-byte limit; "
                                     "not downloaded",))
        raw = client.fetch([uid], [b"BODY.PEEK[]"]).get(uid, {}).get(b"BODY[]")
        if raw is None:  # expunged between the two fetches
            return replace(base, dkim_reason="message vanished before download", problems=("message vanished",))
        # MIME parsing, hashing and RSA over a multi-megabyte message: keep them off the hub
        verdict, attachments, problems = gevent.get_hub().threadpool.apply(self._inspect, (raw,))
        return replace(base, dkim_ok=verdict.ok, dkim_reason=verdict.reason,
                       attachments=tuple(attachments), problems=tuple(problems))

    def _inspect(self, raw: bytes):
        verdict = verify_bank_mail(raw, self._dnsfunc, self._bank_senders)
        attachments, problems = pdf_attachments(raw, self.settings.max_attachment_bytes)
        return verdict, attachments, problems

    # --- waiting --------------------------------------------------------

    def wait_for_mail(self, timeout: Optional[float] = None) -> bool:
        """Block (cooperatively) until the server announces new mail or `timeout` passes.

        With IDLE: True when the server reported EXISTS/RECENT, False when the wait ran out (the
        caller fetches again either way). Without IDLE: a poll pause of `poll_interval`, then False."""
        client = self._require()
        if not self.supports_idle:
            gevent.sleep(self.settings.poll_interval if timeout is None else min(timeout, self.settings.poll_interval))
            return False
        wait = self.settings.idle_timeout if timeout is None else timeout
        try:
            if not self._selected:
                client.select_folder(self.settings.folder, readonly=True)
                self._selected = True
            # mail that arrived since the last fetch's view: NOOP reports it before we go idle
            _status, pending = client.noop()
            if _announces_mail(pending):
                return True
            self._idling = True  # left set if the greenlet is killed inside: close() then skips LOGOUT
            lines = _idle(client._imap, wait)
            self._idling = False
            return _announces_mail(lines)
        except (OSError, IMAP4.error, IMAPClientError) as error:
            self.close()
            raise MailError(f"{self!r}: IDLE failed: {_text(error)}") from None


def _idle(imap: IMAP4, wait: float) -> list[bytes]:
    """One IDLE round (RFC 2177) on imapclient's imaplib connection: the untagged response lines the
    server sent, ending early at the first EXISTS/RECENT and at the latest after `wait` seconds.

    Written against imaplib's reader rather than imapclient's idle()/idle_check(): those reject any
    untagged response that precedes `+ idling` (pymap sends FLAGS/FETCH updates there), and
    idle_check reads with the socket non-blocking, so a response arriving in two TCP segments is cut
    in half and the rest of the stream no longer parses. Here the socket is only *polled* without
    blocking; every response is then read whole, under the connection's normal timeout."""
    tag = imap._command("IDLE")
    lines: list[bytes] = []
    while True:  # up to the continuation: whatever the server had queued for us comes first
        line = imap._get_response()
        if line is None:
            break
        if imap.tagged_commands.get(tag):
            typ, data = imap.tagged_commands.pop(tag)
            raise IMAP4.error(f"IDLE refused: {typ} {_text(IMAP4.error(*data))}")
        lines.append(line)
    deadline = time.monotonic() + wait
    while not _announces_mail(lines):
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not _readable(imap, remaining):
            break
        lines.append(imap._get_response())
    imap.send(b"DONE\r\n")
    while not imap.tagged_commands.get(tag):  # EXISTS racing with DONE still counts
        line = imap._get_response()
        if not imap.tagged_commands.get(tag):
            lines.append(line)
    typ, data = imap.tagged_commands.pop(tag)
    if typ != "OK":
        raise IMAP4.error(f"IDLE ended with {typ}: {_text(IMAP4.error(*data))}")
    return lines


def _readable(imap: IMAP4, timeout: float) -> bool:
    """Is a response ready: already buffered (by imaplib's reader or TLS), or arriving on the socket
    within `timeout`? Only looks: a partly received response stays put and is read whole later."""
    if _buffered_input(imap):
        return True
    readable, _w, _x = gevent.select.select([imap.sock], [], [], timeout)
    return bool(readable)


def _buffered_input(imap: IMAP4) -> bool:
    """imaplib reads through a buffered file, so a response that came in the same packet as the
    previous one sits in that buffer while the socket stays quiet. Peek at it without blocking
    (peek never consumes; on an empty buffer it tries one non-blocking read into it)."""
    sock = imap.sock
    pending = getattr(sock, "pending", None)  # TLS: decrypted bytes the socket poll cannot see
    if pending is not None and pending():
        return True
    previous = sock.gettimeout()
    sock.settimeout(0)
    try:
        return bool(imap.file.peek(1))
    except OSError:  # nothing buffered and nothing on the socket
        return False
    finally:
        sock.settimeout(previous)


def _announces_mail(responses) -> bool:
    """EXISTS/RECENT among responses, parsed by imapclient (tuples) or raw lines (`* 4 EXISTS`)."""
    for response in responses:
        if isinstance(response, tuple):
            if len(response) >= 2 and response[1] in (b"EXISTS", b"RECENT"):
                return True
        elif isinstance(response, bytes) and _MAIL_NEWS.match(response):
            return True
    return False


_MAIL_NEWS = re.compile(rb"\* \d+ (EXISTS|RECENT)\b", re.IGNORECASE)


class MailWatcher:
    """A greenlet that keeps one mailbox read: fetch new mail, hand it over, wait, repeat.

    `on_message` gets each IncomingReceipt (typically `ref.tell`); `on_cursor` gets the cursor after
    each pass so the caller can persist it. Failures are logged and retried with backoff.
    """

    def __init__(self, intake: MailIntake, on_message: Callable[[IncomingReceipt], None],
                 cursor: Cursor = Cursor(), already_processed: AlreadyProcessed = _never_processed,
                 on_cursor: Optional[Callable[[Cursor], None]] = None,
                 max_backoff: float = 60.0) -> None:
        self.intake = intake
        self.cursor = cursor
        self._on_message = on_message
        self._already_processed = already_processed
        self._on_cursor = on_cursor
        self._max_backoff = max_backoff
        self._greenlet: Optional[gevent.Greenlet] = None
        self.last_error: str = ""
        self.passes = 0

    def start(self) -> "MailWatcher":
        self._greenlet = gevent.spawn(self._run)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        if self._greenlet is not None:
            self._greenlet.kill(timeout=timeout)
            self._greenlet = None
        self.intake.close()

    def _run(self) -> None:
        failures = 0
        while True:
            try:
                if not self.intake.connected:
                    self.intake.connect()
                self.poll_once()
                failures = 0
                self.intake.wait_for_mail()
            except Exception as error:  # noqa: BLE001 - the watcher must outlive any one failure
                failures += 1
                self.last_error = str(error)
                delay = min(self._max_backoff, 2 ** min(failures, 6)) * random.uniform(0.5, 1.0)
                if isinstance(error, MailError):
                    log.warning("%s; retrying in %.1fs", error, delay)
                else:  # a bug in a handler: the cursor did not advance, so the batch comes again
                    log.exception("%r: mail handling failed; retrying in %.1fs", self.intake, delay)
                self.intake.close()
                gevent.sleep(delay)

    def poll_once(self) -> FetchResult:
        result = self.intake.fetch_new(self.cursor, self._already_processed)
        for message in result.messages:
            self._on_message(message)
        self.cursor = result.cursor
        self.passes += 1
        if self._on_cursor is not None:
            self._on_cursor(result.cursor)
        return result


def settings_from_config(email) -> MailboxSettings:
    """MailboxSettings from the `[email]` section of the config (itrader.config.EmailConfig)."""
    return MailboxSettings(host=email.imap_host, port=email.imap_port, username=email.address,
                           password=email.password, ssl=email.imap_ssl, folder=email.folder,
                           poll_interval=email.poll_interval, idle_timeout=email.poll_interval,
                           max_attachment_bytes=email.max_attachment_bytes)


def intake_from_config(email) -> MailIntake:
    """The intake for the configured mailbox, verifying DKIM with the configured key source."""
    return MailIntake(settings_from_config(email), dnsfunc=dnsfunc_for(email.dkim_key_source))


def _utc(moment) -> Optional[datetime]:
    if not isinstance(moment, datetime):
        return None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def _text(error: BaseException) -> str:
    """An error message safe to log: imaplib puts server text in bytes; never includes the password."""
    if isinstance(error, (socket.timeout, TimeoutError)):
        return "timed out"
    parts = [a.decode("utf-8", "replace") if isinstance(a, bytes) else str(a) for a in error.args] or [type(error).__name__]
    return " ".join(parts) or type(error).__name__
