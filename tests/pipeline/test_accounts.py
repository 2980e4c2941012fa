"""Many Bybit accounts at once: spreading, an account crashing mid-deal, an account taken out for good,
and the Gate balances at a graceful stop."""
from decimal import Decimal

import gevent
import requests

from actors.base import Crash
from tests.pipeline.harness import TERMINAL


def test_several_accounts_carry_several_deals_at_once(world, make_daemon):
    daemon = make_daemon()
    payouts = [world.create_payout(Decimal(3000 + 100 * i), "sbp", "sberbank", persona="honest") for i in range(9)]
    for payout in payouts:
        row = daemon.wait_state(payout["id"], TERMINAL, timeout=180)
        assert row.state == "COMPLETED", (payout["id"], row.state, row.reason)
    releases = world.ledger.entries("bybit_release")
    assert len(releases) == 9
    assert len({r["uid"] for r in releases}) == 3  # every account carried deals
    ads = world.ledger.entries("bybit_ad_create")
    assert world.audit() == []


def test_an_account_actor_crashing_mid_deal_is_restarted_and_the_deal_completes(world, make_daemon):
    daemon = make_daemon()
    payout = world.create_payout(Decimal("5200"), "sbp", "vtb", persona="honest")
    row = daemon.wait_state(payout["id"], {"CHATTING", "REQUISITES_SENT", "PAID", *TERMINAL}, timeout=60)
    facts = _facts(daemon, row.id)
    account_ref = daemon.system.directory.get(f"bybit:{facts['account']}")
    account_ref.tell(Crash("test: account actor crash mid-deal"))
    row = daemon.wait_state(payout["id"], TERMINAL, timeout=120)
    assert row.state == "COMPLETED", row.reason
    tree = daemon.system.root.proxy().status().get(timeout=5)
    accounts = next(c for c in tree["children"] if c["id"] == "Accounts")
    crashed = next(c for c in accounts["children"] if c["id"] == f"bybit:{facts['account']}")
    assert crashed["restarts"] >= 1 and crashed["state"] == "running"
    assert len(world.ledger.entries("bybit_release")) == 1
    assert world.audit() == []


def test_a_disabled_account_has_its_untaken_ads_moved(world, make_daemon):
    daemon = make_daemon()
    payout = world.create_payout(Decimal("8800"), "sbp", "sberbank")  # no buyer yet: the ad stays un-taken
    row = daemon.wait_state(payout["id"], {"AD_ONLINE"}, timeout=60)
    first = _facts(daemon, row.id)
    answer = requests.post(f"{daemon.base}/api/v1/accounts/{first['account']}/disable",
                           headers={"Authorization": "Bearer test-token-123456"}, timeout=10)
    assert answer.status_code == 200, answer.text

    def moved() -> bool:
        facts = _facts(daemon, row.id)
        return facts["state"] == "AD_ONLINE" and facts["account"] not in (None, first["account"])
    daemon.wait_for(moved, 60, "the ad to move to another account")
    second = _facts(daemon, row.id)
    assert second["ad_id"] != first["ad_id"]
    # the stale ad cannot catch a buyer nobody watches
    daemon.wait_for(lambda: first["ad_id"] in {e["item_id"] for e in world.ledger.entries("bybit_ad_cancel")},
                    10, "the old ad to be cancelled")
    world.attach_buyer(payout["id"], persona="honest")
    row = daemon.wait_state(payout["id"], TERMINAL, timeout=120)
    assert row.state == "COMPLETED", row.reason
    release = world.ledger.entries("bybit_release")
    assert len(release) == 1
    assert world.audit() == []


def test_graceful_stop_sets_every_gate_balance_to_zero_with_its_own_session(world, make_daemon):
    world.add_gate_account("second@sandbox.local", "second-password", Decimal("0"))
    daemon = make_daemon(gate_accounts=[("second@sandbox.local", "second-password")])
    first_login = world.credentials()["gate"]["login"]
    daemon.wait_for(lambda: world.gate.balance(first_login) > 0 and world.gate.balance("second@sandbox.local") > 0,
                    30, "both Gate balances to be topped up")
    daemon.stop()
    assert world.gate.balance(first_login) == 0
    assert world.gate.balance("second@sandbox.local") == 0
    zeroed = [e for e in world.ledger.entries("gate_balance") if Decimal(e["balance"]) == 0]
    assert {e["account"] for e in zeroed} == {first_login, "second@sandbox.local"}


def _facts(daemon, deal_id: int) -> dict:
    for entry in reversed(daemon.journal(deal_id)):
        if isinstance(entry.data, dict) and isinstance(entry.data.get("facts"), dict):
            return entry.data["facts"]
    return {}
