"""The daemon as an operator meets it: a real process, real HTTP, real signals."""
from __future__ import annotations

import re
import subprocess
import sys
import time

import pytest

from tests.core.daemon_process import DaemonProcess


@pytest.fixture
def daemon(tmp_path):
    process = DaemonProcess(tmp_path / "var").wait_ready()
    yield process
    process.close()


# The sandbox profile's settings, plus the drill route (POST /api/v1/actors/<id>/kill).
DRILLS_CONFIG = """
[daemon]
mode = "auto"
drills = true

[sandbox]
enabled = true
"""


@pytest.fixture
def drill_daemon(tmp_path):
    config = tmp_path / "drills.toml"
    config.write_text(DRILLS_CONFIG)
    process = DaemonProcess(tmp_path / "var", args=("--config", str(config))).wait_ready()
    yield process
    process.close()


def node(tree: dict, node_id: str) -> dict:
    if tree["id"] == node_id:
        return tree
    for child in tree.get("children", []):
        found = node(child, node_id) if child else None
        if found:
            return found
    return {}


def restarts_metric(text: str, kind: str) -> float:
    match = re.search(rf'^itrader_actor_restarts_total{{kind="{kind}"}} (\S+)$', text, re.M)
    return float(match.group(1)) if match else 0.0


def test_health_is_open_and_everything_else_needs_the_token(daemon):
    assert daemon.get("/api/v1/health", auth=False).json()["status"] == "ok"
    for path in ("/api/v1/status", "/metrics", "/api/v1/deals", "/api/v1/accounts"):
        assert daemon.get(path, auth=False).status_code == 401, path
    status = daemon.get("/api/v1/status")
    assert status.status_code == 200
    body = status.json()
    assert body["profile"] == "sandbox" and "SANDBOX" in body["notice"]
    assert body["tree"]["id"] == "root"
    assert {c["id"] for c in body["tree"]["children"]} >= {"Accounts", "Deals", "Web"}
    metrics = daemon.get("/metrics").text
    assert "itrader_build_info{" in metrics
    assert "itrader_actors_alive{" in metrics


def test_a_killed_actor_is_restarted_and_counted(drill_daemon):
    daemon = drill_daemon
    before = restarts_metric(daemon.get("/metrics").text, "Web")
    assert daemon.post("/api/v1/actors/Web/kill").status_code == 200
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            web = node(daemon.get("/api/v1/status").json()["tree"], "Web")
        except Exception:  # the endpoint itself is restarting
            time.sleep(0.1)
            continue
        if web.get("restarts", 0) >= 1 and web.get("state") == "running":
            break
        time.sleep(0.1)
    assert web["restarts"] >= 1 and web["state"] == "running"
    assert "ActorKilled" in web["last_failure"]
    assert restarts_metric(daemon.get("/metrics").text, "Web") == before + 1


def test_unknown_actor_kill_is_404(drill_daemon):
    answer = drill_daemon.post("/api/v1/actors/nope/kill")
    assert answer.status_code == 404 and answer.json() == {"error": "no running actor nope"}


def test_the_drill_route_is_off_unless_the_config_turns_it_on(daemon):
    answer = daemon.post("/api/v1/actors/Web/kill")
    assert answer.status_code == 404 and answer.json() == {"error": "not found"}
    assert node(daemon.get("/api/v1/status").json()["tree"], "Web")["restarts"] == 0
    assert "/api/v1/actors/{actor_id}/kill" not in daemon.get("/api/v1/openapi.json", auth=False).json()["paths"]


def test_sigterm_stops_in_reverse_order_and_exits_zero(daemon):
    assert daemon.terminate(timeout=40) == 0
    log = daemon.log()
    stops = re.findall(r"stopping root/(\w+)", log)
    starts = re.findall(r"starting root/(\w+)", log)
    assert stops and stops == list(reversed(starts))
    assert "exit 0" in log


def test_broken_config_exits_2_with_one_line_naming_the_key(tmp_path):
    config = tmp_path / "broken.toml"
    config.write_text('[gate]\npoll_interval = "soon"\n')
    result = subprocess.run([sys.executable, "-m", "itrader.cli", "run", "--config", str(config)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "gate.poll_interval" in lines[0]


def test_production_profile_without_token_is_a_config_error(tmp_path):
    config = tmp_path / "prod.toml"
    config.write_text('[daemon]\nmode = "manual"\n')
    result = subprocess.run([sys.executable, "-m", "itrader.cli", "run", "--config", str(config),
                             "--data-dir", str(tmp_path / "var")],
                            capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 2
    assert "daemon.api_token" in result.stderr
