"""The operator API's refusals, as a client meets them: real HTTP and raw sockets against the real server.

Bad parameters are a 400 naming them (never a 500), ids are ASCII digits, the drill route exists
only when asked for, bodies are capped, and a client too slow to send its request is cut off.
"""
from __future__ import annotations

import socket
import time
from typing import Any

import pytest
import requests
from openapi_spec_validator import validate

from itrader.events import EventLog
from itrader.web import MAX_BODY, NoDelayWSGIServer, NotFound, make_app

TOKEN = "hardening-test-token-5e1c"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
READ_TIMEOUT = 1.0
NUMBER_PROBLEM = "must be a non-negative integer (ASCII digits, at most 9223372036854775807)"


class OneDeal:
    """A StatusSource that knows deal 1 and actor `Web`, over a real EventLog."""

    def __init__(self) -> None:
        self.log = EventLog()
        self.killed: list[str] = []

    def overview(self) -> dict[str, Any]:
        return {"profile": "test"}

    def status(self) -> dict[str, Any]:
        return {"id": "root", "children": []}

    def deals(self, include_finished: bool) -> list[dict[str, Any]]:
        return [self.deal("1")]

    def deal(self, deal_id: str) -> dict[str, Any]:
        if deal_id != "1":
            raise NotFound(f"no deal {deal_id}")
        return {"id": 1, "state": "COMPLETED", "journal": []}

    def accounts(self) -> list[dict[str, Any]]:
        return []

    def confirm(self, deal_id: str) -> dict[str, Any]:
        self.deal(deal_id)
        return {"deal_id": 1, "confirmed": "release", "message": "confirmed"}

    def kill_actor(self, actor_id: str) -> dict[str, Any]:
        if actor_id != "Web":
            raise NotFound(f"no running actor {actor_id}")
        self.killed.append(actor_id)
        return {"killed": actor_id}

    def disable_account(self, name: str) -> dict[str, Any]:
        raise NotFound(f"no Bybit account {name}")

    def events(self, after: int, timeout: float) -> list[dict[str, Any]]:
        return self.log.since(after, timeout)


class Served:
    def __init__(self, drills: bool = False) -> None:
        self.source = OneDeal()
        for seq in range(3):
            self.source.log.publish("deal", deal_id=1, n=seq)
        self.server = NoDelayWSGIServer(("127.0.0.1", 0), make_app(self.source, TOKEN, drills=drills),
                                        log=None, read_timeout=READ_TIMEOUT)
        self.server.start()
        self.port = self.server.server_port
        self.base = f"http://127.0.0.1:{self.port}"

    def get(self, path: str, **headers: str) -> requests.Response:
        return requests.get(self.base + path, headers={**AUTH, **headers}, timeout=10)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return requests.post(self.base + path, headers=AUTH, timeout=10, **kwargs)


@pytest.fixture
def served():
    served = Served()
    yield served
    served.server.stop(timeout=1)


@pytest.fixture
def drills():
    served = Served(drills=True)
    yield served
    served.server.stop(timeout=1)


def test_a_bad_after_or_last_event_id_is_a_400_naming_it(served):
    for query, header, name in (("after=abc", None, "after"), ("after=1.5", None, "after"),
                                ("after=-1", None, "after"), ("after=١", None, "after"),
                                ("", "junk", "Last-Event-ID"), ("", "2.0", "Last-Event-ID")):
        headers = {"Last-Event-ID": header} if header else {}
        answer = served.get(f"/api/v1/events?once=1&{query}", **headers)
        assert answer.status_code == 400, (query, header)
        assert answer.json() == {"error": f"{name}: {NUMBER_PROBLEM}"}
    # Good values still resume where they say.
    assert "id: 3" in served.get("/api/v1/events?once=1&after=2").text
    assert "id: 2" not in served.get("/api/v1/events?once=1&after=2").text
    assert "id: 1" not in served.get("/api/v1/events?once=1", **{"Last-Event-ID": "1"}).text


def test_flags_take_known_words_only(served):
    assert served.get("/api/v1/deals?all=true").status_code == 200
    assert served.get("/api/v1/deals?all=TRUE").status_code == 400
    answer = served.get("/api/v1/deals?all=maybe")
    assert answer.status_code == 400 and answer.json()["error"].startswith("all: must be one of 1, 0, true")
    assert served.get("/api/v1/events?once=2").json()["error"].startswith("once: must be one of")


def test_deal_ids_are_ascii_digits(served):
    assert served.get("/api/v1/deals/1").json()["id"] == 1
    for lookalike in ("١", "%D9%A1", "１", "1%FF", "+1", "1.0", "0", "99999999999999999999"):
        answer = served.get(f"/api/v1/deals/{lookalike}")
        assert answer.status_code == 400, lookalike  # never deal 1
        assert "id" not in answer.json()
    assert served.post("/api/v1/deals/١/confirm").status_code == 400
    assert served.get("/api/v1/deals/2").status_code == 404


def test_the_drill_route_is_off_by_default(served, drills):
    assert served.post("/api/v1/actors/Web/kill").status_code == 404
    assert served.source.killed == []
    assert drills.post("/api/v1/actors/Web/kill").json() == {"killed": "Web"}
    assert drills.source.killed == ["Web"]
    assert drills.post("/api/v1/actors/nope/kill").status_code == 404


def test_a_body_over_the_cap_is_refused_with_413(served):
    over = b"x" * (MAX_BODY + 1)
    answer = served.post("/api/v1/deals/1/confirm", data=over)
    assert answer.status_code == 413 and answer.json() == {"error": f"body: at most {MAX_BODY} bytes"}
    assert answer.headers["Connection"] == "close"
    chunked = served.post("/api/v1/deals/1/confirm", data=iter([b"y" * 1024] * 100))  # no length up front
    assert chunked.status_code == 413
    assert served.post("/api/v1/deals/1/confirm", data=b"x" * MAX_BODY).status_code == 200


def test_a_half_sent_request_is_cut_off_after_the_read_timeout(served):
    with socket.create_connection(("127.0.0.1", served.port)) as sock:
        sock.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n")  # no blank line: the head never ends
        started = time.monotonic()
        sock.settimeout(READ_TIMEOUT + 5)
        answer = _read_until_closed(sock)
        waited = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert READ_TIMEOUT * 0.8 < waited < READ_TIMEOUT + 2


def test_a_trickled_head_is_cut_off_though_each_byte_is_in_time(served):
    with socket.create_connection(("127.0.0.1", served.port)) as sock:
        started = time.monotonic()
        sock.sendall(b"GET /api/v1/health HTTP/1.1\r\n")
        closed = False
        for _ in range(40):  # a header byte every 0.1 s: each read is quick, the head is not
            try:
                sock.sendall(b"a")
            except OSError:
                closed = True
                break
            time.sleep(0.1)
        sock.settimeout(5)
        try:
            _read_until_closed(sock)  # returns once the server has closed
            closed = True
        except socket.timeout:
            pass  # still open: the server waits on
        except OSError:  # reset: closed with our bytes unread
            closed = True
    assert closed and time.monotonic() - started < READ_TIMEOUT + 2


def test_an_idle_kept_alive_connection_is_closed(served):
    with socket.create_connection(("127.0.0.1", served.port)) as sock:
        sock.sendall(f"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nAuthorization: {AUTH['Authorization']}\r\n\r\n"
                     .encode())
        sock.settimeout(READ_TIMEOUT + 5)
        first = sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 200 ")
        started = time.monotonic()
        assert _read_until_closed(sock) == b""  # closed without a word: no request had begun
        assert time.monotonic() - started < READ_TIMEOUT + 2


def test_errors_are_json_and_the_description_is_open_and_valid(served, drills):
    assert served.get("/api/v1/nothing-here").json() == {"error": "not found"}
    wrong_method = requests.put(served.base + "/api/v1/deals", headers=AUTH, timeout=10)
    assert wrong_method.status_code == 405 and "error" in wrong_method.json()
    description = requests.get(served.base + "/api/v1/openapi.json", timeout=10).json()
    validate(description)
    assert "/api/v1/actors/{actor_id}/kill" not in description["paths"]
    with_drills = requests.get(drills.base + "/api/v1/openapi.json", timeout=10).json()
    validate(with_drills)
    assert "/api/v1/actors/{actor_id}/kill" in with_drills["paths"]


def _read_until_closed(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data
