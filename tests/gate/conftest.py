"""The Gate sandbox on a real loopback port, mounted as the World mounts it (/gate/api/v1)."""
from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Callable, Iterator

import bottle
import pytest

from itrader.gate import GateClient
from itrader.sandbox.faults import FaultPlan, Faults
from itrader.sandbox.gate import GateSandbox
from itrader.sandbox.ledger import Ledger
from itrader.sandbox.server import HTTPServer, root_app

GATE_PREFIX = "/gate/api/v1"
LOGIN = "trader@example.com"
PASSWORD = "s3cret-Pa55word"
START = 1749546000.0  # 2025-06-10T09:00:00Z


@contextmanager
def serving(mounts: dict[str, bottle.Bottle]) -> Iterator[str]:
    """Serve Bottle apps on a free loopback port; yields the server's base URL."""
    server = HTTPServer(root_app(mounts), "127.0.0.1:0").start()
    try:
        yield server.url
    finally:
        server.stop(timeout=1)


class ScriptedFaults(Faults):
    """Real fault plans plus a script of faults for the next requests, in order.

    The sandbox's fault plugin draws from it as from any Faults, so a test can say
    "the next request fails with a 502" deterministically.
    """

    def __init__(self) -> None:
        super().__init__(seed=7)
        self._script: list[str] = []
        self._script_lock = threading.Lock()

    def script(self, *kinds: str) -> None:
        with self._script_lock:
            self._script.extend(kinds)

    def draw(self, platform: str, kinds: tuple[str, ...] = Faults.GENERIC) -> str | None:
        with self._script_lock:
            if self._script and self._script[0] in kinds:
                return self._script.pop(0)
        return super().draw(platform, kinds)


class FakeClock:
    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class GateWorld:
    sandbox: GateSandbox
    ledger: Ledger
    faults: ScriptedFaults
    clock: Callable[[], float]
    base_url: str  # the Gate API base

    def client(self, login: str = LOGIN, password: str = PASSWORD, **options: Any) -> GateClient:
        options.setdefault("timeout", 5.0)
        options.setdefault("backoff", 0.01)
        options.setdefault("max_backoff", 0.05)
        return GateClient(self.base_url, login, password, **options)

    def set_faults(self, **plan: float) -> None:
        self.faults.set("gate", FaultPlan(**plan))

    def requests(self, path_suffix: str = "") -> list:
        return [r for r in self.sandbox.request_log() if r.path.endswith(path_suffix)]


@pytest.fixture
def make_gate() -> Iterator[Callable[..., GateWorld]]:
    """Factory: make_gate(clock=..., **GateSandbox options) -> a served GateWorld with one funded trader."""
    with_servers: list = []

    def make(clock: Callable[[], float] | None = None, **options: Any) -> GateWorld:
        clock = clock or FakeClock()
        ledger, faults = Ledger(), ScriptedFaults()
        sandbox = GateSandbox(ledger, faults, clock, **options)
        sandbox.add_account(LOGIN, PASSWORD, Decimal("10000000"))
        context = serving({GATE_PREFIX: sandbox.make_app()})
        url = context.__enter__()
        with_servers.append(context)
        return GateWorld(sandbox, ledger, faults, clock, url + GATE_PREFIX)

    yield make
    for context in with_servers:
        context.__exit__(None, None, None)


@pytest.fixture
def gate(make_gate) -> GateWorld:
    """A Gate sandbox on a fake clock starting 2025-06-10 09:00 UTC."""
    return make_gate()
