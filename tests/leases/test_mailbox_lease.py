"""The receipt mailbox with a lease (DESIGN §9): with two daemons on one mailbox only the holder reads it,
so each bank e-mail reaches one desk once; when the holder stops the other takes the mailbox over and
reads what came meanwhile. Real Dovecot, real Redis, the sandbox bank's DKIM-signed mail."""
from __future__ import annotations

import gevent.queue
import redis as redis_client

from actors.mailbox import MailboxActor
from actors.messages import ReceiptDocument
from itrader.leases import AccountLease, LeaseStore, lease_key
from itrader.mail import intake_from_config
from tests.actors.test_mailbox import CLIENT_ADDRESS, PDF, email_config, mailer  # noqa: F401
from tests.actors.test_receipt_desk import directory, events, start_probe, store  # noqa: F401

REDIS_DB = 10  # this module's own database of the session's Redis
BOUND = 30


def documents_within(inbox: gevent.queue.Queue, seconds: float) -> list[ReceiptDocument]:
    found = []
    try:
        while True:
            found.append(inbox.get(timeout=seconds))
    except gevent.queue.Empty:
        return found


def test_only_the_holder_reads_the_mailbox_and_the_other_takes_over(store, directory, events, email_config,
                                                                    mailer, redis_url):
    url = redis_url.rsplit("/", 1)[0] + f"/{REDIS_DB}"
    redis_client.Redis.from_url(url).flushdb()
    desk = start_probe(directory, "desk")

    def start(name: str, owner: str) -> tuple:
        lease = AccountLease("mailbox", email_config.address, LeaseStore(url, owner, ttl=1.5))
        ref = MailboxActor.start(name, intake_from_config, store, directory, events, email_config,
                                 max_backoff=2.0, lease=lease)
        return ref, lease

    first, _ = start("first", "daemon-a:1:x")
    # pykka runs on_start in the actor's own greenlet: let the first take the lease before the second
    assert first.proxy().status().get(timeout=BOUND)["lease"]["state"] == "held"
    second, second_lease = start("second", "daemon-b:2:y")
    try:
        assert second.proxy().status().get(timeout=BOUND)["lease"]["state"] == "standby"
        sent = mailer.send_receipt(CLIENT_ADDRESS, PDF, "Receipt.pdf")
        assert [d.source_id for d in documents_within(desk, 3.0)] == [sent.message_id]  # once, not twice

        first.stop()  # a graceful stop lets go of the lease
        later = mailer.send_receipt(CLIENT_ADDRESS, PDF + b"%2", "Receipt-2.pdf")
        assert desk.get(timeout=BOUND).source_id == later.message_id
        assert second.proxy().status().get(timeout=BOUND)["lease"]["state"] == "held"
        assert redis_client.Redis.from_url(url).get(lease_key("mailbox", email_config.address)) == b"daemon-b:2:y"
        assert any(e["type"] == "lease_acquired" and e["account"] == "second" for e in events.since(0))
    finally:
        for ref in (first, second):
            if ref.is_alive():
                ref.stop()
    assert second_lease.holding is False  # stopping released it
