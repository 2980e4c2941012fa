"""The Mailbox actor against a real Dovecot on loopback, fed by the sandbox bank's DKIM-signing mailer:
what reaches the desk, trusted or not, woken by IDLE, once per message across restarts and reconnects."""
from __future__ import annotations

import socket
from dataclasses import replace

import gevent
import gevent.server
import pytest

from actors.mailbox import MailboxActor
from actors.messages import DealNews, ReceiptDocument
from actors.receipt_desk import ReceiptDeskActor
from itrader.config import EmailConfig
from itrader.deal import ReceiptChecked
from itrader.mail import intake_from_config
from itrader.sandbox.mail import Mailer

# fixtures shared with the desk's tests
from .test_receipt_desk import directory, events, store  # noqa: F401
from .test_receipt_desk import NOW, deal_waiting, phone_receipt, start_probe

BOUND = 30  # seconds: a bounded wait, far above what delivery takes
CLIENT_ADDRESS = "desk@example.org"
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


@pytest.fixture
def mailer(imap_mailbox) -> Mailer:
    return Mailer(None, deliver=imap_mailbox.deliver)


@pytest.fixture
def email_config(imap_mailbox) -> EmailConfig:
    # polling only once an hour: anything that arrives within a test came through IDLE
    return EmailConfig(imap_host=imap_mailbox.host, imap_port=imap_mailbox.port, imap_ssl=False,
                       address=imap_mailbox.user, password=imap_mailbox.password, dkim_key_source="sandbox",
                       poll_interval=3600.0)


def start_mailbox(store, directory, events, config: EmailConfig, name: str = "receipts"):
    return MailboxActor.start(name, intake_from_config, store, directory, events, config, max_backoff=2.0)


def document(inbox) -> ReceiptDocument:
    message = inbox.get(timeout=BOUND)
    assert isinstance(message, ReceiptDocument)
    return message


def status(mailbox) -> dict:
    return mailbox.proxy().status().get(timeout=BOUND)


def test_bank_mail_reaches_the_desk_trusted_and_idle_wakes_for_the_next(store, directory, events, email_config,
                                                                        mailer):
    desk = start_probe(directory, "desk")
    mailbox = start_mailbox(store, directory, events, email_config)
    first = mailer.send_receipt(CLIENT_ADDRESS, PDF, "Receipt.pdf")
    received = document(desk)
    assert received == ReceiptDocument(channel="email", trusted=True, filename="Receipt.pdf", content=PDF,
                                       source_id=first.message_id)

    second = mailer.send_receipt(CLIENT_ADDRESS, PDF + b"%2", "Receipt-2.pdf")
    assert document(desk).source_id == second.message_id  # no poll for an hour: IDLE woke it
    state = status(mailbox)
    assert state["connected"] and state["last_error"] == ""
    outcome = store.emails.email_outcome(f"{email_config.address}/INBOX", state["uidvalidity"], 2)
    assert outcome == "1 file(s) to the desk, trusted"
    assert [e["trusted"] for e in events.since(0) if e["type"] == "mail.received"] == [True, True]


def test_forged_and_foreign_mail_is_never_trusted_but_recorded(store, directory, events, email_config,
                                                               mailer, imap_mailbox):
    desk = start_probe(directory, "desk")
    mailer.send_receipt(CLIENT_ADDRESS, PDF, dkim="tampered")
    mailer.send_receipt(CLIENT_ADDRESS, PDF, dkim="absent")
    # a look-alike domain with a valid signature of its own: not the bank, its PDF is not even fetched
    Mailer(None, deliver=imap_mailbox.deliver, domain="tinkoff.ru.example").send_receipt(
        CLIENT_ADDRESS, PDF, from_addr="noreply@tinkoff.ru.example")
    last = mailer.send_receipt(CLIENT_ADDRESS, PDF)
    mailbox = start_mailbox(store, directory, events, email_config)

    tampered, unsigned, genuine = document(desk), document(desk), document(desk)
    assert not tampered.trusted and "changed after signing" in tampered.note
    assert not unsigned.trusted and "no DKIM signature" in unsigned.note
    assert genuine.trusted and genuine.source_id == last.message_id
    uidvalidity = status(mailbox)["uidvalidity"]
    lookalike = store.emails.email_outcome(f"{email_config.address}/INBOX", uidvalidity, 3)
    assert lookalike.startswith("no receipt") and "not the bank" in lookalike


def test_a_restarted_mailbox_does_not_hand_over_processed_mail_again(store, directory, events, email_config,
                                                                     mailer):
    desk = start_probe(directory, "desk")
    mailbox = start_mailbox(store, directory, events, email_config)
    old = [mailer.send_receipt(CLIENT_ADDRESS, PDF) for _ in range(2)]
    assert [document(desk).source_id for _ in old] == [m.message_id for m in old]
    mailbox.stop()

    start_mailbox(store, directory, events, email_config)  # re-reads the folder from the start
    new = mailer.send_receipt(CLIENT_ADDRESS, PDF)
    assert document(desk).source_id == new.message_id  # the first thing it told: nothing old came again
    assert desk.empty()


def test_mail_waits_while_the_desk_is_down_and_is_handed_over_once_it_is_back(store, directory, events,
                                                                              email_config, mailer):
    mailbox = start_mailbox(store, directory, events, email_config)
    sent = mailer.send_receipt(CLIENT_ADDRESS, PDF)
    gevent.wait([gevent.spawn(_until, lambda: status(mailbox)["last_uid"] == 1)], timeout=BOUND)
    desk = start_probe(directory, "desk")
    assert document(desk).source_id == sent.message_id  # retried, not lost
    assert mailbox.is_alive()


class DroppingProxy:
    """A TCP forwarder on loopback whose live connections the test can cut, as a flaky network does."""

    def __init__(self, target: tuple[str, int]) -> None:
        self._target = target
        self._sockets: list[socket.socket] = []
        self._server = gevent.server.StreamServer(("127.0.0.1", 0), self._serve)
        self._server.start()
        self.port = self._server.server_port

    def _serve(self, client: socket.socket, _address) -> None:
        upstream = socket.create_connection(self._target)
        self._sockets += [client, upstream]
        pumps = [gevent.spawn(_pump, client, upstream), gevent.spawn(_pump, upstream, client)]
        gevent.joinall(pumps, count=1)
        for sock in (client, upstream):
            sock.close()

    def drop_connections(self) -> None:
        for sock in self._sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._sockets.clear()

    def stop(self) -> None:
        self.drop_connections()
        self._server.stop()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass


def _until(condition) -> None:
    while not condition():
        gevent.sleep(0.05)


def test_a_dropped_connection_is_reconnected_without_losing_mail(store, directory, events, email_config, mailer):
    proxy = DroppingProxy((email_config.imap_host, email_config.imap_port))
    try:
        desk = start_probe(directory, "desk")
        mailbox = start_mailbox(store, directory, events, replace(email_config, imap_port=proxy.port))
        first = mailer.send_receipt(CLIENT_ADDRESS, PDF)
        assert document(desk).source_id == first.message_id

        proxy.drop_connections()
        later = mailer.send_receipt(CLIENT_ADDRESS, PDF)
        assert document(desk).source_id == later.message_id
        assert status(mailbox)["last_error"]  # the drop was noticed, and survived
        assert mailbox.is_alive() and desk.empty()
    finally:
        proxy.stop()


def test_wrong_password_keeps_the_actor_alive_and_says_why(store, directory, events, email_config):
    mailbox = start_mailbox(store, directory, events, replace(email_config, password="not-the-password"))
    gevent.wait([gevent.spawn(_until, lambda: status(mailbox)["last_error"])], timeout=BOUND)
    error = status(mailbox)["last_error"]
    assert "login refused" in error and "not-the-password" not in error
    assert mailbox.is_alive()


def test_bank_receipt_mail_gets_its_deal_accepted(store, directory, events, email_config, mailer, tmp_path):
    """Mailbox → real ReceiptDesk → the deal: the whole trusted path with a rendered receipt."""
    ReceiptDeskActor.start(store, directory, events, tmp_path / "receipts", clock=NOW.timestamp)
    deal, inbox = deal_waiting(store, directory, 2001, 12437, "79001234567")
    start_mailbox(store, directory, events, email_config)
    mailer.send_receipt(CLIENT_ADDRESS, phone_receipt(12437, "79001234567", "1-24-111-222-333"))
    news = inbox.get(timeout=BOUND)
    assert isinstance(news, DealNews) and news.deal_id == deal.id
    checked = news.event
    assert isinstance(checked, ReceiptChecked)
    assert checked.accepted and checked.trusted and checked.channel == "email"
