"""Issue 12 item 6: from a datacenter IP Cloudflare may answer Gate calls, login included, with a challenge
page (403/503, `cf-mitigated: challenge`, "Just a moment..."). The panel never saw such a call, so it is
tried again after a wait that grows with each challenge in a row — never hammered, never taken for a
refusal — and the operator hears of the episode once, not of every call."""
from __future__ import annotations

from decimal import Decimal

import requests

from tests.pipeline.harness import TERMINAL, InProcessDaemon, daemon_config_text

CHALLENGE_WAITS = "challenge_wait = 0.5\nchallenge_wait_max = 2\n"  # [gate]: short, for a test


class ShortWaitDaemon(InProcessDaemon):
    """A pipeline daemon whose [gate] waits after a challenge are short."""

    def __init__(self, world, data_dir) -> None:
        text = daemon_config_text(world, data_dir, world.imap_login, extra="retry_delay = 1\n")
        self._start(text.replace("[gate]\n", "[gate]\n" + CHALLENGE_WAITS, 1), data_dir, wait_web=30.0)


def challenge(world, **switch) -> None:
    reply = requests.post(f"{world.urls['sandbox']}/gate/challenge", json=switch, timeout=10)
    assert reply.status_code == 200, reply.text


def events(daemon, kind: str) -> list[dict]:
    return [e for e in daemon.system.events.since(0) if e["type"] == kind]


def challenged_calls(world) -> list:
    return [r for r in world.gate.request_log() if r.fault == "cloudflare_challenge"]


def test_a_challenge_from_the_first_login_on_is_waited_out_with_backoff_and_told_once(world, tmp_path):
    challenge(world, seconds=4, status=403)  # every Gate call for 4 s, the daemon's first login included
    daemon = ShortWaitDaemon(world, tmp_path / "daemon")
    try:
        payout = world.create_payout(Decimal("4500"), "sbp", "alfabank", persona="honest")
        row = daemon.wait_state(payout["id"], TERMINAL, timeout=120)
        assert row.state == "COMPLETED", row.reason
        assert len(events(daemon, "gate_challenged")) == 1, events(daemon, "gate_challenged")
        assert len(events(daemon, "gate_challenge_over")) == 1
        # waits of 0.5, 1, 2, 2 s... per caller (session, poll, balance): a handful of calls, not a storm
        assert 1 <= len(challenged_calls(world)) <= 20, len(challenged_calls(world))
        assert len(world.ledger.entries("gate_approve")) == 1 and len(world.ledger.entries("bybit_release")) == 1
        assert world.audit() == []
    finally:
        daemon.stop()


def test_a_challenged_approve_did_nothing_and_is_sent_again_after_the_wait(world, tmp_path):
    challenge(world, calls=2, status=503, endpoint="/approve")
    daemon = ShortWaitDaemon(world, tmp_path / "daemon")
    try:
        payout = world.create_payout(Decimal("4600"), "sbp", "alfabank", persona="honest")
        row = daemon.wait_state(payout["id"], TERMINAL, timeout=120)
        assert row.state == "COMPLETED", row.reason
        approves = [(r.status, r.fault) for r in world.gate.request_log() if r.path.endswith("/approve")]
        assert approves == [(503, "cloudflare_challenge")] * 2 + [(200, None)]
        assert len(world.ledger.entries("gate_approve")) == 1 and len(world.ledger.entries("bybit_release")) == 1
        # the polls between the two got through, so each challenged approve may be an episode of its own
        told = events(daemon, "gate_challenged")
        assert 1 <= len(told) <= 2 and all(e["path"].endswith("/approve") for e in told), told
    finally:
        daemon.stop()
