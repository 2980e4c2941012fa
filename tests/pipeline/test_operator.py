"""What an operator sees and does: manual mode, the deal views, live events, metrics and the CLI."""
import subprocess
import sys
from decimal import Decimal

import requests

from tests.pipeline.harness import TERMINAL

TOKEN = "test-token-123456"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
# Which sandbox ledger entry each money step produces.
LEDGER_OF_STEP = {"take": "gate_take", "create_ad": "bybit_ad_create", "approve": "gate_approve",
                  "release": "bybit_release"}


def awaiting(daemon, deal_id: int) -> str | None:
    answer = requests.get(f"{daemon.base}/api/v1/deals/{deal_id}", headers=AUTH, timeout=10).json()
    facts = next((e["data"]["facts"] for e in reversed(answer["journal"])
                  if isinstance(e["data"], dict) and "facts" in e["data"]), {})
    return facts.get("awaiting")


def test_manual_mode_waits_for_the_operator_before_each_money_step(world, make_daemon):
    daemon = make_daemon(mode="manual")
    payout = world.create_payout(Decimal("3900"), "sbp", "sberbank", persona="honest")
    daemon.wait_for(lambda: daemon.deal_for_payout(payout["id"]) is not None, 30, "the deal to open")
    deal_id = daemon.deal_for_payout(payout["id"]).id
    confirmed = []
    while daemon.deal_for_payout(payout["id"]).state not in TERMINAL:
        daemon.wait_for(lambda: awaiting(daemon, deal_id) is not None
                        or daemon.deal_for_payout(payout["id"]).state in TERMINAL, 60, "a step to confirm")
        step = awaiting(daemon, deal_id)
        if step is None:
            break
        # Nothing of that step happened on the platforms before the operator said yes.
        assert world.ledger.entries(LEDGER_OF_STEP[step]) == [], step
        answer = requests.post(f"{daemon.base}/api/v1/deals/{deal_id}/confirm", headers=AUTH, timeout=10)
        assert answer.status_code == 200, answer.text
        confirmed.append(step)
        daemon.wait_for(lambda: awaiting(daemon, deal_id) != step, 30, f"{step} to proceed")
    assert daemon.deal_for_payout(payout["id"]).state == "COMPLETED"
    assert confirmed == ["take", "create_ad", "approve", "release"]
    assert world.audit() == []


def test_confirming_a_deal_that_waits_for_nothing_is_a_conflict(world, make_daemon):
    daemon = make_daemon()
    payout = world.create_payout(Decimal("2500"), "sbp", "sberbank")  # no buyer: waits with its ad online
    row = daemon.wait_state(payout["id"], {"AD_ONLINE"}, timeout=60)
    answer = requests.post(f"{daemon.base}/api/v1/deals/{row.id}/confirm", headers=AUTH, timeout=10)
    assert answer.status_code == 409
    assert requests.post(f"{daemon.base}/api/v1/deals/999999/confirm", headers=AUTH, timeout=10).status_code == 404


def test_deal_views_events_metrics_and_cli(world, make_daemon):
    daemon = make_daemon()
    done = world.create_payout(Decimal("6600"), "sbp", "sberbank", persona="honest")
    refused = world.create_payout(Decimal("6700"), "sbp", "sberbank", persona="refuser")
    daemon.wait_state(done["id"], TERMINAL, timeout=120)
    daemon.wait_state(refused["id"], TERMINAL, timeout=120)

    deals = requests.get(f"{daemon.base}/api/v1/deals?all=1", headers=AUTH, timeout=10).json()["deals"]
    states = {d["payout_id"]: d["state"] for d in deals}
    assert states[str(done["id"])] == "COMPLETED" and states[str(refused["id"])] == "REJECTED_BUYER"
    one = requests.get(f"{daemon.base}/api/v1/deals/{deals[0]['id']}", headers=AUTH, timeout=10).json()
    assert one["journal"] and one["journal"][0]["step"] == "created"
    pools = requests.get(f"{daemon.base}/api/v1/pools", headers=AUTH, timeout=10).json()
    assert pools["counts"]["completed"] == 1

    events = requests.get(f"{daemon.base}/api/v1/events?once=1", headers=AUTH, timeout=10)
    assert events.headers["Content-Type"].startswith("text/event-stream")
    assert "event: deal" in events.text and '"state": "COMPLETED"' in events.text

    metrics = requests.get(f"{daemon.base}/metrics", headers=AUTH, timeout=10).text
    assert 'itrader_deals_finished_total{reason=' in metrics and 'state="COMPLETED"' in metrics
    assert 'itrader_receipts_total{verdict="accepted"}' in metrics
    assert 'itrader_external_calls_total{outcome="ok",platform="bybit"}' in metrics
    assert "itrader_step_latency_seconds_bucket" in metrics

    accounts = requests.get(f"{daemon.base}/api/v1/accounts", headers=AUTH, timeout=10).json()["accounts"]
    assert {a["platform"] for a in accounts} >= {"bybit", "gate", "mailbox"}

    host, port = daemon.system.web_address
    cli = subprocess.run([sys.executable, "-m", "itrader.cli", "deals", "--all", "--url", f"http://{host}:{port}",
                          "--token", TOKEN], capture_output=True, text=True, timeout=60)
    assert cli.returncode == 0, cli.stderr
    assert "COMPLETED" in cli.stdout and "REJECTED_BUYER" in cli.stdout
    status = subprocess.run([sys.executable, "-m", "itrader.cli", "status", "--url", f"http://{host}:{port}",
                             "--token", TOKEN], capture_output=True, text=True, timeout=60)
    assert status.returncode == 0 and "Deals [Deals] running" in status.stdout
