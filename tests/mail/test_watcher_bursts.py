"""Many receipts in quick bursts: the watcher hands every one over exactly once, on both servers.

pymap (the sandbox's server) sends a FETCH FLAGS update per new message, some before IDLE's
`+ idling`, and does not always announce a message filed while the session idles; Dovecot is the
production-like reference. Either way nothing may be lost, doubled, or cost the watcher an error.
"""
from __future__ import annotations

import time
from collections import Counter
from typing import Iterator

import gevent
import gevent.queue
import pytest

from itrader.mail import MailboxSettings, MailIntake, MailWatcher, dnsfunc_for
from itrader.sandbox.imap import start_imap_server
from itrader.sandbox.mail import Mailer

from .conftest import CLIENT_ADDRESS, settings_for

PDF = b"%PDF-1.4\n%%EOF\n"
MAILS, BURST = 50, 10
IDLE_TIMEOUT = 5.0  # Dovecot announces every message; a short re-read keeps its test quick anyway
BOUND = 90.0  # seconds: far above what handing over 50 mails takes
LOGIN, PASSWORD = "receipts@sandbox.local", "sandbox-mail-password"


@pytest.fixture
def pymap_mailbox(tmp_path) -> Iterator[tuple[MailboxSettings, Mailer]]:
    server = start_imap_server(tmp_path, "127.0.0.1", 0, LOGIN, PASSWORD)
    try:
        # the production default idle_timeout: pymap leaves some messages unannounced, and only the
        # bounded IDLE wait with a fetch after it finds them (before, IDLE waited 10 minutes)
        yield (MailboxSettings(server.host, server.port, LOGIN, PASSWORD, ssl=False),
               Mailer(tmp_path / "Maildir"))
    finally:
        server.stop()


@pytest.fixture
def dovecot_mailbox(imap_mailbox) -> tuple[MailboxSettings, Mailer]:
    return settings_for(imap_mailbox, idle_timeout=IDLE_TIMEOUT), Mailer(None, deliver=imap_mailbox.deliver)


def hand_over_bursts(settings: MailboxSettings, mailer: Mailer) -> tuple[list[str], list[str], MailWatcher]:
    """Start a watcher, mail MAILS receipts in bursts while it idles, collect what it hands over."""
    received: gevent.queue.Queue = gevent.queue.Queue()
    watcher = MailWatcher(MailIntake(settings, dnsfunc=dnsfunc_for("sandbox")),
                          on_message=lambda mail: received.put(mail.message_id), max_backoff=2.0).start()
    try:
        sent: list[str] = []
        for burst in range(MAILS // BURST):
            sent += [mailer.send_receipt(CLIENT_ADDRESS, PDF).message_id for _ in range(BURST)]
            gevent.sleep(0.05 * burst)  # pace the bursts so some land mid-IDLE, some mid-fetch
        handed: list[str] = []
        deadline = time.monotonic() + BOUND
        while set(sent) - set(handed) and time.monotonic() < deadline:
            try:
                handed.append(received.get(timeout=max(0.0, deadline - time.monotonic())))
            except gevent.queue.Empty:
                break
        gevent.sleep(0.5)  # let a doubled hand-over (if there were one) arrive before we count
        while not received.empty():
            handed.append(received.get_nowait())
        return sent, handed, watcher
    finally:
        watcher.stop()


@pytest.mark.parametrize("server", ["pymap_mailbox", "dovecot_mailbox"])
def test_every_receipt_of_quick_bursts_is_handed_over_exactly_once(server, request):
    settings, mailer = request.getfixturevalue(server)
    sent, handed, watcher = hand_over_bursts(settings, mailer)

    assert sorted(set(sent) - set(handed)) == []  # none lost
    assert [mid for mid, count in Counter(handed).items() if count > 1] == []  # none doubled
    assert sorted(handed) == sorted(sent)
    assert watcher.last_error == ""  # no IDLE failure, no reconnect along the way


def scripted_idle_server(idle_script):
    """A loopback IMAP server that answers just enough for an intake, and plays `idle_script`
    (a list of byte chunks and pauses) when the client goes IDLE: the wire as pymap writes it."""
    from gevent.server import StreamServer

    def session(sock, _address):
        reader = sock.makefile("rb")
        sock.sendall(b"* OK [CAPABILITY IMAP4rev1 IDLE] scripted\r\n")
        for line in reader:
            tag, _, rest = line.decode().strip().partition(" ")
            command = rest.split(" ", 1)[0].upper()
            if command == "CAPABILITY":
                sock.sendall(b"* CAPABILITY IMAP4rev1 IDLE\r\n")
            elif command in ("SELECT", "EXAMINE"):
                sock.sendall(b"* 1 EXISTS\r\n* OK [UIDVALIDITY 7] ok\r\n")
            elif command == "IDLE":
                for step in idle_script:
                    sock.sendall(step) if isinstance(step, bytes) else gevent.sleep(step)
                reader.readline()  # DONE
            elif command == "LOGOUT":
                sock.sendall(b"* BYE bye\r\n")
            sock.sendall(f"{tag} OK {command} done\r\n".encode())
            if command == "LOGOUT":
                return

    server = StreamServer(("127.0.0.1", 0), session)
    server.start()
    return server


def test_untagged_updates_around_idle_start_and_split_responses_are_no_error():
    # pymap style: flag updates before `+ idling`, a response written in two segments, then EXISTS
    server = scripted_idle_server([b"* 1 FETCH (FLAGS ())\r\n+ idling\r\n", 0.2, b"* 1 FETCH (", 0.2,
                                   b"FLAGS ())\r\n", 0.1, b"* 2 EXISTS\r\n"])
    try:
        settings = MailboxSettings("127.0.0.1", server.server_port, "user", "password", ssl=False, timeout=5)
        with MailIntake(settings) as intake:
            assert intake.wait_for_mail() is True
            assert intake.wait_for_mail() is True  # the session is still in step for the next round
    finally:
        server.stop(timeout=1)
