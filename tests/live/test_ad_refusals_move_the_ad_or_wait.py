"""Issue 12, item 5: what a live Bybit account does when it will not take an ad — its per-side ad limit
(counting ads its owner posted by hand in the app), a security check (`needSecurityRisk: true`), the
price-difference rule between its own ads, the bare 912000004 — is no failure to retry. The ad goes to
another account, or the deal waits (WAITING_ACCOUNT, with the reason), and each account is asked once:
the create-ad calls are counted. Over real HTTP, switched on through the sandbox's control API."""
from decimal import Decimal

import gevent

from tests.live.sandbox_control import control, events
from tests.pipeline.harness import TERMINAL

CREATE_PATH = "/v5/p2p/item/create"
AMOUNT = Decimal("5000")
QUIET = 4.0  # seconds a waiting deal is watched for further create calls


def creates(world) -> dict[str, int]:
    """Create-ad calls per account nickname, as the sandbox saw them."""
    return {b["nickname"]: sum(1 for *_, path in world.bybit.request_log(b["uid"]) if path == CREATE_PATH)
            for b in world.credentials()["bybit"]}


def ready(world, make_daemon, accounts: int = 3):
    """A daemon whose allocator has a healthy report from every account. An account publishes
    `bybit_account_ready` before its first health report: a payout taken in between would go to whichever
    account reported first, not to the one the allocator's rule (itrader.allocation.load_order) picks."""
    daemon = make_daemon(bybit_accounts=accounts)
    sellers = world.credentials()["bybit"][:accounts]

    def allocator_heard_all() -> bool:
        allocator = daemon.system.directory.get("allocator")
        seen = allocator.proxy().status().get(timeout=5)["accounts"] if allocator is not None else {}
        return all(seen.get(s["nickname"], {}).get("healthy") for s in sellers)
    daemon.wait_for(allocator_heard_all, 30, "the allocator to hear every account report healthy")
    return daemon, sellers


def test_accounts_full_of_hand_posted_ads_pass_the_ad_to_the_next_account(world, make_daemon):
    daemon, sellers = ready(world, make_daemon)
    for seller in sellers[:2]:  # their owners fill both accounts' sell side by hand (the limit is 3)
        for n in range(3):
            control(world, "POST", f"/bybit/accounts/{seller['uid']}/ads", price=str(82 + n), amount="3000")
    payout = world.create_payout(AMOUNT, "sbp", "sberbank", persona="honest")
    row = daemon.wait_state(payout["id"], TERMINAL, timeout=120)
    assert row.state == "COMPLETED", row.reason

    first, second, third = (s["nickname"] for s in sellers)
    # Three idle accounts: asked by name; each full one refuses once and is not asked again.
    assert creates(world) == {first: 1, second: 1, third: 1}
    refused = events(daemon, "bybit_ad_refused")
    assert [(e["account"], e["refusal"]) for e in refused] == [(first, "ad_limit"), (second, "ad_limit")]
    ours = [ad for ad in world.bybit.ads(sellers[2]["uid"]) if ad["max_amount"] == AMOUNT]
    assert len(ours) == 1 and len(world.bybit.ads(sellers[0]["uid"], online_only=True)) == 3
    assert world.audit() == []


def test_a_security_check_on_every_account_makes_the_deal_wait_without_a_retry_storm(world, make_daemon):
    daemon, sellers = ready(world, make_daemon)
    control(world, "PUT", "/bybit/ad_rules", security_risk=True)
    payout = world.create_payout(AMOUNT, "sbp", "sberbank", persona="honest")

    def waiting_for_the_check():
        row = daemon.deal_for_payout(payout["id"])
        return row is not None and row.state == "WAITING_ACCOUNT" and "security check" in (row.reason or "")
    daemon.wait_for(waiting_for_the_check, 30, "the deal to wait, naming the check")
    gevent.sleep(QUIET)
    row = daemon.deal_for_payout(payout["id"])
    assert row.state == "WAITING_ACCOUNT" and all(s["nickname"] in row.reason for s in sellers), row.reason
    assert creates(world) == {s["nickname"]: 1 for s in sellers}  # one try per account, no retry storm
    told = events(daemon, "bybit_security_check_required")
    assert {e["account"] for e in told} == {s["nickname"] for s in sellers}
    assert world.bybit.ads(online_only=True) == [] and world.ledger.entries("bybit_release") == []


def test_a_bare_912000004_moves_the_ad_to_another_account(world, make_daemon):
    daemon, sellers = ready(world, make_daemon, accounts=2)
    control(world, "PUT", "/bybit/ad_rules", parameter_exception=True, uid=sellers[0]["uid"])
    payout = world.create_payout(AMOUNT, "sbp", "sberbank", persona="honest")
    row = daemon.wait_state(payout["id"], TERMINAL, timeout=120)
    assert row.state == "COMPLETED", row.reason
    refusing, other = sellers[0]["nickname"], sellers[1]["nickname"]
    # Two idle accounts: the first by name is asked, refuses once, and the ad goes up on the other.
    assert creates(world) == {refusing: 1, other: 1, world.credentials()["bybit"][2]["nickname"]: 0}
    refused = events(daemon, "bybit_ad_refused")
    assert [(e["account"], e["refusal"]) for e in refused] == [(refusing, "parameter_exception")]
    assert "912000004" in refused[0]["reason"]


def test_the_price_rule_between_own_ads_keeps_a_second_deal_waiting_on_a_single_account(world, make_daemon):
    daemon, sellers = ready(world, make_daemon, accounts=1)
    control(world, "PUT", "/bybit/ad_rules", price_gap_percent="5")
    first = world.create_payout(AMOUNT, "sbp", "sberbank")  # no buyer: its ad stays up
    daemon.wait_state(first["id"], {"AD_ONLINE"}, timeout=30)
    second = world.create_payout(Decimal("6000"), "sbp", "sberbank")

    def waiting_for_the_price():
        row = daemon.deal_for_payout(second["id"])
        return row is not None and row.state == "WAITING_ACCOUNT" and "too close" in (row.reason or "")
    daemon.wait_for(waiting_for_the_price, 30, "the second deal to wait, naming the price rule")
    gevent.sleep(QUIET)
    assert daemon.deal_for_payout(second["id"]).state == "WAITING_ACCOUNT"
    assert creates(world)[sellers[0]["nickname"]] == 2  # the first ad and one refused try
    assert len(world.bybit.ads(sellers[0]["uid"], online_only=True)) == 1
    assert [e["refusal"] for e in events(daemon, "bybit_ad_refused")] == ["price_gap"]
