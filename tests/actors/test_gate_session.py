"""A Gate account's session (actors/gate_session.py) and its wind-down when disabled: the GateAccount actor
against the real Gate sandbox on loopback, as the store-driven daemon starts it."""
from __future__ import annotations

import time
from decimal import Decimal

import gevent

from actors.gate_account import GateAccountActor
from actors.gate_session import GateSession
from actors.messages import Drain, Drained, TakePayout
from itrader.config import GateConfig
from itrader.deal import TakeFailed
from itrader.gate import GateClient
from tests.actors.test_gate_account import (  # noqa: F401 (fixtures)
    LOGIN, PASSWORD, TARGET, Probe, rig, store, wait_for, world,
)


def exported_cookies(world) -> list:
    """The session of a browser login, as an operator would export it."""
    browser = GateClient(world.base_url, LOGIN, PASSWORD, timeout=5.0)
    browser.login()
    return browser.export_cookies()


def start_session_account(rig, world, password: str = "", **settings):
    client = GateClient(world.base_url, LOGIN, password, timeout=5.0, backoff=0.01, max_backoff=0.05)
    client.import_cookies(exported_cookies(world))
    saved: list[list[dict]] = []
    session = GateSession("desk1", client, rig.events, save=lambda cookies: saved.append(cookies) or True)
    options = dict(base_url=world.base_url, poll_interval=0.05, balance_check_interval=3600.0,
                   session_refresh=0.1, target_balance=TARGET)
    options.update(settings)
    ref = GateAccountActor.start("desk1", client, rig.store, rig.directory, rig.events, GateConfig(**options),
                                 session=session)
    rig.refs.append(ref)
    return ref, client, saved


def events_of(rig, kind: str) -> list[dict]:
    return [e for e in rig.events.since(0) if e["type"] == kind]


def logins(world) -> int:
    return len(world.requests("/auth/basic/login"))


def test_an_imported_session_is_kept_alive_and_each_renewal_is_saved(rig, world):
    ref, client, saved = start_session_account(rig, world)
    imported = {c.value for c in client.export_cookies()}
    browser_logins = logins(world)

    wait_for(lambda: len(saved) >= 2, what="two renewed sessions saved")
    assert all({c["name"] for c in cookies} == {"sid", "rsid"} for cookies in saved)
    assert not imported & {c["value"] for c in saved[-1]}  # renewed values, not the imported ones
    wait_for(lambda: world.sandbox.balance(LOGIN) == TARGET, what="the balance at target")
    assert logins(world) == browser_logins  # the account never logged in: it has no password
    assert ref.proxy().stats().get(timeout=5)["healthy"] is True


def test_a_session_that_cannot_be_renewed_makes_the_account_unhealthy_once_and_its_deals_wait(rig, world):
    ref, _client, _saved = start_session_account(rig, world, session_refresh=0.05)
    wait_for(lambda: world.sandbox.balance(LOGIN) == TARGET, what="the balance at target")
    browser_logins = logins(world)

    world.sandbox.expire_sessions(LOGIN)
    wait_for(lambda: events_of(rig, "account_unhealthy"), what="the operator event")
    stats = ref.proxy().stats().get(timeout=5)
    assert stats["healthy"] is False and "no password" in stats["problem"]

    payout = world.payout("5000")
    ref.tell(TakePayout(7, payout, rig.deal))
    failed = rig.news(TakeFailed, 7).event
    assert not failed.permanent and "no working session" in failed.error  # the deal tries again later
    polls = len(world.requests("/payments/payouts"))
    gevent.sleep(0.5)  # ten refresh intervals: no crash, no storm of calls, one event
    assert ref.is_alive() and len(events_of(rig, "account_unhealthy")) == 1
    assert len(world.requests("/payments/payouts")) == polls  # no poll without a session
    assert logins(world) == browser_logins
    assert world.sandbox.payout(payout)["status"] == 4  # nobody took it


def test_where_a_password_is_stored_an_expired_session_logs_in_again(rig, world):
    ref, _client, saved = start_session_account(rig, world, password=PASSWORD, session_refresh=0.05)
    wait_for(lambda: world.sandbox.balance(LOGIN) == TARGET, what="the balance at target")
    before = logins(world)
    world.sandbox.expire_sessions(LOGIN)
    wait_for(lambda: logins(world) > before, what="a new login")
    count = len(saved)
    wait_for(lambda: len(saved) > count, what="the new session saved")
    assert events_of(rig, "account_unhealthy") == []
    assert ref.proxy().stats().get(timeout=5)["healthy"] is True


def test_a_disabled_account_zeroes_its_balance_finishes_its_deals_then_says_drained(rig, world):
    live = {"deals": 1}
    client = rig.client()
    ref = GateAccountActor.start(
        "desk1", client, rig.store, rig.directory, rig.events,
        GateConfig(base_url=world.base_url, poll_interval=0.05, balance_check_interval=3600.0,
                   session_refresh=3600.0, target_balance=TARGET),
        live_deals=lambda: live["deals"])
    rig.refs.append(ref)
    wait_for(lambda: world.sandbox.balance(LOGIN) == TARGET, what="the balance at target")
    group: list = []
    probe = Probe.start(group)
    rig.refs.append(probe)
    ref.tell(Drain(probe))
    wait_for(lambda: world.sandbox.balance(LOGIN) == 0, what="the balance set to 0")
    polls = len(world.requests("/payments/payouts"))
    gevent.sleep(0.3)
    assert len(world.requests("/payments/payouts")) == polls  # no more offers taken in
    assert group == [] and ref.is_alive()  # a deal still runs on it

    live["deals"] = 0
    wait_for(lambda: group, timeout=5, what="Drained")
    assert group == [Drained("gate", "desk1")]
    assert world.sandbox.balance(LOGIN) == Decimal(0)


def test_a_cloudflare_challenge_is_one_event_per_episode_and_holds_the_polls_off(rig, world):
    client = GateClient(world.base_url, LOGIN, PASSWORD, timeout=5.0, challenge_wait=0.3, challenge_wait_max=0.6)
    world.sandbox.challenge.arm(calls=5, status=503)  # the next 5 calls, the first login included
    started = time.monotonic()
    ref = GateAccountActor.start("desk1", client, rig.store, rig.directory, rig.events,
                                 GateConfig(base_url=world.base_url, poll_interval=0.02, session_refresh=3600.0,
                                            balance_check_interval=3600.0, target_balance=TARGET))
    rig.refs.append(ref)
    wait_for(lambda: events_of(rig, "gate_challenge_over"), 10, "the challenge to pass")
    # polls every 0.02 s would spend the 5 challenges in a blink; the waits (0.3, 0.6, 0.6 ...) space them
    assert time.monotonic() - started >= 1.0
    assert len(events_of(rig, "gate_challenged")) == 1
    assert events_of(rig, "gate_challenge_over")[0]["challenged_calls"] == 5
    wait_for(lambda: world.sandbox.balance(LOGIN) == TARGET, 10, "the balance once through")

    world.sandbox.challenge.arm(calls=1)  # a new episode: told again
    wait_for(lambda: len(events_of(rig, "gate_challenged")) == 2, 10, "a second episode")
