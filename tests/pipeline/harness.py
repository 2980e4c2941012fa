"""An in-process daemon wired to a sandbox World, for scenario tests and benchmarks.

The daemon is configured exactly as an operator would (a TOML file naming the
sandbox's URLs and credentials) and talks to the World over real HTTP and, for
receipts, through a real IMAP server.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import gevent

from actors.daemon import System
from actors.tree import build_root
from itrader.config import load
from itrader.events import EventLog
from itrader.store import Store, migrate, open_database

TEST_ENCRYPTION_KEY = "5e" * 32  # encrypts the accounts the daemons import; not a secret of anything real
TERMINAL = {"COMPLETED", "REJECTED_BUYER", "CANCELLED", "DISPUTE", "MANUAL_REVIEW", "ERROR", "BLACKLISTED"}


def daemon_config_text(world, data_dir: Path, imap: tuple[str, int, str, str] | None, mode: str = "auto",
                       extra: str = "", bybit_accounts: int = 3, gate_accounts: list[tuple[str, str]] = (),
                       bybit_extra: str = "", gate_extra: str = "") -> str:
    creds = world.credentials()
    gates = [(creds["gate"]["login"], creds["gate"]["password"]), *gate_accounts]
    gate_text = "\n".join(f'[[gate.accounts]]\nlogin = "{login}"\npassword = "{password}"\n' for login, password in gates)
    accounts = "\n".join(
        f'[[bybit.accounts]]\nname = "{b["nickname"]}"\napi_key = "{b["api_key"]}"\napi_secret = "{b["api_secret"]}"\n'
        for b in creds["bybit"][:bybit_accounts])
    email = ""
    if imap:
        host, port, user, password = imap
        email = (f'[email]\nimap_host = "{host}"\nimap_port = {port}\nimap_ssl = false\naddress = "{user}"\n'
                 f'password = "{password}"\ndkim_key_source = "sandbox"\npoll_interval = 1\n')
    return f"""
[sandbox]
external = true  # the World's published credentials, on loopback
[security]
encryption_key = "{TEST_ENCRYPTION_KEY}"  # the same for every daemon of a test: they may share a database
[daemon]
listen = "127.0.0.1:0"
data_dir = "{data_dir}"
api_token = "test-token-123456"
mode = "{mode}"
shutdown_budget = 10
[gate]
base_url = "{world.urls['gate']}"
poll_interval = 0.2
min_order_amount = "100"
{gate_extra}
{gate_text}
[bybit]
base_url = "{world.urls['bybit']}"
poll_interval = 0.2
{bybit_extra}
{accounts}
{email}
[assistant]
base_url = "{world.urls['llm']}"
api_key = "sandbox-llm-key"
timeout = 2
[timeouts]
reply_delay_min = 0
reply_delay_max = 0
answer = 20
receipt_after_requisites = 20
stuck = 40
{extra}
"""


class InProcessDaemon:
    def __init__(self, world, data_dir: Path, imap=None, mode: str = "auto", extra: str = "",
                 bybit_accounts: int = 3, gate_accounts: list[tuple[str, str]] = (), bybit_extra: str = "",
                 gate_extra: str = "") -> None:
        self._start(daemon_config_text(world, data_dir, imap, mode, extra, bybit_accounts, gate_accounts,
                                       bybit_extra, gate_extra), data_dir, wait_web=30.0)

    def _start(self, config_text: str, data_dir: Path, wait_web: float) -> None:
        """Write the TOML, load it as `itrader run` would, build the actor tree."""
        data_dir.mkdir(parents=True, exist_ok=True)
        path = data_dir / "itrader.toml"
        path.write_text(config_text)
        self.config = load(path, env={})
        self.db = open_database(self.config.database_url)
        migrate(self.db)
        self.store = Store(self.db)
        self.escalated: list[str] = []
        self.system = System(self.config, self.db, EventLog())
        build_root(self.system, on_escalate=self.escalated.append)
        if wait_web and not self.system.web_bound.wait(wait_web):
            raise RuntimeError(f"the daemon's web endpoint did not start within {wait_web:g} s")

    @property
    def base(self) -> str:
        host, port = self.system.web_address
        return f"http://{host}:{port}"

    def deals(self):
        return self.store.deals.list_deals(limit=10_000)

    def deal_for_payout(self, payout_id: int):
        return self.store.deals.by_payout(payout_id)

    def journal(self, deal_id: int):
        return self.store.deals.journal(deal_id)

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 60.0, what: str = "condition") -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            gevent.sleep(0.05)
        raise AssertionError(f"timed out after {timeout}s waiting for {what}; deals: "
                             + ", ".join(f"{d.id}:{d.state}:{d.reason}" for d in self.deals()))

    def wait_state(self, payout_id: int, states: set[str], timeout: float = 60.0):
        def reached() -> bool:
            row = self.deal_for_payout(payout_id)
            return row is not None and row.state in states
        self.wait_for(reached, timeout, f"payout {payout_id} to reach {sorted(states)}")
        return self.deal_for_payout(payout_id)

    def stop(self) -> None:
        if self.system.root is not None:
            try:
                self.system.root.stop(block=True, timeout=30)
            except Exception:  # noqa: BLE001 — a test failure already tells the story
                pass
        import pykka

        pykka.ActorRegistry.stop_all(block=True, timeout=5)
        self.db.close()
