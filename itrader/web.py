"""The operator's HTTP endpoint (Bottle, served by gevent's WSGIServer).

The app knows nothing about actors: it talks to a `StatusSource`, which the
Web actor implements by asking the actors with timeouts. Everything but
`/api/v1/health` and `/api/v1/openapi.json` needs `Authorization: Bearer <token>`;
`WS /api/v1/ws` also takes it as `?token=` because browsers cannot set headers on
a WebSocket. The API is described by `itrader.web_openapi` (served as
`/api/v1/openapi.json`); every bad parameter is a 400 naming it, never a 500.
"""
from __future__ import annotations

import functools
import hmac
import io
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

from itrader import __version__, console, intake, ws
from itrader.console.sessions import Session, Sessions
from itrader.deal.resolve import BadField
from itrader.web_openapi import FLAG_VALUES, MAX_ID, MAX_NAME_CHARS, NAME_PATTERN, TRUE_FLAGS, openapi_document

API = "/api/v1"
OPEN_PATHS = {f"{API}/health", f"{API}/ready", f"{API}/openapi.json"}
WS_PATH = f"{API}/ws"
CONSOLE_SESSION = "itrader.console_session"  # environ: the console session a WebSocket was opened under
WEBSOCKET_CLIENTS = Gauge("itrader_websocket_clients", "Open WebSocket connections on /api/v1/ws")
_TOKEN_IN_QUERY = re.compile(r"([?&]token=)[^&\s]*")
MAX_BODY = 64 * 1024  # the API takes no uploads; a bigger body is refused before anything reads it
READ_TIMEOUT = 30.0  # seconds a client has to send a whole request head, or to go on sending a body
_ASCII_DIGITS = re.compile(r"[0-9]{1,19}")  # not \d: int("١") is 1, and "١" must not find deal 1
# A timed-out head: its client may not be listening, so the reply is short and the connection ends.
_TIMEOUT_BODY = b'{"error": "request not received in time"}'
_REQUEST_TIMEOUT_RESPONSE = (b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Type: application/json\r\n"
                             b"Content-Length: %d\r\n\r\n%s" % (len(_TIMEOUT_BODY), _TIMEOUT_BODY))
DRAIN_BYTES = 1024 * 1024  # of a refused body, read at most this much before closing (see _Drain)
DRAIN_SECONDS = 2.0


class UpgradableHandler(WSGIHandler):
    """pywsgi's handler, plus the hook a WebSocket route calls once it has accepted the upgrade,
    and the server's read timeout: a request head must arrive whole within it (a client trickling
    bytes cannot hold a connection open), and each later read or write may stall that long at most."""

    _head_deadline: gevent.Timeout | None = None
    _request_line_read = False

    def handle_one_request(self):
        timeout = self.server.read_timeout
        self._request_line_read = False
        self._head_deadline = gevent.Timeout(timeout) if timeout else None
        if self._head_deadline is not None:
            self._head_deadline.start()
        try:
            return super().handle_one_request()
        except gevent.Timeout as exc:
            if exc is not self._head_deadline:
                raise
            # Nothing of a request yet (an idle kept-alive connection): just close. Part of one: say so.
            return ("408", _REQUEST_TIMEOUT_RESPONSE) if self._request_line_read else None
        finally:
            if self._head_deadline is not None:
                self._head_deadline.close()

    def read_requestline(self):
        line = super().read_requestline()
        self._request_line_read = bool(line)
        return line

    def _handle_client_error(self, ex):
        if isinstance(ex, socket.timeout):  # a read stalled past the timeout mid-head
            return ("408", _REQUEST_TIMEOUT_RESPONSE)
        return super()._handle_client_error(ex)

    def get_environ(self):
        if self._head_deadline is not None:
            self._head_deadline.cancel()  # the head is in; the app's own time is not limited here
        environ = super().get_environ()
        environ[ws.SWITCH_PROTOCOLS] = self._switch_protocols
        return environ

    def run_application(self):
        try:
            super().run_application()
        finally:
            if self.close_connection:
                self.wsgi_input = _Drain(self.wsgi_input)

    def _switch_protocols(self, headers: list[tuple[str, str]]) -> ws.Transport:
        self.start_response("101 Switching Protocols", headers)
        self.write(b"")  # the 101 goes out now; pywsgi neither chunks nor frames an upgraded reply
        self.close_connection = True  # the socket is the WebSocket's now: no HTTP request follows on it
        self.socket.settimeout(None)  # its liveness is the session's pings, not the HTTP read timeout
        self.server.upgraded.add(gevent.getcurrent())
        rfile, sock = self.rfile, self.socket
        return ws.Transport(read=lambda: rfile.read1(ws.READ_SIZE), write=sock.sendall)

    def format_request(self):
        # Access logs must not carry a WebSocket's ?token=.
        return _TOKEN_IN_QUERY.sub(r"\1***", super().format_request())


class _Drain:
    """What pywsgi reads a request's unread body through before it closes the connection: a
    bounded read, so a client that sent a modest body over the cap gets our 413 rather than a
    reset, and one that keeps sending is not read to its end. No `100 Continue` goes out."""

    def __init__(self, body) -> None:
        self._body = body
        if hasattr(body, "send_100_continue_enabled"):
            body.send_100_continue_enabled = False

    def _discard(self) -> None:
        drained = 0
        with gevent.Timeout(DRAIN_SECONDS, False):
            try:
                while drained < DRAIN_BYTES:
                    chunk = self._body.read(16384)
                    if not chunk:
                        break
                    drained += len(chunk)
            except (OSError, ValueError):
                pass


class NoDelayWSGIServer(WSGIServer):
    """Replies go out at once: pywsgi writes headers and body separately, and Nagle's algorithm
    against the client's delayed ACK would add ~40 ms to every request on a kept-alive connection.
    Its handler can also switch a connection to WebSocket (see itrader.ws), and ends connections
    whose client is too slow (`read_timeout`, seconds; None for never)."""

    handler_class = UpgradableHandler

    def __init__(self, *args: Any, read_timeout: float | None = READ_TIMEOUT, **kwargs: Any) -> None:
        # Connections in a pool, not loose greenlets: stop() waits for them briefly, then ends the
        # ones still open (an event stream would otherwise outlive the server).
        kwargs.setdefault("spawn", Pool())  # no size: unbounded
        super().__init__(*args, **kwargs)
        self.read_timeout = read_timeout
        self.upgraded: weakref.WeakSet = weakref.WeakSet()  # greenlets serving a WebSocket

    def handle(self, sock, address):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(self.read_timeout)
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


class Unavailable(Exception):
    """The deal did not answer in time; the request may be sent again (it is idempotent)."""


REVIEW_STATES = ("MANUAL_REVIEW", "DISPUTE")


class StatusSource(Protocol):
    """What the web layer needs from the running system."""

    def overview(self) -> dict[str, Any]: ...  # profile, mode, started_at, …
    def status(self) -> dict[str, Any]: ...  # the live actor tree
    def deals(self, include_finished: bool) -> list[dict[str, Any]]: ...
    def deal(self, deal_id: str) -> dict[str, Any]: ...
    def accounts(self) -> list[dict[str, Any]]: ...
    def confirm(self, deal_id: str) -> dict[str, Any]: ...
    def resolve(self, deal_id: str, body: Any) -> dict[str, Any]: ...  # itrader.deal.resolve; BadField → 400
    def review(self) -> list[dict[str, Any]]: ...  # deals in REVIEW_STATES, newest first
    def kill_actor(self, actor_id: str) -> dict[str, Any]: ...
    def disable_account(self, name: str) -> dict[str, Any]: ...
    def pause(self, reason: str | None, by: str = "api") -> dict[str, Any]: ...  # no new payout; live deals go on
    def resume(self, by: str = "api") -> dict[str, Any]: ...
    def events(self, after: int, timeout: float) -> list[dict[str, Any]]: ...
    def ready(self) -> dict[str, Any]: ...  # {"ready": bool, "reasons": [...]} (itrader.readiness)


POOLS = {
    # The seed's stage names over our states.
    "pending": ("NEW", "ACCEPTED", "WAITING_ACCOUNT"),
    "active": ("AD_ONLINE",),
    "chat": ("CHATTING", "REQUISITES_SENT"),
    "verification": ("PAID", "RECEIPT_OK", "APPROVED", "MANUAL_REVIEW"),
    "completed": ("COMPLETED",),
}


def make_app(source: StatusSource, token: str, ping_interval: float = ws.PING_INTERVAL, *,
             drills: bool = False, max_body: int = MAX_BODY) -> bottle.Bottle:
    """The API. `drills` adds `POST /api/v1/actors/<id>/kill` (config `daemon.drills`), off in production."""
    if not token:
        raise ValueError("the API token must not be empty")
    app = bottle.Bottle()
    expected = f"Bearer {token}".encode()
    description = openapi_document(drills=drills)
    sessions = Sessions()

    @app.hook("before_request")
    def check_request() -> None:
        """Before anything reads the request: a path that is UTF-8, a body within the cap."""
        environ = bottle.request.environ
        try:
            environ["bottle.raw_path"].encode("latin-1").decode("utf-8")
        except UnicodeError:  # Bottle would drop the bad bytes, and "/deals/1%FF" would find deal 1
            raise _json_error(400, "path: must be UTF-8") from None
        _limit_body(environ, max_body)

    @app.hook("before_request")
    def authenticate() -> None:
        if bottle.request.path in OPEN_PATHS or console.is_console_path(bottle.request.path):
            return  # the console's pages check its session cookie themselves
        given = bottle.request.get_header("Authorization", "")
        if not given and bottle.request.path == WS_PATH:
            session = _console_socket(bottle.request.environ, sessions)
            if session is not None:  # the stream lives no longer than this session
                bottle.request.environ[CONSOLE_SESSION] = session.id
                return
        if not given and bottle.request.path == WS_PATH:
            given = f"Bearer {bottle.request.query.get('token', '')}"
        given = given.encode()
        if not hmac.compare_digest(given, expected):
            raise _json_error(401, "missing or wrong API token", {"WWW-Authenticate": "Bearer"})

    def known_query_only(callback):
        """Each route names the query parameters it takes (`query=`); another is refused, not ignored:
        `?al=1` must not quietly show the live deals only."""

        @functools.wraps(callback)
        def checked(*args: Any, **kwargs: Any) -> Any:
            takes = bottle.request.route.config.get("query", ())
            for key in bottle.request.query:
                if key not in takes:
                    raise _json_error(400, f"{key[:40]}: not a parameter of this route "
                                           f"(it takes: {', '.join(takes) or 'none'})")
            return callback(*args, **kwargs)

        return checked

    app.install(known_query_only)

    @app.get(f"{API}/health")
    def health():
        return {"status": "ok", "version": __version__}

    @app.get(f"{API}/ready")
    def ready():
        """Readiness, for a load balancer or an alert: 503 while the root restarts or no account can work."""
        answer = source.ready()
        if not answer["ready"]:
            bottle.response.status = 503
        return answer

    @app.get(f"{API}/openapi.json")
    def openapi():
        return description

    @app.get(f"{API}/status")
    def status():
        return {**source.overview(), "tree": source.status()}

    @app.get(f"{API}/deals", query=("all",))
    def deals():
        include = _flag("all", bottle.request.query.get("all"))
        return {"deals": source.deals(include_finished=include)}

    @app.get(f"{API}/deals/<deal_id>")
    def deal(deal_id: str):
        return _or_404(source.deal, str(_deal_id(deal_id)))

    @app.post(f"{API}/deals/<deal_id>/confirm")
    def confirm(deal_id: str):
        try:
            return source.confirm(str(_deal_id(deal_id)))
        except NotFound as exc:
            raise _json_error(404, str(exc)) from None
        except Conflict as exc:
            raise _json_error(409, str(exc)) from None

    @app.post(f"{API}/deals/<deal_id>/resolve")
    def resolve(deal_id: str):
        deal = str(_deal_id(deal_id))
        try:
            body = json.loads(bottle.request.body.read() or b"null")
        except (ValueError, UnicodeDecodeError):
            raise _json_error(400, "body: must be a JSON object") from None
        try:
            return source.resolve(deal, body)
        except BadField as exc:
            raise _json_error(400, str(exc)) from None
        except NotFound as exc:
            raise _json_error(404, str(exc)) from None
        except Conflict as exc:
            raise _json_error(409, str(exc)) from None
        except Unavailable as exc:
            raise _json_error(503, str(exc)) from None

    @app.get(f"{API}/review")
    def review():
        return {"deals": source.review()}

    if drills:
        @app.post(f"{API}/actors/<actor_id:path>/kill")
        def kill(actor_id: str):
            """Chaos and drills: make one actor fail so its supervisor restarts it."""
            return _or_404(source.kill_actor, _name("actor_id", actor_id))

    @app.post(f"{API}/accounts/<name>/disable")
    def disable_account(name: str):
        return _or_404(source.disable_account, _name("name", name))

    @app.post(f"{API}/pause")
    def pause():
        return source.pause(_pause_reason(bottle.request.body.read()))

    @app.post(f"{API}/resume")
    def resume():
        return source.resume()

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
        if hasattr(source, "ready"):
            source.ready()  # sets itrader_ready for this scrape
        bottle.response.content_type = CONTENT_TYPE_LATEST
        return generate_latest(REGISTRY)

    @app.get(f"{API}/events", query=("after", "once"))
    def events():
        """Server-sent events; `?after=N` (or a reconnecting client's Last-Event-ID) resumes after event N."""
        after = _count("after", bottle.request.query.get("after"))
        last_seen = _count("Last-Event-ID", bottle.request.get_header("Last-Event-ID"))
        once = _flag("once", bottle.request.query.get("once"))
        bottle.response.content_type = "text/event-stream; charset=utf-8"
        bottle.response.set_header("Cache-Control", "no-cache")
        return _event_stream(source, after if after is not None else last_seen or 0, once)

    @app.get(WS_PATH, query=("after", "since", "token"))
    def websocket():
        """Each event as one JSON text frame, the same JSON as an SSE event's data.
        Starts at the moment of connection, or after event N with `?after=N` (alias `?since=N`)."""
        environ = bottle.request.environ
        try:
            accept = ws.accept_token(environ)
        except ws.HandshakeError as exc:
            raise _json_error(exc.status, str(exc), exc.headers) from None
        after = _count("after", bottle.request.query.get("after"))
        if after is None:
            after = _count("since", bottle.request.query.get("since"))
        switch = environ.get(ws.SWITCH_PROTOCOLS)
        if switch is None:
            raise _json_error(501, "this server cannot switch protocols; serve the app with NoDelayWSGIServer")
        if after is None:
            after = _latest_event_id(source)

        def next_messages(timeout: float) -> list[str]:
            nonlocal after
            batch = source.events(after, timeout)
            after = max([after, *(int(event["seq"]) for event in batch)])
            return [_event_json(event) for event in batch]

        session_id = environ.get(CONSOLE_SESSION)
        allowed = None if session_id is None else (lambda: sessions.signed_in(session_id) is not None)
        transport = switch(ws.handshake_headers(accept))
        with WEBSOCKET_CLIENTS.track_inprogress():
            ws.WebSocketSession(transport, next_messages, ping_interval, allowed).run()
        bottle.response.status = 101  # for the access log; the reply went out at the switch
        return b""

    def error_as_json(error: bottle.HTTPError) -> str:
        # Bottle's own refusals (405, a malformed body...) as JSON too. A 500 never echoes exception
        # text: it may carry URLs or payloads with secrets.
        bottle.response.content_type = "application/json"
        if error.status_code >= 500:
            return json.dumps({"error": "internal error"})
        if error.status_code == 404:
            return json.dumps({"error": "not found"})
        return json.dumps({"error": str(error.body or error.status_line)})

    console.install(app, source, token, sessions, deal_id_of=_deal_id, not_found=NotFound,
                    refused={BadField: 400, NotFound: 404, Conflict: 409, Unavailable: 503})
    app.default_error_handler = error_as_json
    return app


def _console_socket(environ: dict, sessions: Sessions) -> Session | None:
    """A console page's WebSocket: a signed-in session cookie, opened by a page of this very server
    (a browser sends the cookie on a cross-site WebSocket too unless SameSite holds; Origin settles it)."""
    origin = environ.get("HTTP_ORIGIN", "")
    host = environ.get("HTTP_HOST", "")
    same_origin = bool(host) and origin in (f"http://{host}", f"https://{host}")
    return console.session_of(environ, sessions) if same_origin else None


# --- request checks: each refusal is a 400 (or 413) naming what was wrong ---


def _limit_body(environ: dict, max_body: int) -> None:
    too_large = _json_error(413, f"body: at most {max_body} bytes", {"Connection": "close"})
    try:
        declared = int(environ.get("CONTENT_LENGTH") or 0)  # pywsgi has refused what is not a number
    except ValueError:
        raise _json_error(400, "Content-Length: must be a whole number") from None
    if declared > max_body:
        raise too_large
    if environ.get("HTTP_TRANSFER_ENCODING", "").lower() == "chunked":  # no length up front: read to the cap
        try:
            body = environ["wsgi.input"].read(max_body + 1)
        except (OSError, ValueError):
            raise _json_error(400, "body: malformed chunked encoding", {"Connection": "close"}) from None
        if len(body) > max_body:
            raise too_large
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))


def _count(name: str, raw: str | None) -> int | None:
    """A non-negative whole number in ASCII digits, or None when absent."""
    if raw is None:
        return None
    if not _ASCII_DIGITS.fullmatch(raw) or int(raw) > MAX_ID:
        raise _json_error(400, f"{name}: must be a non-negative integer (ASCII digits, at most {MAX_ID})")
    return int(raw)


def _deal_id(raw: str) -> int:
    if not _ASCII_DIGITS.fullmatch(raw) or not 1 <= int(raw) <= MAX_ID:
        raise _json_error(400, f"deal_id: must be a positive integer (ASCII digits, at most {MAX_ID})")
    return int(raw)


def _flag(name: str, raw: str | None) -> bool:
    if raw is None:
        return False
    if raw not in FLAG_VALUES:
        raise _json_error(400, f"{name}: must be one of {', '.join(FLAG_VALUES)}")
    return raw in TRUE_FLAGS


def _name(name: str, raw: str) -> str:
    if not re.fullmatch(NAME_PATTERN, raw):
        raise _json_error(400, f"{name}: must be 1 to {MAX_NAME_CHARS} characters, none of them control characters")
    return raw


def _pause_reason(raw: bytes) -> str | None:
    """The optional body of a pause: nothing, or a JSON object with an optional `reason`."""
    if not raw.strip():
        return None
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        raise _json_error(400, "body: must be a JSON object such as {\"reason\": \"bank maintenance\"}") from None
    if not isinstance(body, dict) or set(body) - {"reason"}:
        raise _json_error(400, "body: must be a JSON object whose only field is reason")
    try:
        return intake.clean_reason(body["reason"]) if "reason" in body else None
    except ValueError as exc:
        raise _json_error(400, str(exc)) from None


def _or_404(call: Any, argument: str) -> dict[str, Any]:
    try:
        return call(argument)
    except NotFound as exc:
        raise _json_error(404, str(exc)) from None


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
