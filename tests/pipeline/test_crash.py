"""Crash safety (DESIGN §5.4, §6): the daemon, a real subprocess, is killed with SIGKILL at random
points while it works through 50 payouts, and restarted on the same SQLite file each time.

Half of the kills come after a random delay; the other half right after the platform performed a
money step (take, create ad, approve, release) but before the daemon read the answer. In the end
every deal is terminal, each deal's state agrees with Gate and Bybit, no money step happened twice,
no ad is left online, and the sandbox's audit of the money is clean.
"""
from __future__ import annotations

import random
import time
from collections import Counter
from decimal import Decimal

import gevent
import gevent.event
import pytest

from itrader.store import Store, open_database
from tests.pipeline.crash_harness import STEP_NAMES, CrashingDaemon, KillPoint, WorldFront
from tests.pipeline.harness import TERMINAL

SEED = 20240611
DEALS = 50
PERSONAS = (["honest"] * 31 + ["gibberish-then-yes"] * 3 + ["wrong-amount"] * 3 + ["refuser"] * 3
            + ["forged-email"] * 3 + ["appeal"] * 2 + ["paid-but-not-marked"] * 2 + ["wrong-recipient"] * 2
            + ["prompt-injector"])
KILL_PHASE = 150.0  # seconds of killing; then the daemon runs undisturbed until every deal ends
BUDGET = 280.0  # the whole drill
STEP_WAIT = 6.0  # an armed money-step kill that has not tripped by then becomes a timed kill
APPROVED, RELEASED = (6, 7), 50


def payout_specs(rng: random.Random) -> list[dict]:
    """Distinct amounts (a buyer takes any ad of its amount; distinct amounts keep the ads apart)."""
    personas = PERSONAS[:DEALS]
    rng.shuffle(personas)
    banks = ("sberbank", "tinkoff", "alfabank", "vtb", "ozonbank", "psbank")
    return [{"amount": Decimal(2000 + 97 * i), "method": "card" if i % 7 == 3 else "sbp",
             "bank": banks[i % len(banks)], "persona": persona} for i, persona in enumerate(personas)]


@pytest.mark.slow
@pytest.mark.timeout(BUDGET + 90)
def test_sigkill_at_random_points_leaves_every_deal_terminal_and_consistent(world, tmp_path):
    assert len(PERSONAS) == DEALS
    rng = random.Random(SEED)
    front = WorldFront(world)
    daemon = CrashingDaemon(front, tmp_path / "daemon", world.imap_login,
                            timeouts={"answer": 40, "receipt_after_requisites": 40, "stuck": 90},
                            bybit={"max_ads_per_account": 4, "ad_side_limit": 100})
    world.bybit.set_ad_rules(side_limit=None)  # the drill is about crashes, not Bybit's per-side ad limit
    specs = payout_specs(rng)
    payouts: list[dict] = []

    def feed() -> None:  # payouts arrive over the first minute, as a stream would
        for index, spec in enumerate(specs):
            payouts.append(world.create_payout(spec["amount"], spec["method"], spec["bank"],
                                               persona=spec["persona"]))
            if index >= 5:
                gevent.sleep(1.0)

    started = time.monotonic()
    kills: list[KillPoint] = []
    store: Store | None = None

    def elapsed() -> float:
        return time.monotonic() - started

    def deals():
        return store.deals.list_deals(limit=10_000) if store is not None else []

    def all_terminal() -> bool:
        rows = deals()
        return len(payouts) == DEALS and len(rows) == DEALS and all(r.state in TERMINAL for r in rows)

    def kill_point(how: str) -> None:
        daemon.kill()
        live = sum(1 for r in deals() if r.state not in TERMINAL)
        last = tuple(e["kind"] for e in world.ledger.entries()[-3:])
        kills.append(KillPoint(elapsed(), daemon.runs, how, last, live))

    feeder = gevent.spawn(feed)
    try:
        daemon.start()
        daemon.wait_ready()
        store = Store(open_database(f"sqlite:///{daemon.database}"))
        while elapsed() < KILL_PHASE and not all_terminal():
            if rng.random() < 0.5:
                delay = rng.uniform(0.2, 3.0)
                gevent.sleep(delay)
                kill_point(f"after {delay:.1f}s")
            else:
                step = rng.choice(STEP_NAMES + ("any",))
                tripped = gevent.event.Event()

                def trip(done_step: str, tripped=tripped) -> None:
                    kill_point(f"after {done_step}")
                    tripped.set()
                front.switch.arm(step, trip)
                if not tripped.wait(STEP_WAIT):
                    front.switch.disarm()
                    kill_point(f"after {STEP_WAIT:.0f}s (no {step})")
            daemon.start()
            daemon.wait_ready()

        # undisturbed: the last run finishes every deal
        while not all_terminal() and elapsed() < BUDGET:
            assert daemon.alive(), f"the daemon died on its own:\n{daemon.tail()}"
            gevent.sleep(0.5)
        rows = deals()
        live = [f"{r.id}:{r.state}:{r.reason}" for r in rows if r.state not in TERMINAL]
        assert all_terminal(), (f"after {elapsed():.0f}s, {len(rows)}/{DEALS} deals, not terminal: {live}\n"
                                f"{daemon.tail()}")
        # cancels of the ads of finished deals may still be under way
        settle = time.monotonic() + 15
        while _online_ads(world) and time.monotonic() < settle:
            gevent.sleep(0.5)
    finally:
        front.switch.disarm()
        feeder.kill()
        daemon.terminate()
        front.stop()
        print(f"\nkill points tried: {len(kills)}")
        for point in kills:
            print(f"  {point}")
        print(f"daemon runs: {daemon.runs}; wall time {elapsed():.0f}s; end states: "
              f"{dict(Counter(r.state for r in deals()))}")
        reasons = Counter(f"{r.state}: {(r.reason or '').split(':')[0]}" for r in deals() if r.state != "COMPLETED")
        print(f"why not completed: {dict(reasons)}")
    _assert_consistent(world, rows, payouts)


def _online_ads(world) -> list[dict]:
    """Online ads nobody has an order on: a finished deal's ad left behind (an ad with an open order
    belongs to a deal an operator must settle, e.g. MANUAL_REVIEW after the buyer went quiet)."""
    return [ad for ad in world.bybit.ads(online_only=True) if not Decimal(str(ad["frozen_quantity"]))]


def _assert_consistent(world, rows, payouts) -> None:
    ledger = world.ledger
    by_payout = {str(r.payout_id): r for r in rows}
    assert sorted(by_payout) == sorted(str(p["id"]) for p in payouts), "one deal per payout"
    orders = {str(o["id"]): o for o in world.orders_view()}
    released = Counter(str(e["order_id"]) for e in ledger.entries("bybit_release"))
    approved = Counter(int(e["payout_id"]) for e in ledger.entries("gate_approve"))
    taken = Counter(int(e["payout_id"]) for e in ledger.entries("gate_take"))
    ads_per_amount = Counter(Decimal(e["amount"]) for e in ledger.entries("bybit_ad_create"))
    problems: list[str] = []
    for payout in payouts:
        pid = int(payout["id"])
        row = by_payout[str(pid)]
        status = world.gate.payout(pid)["status"]
        order = orders.get(str(row.order_id)) if row.order_id else None
        done = row.state == "COMPLETED"
        tag = f"deal {row.id} (payout {pid}, {payout['buyer']['persona'] if payout.get('buyer') else '?'}, " \
              f"{row.state}: {row.reason})"
        if done != (status in APPROVED):
            problems.append(f"{tag}: Gate payout status {status}")
        if done != (order is not None and order["status"] == RELEASED):
            problems.append(f"{tag}: Bybit order {row.order_id} status {order and order['status']}")
        if approved[pid] > 1 or taken[pid] > 1:
            problems.append(f"{tag}: approved {approved[pid]}x, taken {taken[pid]}x")
        if row.order_id and released[str(row.order_id)] > 1:
            problems.append(f"{tag}: order {row.order_id} released {released[str(row.order_id)]}x")
        amount = Decimal(str(payout["amount"]))
        if ads_per_amount[amount] > 1:
            problems.append(f"{tag}: {ads_per_amount[amount]} ads created for {amount} RUB")
    for ad in _online_ads(world):
        problems.append(f"ad {ad.get('item_id')} ({ad.get('max_amount')} RUB) still online")
    violations = world.audit()
    assert not problems and violations == [], "\n".join(problems + [str(v) for v in violations])
