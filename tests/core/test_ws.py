"""WS /api/v1/ws as a client meets it: real WebSocket clients against the real server on loopback."""
from __future__ import annotations

import base64
import json
import os
import re
import socket
import time
from typing import Any, Callable

import pytest
import requests
import websocket
from prometheus_client import REGISTRY

from itrader.events import EventLog
from itrader.web import NoDelayWSGIServer, make_app
from tests.core.daemon_process import DaemonProcess

TOKEN = "ws-test-token-7f3a"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


class EventsOnly:
    """A StatusSource over a real EventLog, with no actors behind it."""

    def __init__(self) -> None:
        self.log = EventLog()

    def overview(self) -> dict[str, Any]:
        return {"profile": "test"}

    def status(self) -> dict[str, Any]:
        return {"id": "root", "children": []}

    def deals(self, include_finished: bool) -> list[dict[str, Any]]:
        return []

    def deal(self, deal_id: str) -> dict[str, Any]:
        return {}

    def accounts(self) -> list[dict[str, Any]]:
        return []

    def confirm(self, deal_id: str) -> dict[str, Any]:
        return {}

    def kill_actor(self, actor_id: str) -> dict[str, Any]:
        return {}

    def disable_account(self, name: str) -> dict[str, Any]:
        return {}

    def events(self, after: int, timeout: float) -> list[dict[str, Any]]:
        return self.log.since(after, timeout)


class Served:
    def __init__(self, ping_interval: float) -> None:
        self.source = EventsOnly()
        self.server = NoDelayWSGIServer(("127.0.0.1", 0), make_app(self.source, TOKEN, ping_interval), log=None)
        self.server.start()
        self.address = f"127.0.0.1:{self.server.server_port}"
        self.http = f"http://{self.address}"
        self.ws = f"ws://{self.address}/api/v1/ws"

    def connect(self, query: str = "", **kwargs) -> websocket.WebSocket:
        kwargs.setdefault("header", AUTH)
        return websocket.create_connection(self.ws + query, timeout=10, **kwargs)

    def clients(self) -> float:
        text = requests.get(f"{self.http}/metrics", headers=AUTH, timeout=10).text
        return float(re.search(r"^itrader_websocket_clients (\S+)$", text, re.M).group(1))


@pytest.fixture
def served():
    served = Served(ping_interval=15.0)
    yield served
    served.server.stop(timeout=1)


@pytest.fixture
def fast_pings():
    served = Served(ping_interval=0.2)
    yield served
    served.server.stop(timeout=1)


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def sse_data(http: str, token: str) -> list[dict]:
    answer = requests.get(f"{http}/api/v1/events?once=1", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    text = answer.content.decode("utf-8")  # SSE is UTF-8 by definition
    return [json.loads(line[len("data: "):]) for line in text.splitlines() if line.startswith("data: ")]


def refusal(served: Served, query: str = "", **kwargs) -> websocket.WebSocketBadStatusException:
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        websocket.create_connection(served.ws + query, timeout=10, **kwargs)
    return refused.value


def test_a_connected_client_receives_each_new_event_as_the_same_json_as_sse(served):
    served.source.log.publish("before", note="published before the client connected")
    client = served.connect()
    served.source.log.publish("deal", deal_id=7, state="COMPLETED", amount="3900.50", who="Пётр")
    served.source.log.publish("gate_take", deal_id=8, ok=True)
    received = [json.loads(client.recv()), json.loads(client.recv())]
    client.close()
    assert [e["type"] for e in received] == ["deal", "gate_take"]
    assert [e["seq"] for e in received] == [2, 3]
    assert received == sse_data(served.http, TOKEN)[1:]


def test_token_in_the_query_and_a_backlog_after_an_event_id(served):
    for kind in ("first", "second", "third"):
        served.source.log.publish(kind)
    client = served.connect("?after=1&token=" + TOKEN, header={})
    assert [json.loads(client.recv())["type"] for _ in range(2)] == ["second", "third"]
    client.close()
    client = served.connect("?since=0")
    assert json.loads(client.recv())["type"] == "first"
    client.close()


def test_without_the_right_token_the_answer_is_401_before_any_upgrade(served):
    assert refusal(served).status_code == 401
    assert refusal(served, "?token=wrong-token").status_code == 401
    assert refusal(served, header={"Authorization": "Bearer wrong-token"}).status_code == 401
    answer = requests.get(served.ws.replace("ws:", "http:") + "?token=wrong-token", timeout=10)
    assert answer.status_code == 401 and "wrong-token" not in answer.text
    assert "wrong-token" not in str(answer.headers)
    # The query token works on the WebSocket only; other endpoints still want the header.
    assert requests.get(f"{served.http}/api/v1/orders?token={TOKEN}", timeout=10).status_code == 401
    assert served.clients() == 0


def test_a_plain_get_or_a_broken_handshake_is_refused_with_a_clear_message(served):
    plain = requests.get(f"{served.http}/api/v1/ws", headers=AUTH, timeout=10)
    assert plain.status_code == 400
    assert "WebSocket" in plain.json()["error"] and "/api/v1/events" in plain.json()["error"]
    upgrade = {**AUTH, "Upgrade": "websocket", "Connection": "Upgrade",
               "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode()}
    old_version = requests.get(f"{served.http}/api/v1/ws", headers={**upgrade, "Sec-WebSocket-Version": "8"},
                               timeout=10)
    assert old_version.status_code == 426 and old_version.headers["Sec-WebSocket-Version"] == "13"
    bad_key = requests.get(f"{served.http}/api/v1/ws", timeout=10,
                           headers={**upgrade, "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "short"})
    assert bad_key.status_code == 400 and "Sec-WebSocket-Key" in bad_key.json()["error"]
    assert refusal(served, "?after=latest", header=AUTH).status_code == 400


def test_pings_are_answered_and_the_server_pings_too(fast_pings):
    client = fast_pings.connect()
    client.ping("are you there")
    frames = [client.recv_data(control_frame=True) for _ in range(2)]
    # Our pong comes back, and the server's own ping arrives (websocket-client answers it).
    assert (websocket.ABNF.OPCODE_PONG, b"are you there") in frames
    assert any(opcode == websocket.ABNF.OPCODE_PING for opcode, _ in frames)
    fast_pings.source.log.publish("still", alive=True)
    while (frame := client.recv_data(control_frame=True))[0] != websocket.ABNF.OPCODE_TEXT:
        pass
    assert json.loads(frame[1])["type"] == "still"
    client.close()


def test_the_subscription_ends_when_the_client_goes(served):
    assert served.clients() == 0
    clean, abrupt = served.connect(), served.connect()
    wait_for(lambda: served.clients() == 2, "both clients to count")

    clean.send_close()
    opcode, payload = clean.recv_data(control_frame=True)
    assert opcode == websocket.ABNF.OPCODE_CLOSE and payload[:2] == (1000).to_bytes(2, "big")
    wait_for(lambda: served.clients() == 1, "the cleanly closed client to be dropped")

    abrupt.sock.close()  # no close frame: the TCP connection just ends
    wait_for(lambda: served.clients() == 0, "the vanished client to be dropped")
    # Events published now go nowhere and nothing breaks.
    served.source.log.publish("after", clients=0)
    assert served.clients() == 0


def test_a_peer_that_never_answers_pings_is_dropped(fast_pings):
    with socket.create_connection(("127.0.0.1", fast_pings.server.server_port), timeout=10) as raw:
        key = base64.b64encode(os.urandom(16)).decode()
        raw.sendall((f"GET /api/v1/ws HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
                     f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                     "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        received = b""
        while chunk := raw.recv(4096):  # read everything, answer nothing, until the server hangs up
            received += chunk
        assert received.startswith(b"HTTP/1.1 101 ")
        assert b"\x89\x07itrader" in received  # the unanswered ping frame
    wait_for(lambda: fast_pings.clients() == 0, "the silent peer to be dropped")


def test_the_other_endpoints_still_work_on_the_same_server(served):
    client = served.connect()
    served.source.log.publish("deal", state="ACCEPTED")
    assert json.loads(client.recv())["state"] == "ACCEPTED"
    with requests.Session() as session:  # kept-alive HTTP beside the open WebSocket
        session.headers.update(AUTH)
        assert session.get(f"{served.http}/api/v1/health", timeout=10).json()["status"] == "ok"
        assert session.get(f"{served.http}/api/v1/orders", timeout=10).json() == {"orders": []}
        assert "deal" in session.get(f"{served.http}/api/v1/events?once=1", timeout=10).text
        assert "itrader_websocket_clients" in session.get(f"{served.http}/api/v1/metrics", timeout=10).text
    client.close()
    assert requests.get(f"{served.http}/api/v1/pools", headers=AUTH, timeout=10).status_code == 200


def test_the_daemon_serves_its_live_events_over_websocket(tmp_path):
    daemon = DaemonProcess(tmp_path / "var").wait_ready()
    try:
        wait_for(lambda: sse_data(daemon.base, daemon.token), "the sandbox daemon's first event", 60)
        token_mentions = daemon.log().count(daemon.token)  # the sandbox prints its generated token once
        client = websocket.create_connection(
            f"ws://127.0.0.1:{daemon.port}/api/v1/ws?after=0&token={daemon.token}", timeout=10)
        first = json.loads(client.recv())
        client.close()
        assert first == sse_data(daemon.base, daemon.token)[0]
        assert daemon.get("/api/v1/status").status_code == 200
        assert daemon.log().count(daemon.token) == token_mentions
    finally:
        daemon.close()


def test_clients_are_told_when_the_server_stops(served):
    client = served.connect()
    wait_for(lambda: served.clients() == 1, "the client to count")
    served.server.stop(timeout=1)
    opcode, payload = client.recv_data(control_frame=True)
    assert opcode == websocket.ABNF.OPCODE_CLOSE and payload[:2] == (1001).to_bytes(2, "big")
    assert REGISTRY.get_sample_value("itrader_websocket_clients") == 0  # the HTTP side is gone too
    client.close()


def test_an_event_stream_ends_when_the_server_stops(served):
    stream = requests.get(f"{served.http}/api/v1/events", headers=AUTH, stream=True, timeout=(5, 40))
    assert stream.headers["Content-Type"] == "text/event-stream; charset=utf-8"
    lines = stream.iter_lines()
    assert next(lines) == b": itrader events"
    served.server.stop(timeout=1)
    # A stream left open would send a keep-alive every 15 s for an hour: watch it past one of those.
    watch_until, ended = time.monotonic() + 20, False
    try:
        for line in lines:
            assert line in (b"", b": keep-alive")
            if time.monotonic() > watch_until:
                break
        else:
            ended = True
    except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ConnectionError):
        ended = True  # cut off mid-chunk: ended all the same
    assert ended, "the event stream outlived the server"


def test_the_access_log_does_not_carry_a_query_token():
    lines: list[str] = []

    class Log:
        def write(self, line: str) -> None:
            lines.append(line)

    server = NoDelayWSGIServer(("127.0.0.1", 0), make_app(EventsOnly(), TOKEN), log=Log())
    server.start()
    try:
        client = websocket.create_connection(f"ws://127.0.0.1:{server.server_port}/api/v1/ws?token={TOKEN}",
                                             timeout=10)
        client.close()
        wait_for(lambda: any("/api/v1/ws" in line for line in lines), "the access log line")
    finally:
        server.stop(timeout=1)
    logged = "".join(lines)
    assert TOKEN not in logged and "/api/v1/ws?token=*** " in logged and '" 101 ' in logged
