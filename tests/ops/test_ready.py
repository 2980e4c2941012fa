"""`GET /api/v1/ready`: 200 while the daemon can trade; 503, with the reasons, while the root supervisor's
children restart or no Gate or Bybit account is healthy. Liveness (`/health`) stays 200 throughout."""
from __future__ import annotations

import time

import requests

from itrader.readiness import readiness
from tests.core.daemon_process import DaemonProcess
from tests.core.test_daemon import DRILLS_CONFIG

HEALTHY = [{"platform": "gate", "healthy": True}, {"platform": "bybit", "healthy": True}]


def _tree(state="running", children=("running", "running")):
    return {"id": "root", "state": state,
            "children": [{"id": f"child{i}", "state": s} for i, s in enumerate(children)]}


def test_the_rule():
    assert readiness(_tree(), HEALTHY) == (True, [])
    assert readiness(_tree(children=("running", "restarting")), HEALTHY) == (False, ["child1 is restarting"])
    assert readiness(_tree(state="stopping"), HEALTHY) == (False, ["root supervisor is stopping"])
    assert readiness(_tree(), [{"platform": "gate", "healthy": True}, {"platform": "bybit", "healthy": False}]) == (
        False, ["no healthy Bybit account"])
    assert readiness(_tree(), [{"platform": "bybit", "healthy": True, "enabled": True},
                               {"platform": "gate", "healthy": True, "enabled": False}])[1] == ["no healthy Gate account"]


def test_ready_turns_503_while_the_accounts_restart_and_200_again(tmp_path):
    config = tmp_path / "drills.toml"
    config.write_text(DRILLS_CONFIG)
    daemon = DaemonProcess(tmp_path / "var", args=("--config", str(config)))
    try:
        daemon.wait_ready()
        deadline = time.monotonic() + 30
        while requests.get(f"{daemon.base}/api/v1/ready", timeout=5).status_code != 200:
            assert time.monotonic() < deadline, "never ready"
            time.sleep(0.2)
        assert daemon.post("/api/v1/actors/Accounts/kill").status_code == 200
        seen = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            answer = requests.get(f"{daemon.base}/api/v1/ready", timeout=5)  # no token needed
            seen.append((answer.status_code, tuple(answer.json()["reasons"])))
            if answer.status_code == 200 and len(seen) > 1:
                break
            assert requests.get(f"{daemon.base}/api/v1/health", timeout=5).status_code == 200
            time.sleep(0.02)
        not_ready = [reasons for status, reasons in seen if status == 503]
        assert not_ready, seen
        assert any("Accounts is" in r or "no healthy Bybit account" in r for reasons in not_ready for r in reasons)
        assert seen[-1] == (200, ())
    finally:
        daemon.close()
