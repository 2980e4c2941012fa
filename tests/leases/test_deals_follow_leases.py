"""The Deals supervisor with account leases (DESIGN §9): a deal runs only in the process that holds its
Gate account and, once it has one, its Bybit account; taking a lease starts the account's unfinished
deals, losing it stops them. Real pykka actors and a real SQLite store; the Deal children are stand-ins
that only register themselves, as a Deal does."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

import gevent
import pykka
import pytest

from actors.base import SupervisedActor
from actors.deals import DealsSupervisor, deal_accounts, may_run_here
from actors.directory import Directory
from actors.messages import AnnounceLease, LeaseChanged
from actors.supervisor import ChildSpec, Restart
from itrader.store import Store, migrate, open_database
from tests.actors.test_gate_account import Probe


class StandInDeal(SupervisedActor):
    def __init__(self, deal_id: int, directory: Directory, context: Any = None) -> None:
        super().__init__(context)
        self.name, self.directory = f"deal:{deal_id}", directory

    def on_start(self) -> None:
        self.directory.register(self.name, self.actor_ref)

    def on_stop(self) -> None:
        self.directory.unregister(self.name, self.actor_ref)


@pytest.fixture
def store(tmp_path):
    db = open_database(tmp_path / "itrader.sqlite3")
    migrate(db)
    yield Store(db)
    pykka.ActorRegistry.stop_all(block=True, timeout=5)
    db.close()


def running(directory: Directory) -> list[str]:
    return [name for name in directory.names("deal:") if directory.get(name) is not None]


def settle(directory: Directory, expected: list[str]) -> list[str]:
    for _ in range(500):
        if running(directory) == expected:
            break
        gevent.sleep(0.01)
    return running(directory)


def open_deal(store: Store, payout: int, gate: str, bybit: str | None = None, state: str = "ACCEPTED") -> int:
    row, _ = store.deals.create_deal(payout, Decimal(5000), state=state, data={"gate_account": gate})
    if bybit is not None:
        store.deals.record_note(row.id, "transition", {"facts": {"account": bybit, "state": state}})
    return row.id


def test_the_accounts_of_a_deal_come_from_its_journal(store):
    deal_id = open_deal(store, 1, "g1", "b1")
    assert deal_accounts(store.deals.journal(deal_id)) == ("g1", "b1")
    assert deal_accounts(store.deals.journal(open_deal(store, 2, "g1"))) == ("g1", None)
    assert may_run_here("g1", None, {("gate", "g1")})
    assert not may_run_here("g1", "b1", {("gate", "g1")})
    assert may_run_here("g1", "b1", {("gate", "g1"), ("bybit", "b1")})
    assert not may_run_here(None, None, {("gate", "g1")})


def test_deals_start_and_stop_with_their_accounts_leases(store):
    directory = Directory()
    gate_inbox: list = []
    directory.register("gate:g1", Probe.start(gate_inbox))
    on_gate_only = open_deal(store, 1, "g1")
    on_both = open_deal(store, 2, "g1", "b1")
    open_deal(store, 3, "g2")  # another process's Gate account
    open_deal(store, 4, "g1", state="COMPLETED")  # finished: never started

    def spec(deal_id: int) -> ChildSpec:
        return ChildSpec(id=f"deal:{deal_id}", kind="Deal", restart=Restart.TRANSIENT,
                         factory=lambda ctx: StandInDeal.start(deal_id, directory, context=ctx))

    deals = DealsSupervisor.start(store, directory, spec, leased=True, name="Deals", kind="Deals")
    deals.proxy().status().get(timeout=5)
    assert running(directory) == []  # nothing before a lease is held
    for _ in range(100):
        if gate_inbox:
            break
        gevent.sleep(0.01)
    assert gate_inbox == [AnnounceLease()]  # accounts that hold their lease already are asked to say so

    deals.tell(LeaseChanged("gate", "g1", True))
    assert settle(directory, [f"deal:{on_gate_only}"]) == [f"deal:{on_gate_only}"]
    deals.tell(LeaseChanged("bybit", "b1", True))
    both = sorted([f"deal:{on_gate_only}", f"deal:{on_both}"])
    assert settle(directory, both) == both

    deals.tell(LeaseChanged("bybit", "b1", False))
    assert settle(directory, [f"deal:{on_gate_only}"]) == [f"deal:{on_gate_only}"]
    deals.tell(LeaseChanged("gate", "g1", False))
    assert settle(directory, []) == []


class FirstLifeCrashes(StandInDeal):
    """A deal whose first life dies starting (its database session was ended under it, say)."""

    lives: dict[int, int] = {}

    def __init__(self, deal_id: int, directory: Directory, context: Any = None) -> None:
        super().__init__(deal_id, directory, context)
        self.deal_id = deal_id

    def on_start(self) -> None:
        self.lives[self.deal_id] = self.lives.get(self.deal_id, 0) + 1
        if self.lives[self.deal_id] == 1:
            raise RuntimeError("connection already closed")
        super().on_start()


def test_a_deal_waiting_to_restart_does_not_come_back_after_its_lease_is_lost(store):
    """A holder woken from a freeze finds its deals crashed and its leases gone: the deals that were to be
    restarted are not — they run where the leases are now."""
    FirstLifeCrashes.lives.clear()
    directory = Directory()
    deal_id = open_deal(store, 1, "g1")

    def spec(deal_id: int) -> ChildSpec:
        return ChildSpec(id=f"deal:{deal_id}", kind="Deal", restart=Restart.TRANSIENT,
                         factory=lambda ctx: FirstLifeCrashes.start(deal_id, directory, context=ctx))

    deals = DealsSupervisor.start(store, directory, spec, leased=True, name="Deals", kind="Deals",
                                  backoff_base=1.0, backoff_max=1.0)
    deals.tell(LeaseChanged("gate", "g1", True))
    for _ in range(300):
        if FirstLifeCrashes.lives.get(deal_id):
            break
        gevent.sleep(0.01)
    assert [c.state for c in deals.proxy().which_children().get(timeout=5)] == ["restarting"]

    deals.tell(LeaseChanged("gate", "g1", False))
    gevent.sleep(1.5)  # past the restart delay (0.5–1 s)
    assert FirstLifeCrashes.lives[deal_id] == 1 and running(directory) == []
    assert [c.state for c in deals.proxy().which_children().get(timeout=5)] in ([], ["stopped"])
