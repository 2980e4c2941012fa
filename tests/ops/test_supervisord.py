"""The shipped supervisord.conf, run as is by real supervisord (PyPI `supervisor`, a test dependency):
only its paths, the listen port and the user are moved into a temp dir. The daemon trades against an
external sandbox World; supervisord starts with none of the daemon's variables in its environment, the
secrets come from the environment file the program line names.

* `kill -9` → supervisord respawns the daemon and the deals it was in resume to COMPLETED;
* `supervisorctl stop` → the daemon exits 0 and leaves every Gate balance at 0.
"""
from __future__ import annotations

import getpass
import os
import re
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest
import requests

from itrader.store import Store, open_database
from tests.core.daemon_process import free_port
from tests.pipeline.harness import TERMINAL, TEST_ENCRYPTION_KEY, daemon_config_text

SHIPPED = Path(__file__).resolve().parents[2] / "supervisord.conf"
TOKEN = "supervised-token-123456"
# What supervisord must not find in its own environment: the shipped file has to start without them.
DAEMON_VARIABLES = ("DATABASE_URL", "REDIS_URL", "ENCRYPTION_KEY", "ITRADER_API_TOKEN", "ITRADER_MODE",
                    "OPENROUTER_API_KEY", "EMAIL_ADDRESS", "EMAIL_PASSWORD", "ITRADER_CONFIG")


class Supervised:
    """The shipped supervisord.conf with its paths under `root`, and the tools to drive it."""

    def __init__(self, root: Path, config_text: str) -> None:
        self.root = root
        self.port = free_port()
        dirs = {name: root / name for name in ("etc", "lib", "log", "run")}
        for path in dirs.values():
            path.mkdir(parents=True)
        text = SHIPPED.read_text()
        for old, new in (("/opt/itrader/.venv", sys.prefix), ("/etc/itrader", str(dirs["etc"])),
                         ("/var/lib/itrader", str(dirs["lib"])), ("/var/log/itrader", str(dirs["log"])),
                         ("/run/itrader", str(dirs["run"])), ("127.0.0.1:8080", f"127.0.0.1:{self.port}"),
                         ("\nuser=root\n", f"\nuser={getpass.getuser()}\n"),
                         ("\nuser=itrader\n", f"\nuser={getpass.getuser()}\n")):
            assert old in text, f"the shipped supervisord.conf no longer names {old!r}"
            text = text.replace(old, new)
        self.conf = dirs["etc"] / "supervisord.conf"
        self.conf.write_text(text)
        (dirs["etc"] / "itrader.toml").write_text(config_text)
        env_file = dirs["etc"] / "itrader.env"
        # Only the two required secrets: the optional ones (OPENROUTER_API_KEY, EMAIL_*) stay unset.
        env_file.write_text(f"# iTrader secrets\nENCRYPTION_KEY={TEST_ENCRYPTION_KEY}\nexport ITRADER_API_TOKEN='{TOKEN}'\n")
        env_file.chmod(0o600)
        self.database = dirs["lib"] / "itrader.db"
        self.daemon_log = dirs["log"] / "itrader.log"
        self.supervisord_log = dirs["log"] / "supervisord.log"
        self.env = {k: v for k, v in os.environ.items() if k not in DAEMON_VARIABLES and not k.startswith("ITRADER_")}
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        # -n: in the foreground, so the test owns the process; everything else is the file's.
        self.proc = subprocess.Popen([f"{sys.prefix}/bin/supervisord", "-c", str(self.conf), "-n"],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=self.env)

    def ctl(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([f"{sys.prefix}/bin/supervisorctl", "-c", str(self.conf), *args],
                              capture_output=True, text=True, timeout=90, env=self.env)

    def status(self) -> str:
        return self.ctl("status", "itrader").stdout.strip()

    def pid(self) -> int:
        out = self.ctl("pid", "itrader").stdout.strip()
        return int(out) if out.isdigit() else 0

    def wait(self, condition, timeout: float, what: str):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"supervisord exited {self.proc.returncode}:\n{self.logs()}"
            value = condition()
            if value:
                return value
            time.sleep(0.2)
        raise AssertionError(f"no {what} within {timeout:.0f}s; status {self.status()!r}\n{self.logs()}")

    def healthy(self) -> bool:
        try:
            return requests.get(f"http://127.0.0.1:{self.port}/api/v1/health", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    def deals(self) -> list:
        if not self.database.exists():
            return []
        db = open_database(f"sqlite:///{self.database}")
        try:
            return Store(db).deals.list_deals(limit=1000)
        finally:
            db.close()

    def logs(self) -> str:
        parts = []
        for path in (self.supervisord_log, self.daemon_log):
            if path.exists():
                parts.append(f"--- {path.name}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-40:]))
        return "\n".join(parts)

    def shutdown(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.ctl("shutdown")
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_supervisord_respawns_a_killed_daemon_and_stops_it_cleanly(world, tmp_path):
    config = daemon_config_text(world, tmp_path / "unused", world.imap_login, mode="auto")
    # The secrets come from the environment file, not from the TOML.
    config = "\n".join(line for line in config.splitlines() if not line.startswith(("api_token", "encryption_key")))
    supervised = Supervised(tmp_path / "supervised", config)
    gate_login = world.credentials()["gate"]["login"]
    supervised.start()
    try:
        supervised.wait(supervised.healthy, 60, "healthy daemon")
        first_pid = supervised.wait(supervised.pid, 20, "daemon pid")
        # past startsecs: a kill now is a crash of a started program, not a failed start
        supervised.wait(lambda: "RUNNING" in supervised.status(), 20, "RUNNING state")
        payouts = [world.create_payout(Decimal(2100 + 113 * i), persona="honest") for i in range(2)]
        supervised.wait(lambda: any(d.state not in TERMINAL for d in supervised.deals()), 60, "live deal")

        live_at_kill = {d.payout_id for d in supervised.deals() if d.state not in TERMINAL}
        os.kill(first_pid, 9)
        second_pid = supervised.wait(lambda: supervised.pid() not in (0, first_pid) and supervised.pid(), 30,
                                     "respawned daemon")
        supervised.wait(supervised.healthy, 60, "healthy daemon after the respawn")
        payouts.append(world.create_payout(Decimal(2400), persona="honest"))

        def all_completed():
            rows = {str(d.payout_id): d for d in supervised.deals()}
            return len(rows) == len(payouts) and all(d.state in TERMINAL for d in rows.values()) and rows
        rows = supervised.wait(all_completed, 150, "every deal terminal")
        assert {d.state for d in rows.values()} == {"COMPLETED"}, {k: (d.state, d.reason) for k, d in rows.items()}
        assert live_at_kill and live_at_kill <= set(rows)
        assert supervised.pid() == second_pid, "the daemon restarted more than once"
        # itrader_deals counts live deals: none now, and a finished state never had a series
        metrics = requests.get(f"http://127.0.0.1:{supervised.port}/metrics",
                               headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10).text
        live = re.findall(r'^itrader_deals\{state="([A-Z_]+)"\} (\S+)$', metrics, re.M)
        assert live and all(float(value) == 0 for _, value in live), live
        assert not {state for state, _ in live} & TERMINAL
        assert world.audit() == []
        assert world.gate.balance(gate_login) > 0  # topped up while trading

        stop = supervised.ctl("stop", "itrader")
        assert stop.returncode == 0, stop.stdout + stop.stderr
        assert "itrader: stopped" in stop.stdout
        assert "STOPPED" in supervised.status()
        assert "stopped: itrader (exit status 0)" in supervised.supervisord_log.read_text()
        assert world.gate.balance(gate_login) == 0
    finally:
        supervised.shutdown()
    assert supervised.proc.returncode == 0
    log = supervised.daemon_log.read_text()
    assert "Traceback" not in log, log[-3000:]
