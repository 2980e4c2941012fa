"""The console's event WebSocket lives no longer than the session that opened it: signed out (or expired),
the server sends nothing more and closes the socket with 1008. Real WebSocket clients on loopback, against
the real daemon (sign-out) and the real app (expiry); a stream opened with the API token is not bound."""
from __future__ import annotations

import json
import re
import time

import pytest
import requests
import websocket

from itrader.console import sessions as console_sessions
from tests.core.daemon_process import DaemonProcess
from tests.core.test_ws import TOKEN, Served

COOKIE = "itrader_session"
POLICY_VIOLATION = 1008


def csrf_in(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, "no CSRF token on the page"
    return found.group(1)


def sign_in(base: str, token: str) -> requests.Session:
    browser = requests.Session()
    form = browser.get(f"{base}/sign-in", timeout=10)
    answer = browser.post(f"{base}/sign-in", data={"csrf": csrf_in(form.text), "token": token},
                          allow_redirects=False, timeout=10)
    assert answer.status_code == 303 and browser.cookies.get(COOKIE), answer.text
    return browser


def console_socket(base: str, browser: requests.Session) -> websocket.WebSocket:
    """The socket a console page opens: the session cookie, and the page's own origin."""
    address = base.removeprefix("http://")
    return websocket.create_connection(f"ws://{address}/api/v1/ws", timeout=10, origin=base,
                                       cookie=f"{COOKIE}={browser.cookies.get(COOKIE)}")


def next_event(sock: websocket.WebSocket) -> dict:
    return json.loads(sock.recv())


def until_type(sock: websocket.WebSocket, kind: str) -> dict:
    """The next event of that type (the daemon's own events, e.g. accounts getting ready, come too)."""
    while True:
        event = next_event(sock)
        if event["type"] == kind:
            return event


def until_closed(sock: websocket.WebSocket, within: float) -> tuple[int | None, list[dict]]:
    """Read until the server's close frame: its code, and the events that came before it."""
    sock.settimeout(within)
    events = []
    while True:
        opcode, data = sock.recv_data(control_frame=True)
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            return (int.from_bytes(data[:2], "big") if len(data) >= 2 else None), events
        events.append(json.loads(data))


def latest_seq(daemon) -> int:
    text = daemon.get("/api/v1/events?once=1").text
    return max([0, *(json.loads(line[6:])["seq"] for line in text.splitlines() if line.startswith("data: "))])


@pytest.fixture
def daemon(tmp_path):
    process = DaemonProcess(tmp_path / "var").wait_ready()
    yield process
    process.close()


def test_sign_out_closes_the_sessions_socket_and_nothing_more_arrives(daemon):
    browser = sign_in(daemon.base, daemon.token)
    console = console_socket(daemon.base, browser)
    address = daemon.base.removeprefix("http://")
    api = websocket.create_connection(f"ws://{address}/api/v1/ws?token={daemon.token}", timeout=10)

    assert daemon.post("/api/v1/pause", json={"reason": "before sign-out"}).status_code == 200
    assert until_type(console, "intake")["reason"] == "before sign-out"
    assert until_type(api, "intake")["reason"] == "before sign-out"

    page = browser.get(f"{daemon.base}/", timeout=10)
    out = browser.post(f"{daemon.base}/sign-out", data={"csrf": csrf_in(page.text)}, allow_redirects=False,
                       timeout=10)
    assert out.status_code == 303
    signed_out_at, last_before = time.monotonic(), latest_seq(daemon)
    code, late = until_closed(console, within=5)
    assert code == POLICY_VIOLATION and time.monotonic() - signed_out_at < 3
    assert all(event["seq"] <= last_before for event in late), late  # nothing published after the sign-out

    # An event after the sign-out reaches the token's stream only; the closed socket stays closed.
    assert daemon.post("/api/v1/resume").status_code == 200
    assert until_type(api, "intake")["state"] == "open"
    with pytest.raises(websocket.WebSocketConnectionClosedException):
        console.recv()
    api.close()
    # The old cookie opens no new socket.
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        websocket.create_connection(f"ws://{address}/api/v1/ws", timeout=10, origin=daemon.base,
                                    cookie=f"{COOKIE}={browser.cookies.get(COOKIE) or 'gone'}")
    assert refused.value.status_code == 401


def test_an_expired_session_closes_its_socket(monkeypatch):
    monkeypatch.setattr(console_sessions, "SESSION_SECONDS", 2.0)
    served = Served(ping_interval=15.0)
    try:
        browser = sign_in(served.http, TOKEN)
        console = console_socket(served.http, browser)
        served.source.log.publish("deal", deal_id=1, state="NEW")
        assert next_event(console)["type"] == "deal"  # live while the session is
        code, late = until_closed(console, within=6)
        assert code == POLICY_VIOLATION and late == []
    finally:
        served.server.stop(timeout=1)
