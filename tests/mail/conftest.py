"""Mail test fixtures: the sandbox bank's Mailer delivering into a private Dovecot mailbox, and our intake."""
from __future__ import annotations

from typing import Iterator

import pytest

from itrader.mail import MailboxSettings, MailIntake, dnsfunc_for
from itrader.sandbox.mail import Mailer

CLIENT_ADDRESS = "desk@example.org"


def settings_for(mailbox, **overrides) -> MailboxSettings:
    values = dict(host=mailbox.host, port=mailbox.port, username=mailbox.user, password=mailbox.password,
                  ssl=False, idle_timeout=60.0, poll_interval=60.0)
    values.update(overrides)
    return MailboxSettings(**values)


@pytest.fixture
def mailer(imap_mailbox) -> Mailer:
    """The sandbox bank's mailer, delivering straight into the test's Dovecot Maildir."""
    return Mailer(None, deliver=imap_mailbox.deliver)


@pytest.fixture
def intake(imap_mailbox) -> Iterator[MailIntake]:
    client = MailIntake(settings_for(imap_mailbox), dnsfunc=dnsfunc_for("sandbox"))
    client.connect()
    yield client
    client.close()
