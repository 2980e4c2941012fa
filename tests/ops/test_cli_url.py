"""Client commands find the daemon by `--url` or `$ITRADER_URL` (not by the daemon's own --listen)."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.core.daemon_process import DaemonProcess, free_port


@pytest.fixture
def daemon(tmp_path):
    process = DaemonProcess(tmp_path / "var").wait_ready()
    yield process
    process.close()


def itrader(*args: str, env: dict | None = None, cwd=None) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("ITRADER_")}
    environment.update(env or {})
    return subprocess.run([sys.executable, "-m", "itrader.cli", *args], capture_output=True, text=True,
                          timeout=60, env=environment, cwd=cwd)


def test_status_and_deals_by_url_flag_and_environment(daemon, tmp_path):
    by_flag = itrader("status", "--url", daemon.base, "--token", daemon.token)
    assert by_flag.returncode == 0, by_flag.stderr
    assert "[Deals] running" in by_flag.stdout
    # the sandbox token file is found in the data dir, the address in $ITRADER_URL
    by_env = itrader("deals", "--data-dir", str(daemon.data_dir), env={"ITRADER_URL": daemon.base + "/"})
    assert by_env.returncode == 0, by_env.stderr
    assert by_env.stdout.rstrip().endswith("deal(s)")
    # the flag wins over the environment
    nowhere = f"http://127.0.0.1:{free_port()}"
    wrong = itrader("status", "--url", nowhere, "--token", daemon.token, env={"ITRADER_URL": daemon.base})
    assert wrong.returncode == 1 and f"daemon not reachable at {nowhere}" in wrong.stderr


@pytest.mark.parametrize("url", ["127.0.0.1:8080", "ftp://127.0.0.1:8080", "http://"])
def test_a_malformed_url_is_a_usage_error(url):
    result = itrader("status", "--url", url, "--token", "x" * 20)
    assert result.returncode == 2
    assert result.stderr.startswith("itrader: config error: --url: expected http://HOST:PORT")
