"""`make run` twice in a row: the second run trades.

The sandbox profile's world lives in the process, and the next run's world numbers its payouts from
2600001 again. The first run's deals must not meet it: the second run starts from a fresh database
(the first run's is kept in var/previous-run/) and takes the new payouts. Both runs are the command
`make run` runs (`itrader run`, no config), on the same data dir."""
from __future__ import annotations

import re
import time

import requests

from tests.core.daemon_process import DaemonProcess

TERMINAL = {"COMPLETED", "REJECTED_BUYER", "CANCELLED", "DISPUTE", "MANUAL_REVIEW", "ERROR", "BLACKLISTED"}


def _control_url(daemon: DaemonProcess) -> str:
    match = re.search(r"control API (http://\S+/sandbox)", daemon.log())
    assert match, daemon.log()
    return match.group(1)


def _deal_for(daemon: DaemonProcess, payout_id: int, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for deal in daemon.get("/api/v1/deals?all=1").json()["deals"]:
            if deal["payout_id"] == str(payout_id) and deal["state"] not in ("NEW",):
                return deal
        time.sleep(0.2)
    raise AssertionError(f"payout {payout_id} was not taken in {timeout:.0f}s:\n{daemon.log()[-4000:]}")


def _run_with_a_buyerless_payout(data_dir, amount: int) -> tuple[dict, list[dict]]:
    """One `itrader run`: a payout nobody buys (its deal stays live, its ad online), then SIGTERM."""
    daemon = DaemonProcess(data_dir)
    try:
        daemon.wait_ready()
        payout = requests.post(_control_url(daemon) + "/payouts", json={"amount": amount}, timeout=10).json()
        deal = _deal_for(daemon, payout["id"])
        deals = daemon.get("/api/v1/deals?all=1").json()["deals"]
        assert daemon.terminate() == 0
        return deal, deals
    finally:
        daemon.close()


def test_a_second_sandbox_run_takes_new_payouts_and_keeps_the_first_runs_data_aside(tmp_path):
    data_dir = tmp_path / "var"
    first, _ = _run_with_a_buyerless_payout(data_dir, 3333)
    assert first["state"] not in TERMINAL  # left live: the case that used to block the second run

    second, deals = _run_with_a_buyerless_payout(data_dir, 4444)
    assert second["amount"] in ("4444", "4444.00") and second["state"] not in TERMINAL
    # the first run's deal is not resumed against a world that never heard of it
    assert [d["amount"] for d in deals if d["amount"].startswith("3333")] == []
    assert (data_dir / "previous-run" / "itrader.db").is_file()
    log = (data_dir / "daemon.log").read_text()
    assert "moved to" in log and "previous-run" in log
    assert " ERROR " not in log, log[-4000:]


def test_make_run_installs_the_package_without_the_test_tools(tmp_path):
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    plan = subprocess.run(["make", "-n", "-C", str(root), "run", f"VENV={tmp_path / 'venv'}"],
                          capture_output=True, text=True, timeout=60)
    assert plan.returncode == 0, plan.stderr
    installs = [line for line in plan.stdout.splitlines() if "pip install" in line and "-e" in line]
    assert installs and all("-e '.[postgres]'" in line for line in installs), plan.stdout
    assert "redis-server" not in plan.stdout and "postgresql " not in plan.stdout  # test servers' packages
