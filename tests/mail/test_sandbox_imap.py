"""The sandbox's own IMAP server (pymap over the Mailer's Maildir) works with our intake."""
from __future__ import annotations

from typing import Iterator

import gevent
import pytest

from itrader.mail import Cursor, MailboxSettings, MailIntake, MailLoginError, dnsfunc_for
from itrader.sandbox.imap import SandboxImapServer, start_imap_server
from itrader.sandbox.mail import Mailer

from .conftest import CLIENT_ADDRESS

LOGIN, PASSWORD = "receipts@sandbox.local", "sandbox-mail-password"
PDF = b"%PDF-1.4\n%%EOF\n"


@pytest.fixture
def sandbox_imap(tmp_path) -> Iterator[SandboxImapServer]:
    server = start_imap_server(tmp_path, "127.0.0.1", 0, LOGIN, PASSWORD)
    yield server
    server.stop()


def settings(server: SandboxImapServer, password: str = PASSWORD) -> MailboxSettings:
    return MailboxSettings(server.host, server.port, LOGIN, password, ssl=False, idle_timeout=60.0)


def test_sandbox_imap_serves_the_mailers_receipts_with_idle(sandbox_imap, tmp_path):
    mailer = Mailer(tmp_path / "Maildir")
    before = mailer.send_receipt(CLIENT_ADDRESS, PDF, dkim="valid")
    with MailIntake(settings(sandbox_imap), dnsfunc=dnsfunc_for("sandbox")) as intake:
        first = intake.fetch_new(Cursor())
        assert [(m.message_id, m.dkim_ok, m.attachments) for m in first.messages] == \
            [(before.message_id, True, (("Receipt.pdf", PDF),))]

        waiter = gevent.spawn(intake.wait_for_mail)
        gevent.sleep(0)
        forged = mailer.send_receipt(CLIENT_ADDRESS, PDF, dkim="tampered")
        assert waiter.get(timeout=20) is True

        [message] = intake.fetch_new(first.cursor).messages
    assert message.message_id == forged.message_id
    assert not message.dkim_ok and "changed after signing" in message.dkim_reason


def test_sandbox_imap_refuses_a_wrong_password(sandbox_imap):
    with pytest.raises(MailLoginError):
        MailIntake(settings(sandbox_imap, password="wrong")).connect()


def test_stop_ends_the_server(sandbox_imap):
    sandbox_imap.stop()
    assert not sandbox_imap.running
