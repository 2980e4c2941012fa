"""What the scenario tests of issue 12 share: the sandbox's control API over HTTP, a daemon's events."""
import requests


def control(world, method: str, path: str, **body) -> dict:
    """One control call (POST /sandbox/...); anything but 200 fails the test with the sandbox's answer."""
    answer = requests.request(method, world.urls["sandbox"] + path, json=body or None, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


def events(daemon, kind: str) -> list[dict]:
    """The operator events of this kind an in-process daemon has published so far."""
    return [e for e in daemon.system.events.since(0) if e["type"] == kind]


def appealed_dispute(world, daemon, amount: str, appeal_seconds: int = 1800):
    """A deal whose buyer marked the order paid without paying, then appealed (Bybit status 30): it ends
    as DISPUTE. Returns (payout, deal row)."""
    from decimal import Decimal

    from tests.pipeline.harness import TERMINAL

    payout = world.create_payout(Decimal(amount), "sbp", "sberbank", persona="non-payer-marks-paid")
    daemon.wait_state(payout["id"], {"PAID"}, timeout=90)
    order_id = daemon.deal_for_payout(payout["id"]).order_id
    control(world, "PUT", f"/bybit/orders/{order_id}/appeal", status=30, appeal_seconds=appeal_seconds)
    row = daemon.wait_state(payout["id"], TERMINAL, timeout=30)
    assert row.state == "DISPUTE", row.reason
    return payout, row
