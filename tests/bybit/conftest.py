"""Bybit sandbox served over real HTTP on loopback, plus clients for it."""
from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import bottle
import pytest
from gevent.pywsgi import WSGIServer

from itrader.bybit import BybitClient, Budgets
from itrader.sandbox.bybit import BybitSandbox
from itrader.sandbox.faults import Faults
from itrader.sandbox.ledger import Ledger

SELLER_UID = "1400000"
SELLER_KEY = "SANDBOXKEY-SELLER-1"
SELLER_SECRET = "SANDBOXSECRET-SELLER-1-do-not-log"


@contextmanager
def serve(app: bottle.Bottle, mount: str = "/bybit") -> Iterator[str]:
    """Serve `app` under `mount` on 127.0.0.1 with a free port; yields the base URL."""
    root = bottle.Bottle()
    root.mount(mount + "/", app)
    server = WSGIServer(("127.0.0.1", 0), root, log=None)
    server.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}{mount}"
    finally:
        server.stop(timeout=2)


class ManualClock:
    """A sandbox clock the test moves forward (payment-period expiry without waiting)."""

    def __init__(self, start: float | None = None) -> None:
        self.now = time.time() if start is None else start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class BybitWorld:
    sandbox: BybitSandbox
    ledger: Ledger
    faults: Faults
    base_url: str

    def client(self, key: str = SELLER_KEY, secret: str = SELLER_SECRET, **options) -> BybitClient:
        options.setdefault("budgets", Budgets())
        return BybitClient(self.base_url, key, secret, **options)


@contextmanager
def bybit_world(clock=time.time, seed: int = 1, reads_per_second: float = 10, writes_per_second: float = 5,
                **sandbox_options) -> Iterator[BybitWorld]:
    ledger, faults = Ledger(), Faults(seed=seed)
    sandbox = BybitSandbox(ledger, faults, clock, **sandbox_options)
    sandbox.add_account(SELLER_UID, SELLER_KEY, SELLER_SECRET, nickname="SellerDemo",
                        read_per_second=reads_per_second, write_per_second=writes_per_second)
    with serve(sandbox.make_app()) as base_url:
        yield BybitWorld(sandbox, ledger, faults, base_url)


@pytest.fixture
def world() -> Iterator[BybitWorld]:
    with bybit_world() as w:
        yield w


@pytest.fixture
def client(world: BybitWorld) -> BybitClient:
    return world.client()
