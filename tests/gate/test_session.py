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


# --- cookies that expire, a keep-alive that renews them (reference §4.4) ----------------------


def _sid(client) -> str:
    return next(c.value for c in client.session.cookies if c.name == "sid")


def _me_with(gate, cookies: dict[str, str]) -> int:
    """GET /auth/me with exactly these cookies, as a browser holding an old export would."""
    import requests

    return requests.get(gate.base_url + "/auth/me", cookies=cookies, timeout=5).status_code


def test_auth_me_renews_the_cookies_and_an_old_pair_expires_on_its_own(gate):
    gate.sandbox.set_session_lifetimes(idle=600, cookie=600)
    client = gate.client()
    client.login()
    first = {c.name: c.value for c in client.session.cookies}

    gate.clock.advance(300)
    client.me()  # the keep-alive: the panel answers with a renewed pair
    renewed = {c.name: c.value for c in client.session.cookies}
    assert renewed["sid"] != first["sid"] and renewed["rsid"] != first["rsid"]
    assert _me_with(gate, first) == 200  # the old pair lives out its own lifetime …

    gate.clock.advance(400)  # 700 s after the login, 400 s after the renewal
    assert _me_with(gate, first) == 401  # … and then stops working
    assert client.me().login == LOGIN  # the renewed one still works, no new login
    assert len(gate.requests("/auth/basic/login")) == 1


def test_without_a_keep_alive_the_cookies_expire_although_the_session_is_busy(gate):
    gate.sandbox.set_session_lifetimes(idle=600, cookie=600)
    client = gate.client(password="")  # a browser export only: no password to log in again
    helper = gate.client()
    helper.login()
    client.import_cookies(load_cookie_file(_export(helper, gate)))
    for _ in range(4):
        gate.clock.advance(200)
        if _ < 2:
            client.list_payouts()  # busy, but a list call does not renew the cookies
    with pytest.raises(SessionExpired, match="no password"):
        client.list_payouts()
    assert len(gate.requests("/auth/basic/login")) == 1  # the helper's; the cookie-only client never posts one


def test_a_browser_export_starts_its_lifetime_at_its_first_use(gate, tmp_path):
    gate.sandbox.set_session_lifetimes(cookie=60)
    gate.sandbox.add_session(LOGIN, "exported-sid-value", "exported-rsid-value")
    gate.clock.advance(3600)  # imported an hour after the panel started: still good
    cookies = {"sid": "exported-sid-value", "rsid": "exported-rsid-value"}
    assert _me_with(gate, cookies) == 200
    gate.clock.advance(61)
    assert _me_with(gate, cookies) == 401


def test_the_control_api_expires_a_traders_sessions_on_demand(gate):
    client = gate.client()
    client.login()
    other = gate.client()
    other.login()
    assert gate.sandbox.expire_sessions(LOGIN) == 2  # two logins, however many renewed pairs
    assert _me_with(gate, {c.name: c.value for c in client.session.cookies}) == 401


def _export(client, gate) -> str:
    import tempfile

    path = tempfile.mktemp(suffix=".json")
    save_cookie_file(path, client.export_cookies())
    return path
