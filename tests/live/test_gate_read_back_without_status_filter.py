"""Issue 12 item 8: the daemon reads a payout back by `search[id]` alone, which no original ever sent (they
always sent `filters[status][]=4&=5` beside it). On a panel that answers such a search with nothing, a
restarted deal must still find its payout through the status-filtered lists, or its reconcile is blind."""
from __future__ import annotations

import time
from decimal import Decimal

import gevent.event
import requests

from itrader.store import Store, open_database
from tests.pipeline.crash_harness import CrashingDaemon, WorldFront
from tests.pipeline.harness import TERMINAL


def test_a_deal_killed_right_after_its_approve_finds_its_payout_on_restart_when_search_by_id_alone_finds_nothing(
        world, tmp_path):
    reply = requests.put(f"{world.urls['sandbox']}/gate/live", json={"search_id_needs_status": True}, timeout=10)
    assert reply.status_code == 200 and reply.json()["search_id_needs_status"] is True, reply.text
    front = WorldFront(world)
    daemon = CrashingDaemon(front, tmp_path / "daemon", world.imap_login)
    killed = gevent.event.Event()

    def kill_after_approve(step: str) -> None:  # Gate approved; the daemon dies before it hears
        daemon.kill()
        killed.set()

    front.switch.arm("approve", kill_after_approve)
    try:
        daemon.start()
        daemon.wait_ready()
        payout_id = world.create_payout(Decimal("4700"), "sbp", "alfabank", persona="honest")["id"]
        assert killed.wait(120), f"the approve never came:\n{daemon.tail()}"
        assert world.gate.payout(payout_id)["status"] == 6 and not world.ledger.entries("bybit_release")

        daemon.start()  # the deal reconciles: its approve intent is open, the payout says approved
        daemon.wait_ready()
        store = Store(open_database(f"sqlite:///{daemon.database}"))
        deadline = time.monotonic() + 90
        row = store.deals.by_payout(payout_id)
        while time.monotonic() < deadline and (row is None or row.state not in TERMINAL):
            gevent.sleep(0.2)
            row = store.deals.by_payout(payout_id)
    finally:
        front.switch.disarm()
        daemon.terminate()
        front.stop()
    assert row is not None and row.state == "COMPLETED", (row and row.reason, daemon.tail())
    assert len(world.ledger.entries("gate_approve")) == 1 and len(world.ledger.entries("bybit_release")) == 1
    assert world.audit() == []
