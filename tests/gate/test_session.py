"""Login, cookies, session expiry and secrecy of credentials — client against the sandbox over HTTP."""
from __future__ import annotations

import json
import logging
from decimal import Decimal

import pytest

from itrader.gate import GateClient, LoginFailed, SessionExpired, load_cookie_file, save_cookie_file
from itrader.gate.cookies import CookieFileError
from tests.gate.conftest import LOGIN, PASSWORD


def test_login_issues_sid_and_rsid_and_me_reports_the_string_balance(gate):
    client = gate.client()
    client.login()

    assert {c.name for c in client.session.cookies} >= {"sid", "rsid"}
    me = client.me()
    assert me.login == LOGIN
    assert me.id == client.trader_id
    assert me.rub_balance == Decimal("10000000.00")  # sent as the string "10000000.00"


def test_first_call_logs_in_by_itself(gate):
    client = gate.client()
    client.me()
    assert [r.path.rsplit("/", 2)[-2:] for r in gate.requests()] == [["basic", "login"], ["auth", "me"]]


def test_wrong_password_is_a_login_failure_that_does_not_reveal_the_password(gate):
    client = gate.client(password="wrong-password-123")
    with pytest.raises(LoginFailed) as caught:
        client.me()
    assert "Invalid credentials" in str(caught.value)
    assert "wrong-password-123" not in str(caught.value)
    assert "wrong-password-123" not in repr(client)
    assert len(gate.requests("/auth/basic/login")) == 1  # a refused login is not repeated


def test_session_expiry_mid_run_logs_in_again_and_the_call_succeeds(gate):
    gate.sandbox.session_lifetime = 600
    client = gate.client()
    client.me()
    first_sid = next(c.value for c in client.session.cookies if c.name == "sid")

    gate.clock.advance(601)  # idle past the panel's session lifetime
    me = client.me()

    assert me.login == LOGIN
    statuses = [(r.path.split("/")[-1], r.status) for r in gate.requests()]
    assert statuses[-3:] == [("me", 401), ("login", 200), ("me", 200)]
    assert next(c.value for c in client.session.cookies if c.name == "sid") != first_sid


def test_activity_keeps_the_session_alive(gate):
    gate.sandbox.session_lifetime = 600
    client = gate.client()
    for _ in range(4):
        gate.clock.advance(500)
        client.me()
    assert len(gate.requests("/auth/basic/login")) == 1


def test_forced_expiry_from_faults_relogs_once_and_succeeds(gate):
    client = gate.client()
    client.me()
    gate.faults.script("expired_session")

    assert client.list_payouts().payouts == ()
    statuses = [(r.path.split("/")[-1], r.status) for r in gate.requests()]
    assert statuses[-3:] == [("payouts", 401), ("login", 200), ("payouts", 200)]


def test_a_session_that_cannot_be_restored_raises_after_one_relogin(gate):
    client = gate.client()
    client.me()
    gate.faults.script("expired_session", "expired_session")

    with pytest.raises(SessionExpired):
        client.me()
    assert len(gate.requests("/auth/basic/login")) == 2


def test_cookie_file_round_trip_reuses_the_session_without_logging_in(gate, tmp_path):
    first = gate.client()
    first.me()
    path = tmp_path / "gate_cookie.json"
    save_cookie_file(path, first.export_cookies())

    stored = json.loads(path.read_text())
    assert {c["name"] for c in stored} == {"sid", "rsid"}
    assert set(stored[0]) == {"domain", "expirationDate", "hostOnly", "httpOnly", "name", "path", "sameSite",
                              "secure", "session", "storeId", "value"}
    assert path.stat().st_mode & 0o077 == 0

    # A second client with a wrong password: only the imported cookies can let it in.
    second = gate.client(password="not-the-password")
    second.import_cookies(load_cookie_file(path))
    assert second.me().login == LOGIN
    assert len(gate.requests("/auth/basic/login")) == 1


def test_cookie_file_in_the_originals_format_drops_expired_cookies(tmp_path):
    path = tmp_path / "gate_cookie.json"
    path.write_text(json.dumps([
        {"domain": ".panel.gate.cx", "expirationDate": 4102444800.5, "hostOnly": False, "httpOnly": True,
         "name": "sid", "path": "/", "sameSite": None, "secure": True, "session": False, "storeId": None,
         "value": "eyJpdiI6IjEyMyJ9"},
        {"domain": ".panel.gate.cx", "expirationDate": 1000.0, "hostOnly": False, "httpOnly": True,
         "name": "rsid", "path": "/", "sameSite": None, "secure": True, "session": False, "storeId": None,
         "value": "old"},
    ]))
    cookies = load_cookie_file(path)
    assert [c.name for c in cookies] == ["sid"]
    assert "eyJpdiI6IjEyMyJ9" not in repr(cookies)

    path.write_text('{"not": "a list"}')
    with pytest.raises(CookieFileError):
        load_cookie_file(path)


def test_logs_never_show_the_password_or_cookie_values(gate, caplog):
    gate.sandbox.session_lifetime = 60
    caplog.set_level(logging.DEBUG)
    client = gate.client()
    client.me()
    gate.clock.advance(61)
    client.me()
    gate.faults.script("error_5xx")
    client.me()

    cookie_values = [c.value for c in client.session.cookies]
    text = caplog.text + "".join(repr(r.args) for r in caplog.records)
    assert "gate session expired" in text  # the re-login was logged …
    assert PASSWORD not in text  # … without the secrets
    assert all(value not in text for value in cookie_values)


def test_rate_limiter_hook_runs_before_every_request(gate):
    calls = []
    client = gate.client(rate_limiter=lambda: calls.append(1))
    client.me()
    client.list_payouts()
    assert len(calls) == len(gate.requests()) == 3


def test_client_repr_holds_no_secret(gate):
    client = GateClient(gate.base_url, LOGIN, PASSWORD)
    assert PASSWORD not in repr(client)
