"""Pause and resume on a running daemon (issue 13, item 4): over the API and the CLI, against the
in-process sandbox. While paused no payout is taken and the Gate working balance is 0; the pause is
kept in the store, so a restarted daemon is still paused; resume takes the waiting payout."""
from __future__ import annotations

import subprocess
import sys
import time
from decimal import Decimal

import pytest
import requests

from tests.core.daemon_process import DaemonProcess, eventually

TOKEN = "pause-token-5d1c7a"
CONFIG = f"""
[daemon]
mode = "auto"
api_token = "{TOKEN}"

[gate]
poll_interval = 0.3

[sandbox]
enabled = true

[database]
# A database of our own choosing: a sandbox-profile run keeps it (only the default one is set aside for a
# fresh world each run, itrader/fresh_start.py), as production keeps its database across restarts.
url = "sqlite:///{{db}}"
"""
GATE_OFFERED = 4


def start(tmp_path) -> DaemonProcess:
    config = tmp_path / "pause.toml"
    config.write_text(CONFIG.replace("{db}", str(tmp_path / "desk.db")))
    process = DaemonProcess(tmp_path / "var", args=("--config", str(config)))
    process.token = TOKEN
    return process.wait_ready()


def sandbox_of(daemon: DaemonProcess) -> str:
    return daemon.get("/api/v1/status").json()["sandbox"]["sandbox"]


def gate_balance(sandbox: str) -> Decimal:
    return Decimal(requests.get(f"{sandbox}/accounts", timeout=5).json()["gate"][0]["balance"])


def payout_status(sandbox: str, payout_id: int) -> int:
    return requests.get(f"{sandbox}/payouts/{payout_id}", timeout=5).json()["status"]


def cli(daemon: DaemonProcess, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "itrader.cli", *args, "--listen", f"127.0.0.1:{daemon.port}",
                           "--token", TOKEN], capture_output=True, text=True, timeout=60)


@pytest.mark.timeout(180)
def test_pause_holds_new_payouts_across_a_restart_and_resume_takes_them(tmp_path):
    daemon = start(tmp_path)
    try:
        assert daemon.get("/api/v1/status").json()["intake"]["state"] == "open"
        answer = daemon.post("/api/v1/pause", json={"reason": "bank maintenance"})
        assert answer.status_code == 200, answer.text
        assert answer.json()["state"] == "paused" and answer.json()["reason"] == "bank maintenance"
        status = daemon.get("/api/v1/status").json()
        assert status["paused"] is True and status["intake"]["by"] == "api"
        sandbox = sandbox_of(daemon)
        eventually(lambda: gate_balance(sandbox) == 0, 10, "the Gate balance to go to 0 while paused")
        # the sandbox profile's alerts land in the world's Telegram twin: the start was announced there
        alerts = requests.get(f"{sandbox}/telegram/messages", timeout=5).json()["messages"]
        assert any("started (sandbox profile, mode auto)" in m["text"] for m in alerts), alerts
        assert daemon.terminate(timeout=40) == 0
    finally:
        daemon.close()

    daemon = start(tmp_path)  # the same data dir and database: a fresh in-process world
    try:
        status = daemon.get("/api/v1/status").json()
        assert status["paused"] is True and status["intake"]["reason"] == "bank maintenance"
        sandbox = sandbox_of(daemon)
        eventually(lambda: gate_balance(sandbox) == 0, 10, "the restarted daemon to keep the balance at 0")
        payout = requests.post(f"{sandbox}/payouts", json={"amount": "5000"}, timeout=5).json()
        time.sleep(2)  # several polls
        assert payout_status(sandbox, payout["id"]) == GATE_OFFERED
        assert daemon.get("/api/v1/deals").json()["deals"] == []

        resumed = cli(daemon, "resume")
        assert resumed.returncode == 0 and "resumed" in resumed.stdout, resumed.stderr
        assert daemon.get("/api/v1/status").json()["paused"] is False
        eventually(lambda: gate_balance(sandbox) > 0, 10, "the balance to come back")
        eventually(lambda: payout_status(sandbox, payout["id"]) != GATE_OFFERED, 20, "the waiting payout's take")

        paused = cli(daemon, "pause", "--reason", "end of shift")
        assert paused.returncode == 0 and "paused" in paused.stdout, paused.stderr
        assert daemon.get("/api/v1/status").json()["intake"]["reason"] == "end of shift"
    finally:
        daemon.close()


def test_a_pause_body_that_is_not_a_reason_is_refused(tmp_path):
    daemon = start(tmp_path)
    try:
        for body in (b"[1]", b'{"reason": 5}', b'{"why": "x"}', b'{"reason": "two\\nlines"}', b"{nope"):
            answer = daemon.post("/api/v1/pause", data=body)
            assert answer.status_code == 400, (body, answer.text)
            assert answer.json()["error"].startswith(("body", "reason"))
        assert daemon.get("/api/v1/status").json()["paused"] is False  # nothing was paused
        assert requests.post(f"{daemon.base}/api/v1/pause", timeout=10).status_code == 401
    finally:
        daemon.close()


def paused_gauge(daemon: DaemonProcess) -> float:
    import re

    text = daemon.get("/metrics").text
    found = re.search(r"^itrader_paused (\S+)$", text, re.M)
    assert found, "no itrader_paused sample in /metrics"
    return float(found.group(1))


def test_the_paused_gauge_follows_pause_and_resume(tmp_path):
    daemon = start(tmp_path)
    try:
        assert paused_gauge(daemon) == 0  # open from the start: a sample at 0, not a missing series
        assert daemon.post("/api/v1/pause", json={"reason": "audit"}).status_code == 200
        assert paused_gauge(daemon) == 1
        assert daemon.post("/api/v1/resume").status_code == 200
        assert paused_gauge(daemon) == 0
    finally:
        daemon.close()
