"""Config mistakes as the operator meets them: the `itrader` command exits 2 with one line
`itrader: config error: KEY: problem` per mistake, never a traceback, whatever command read the file."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.core.daemon_process import DaemonProcess

ROOT = Path(__file__).resolve().parents[2]
ITRADER = Path(sys.executable).with_name("itrader")  # the console script `make install` puts in the venv

LOOPBACK_SANDBOX = """
[sandbox]
external = true
[gate]
base_url = "http://127.0.0.1:8081/gate/api/v1"
[bybit]
base_url = "http://127.0.0.1:8081/bybit"
[assistant]
base_url = "http://127.0.0.1:8081/llm/v1"
[email]
imap_host = "127.0.0.1"
imap_ssl = false
dkim_key_source = "sandbox"
"""


def itrader(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    command = [str(ITRADER)] if ITRADER.exists() else [sys.executable, "-m", "itrader.cli"]
    environment = {k: v for k, v in os.environ.items() if not k.startswith("ITRADER_")}
    environment.update(env or {})
    return subprocess.run([*command, *args], capture_output=True, text=True, timeout=60, env=environment)


def assert_refused(result: subprocess.CompletedProcess, *keys: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert [line.split(": ")[2] for line in lines] == list(keys), result.stderr
    assert all(line.startswith("itrader: config error: ") for line in lines), result.stderr


# The refusals of issue 11: each of these started trading (or crashed with a traceback) before.
@pytest.mark.parametrize("text, key", [
    ("[pricing]\nmarkup_percent = -50\n", "pricing.markup_percent"),
    ('[gate]\nmin_order_amount = "50000"\nmax_order_amount = "1000"\n', "gate.min_order_amount"),
    ("[pricing]\nfixed_rate = inf\n", "pricing.fixed_rate"),
    ('[pricing]\nfixed_rate = "NaN"\n', "pricing.fixed_rate"),
    ('[pricing]\nextra_usdt = "-5"\n', "pricing.extra_usdt"),
    ('[gate]\ntarget_balance = "-10000000"\n', "gate.target_balance"),
    ("[email]\nimap_port = 70000\n", "email.imap_port"),
    ('[email]\nimap_host = "imap.example.com"\ndkim_key_source = "sandbox"\n', "email.dkim_key_source"),
    (LOOPBACK_SANDBOX.replace("http://127.0.0.1:8081/bybit", "https://api.bybit.com"), "bybit.base_url"),
    (LOOPBACK_SANDBOX.replace('imap_host = "127.0.0.1"', 'imap_host = "imap.example.com"'), "email.imap_host"),
])
def test_itrader_run_refuses_a_money_mistake_with_exit_2_naming_the_key(tmp_path, text, key):
    config = tmp_path / "itrader.toml"
    config.write_text(text)
    assert_refused(itrader("run", "--config", str(config), "--data-dir", str(tmp_path / "var")), key)
    assert not (tmp_path / "var").exists()  # nothing started


@pytest.mark.parametrize("command", [
    ("run", "{options}"), ("status", "{options}"), ("deals", "{options}"), ("confirm", "{options}", "1"),
    ("accounts", "{options}", "list"), ("migrate", "{options}"),
])
def test_every_command_that_reads_the_config_refuses_it_line_by_line(tmp_path, command):
    config = tmp_path / "itrader.toml"
    config.write_text('[pricing]\nmarkup_percent = -50\nfixed_rate = "NaN"\n[email]\nimap_port = 70000\n')
    options = ["--config", str(config), "--data-dir", str(tmp_path / "var")]
    result = itrader(*[part for arg in command for part in (options if arg == "{options}" else [arg])])
    assert_refused(result, "pricing.fixed_rate", "pricing.markup_percent", "email.imap_port")


def test_a_sandbox_credential_from_the_environment_is_refused(tmp_path):
    config = tmp_path / "itrader.toml"
    config.write_text("[daemon]\nmode = \"manual\"\n")
    assert_refused(itrader("migrate", "--config", str(config), "--data-dir", str(tmp_path / "var"),
                           env={"ITRADER_API_TOKEN": "sandbox-token"}), "daemon.api_token")


@pytest.mark.parametrize("config", [["--config", str(ROOT / "test_data" / "sandbox-external.toml")], []],
                         ids=["sandbox-external.toml", "make-run-sandbox-profile"])
def test_the_shipped_configs_load(tmp_path, config):
    result = itrader("migrate", *config, "--data-dir", str(tmp_path / "var"))
    assert result.returncode == 0, result.stderr
    assert "schema at version" in result.stdout


def test_risky_settings_are_logged_as_warnings_at_start(tmp_path):
    daemon = DaemonProcess(tmp_path / "var", env={"ITRADER_API_TOKEN": "short-token"}).wait_ready()
    try:
        log = daemon.log()
    finally:
        daemon.close()
    assert "WARNING itrader.daemon: config: daemon.api_token: shorter than 16 characters" in log
    assert "short-token" not in log
