"""The shipped alert rules and dashboard (deploy/) against the real tools: promtool checks and unit-tests
the rules, and a real Prometheus (Debian package `prometheus`, installed by `make test`) scrapes a running
daemon with its bearer token, loads the rules and evaluates them."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import requests

from tests.core.daemon_process import DaemonProcess, end_process, free_port

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
RULES = DEPLOY / "prometheus" / "itrader-alerts.yml"
RULES_TEST = DEPLOY / "prometheus" / "itrader-alerts.test.yml"
DASHBOARD = DEPLOY / "grafana" / "itrader-dashboard.json"


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed (Debian package prometheus); `make test` installs it")
    return path


def test_promtool_checks_the_alert_rules():
    result = subprocess.run([_tool("promtool"), "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 9 rules found" in result.stdout


def test_promtool_unit_tests_the_alert_rules():
    result = subprocess.run([_tool("promtool"), "test", "rules", RULES_TEST.name], capture_output=True, text=True,
                            timeout=60, cwd=RULES_TEST.parent)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def _metric_names(text: str) -> set[str]:
    """The itrader_* metric families an expression reads (a histogram's _bucket read as its family)."""
    names = set(re.findall(r"\bitrader_[a-z_]+", text))
    return {re.sub(r"_(bucket|count|sum)$", "", name) for name in names}


@pytest.fixture
def daemon(tmp_path):
    process = DaemonProcess(tmp_path / "var").wait_ready()
    yield process
    process.close()


@pytest.fixture
def prometheus(tmp_path, daemon):
    token_file = tmp_path / "itrader.token"
    token_file.write_text(daemon.token)
    config = tmp_path / "prometheus.yml"
    config.write_text(f"""
global: {{scrape_interval: 1s, evaluation_interval: 1s}}
rule_files: ["{RULES}"]
scrape_configs:
  - job_name: itrader
    authorization: {{type: Bearer, credentials_file: "{token_file}"}}
    static_configs: [{{targets: ["127.0.0.1:{daemon.port}"]}}]
""")
    port = free_port()
    log = open(tmp_path / "prometheus.log", "wb")
    proc = subprocess.Popen([_tool("prometheus"), f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                             f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        yield base, proc, tmp_path / "prometheus.log"
    finally:
        end_process(proc, timeout=20)
        log.close()


def _query(base: str, expr: str) -> list[dict]:
    answer = requests.get(f"{base}/api/v1/query", params={"query": expr}, timeout=5).json()
    assert answer["status"] == "success", answer
    return answer["data"]["result"]


def _until(condition, timeout: float, what: str, log: Path):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = condition()
        except requests.RequestException:
            value = None
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"no {what} within {timeout:.0f}s:\n{log.read_text(errors='replace')[-3000:]}")


@pytest.mark.timeout(120)
def test_a_real_prometheus_scrapes_the_daemon_and_loads_the_rules(daemon, prometheus):
    base, proc, log = prometheus
    up = _until(lambda: _query(base, 'up{job="itrader"} == 1'), 60, "successful scrape", log)
    assert up[0]["metric"]["instance"] == f"127.0.0.1:{daemon.port}"
    build = _query(base, "itrader_build_info")
    assert build and build[0]["metric"]["version"]
    assert _query(base, "itrader_ready") [0]["value"][1] == "1"
    # the restart counter is there before any restart, so increase() sees the first one
    restarts = _query(base, 'itrader_actor_restarts_total{kind="Web"}')
    assert restarts and restarts[0]["value"][1] == "0"
    assert {r["metric"]["outcome"] for r in _query(base, 'itrader_external_calls_total{platform="bybit"}')} >= {
        "ok", "rate_limited", "server_error", "timeout", "error"}
    assert {r["metric"]["platform"] for r in _query(base, "itrader_account_healthy == 1")} == {"gate", "bybit"}
    budgets = _query(base, 'itrader_account_budget_tokens_total{platform="bybit", kind="read"} > 0')
    assert {r["metric"]["account"] for r in budgets} == {"SandboxSeller1", "SandboxSeller2", "SandboxSeller3"}

    def rules_evaluated():
        groups = requests.get(f"{base}/api/v1/rules", timeout=5).json()["data"]["groups"]
        rules = [rule for group in groups for rule in group["rules"]]
        return len(rules) == 9 and all(r["health"] == "ok" for r in rules) and rules
    rules = _until(rules_evaluated, 30, "rules evaluated healthy", log)
    firing = [r["name"] for r in rules if r["state"] == "firing"]
    assert firing == [], firing  # a healthy sandbox daemon raises no alert
    # every dashboard query is valid PromQL for this Prometheus, and the panels about now show data
    panels = json.loads(DASHBOARD.read_text())["panels"]
    queries = {panel["title"]: target["expr"].replace("$instance", ".*")
               for panel in panels for target in panel["targets"]}
    for expr in queries.values():
        _query(base, expr)  # a syntax error fails here
    for title in ("Ready", "Live deals", "Accounts healthy", "Live deals by state", "External calls by outcome",
                  "Account health", "Leases held", "Ads online per Bybit account", "Request budget use per account",
                  "USDT per Bybit account"):
        _until(lambda: _query(base, queries[title]), 20, f"data for the panel {title!r}", log)  # rates need 2 scrapes
    assert proc.poll() is None


def test_the_dashboard_and_rules_read_only_metrics_the_daemon_exports(daemon):
    exported = set(re.findall(r"^# TYPE (itrader_[a-z_]+) ", daemon.get("/metrics").text, re.M))
    exported |= {name.removesuffix("_total") for name in exported} | {f"{name}_total" for name in exported}
    dashboard = json.loads(DASHBOARD.read_text())
    expressions = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    assert len(expressions) >= 17 and dashboard["uid"] == "itrader-desk"
    used = _metric_names("\n".join(expressions)) | _metric_names(RULES.read_text())
    assert used - exported == set(), sorted(exported)
    assert {"itrader_ready", "itrader_account_healthy", "itrader_deals", "itrader_external_calls_total"} <= used
