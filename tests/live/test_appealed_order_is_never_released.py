"""Issue 12, item 4: a buyer who paid and waits for a slow receipt can appeal (Bybit order status 30), and
an appeal goes on into the objection flow (100 objectioning, 110 waiting for an objection) with
`appealLastSeconds`. An appealed order makes the deal a DISPUTE with an operator event, and the daemon
never releases it — not when a valid receipt arrives afterwards, not when Bybit would accept the release."""
import re
from decimal import Decimal

import gevent
import requests

from tests.live.sandbox_control import appealed_dispute
from tests.pipeline.harness import TERMINAL

TOKEN = "test-token-123456"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def control(world, method: str, path: str, body: dict) -> dict:
    answer = requests.request(method, world.urls["sandbox"] + path, json=body, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


def appeal_events(daemon, order_id: str) -> list[dict]:
    return [e for e in daemon.system.events.since(0)
            if e["type"] == "bybit_order_appeal" and e["order_id"] == order_id]


def awaiting(daemon, deal_id: int) -> str | None:
    answer = requests.get(f"{daemon.base}/api/v1/deals/{deal_id}", headers=AUTH, timeout=10).json()
    facts = next((e["data"]["facts"] for e in reversed(answer["journal"])
                  if isinstance(e["data"], dict) and "facts" in e["data"]), {})
    return facts.get("awaiting")


def confirm_until(daemon, payout_id: int, last_step: str) -> int:
    """Confirm each money step of a manual deal up to (not including) `last_step`; the deal then waits
    for `last_step`."""
    daemon.wait_for(lambda: daemon.deal_for_payout(payout_id) is not None, 30, "the deal to open")
    deal_id = daemon.deal_for_payout(payout_id).id
    while True:
        daemon.wait_for(lambda: awaiting(daemon, deal_id) is not None, 90, "a step to confirm")
        step = awaiting(daemon, deal_id)
        if step == last_step:
            return deal_id
        daemon.system.confirm_deal(deal_id)
        daemon.wait_for(lambda: awaiting(daemon, deal_id) != step, 30, f"{step} to proceed")


def test_a_buyer_who_appeals_while_waiting_gets_a_dispute_and_no_release(world, make_daemon):
    # The twin accepts a release during an appeal (the worst case: the API does not document a refusal).
    control(world, "PUT", "/bybit/shapes", {"release_in_appeal": True})
    daemon = make_daemon()
    payout = world.create_payout(Decimal("5300"), "sbp", "sberbank", persona="appeals-while-waiting")
    row = daemon.wait_state(payout["id"], TERMINAL, timeout=120)
    assert row.state == "DISPUTE", row.reason
    assert "status 30" in row.reason and "never released" in row.reason
    # The persona mailed its genuine receipt after the appeal; the mailbox had time to read it: nothing moved.
    buyer = world.buyer(payout["id"])
    daemon.wait_for(lambda: any(e["action"] == "send_receipt" and e["ok"] for e in buyer.events), 30,
                    "the receipt to be mailed")
    gevent.sleep(4)
    assert world.ledger.entries("bybit_release") == [] and world.ledger.entries("gate_approve") == []
    assert appeal_events(daemon, row.order_id), "the operator was not told of the appeal"
    assert world.audit() == []


def test_an_appeal_raised_just_before_the_release_stops_it(world, make_daemon):
    """The deal was told 20 by the last poll and the operator confirms the release; the buyer appealed a
    moment before. The release goes by Bybit's word at that moment, not the poll's."""
    control(world, "PUT", "/bybit/shapes", {"release_in_appeal": True})
    daemon = make_daemon(mode="manual")
    payout = world.create_payout(Decimal("5400"), "sbp", "sberbank", persona="honest")
    deal_id = confirm_until(daemon, payout["id"], "release")
    order_id = daemon.deal_for_payout(payout["id"]).order_id
    control(world, "PUT", f"/bybit/orders/{order_id}/appeal", {"status": 30, "appeal_seconds": 1800})
    daemon.system.confirm_deal(deal_id)
    row = daemon.wait_state(payout["id"], TERMINAL, timeout=60)
    assert row.state == "DISPUTE", row.reason
    assert world.ledger.entries("bybit_release") == []
    assert world.audit() == []


def test_the_objection_flow_is_told_to_the_operator_with_its_deadline(world, make_daemon):
    daemon = make_daemon()
    payout, row = appealed_dispute(world, daemon, "5500")
    order_id = row.order_id
    assert re.search(r"status 30: appealing.*; 1[78]\d\d s left", row.reason), row.reason
    # Support's result is in; the seller has a while to object. The deal has ended, yet the operator hears it.
    control(world, "PUT", f"/bybit/orders/{order_id}/appeal", {"status": 110, "appeal_seconds": 900})
    daemon.wait_for(lambda: any(e["status"] == 110 for e in appeal_events(daemon, order_id)), 20,
                    "the objection deadline to reach the operator")
    told = next(e for e in appeal_events(daemon, order_id) if e["status"] == 110)
    assert 0 < told["appeal_seconds"] <= 900 and "objection" in told["meaning"]
    control(world, "PUT", f"/bybit/orders/{order_id}/appeal", {"status": 100, "appeal_seconds": 600})
    daemon.wait_for(lambda: any(e["status"] == 100 for e in appeal_events(daemon, order_id)), 20,
                    "the objection review to reach the operator")
    assert world.ledger.entries("bybit_release") == [] and world.ledger.entries("gate_approve") == []
    assert daemon.deal_for_payout(payout["id"]).state == "DISPUTE"
