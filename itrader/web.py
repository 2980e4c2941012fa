"""The operator's HTTP endpoint (Bottle, served by gevent's WSGIServer).

The app knows nothing about actors: it talks to a `StatusSource`, which the
Web actor implements by asking the actors with timeouts. Everything but
`/api/v1/health` needs `Authorization: Bearer <token>`; `WS /api/v1/ws` also
takes it as `?token=` because browsers cannot set headers on a WebSocket.
"""
from __future__ import annotations

import hmac
import json
import re
import socket
import time
import weakref
from typing import Any, Iterator, Protocol

import bottle
import gevent
from gevent.pool import Pool
from gevent.pywsgi import WSGIHandler, WSGIServer
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Gauge, generate_latest

from itrader import __version__, ws

API = "/api/v1"
OPEN_PATHS = {f"{API}/health"}
WS_PATH = f"{API}/ws"
WEBSOCKET_CLIENTS = Gauge("itrader_websocket_clients", "Open WebSocket connections on /api/v1/ws")
_TOKEN_IN_QUERY = re.compile(r"([?&]token=)[^&\s]*")


class UpgradableHandler(WSGIHandler):
    """pywsgi's handler, plus the hook a WebSocket route calls once it has accepted the upgrade."""

    def get_environ(self):
        environ = super().get_environ()
        environ[ws.SWITCH_PROTOCOLS] = self._switch_protocols
        return environ

    def _switch_protocols(self, headers: list[tuple[str, str]]) -> ws.Transport:
        self.start_response("101 Switching Protocols", headers)
        self.write(b"")  # the 101 goes out now; pywsgi neither chunks nor frames an upgraded reply
        self.close_connection = True  # the socket is the WebSocket's now: no HTTP request follows on it
        self.server.upgraded.add(gevent.getcurrent())
        rfile, sock = self.rfile, self.socket
        return ws.Transport(read=lambda: rfile.read1(ws.READ_SIZE), write=sock.sendall)

    def format_request(self):
        # Access logs must not carry a WebSocket's ?token=.
        return _TOKEN_IN_QUERY.sub(r"\1***", super().format_request())


class NoDelayWSGIServer(WSGIServer):
    """Replies go out at once: pywsgi writes headers and body separately, and Nagle's algorithm
    against the client's delayed ACK would add ~40 ms to every request on a kept-alive connection.
    Its handler can also switch a connection to WebSocket (see itrader.ws)."""

    handler_class = UpgradableHandler

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Connections in a pool, not loose greenlets: stop() waits for them briefly, then ends the
        # ones still open (an event stream would otherwise outlive the server).
        kwargs.setdefault("spawn", Pool())  # no size: unbounded
        super().__init__(*args, **kwargs)
        self.upgraded: weakref.WeakSet = weakref.WeakSet()  # greenlets serving a WebSocket

    def handle(self, sock, address):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return super().handle(sock, address)

    def stop(self, timeout: float | None = None) -> None:
        # WebSockets first, so each says goodbye (close 1001) before the group's stragglers are killed.
        self.close()
        gevent.killall(list(self.upgraded), block=True, timeout=1)
        super().stop(timeout)


class NotFound(Exception):
    """The source has no such deal or actor."""


class Conflict(Exception):
    """The request is valid but not in the current state (e.g. nothing to confirm)."""


class StatusSource(Protocol):
    """What the web layer needs from the running system."""

    def overview(self) -> dict[str, Any]: ...  # profile, mode, started_at, …
    def status(self) -> dict[str, Any]: ...  # the live actor tree
    def deals(self, include_finished: bool) -> list[dict[str, Any]]: ...
    def deal(self, deal_id: str) -> dict[str, Any]: ...
    def accounts(self) -> list[dict[str, Any]]: ...
    def confirm(self, deal_id: str) -> dict[str, Any]: ...
    def kill_actor(self, actor_id: str) -> dict[str, Any]: ...
    def disable_account(self, name: str) -> dict[str, Any]: ...
    def events(self, after: int, timeout: float) -> list[dict[str, Any]]: ...


POOLS = {
    # The seed's stage names over our states.
    "pending": ("NEW", "ACCEPTED", "WAITING_ACCOUNT"),
    "active": ("AD_ONLINE",),
    "chat": ("CHATTING", "REQUISITES_SENT"),
    "verification": ("PAID", "RECEIPT_OK", "APPROVED", "MANUAL_REVIEW"),
    "completed": ("COMPLETED",),
}


def make_app(source: StatusSource, token: str, ping_interval: float = ws.PING_INTERVAL) -> bottle.Bottle:
    if not token:
        raise ValueError("the API token must not be empty")
    app = bottle.Bottle()
    expected = f"Bearer {token}".encode()

    @app.hook("before_request")
    def authenticate() -> None:
        if bottle.request.path in OPEN_PATHS:
            return
        given = bottle.request.get_header("Authorization", "")
        if not given and bottle.request.path == WS_PATH:
            given = f"Bearer {bottle.request.query.get('token', '')}"
        given = given.encode()
        if not hmac.compare_digest(given, expected):
            raise _json_error(401, "missing or wrong API token", {"WWW-Authenticate": "Bearer"})

    @app.get(f"{API}/health")
    def health():
        return {"status": "ok", "version": __version__}

    @app.get(f"{API}/status")
    def status():
        return {**source.overview(), "tree": source.status()}

    @app.get(f"{API}/deals")
    def deals():
        include = bottle.request.query.get("all") in ("1", "true", "yes")
        return {"deals": source.deals(include_finished=include)}

    @app.get(f"{API}/deals/<deal_id>")
    def deal(deal_id: str):
        try:
            return source.deal(deal_id)
        except NotFound as exc:
            raise _json_error(404, str(exc)) from None

    @app.post(f"{API}/deals/<deal_id>/confirm")
    def confirm(deal_id: str):
        try:
            return source.confirm(deal_id)
        except NotFound as exc:
            raise _json_error(404, str(exc)) from None
        except Conflict as exc:
            raise _json_error(409, str(exc)) from None

    @app.post(f"{API}/actors/<actor_id:path>/kill")
    def kill(actor_id: str):
        """Chaos and drills: make one actor fail so its supervisor restarts it."""
        try:
            return source.kill_actor(actor_id)
        except NotFound as exc:
            raise _json_error(404, str(exc)) from None

    @app.post(f"{API}/accounts/<name>/disable")
    def disable_account(name: str):
        try:
            return source.disable_account(name)
        except NotFound as exc:
            raise _json_error(404, str(exc)) from None

    @app.get(f"{API}/accounts")
    def accounts():
        return {"accounts": source.accounts()}

    @app.get(f"{API}/orders")
    def orders():
        return {"orders": source.deals(include_finished=False)}

    @app.get(f"{API}/pools")
    def pools():
        grouped: dict[str, list] = {name: [] for name in POOLS}
        for item in source.deals(include_finished=True):
            for name, states in POOLS.items():
                if item.get("state") in states:
                    grouped[name].append(item)
        return {"pools": grouped, "counts": {k: len(v) for k, v in grouped.items()}}

    @app.get(f"{API}/metrics")
    def metrics_json():
        return {"metrics": _metrics_as_dict()}

    @app.get("/metrics")
    def metrics_text():
        bottle.response.content_type = CONTENT_TYPE_LATEST
        return generate_latest(REGISTRY)

    @app.get(f"{API}/events")
    def events():
        """Server-sent events; `?after=N` resumes after event N."""
        after = int(bottle.request.query.get("after") or bottle.request.get_header("Last-Event-ID") or 0)
        once = bottle.request.query.get("once") in ("1", "true")
        bottle.response.content_type = "text/event-stream; charset=utf-8"
        bottle.response.set_header("Cache-Control", "no-cache")
        return _event_stream(source, after, once)

    @app.get(WS_PATH)
    def websocket():
        """Each event as one JSON text frame, the same JSON as an SSE event's data.
        Starts at the moment of connection, or after event N with `?after=N` (alias `?since=N`)."""
        environ = bottle.request.environ
        try:
            accept = ws.accept_token(environ)
        except ws.HandshakeError as exc:
            raise _json_error(exc.status, str(exc), exc.headers) from None
        resume = bottle.request.query.get("after") or bottle.request.query.get("since")
        if resume is not None and not resume.isdigit():
            raise _json_error(400, "after/since must be an event id (a whole number)")
        switch = environ.get(ws.SWITCH_PROTOCOLS)
        if switch is None:
            raise _json_error(501, "this server cannot switch protocols; serve the app with NoDelayWSGIServer")
        after = int(resume) if resume is not None else _latest_event_id(source)

        def next_messages(timeout: float) -> list[str]:
            nonlocal after
            batch = source.events(after, timeout)
            after = max([after, *(int(event["seq"]) for event in batch)])
            return [_event_json(event) for event in batch]

        transport = switch(ws.handshake_headers(accept))
        with WEBSOCKET_CLIENTS.track_inprogress():
            ws.WebSocketSession(transport, next_messages, ping_interval).run()
        bottle.response.status = 101  # for the access log; the reply went out at the switch
        return b""

    @app.error(404)
    def not_found(_error):
        bottle.response.content_type = "application/json"
        return json.dumps({"error": "not found"})

    @app.error(500)
    def internal(_error):
        # Never echo exception text: it may carry URLs or payloads with secrets.
        bottle.response.content_type = "application/json"
        return json.dumps({"error": "internal error"})

    return app


def _event_stream(source: StatusSource, after: int, once: bool) -> Iterator[str]:
    deadline = time.monotonic() + 3600
    yield ": itrader events\n\n"
    while time.monotonic() < deadline:
        batch = source.events(after, timeout=0.0 if once else 15.0)
        for event in batch:
            after = max(after, int(event.get("seq", after)))
            yield f"id: {event.get('seq')}\nevent: {event.get('type', 'message')}\ndata: {_event_json(event)}\n\n"
        if once:
            return
        if not batch:
            yield ": keep-alive\n\n"


def _event_json(event: dict[str, Any]) -> str:
    return json.dumps(event, ensure_ascii=False, default=str)


def _latest_event_id(source: StatusSource) -> int:
    return max((int(event["seq"]) for event in source.events(0, 0.0)), default=0)


def _json_error(status: int, message: str, headers: dict | None = None) -> bottle.HTTPResponse:
    return bottle.HTTPResponse(
        status=status,
        body=json.dumps({"error": message}),
        headers={"Content-Type": "application/json", **(headers or {})},
    )


def _metrics_as_dict() -> dict[str, Any]:
    """A JSON view of our own metrics for the seed's /api/v1/metrics."""
    out: dict[str, Any] = {}
    for family in REGISTRY.collect():
        if not family.name.startswith("itrader_"):
            continue
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            out[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return out
