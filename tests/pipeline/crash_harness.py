"""Crash drills: the daemon as a real subprocess, killed with SIGKILL and restarted.

* `KillSwitch` — a WSGI layer in front of the sandbox World. Armed for a money step (take,
  create_ad, approve, release), it lets the platform perform that request and then kills the
  daemon before the answer leaves: the platform did it, the daemon never heard. This is the
  crash the intent journal exists for.
* `CrashingDaemon` — `python -m itrader.cli run --config … --data-dir …` on a fixed loopback
  port; every restart shares the same SQLite file.
* `KillPoint` — what a kill interrupted (when, how, the last ledger entries).
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import requests

from itrader.sandbox.server import HTTPServer
from itrader.sandbox.world import MOUNTS
from tests.core.daemon_process import free_port
from tests.pipeline.harness import daemon_config_text

# (method, path pattern) of each money step as the platforms serve it
MONEY_STEPS: tuple[tuple[str, re.Pattern, str], ...] = (
    ("POST", re.compile(r"/gate/api/v1/payments/payouts/\d+/show$"), "take"),
    ("POST", re.compile(r"/gate/api/v1/payments/payouts/\d+/approve$"), "approve"),
    ("POST", re.compile(r"/bybit/v5/p2p/item/create$"), "create_ad"),
    ("POST", re.compile(r"/bybit/v5/p2p/order/finish$"), "release"),
)
STEP_NAMES = tuple(name for _, _, name in MONEY_STEPS)


def money_step(method: str, path: str) -> str | None:
    for want_method, pattern, name in MONEY_STEPS:
        if method == want_method and pattern.search(path):
            return name
    return None


class KillSwitch:
    """WSGI middleware: after the platform has answered an armed money step, call `trip` first."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.armed: str | None = None  # a step name, "any", or None
        self.trip: Callable[[str], None] | None = None

    def arm(self, step: str, trip: Callable[[str], None]) -> None:
        self.armed, self.trip = step, trip

    def disarm(self) -> None:
        self.armed, self.trip = None, None

    def __call__(self, environ: dict, start_response: Callable) -> Any:
        step = money_step(environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", ""))
        body = b"".join(self.app(environ, start_response))  # the platform has acted once this returns
        if step and self.armed in (step, "any") and self.trip is not None:
            trip, self.armed, self.trip = self.trip, None, None
            trip(step)  # the daemon dies before it reads the answer
        return [body]


class WorldFront:
    """The World as the daemon sees it: its platforms behind the kill switch."""

    def __init__(self, world: Any) -> None:
        self.world = world
        self.switch = KillSwitch(world.app())
        self._http = HTTPServer(self.switch, "127.0.0.1:0").start()

    @property
    def urls(self) -> dict[str, str]:
        return {name: self._http.url + prefix for name, prefix in MOUNTS.items()}

    def credentials(self) -> dict[str, Any]:
        return self.world.credentials()

    def stop(self) -> None:
        self._http.stop()


@dataclass
class KillPoint:
    at: float  # seconds since the drill started
    run: int  # which daemon run was killed
    how: str  # "after 1.3s" or "after take" (the platform did it, the daemon never heard)
    last_ledger: tuple[str, ...]  # kinds of the last ledger entries before the kill
    live_deals: int

    def __str__(self) -> str:
        return (f"t={self.at:6.1f}s run {self.run:3d} {self.how:<22} live={self.live_deals:2d} "
                f"last={','.join(self.last_ledger)}")


@dataclass
class CrashingDaemon:
    """One data dir and config; start, SIGKILL and restart the daemon as often as wanted."""

    front: WorldFront
    data_dir: Path
    imap: tuple[str, int, str, str] | None
    timeouts: dict[str, float] = field(default_factory=dict)
    bybit: dict[str, Any] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    runs: int = 0
    proc: subprocess.Popen | None = None

    def __post_init__(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.config_path = self.data_dir / "itrader.toml"
        self.log_path = self.data_dir / "daemon.log"
        text = daemon_config_text(self.front, self.data_dir, self.imap, mode="auto")
        text = text.replace('listen = "127.0.0.1:0"', f'listen = "127.0.0.1:{self.port}"')
        for key, value in self.timeouts.items():
            text = re.sub(rf"(?m)^{key} = .*$", f"{key} = {value}", text)
        for key, value in self.bybit.items():  # extra [bybit] keys
            text = text.replace("[bybit]\n", f"[bybit]\n{key} = {value}\n", 1)
        self.config_path.write_text(text)
        self.database = self.data_dir / "itrader.db"

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None, "the daemon is still running"
        self.runs += 1
        env = {k: v for k, v in os.environ.items() if not k.startswith("ITRADER_")}
        with open(self.log_path, "ab") as log:
            log.write(f"\n===== run {self.runs} =====\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "itrader.cli", "run", "--config", str(self.config_path),
                 "--data-dir", str(self.data_dir)],
                stdout=log, stderr=subprocess.STDOUT, env=env)

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"daemon run {self.runs} exited {self.proc.returncode}:\n{self.tail()}")
            try:
                if requests.get(f"{self.base}/api/v1/health", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.05)
        raise AssertionError(f"daemon run {self.runs} not ready in {timeout}s:\n{self.tail()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, whatever was in flight is lost."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def terminate(self, timeout: float = 30.0) -> int | None:
        if not self.alive():
            return None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def leased_accounts(world: Any) -> list[str]:
    """The lease names ("<platform>:<account>") of a pipeline daemon's accounts: three Bybit accounts, the
    Gate account and, when there is one, the receipt mailbox (one daemon reads it)."""
    creds = world.credentials()
    names = [f"bybit:{b['nickname']}" for b in creds["bybit"][:3]] + [f"gate:{creds['gate']['login']}"]
    if world.imap_login:
        names.append(f"mailbox:{world.imap_login[2]}")
    return names


def sharing_daemon(front: Any, data_dir: Path, imap: Any, database_url: str, redis_url: str,
                   lease_ttl: float) -> CrashingDaemon:
    """One of several daemons on one PostgreSQL and one Redis (DESIGN §9), leasing the accounts there."""
    daemon = CrashingDaemon(front, data_dir, imap, timeouts={"answer": 30, "receipt_after_requisites": 30, "stuck": 60})
    # A lease must outlive the slowest request made under it (the config refuses less): short both.
    text = daemon.config_path.read_text()
    for section in ("[gate]\n", "[bybit]\n"):
        text = text.replace(section, f"{section}request_timeout = {lease_ttl * 0.8:g}\n", 1)
    daemon.config_path.write_text(text + (
        f'\n[database]\nurl = "{database_url}"\n[redis]\nurl = "{redis_url}"\nlease_ttl = {lease_ttl}\n'))
    return daemon
