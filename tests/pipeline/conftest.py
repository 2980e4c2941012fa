import pytest

from itrader.sandbox.world import World
from tests.pipeline.harness import InProcessDaemon


@pytest.fixture
def world(imap_mailbox, tmp_path):
    """A fresh sandbox World whose bank mails receipts into a real Dovecot mailbox; buyers at full speed."""
    w = World(seed=11, speed=0, poll_interval=0.05, maildir=tmp_path / "world-mail",
              mail_deliver=imap_mailbox.deliver)
    w.start(listen="127.0.0.1:0", imap=None)
    w.imap_login = (imap_mailbox.host, imap_mailbox.port, imap_mailbox.user, imap_mailbox.password)
    yield w
    w.stop()


@pytest.fixture
def make_daemon(world, tmp_path):
    started: list[InProcessDaemon] = []

    def make(**kwargs) -> InProcessDaemon:
        kwargs.setdefault("imap", world.imap_login)
        daemon = InProcessDaemon(world, tmp_path / f"daemon{len(started)}", **kwargs)
        started.append(daemon)
        return daemon

    yield make
    for daemon in started:
        daemon.stop()
