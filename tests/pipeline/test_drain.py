"""SIGTERM drains first (issue 13, item 4): from the signal on nothing new is taken, then the daemon stops
as before — within `daemon.shutdown_budget`, exit 0, every Gate working balance at 0.

The daemon is a real subprocess trading against a sandbox World in this process, so the World outlives it
and tells who owns each payout afterwards. An event stream is held open, as a console would: stopping the
web endpoint then takes about a second, the window in which a daemon that does not drain still polls Gate
and takes what it finds (issue 13: "took a payout and posted an ad 0.7–1 s after SIGTERM").
"""
from __future__ import annotations

import signal
import threading
import time
from decimal import Decimal

import pytest
import requests

from itrader.sandbox.world import World
from tests.core.daemon_process import eventually
from tests.pipeline.crash_harness import CrashingDaemon, WorldFront

GATE_OFFERED = 4  # a payout nobody has taken


@pytest.fixture
def quiet_world(tmp_path):
    """A World with no mail server: this test never gets as far as a receipt."""
    world = World(seed=13, speed=0, poll_interval=0.05, maildir=tmp_path / "world-mail")
    world.start(listen="127.0.0.1:0", imap=None)
    world.imap_login = None
    yield world
    world.stop()


def hold_event_stream(daemon: CrashingDaemon) -> threading.Thread:
    """A console's open SSE connection, read until the daemon closes it."""
    response = requests.get(f"{daemon.base}/api/v1/events", stream=True, timeout=30,
                            headers={"Authorization": "Bearer test-token-123456"})
    response.raise_for_status()

    def read() -> None:
        try:
            for _ in response.iter_content(chunk_size=None):
                pass
        except requests.RequestException:
            pass

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    return reader


@pytest.mark.timeout(120)
def test_a_payout_offered_after_sigterm_is_not_taken(quiet_world, tmp_path):
    world = quiet_world
    daemon = CrashingDaemon(WorldFront(world), tmp_path / "daemon", None)
    login = world.credentials()["gate"]["login"]
    daemon.start()
    try:
        daemon.wait_ready()
        # Trading: a payout offered before the signal is taken as usual, and its ad goes up.
        before = world.create_payout(Decimal("4100"), "sbp", "sberbank")
        eventually(lambda: world.payout_view(before["id"])["status"] != GATE_OFFERED, 30, "the first take")
        eventually(lambda: world.ledger.entries("bybit_ad_create"), 30, "the first ad")
        hold_event_stream(daemon)

        signalled_at = time.time()
        daemon.proc.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        after = [world.create_payout(Decimal(4200 + 10 * i), "sbp", "sberbank") for i in range(3)]
        exit_code = daemon.proc.wait(timeout=30)
        stopped_in = time.monotonic() - signalled
    finally:
        daemon.kill()

    log = daemon.log_path.read_text(errors="replace")
    assert exit_code == 0, log[-3000:]
    assert stopped_in < 10, f"stopped in {stopped_in:.1f}s; the budget is 10s"  # daemon.shutdown_budget
    for payout in after:
        view = world.payout_view(payout["id"])
        assert view["status"] == GATE_OFFERED and view["account"] is None, f"taken after SIGTERM: {view}"
    late = [e for e in world.ledger.entries() if e["kind"] in ("gate_take", "bybit_ad_create")
            and e["ts"] > signalled_at]
    assert late == []  # no take and no new ad after the signal
    assert [Decimal(a["balance"]) for a in world.accounts_view()["gate"] if a["login"] == login] == [0]
    assert "draining" in log  # the log says why nothing more was taken


def test_in_manual_mode_a_paused_desk_refuses_to_confirm_a_take_and_takes_after_resume(quiet_world, tmp_path):
    from tests.pipeline.harness import InProcessDaemon
    from itrader.web import Conflict

    world = quiet_world
    daemon = InProcessDaemon(world, tmp_path / "daemon", imap=None, mode="manual", bybit_accounts=1)
    try:
        payout = world.create_payout(Decimal("5300"), "sbp", "sberbank")
        eventually(lambda: daemon.deal_for_payout(payout["id"]) is not None, 30, "the deal")
        deal_id = daemon.deal_for_payout(payout["id"]).id
        # the row is written before its actor registers (a commit lets other greenlets run meanwhile)
        eventually(lambda: daemon.system.directory.get(f"deal:{deal_id}") is not None, 30, "the deal's actor")
        live = daemon.system.directory.get(f"deal:{deal_id}")
        eventually(lambda: live.proxy().awaiting_step().get(timeout=2) == "take", 30, "the take to await a confirm")
        daemon.system.intake.pause("checking the bank", by="test")
        with pytest.raises(Conflict, match="paused by the operator: checking the bank"):
            daemon.system.confirm_deal(deal_id)
        time.sleep(0.5)
        assert world.payout_view(payout["id"])["status"] == GATE_OFFERED
        daemon.system.intake.resume(by="test")
        daemon.system.confirm_deal(deal_id)
        eventually(lambda: daemon.deal_for_payout(payout["id"]).state == "ACCEPTED", 15, "the take after resume")
    finally:
        daemon.stop()
