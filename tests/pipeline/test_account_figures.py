"""/api/v1/accounts and /api/v1/status show what the account actors learned from their own calls — Gate's
balance, Bybit's USDT, the budget in use — and today's totals, matching the sandbox world after a deal."""
from decimal import Decimal

import requests

from tests.pipeline.harness import TEST_ENCRYPTION_KEY

TOKEN = "test-token-123456"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
# The figures come only from calls the actors make anyway; made frequent here so a test sees them soon.
FREQUENT_READS = {"gate_extra": "session_refresh = 0.5", "bybit_extra": "usdt_report_interval = 0.5"}


def expected_after(world, daemon, payout_id: int) -> dict:
    """What the world says after the deal: its Gate and Bybit balances, USDT released, Gate's credit."""
    row = daemon.deal_for_payout(payout_id)
    uid = next(b["uid"] for b in world.credentials()["bybit"]
               if b["nickname"] == daemon.store.accounts.get(row.bybit_account_id).name)
    release = next(e for e in world.ledger.entries("bybit_release") if e["order_id"] == row.order_id)
    credit = Decimal(str(world.gate.payout(payout_id)["total"]["trader"]["000001"]))
    return {"row": row, "uid": uid, "sold": Decimal(release["quantity"]), "credit": credit,
            "gate": world.gate.balance(world.credentials()["gate"]["login"])}


def accounts(daemon) -> dict[tuple[str, str], dict]:
    answer = requests.get(f"{daemon.base}/api/v1/accounts", headers=AUTH, timeout=10)
    assert answer.status_code == 200
    return {(a["platform"], a["name"]): a for a in answer.json()["accounts"]}


def test_accounts_and_status_show_balances_budget_use_and_the_days_totals_after_a_deal(world, make_daemon):
    daemon = make_daemon(**FREQUENT_READS)
    payout = world.create_payout(Decimal("6600"), "sbp", "sberbank", persona="honest")
    daemon.wait_state(payout["id"], {"COMPLETED"}, timeout=120)
    want = expected_after(world, daemon, payout["id"])
    bybit_name = daemon.store.accounts.get(want["row"].bybit_account_id).name
    gate_login = world.credentials()["gate"]["login"]

    def caught_up() -> bool:  # the deal's ad is closed and both balances were read after it
        if world.bybit.ads(want["uid"], online_only=True):
            return False
        rows = accounts(daemon)
        gate, bybit = rows.get(("gate", gate_login), {}), rows.get(("bybit", bybit_name), {})
        return (Decimal((gate.get("balance") or {}).get("rub", "-1")) == world.gate.balance(gate_login)
                and Decimal((bybit.get("usdt") or {}).get("available", "-1")) == world.bybit.balance(want["uid"]))

    daemon.wait_for(caught_up, 45, "the balances read after the deal")
    rows = accounts(daemon)
    gate, bybit = rows[("gate", gate_login)], rows[("bybit", bybit_name)]
    assert world.gate.balance(gate_login) == Decimal("10000000") - Decimal("6600")  # the take reserved it
    assert gate["balance"]["source"] == "read" and gate["balance"]["at"].endswith("+00:00")
    budget = bybit["budget"]
    assert budget["window_seconds"] == 60 and 0 < budget["read"] <= 1 and 0 < budget["write"] <= 1
    assert "usdt" not in gate and "balance" not in bybit
    text = requests.get(f"{daemon.base}/api/v1/accounts", headers=AUTH, timeout=10).text
    secrets = [world.credentials()["gate"]["password"], TEST_ENCRYPTION_KEY,
               *(b["api_secret"] for b in world.credentials()["bybit"])]
    assert not [secret for secret in secrets if secret in text]

    today = requests.get(f"{daemon.base}/api/v1/status", headers=AUTH, timeout=10).json()["today"]
    assert today["since"].endswith("T00:00:00+00:00")
    assert (today["completed"], today["rub"], today["earned_unknown"]) == (1, "6600.00", 0)
    assert Decimal(today["usdt_sold"]) == want["sold"] < want["row"].quantity  # the order's, not the ad's
    assert Decimal(today["earned_usdt"]) == want["credit"] - want["sold"] > 0
