"""Mailbox: one IMAP mailbox read for the bank's receipt e-mails (DESIGN §3, §5 invariant 3).

The actor owns a `MailWatcher` greenlet (IDLE, or polling when the server has none; a dead
connection is reconnected with backoff inside that greenlet, so it never becomes a crash loop).
Each new message comes back to the actor as a told `IncomingReceipt`, and the actor

* hands every PDF attachment to "desk" as a `ReceiptDocument(channel="email")`, trusted only when
  the sender is the bank's AND its DKIM signature verified;
* then records the message in `store.emails` — once, even when it carried nothing useful — so a
  restart does not hand it over again. If the desk is down, the message is retried later instead.

With Redis (several daemons, DESIGN §9) the mailbox is leased like an account: only the holder
reads it; the others wait in standby and take over when the holder's lease runs out.
"""
from __future__ import annotations

import logging
from typing import Any, Callable

import gevent
import pykka

from actors.base import ChildContext, SupervisedActor, tell_quietly
from actors.directory import Directory
from actors.lease_guard import LeaseGuard
from actors.messages import ReceiptDocument, Tick
from itrader.config import EmailConfig
from itrader.events import EventLog
from itrader.leases import AccountLease
from itrader.mail import BANK_SENDERS, IncomingReceipt, MailIntake, MailWatcher, intake_from_config
# The pure decisions (trusted channel, recorded outcome) live in itrader.mail.trust; re-exported here.
from itrader.mail.trust import is_trusted, outcome_of, untrusted_note  # noqa: F401
from itrader.store import Store

log = logging.getLogger(__name__)

DESK = "desk"
DESK_RETRY_SECONDS = 5.0
LEASE_TICK = Tick("mailbox:lease")

IntakeFactory = Callable[[EmailConfig], MailIntake]


def directory_name(name: str) -> str:
    return f"mailbox:{name}"


def receipt_documents(mail: IncomingReceipt, trusted: bool) -> list[ReceiptDocument]:
    note = untrusted_note(mail, trusted)
    return [ReceiptDocument(channel="email", trusted=trusted, filename=filename, content=content,
                            source_id=mail.message_id, note=note)
            for filename, content in mail.attachments]


class MailboxActor(SupervisedActor):
    """Registered as "mailbox:<name>". Tells `ReceiptDocument`s to "desk"."""

    def __init__(self, name: str, intake_factory: IntakeFactory, store: Store, directory: Directory,
                 events: EventLog, settings: EmailConfig, context: ChildContext | pykka.ActorRef | None = None,
                 *, bank_senders: frozenset[str] = BANK_SENDERS, max_backoff: float = 60.0,
                 lease: AccountLease | None = None) -> None:
        super().__init__(context)
        self.name = name
        self._intake_factory = intake_factory or intake_from_config
        self._store = store
        self._directory = directory
        self._events = events
        self._settings = settings
        self._bank_senders = bank_senders
        self._max_backoff = max_backoff
        # UIDs belong to one folder of one account, whatever this actor is called
        self._mailbox_key = f"{settings.address}/{settings.folder}"
        self._handled: set[str] = set()  # Message-IDs done in this life: the intake skips downloading them
        self._watcher: MailWatcher | None = None
        self._retries: set[gevent.Greenlet] = set()
        self._lease = lease or AccountLease.always_held("mailbox", settings.address)
        # A lost mailbox lease is not released: the key runs out by itself (as before the guard).
        self._guard = LeaseGuard(self._lease, "mailbox", name, events, release_on_loss=False)
        self._lease_timer: gevent.Greenlet | None = None

    def on_start(self) -> None:
        self.register_as(self._directory, directory_name(self.name))
        self._tend_lease()

    def _tend_lease(self) -> None:
        """Read the mailbox only while holding its lease: take it in standby, renew it while reading."""
        if self._watcher is None:
            if self._guard.take():
                self._start_watcher()
        elif not self._guard.may_act(before_write=True):
            self._stop_watcher()
        if self._lease.active:
            every = min(5.0, self._lease.ttl / 3)
            self._lease_timer = gevent.spawn_later(every, tell_quietly, self.actor_ref, LEASE_TICK)

    def _start_watcher(self) -> None:
        intake = self._intake_factory(self._settings)
        self._watcher = MailWatcher(intake, on_message=self._hand_over, already_processed=self._handled.__contains__,
                                    max_backoff=self._max_backoff).start()

    def _stop_watcher(self) -> None:
        if self._watcher is not None:
            # Killed mid-IDLE, the session's state is unknown and a polite LOGOUT can wait out the
            # whole network timeout: let that happen beside the actor, not in its stop.
            gevent.spawn(self._watcher.stop)
            self._watcher = None

    def on_stop(self) -> None:
        self._shut_down()

    def on_failure(self, *_exc_info: Any) -> None:
        self._shut_down()

    def _shut_down(self) -> None:
        for timer in self._retries:
            timer.kill(block=False)
        self._retries.clear()
        if self._lease_timer is not None:
            self._lease_timer.kill(block=False)
        self._stop_watcher()
        self._lease.release()

    def status(self) -> dict[str, Any]:
        """For the web and tests (asked through a proxy, with a timeout)."""
        watcher = self._watcher
        return {
            "mailbox": self.name,
            "lease": self._lease.view(),
            "connected": bool(watcher and watcher.intake.connected),
            "passes": watcher.passes if watcher else 0,
            "last_error": watcher.last_error if watcher else "",
            "uidvalidity": watcher.cursor.uidvalidity if watcher else None,
            "last_uid": watcher.cursor.last_uid if watcher else 0,
        }

    def _hand_over(self, mail: IncomingReceipt) -> None:
        # Runs in the watcher's greenlet: the actor's own mailbox does the work, one message at a time.
        tell_quietly(self.actor_ref, mail)

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, IncomingReceipt):
            return self._handle(message)
        if message == LEASE_TICK:
            return self._tend_lease()
        return super().on_receive(message)

    def _handle(self, mail: IncomingReceipt) -> str | None:
        if not self._lease.safe():
            return None  # another daemon may read this mailbox now: it hands the message over, not us
        emails = self._store.emails
        if emails.is_email_processed(self._mailbox_key, mail.uidvalidity, mail.uid):
            self._handled.add(mail.message_id)
            return None
        trusted = is_trusted(mail, self._bank_senders)
        documents = receipt_documents(mail, trusted)
        if not all(self._directory.tell(DESK, document) for document in documents):
            self._retry_later(mail)  # the desk is restarting; it handles a repeated file idempotently
            return None
        outcome = outcome_of(mail, trusted)
        emails.mark_email_processed(self._mailbox_key, mail.uidvalidity, mail.uid,
                                    message_id=mail.message_id, outcome=outcome)
        self._handled.add(mail.message_id)
        self._events.publish("mail.received", mailbox=self.name, message_id=mail.message_id, trusted=trusted,
                             receipts=len(documents), outcome=outcome)
        log.info("mailbox %s: message uid %s: %s", self.name, mail.uid, outcome)
        return outcome

    def _retry_later(self, mail: IncomingReceipt) -> None:
        log.warning("mailbox %s: desk unavailable; message uid %s again in %.0fs",
                    self.name, mail.uid, DESK_RETRY_SECONDS)
        timer = gevent.spawn_later(DESK_RETRY_SECONDS, tell_quietly, self.actor_ref, mail)
        self._retries.add(timer)
        timer.link(self._retries.discard)
