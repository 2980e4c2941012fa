"""RFC 6455 WebSocket on gevent.pywsgi's own connection, for the operator's live updates.

pywsgi parses the HTTP upgrade request and the app checks it (auth, handshake)
like any other request, so refusals are plain HTTP answers. Only then does the
app call the server's switch-protocols hook (`SWITCH_PROTOCOLS` in the WSGI
environ, put there by `itrader.web.UpgradableHandler`), which sends the 101 and
hands over the socket; wsproto does the framing from there.

The stream is one-way: the server sends text messages, answers pings, pings
the peer so a dead one is noticed, and closes cleanly. Data messages from the
client are read and dropped. A stream bound to a console session (`allowed`) checks it before
each batch and at least every RECHECK_INTERVAL: once the session is signed out or expired, nothing
more is sent and the socket closes with 1008.
"""
from __future__ import annotations

import base64
import binascii
import time
from dataclasses import dataclass
from typing import Callable

import gevent
import gevent.lock
from wsproto.connection import Connection, ConnectionState, ConnectionType
from wsproto.events import CloseConnection, Event, Ping, Pong, TextMessage
from wsproto.utilities import generate_accept_token

SWITCH_PROTOCOLS = "itrader.switch_protocols"
PING_INTERVAL = 15.0
GOING_AWAY = 1001
POLICY_VIOLATION = 1008  # the session that opened the stream ended
RECHECK_INTERVAL = 1.0  # a bound stream notices a sign-out this soon, even with no event to send
SESSION_ENDED = "session ended"
READ_SIZE = 65536


class HandshakeError(Exception):
    """The request is not a WebSocket upgrade we can accept; answer it with plain HTTP."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers or {}


@dataclass(frozen=True)
class Transport:
    """The upgraded connection: `read` returns b"" at end of stream, `write` sends all bytes."""

    read: Callable[[], bytes]
    write: Callable[[bytes], None]


def _tokens(header_value: str) -> set[str]:
    return {part.strip().lower() for part in header_value.split(",")}


def accept_token(environ: dict) -> str:
    """The Sec-WebSocket-Accept value for a valid upgrade request, or HandshakeError."""
    if "websocket" not in _tokens(environ.get("HTTP_UPGRADE", "")):
        raise HandshakeError(400, "this endpoint speaks WebSocket (RFC 6455) only: send 'Upgrade: websocket' "
                                  "and 'Connection: Upgrade'; for plain HTTP use GET /api/v1/events")
    if "upgrade" not in _tokens(environ.get("HTTP_CONNECTION", "")):
        raise HandshakeError(400, "a WebSocket upgrade needs 'Connection: Upgrade'")
    if environ.get("HTTP_SEC_WEBSOCKET_VERSION", "").strip() != "13":
        raise HandshakeError(426, "only WebSocket version 13 is supported", {"Sec-WebSocket-Version": "13"})
    key = environ.get("HTTP_SEC_WEBSOCKET_KEY", "").strip()
    try:
        valid = len(base64.b64decode(key, validate=True)) == 16
    except (binascii.Error, ValueError):
        valid = False
    if not valid:
        raise HandshakeError(400, "Sec-WebSocket-Key must be 16 bytes in base64")
    return generate_accept_token(key.encode("ascii")).decode("ascii")


def handshake_headers(accept: str) -> list[tuple[str, str]]:
    return [("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Accept", accept)]


class WebSocketSession:
    """Sends what `next_messages(timeout)` returns until either side ends the connection.

    `next_messages` blocks cooperatively for at most `timeout` seconds and returns
    the texts to send (possibly none). A reader greenlet answers pings and close
    frames; a pump greenlet sends messages and a ping every `ping_interval`, and
    drops the peer if the previous ping is still unanswered. A write that cannot
    finish within `ping_interval` (the peer stopped reading) drops it too.
    """

    def __init__(self, transport: Transport, next_messages: Callable[[float], list[str]],
                 ping_interval: float = PING_INTERVAL, allowed: Callable[[], bool] | None = None) -> None:
        self._transport = transport
        self._next_messages = next_messages
        self._ping_interval = ping_interval
        self._allowed = allowed  # None: not bound to a session (an API token's stream)
        self._conn = Connection(ConnectionType.SERVER)
        self._send_lock = gevent.lock.Semaphore()
        self._awaiting_pong = False

    def run(self) -> str:
        """Serve until the end; returns why it ended. Never raises for network trouble."""
        reader = gevent.spawn(self._guarded, self._read_loop)
        pump = gevent.spawn(self._guarded, self._pump_loop)
        ended = "server stopping"
        try:
            done = gevent.wait([reader, pump], count=1)
            ended = done[0].value if done else ended
        finally:
            gevent.killall([reader, pump])
            if self._conn.state is ConnectionState.OPEN and ended == "server stopping":
                self._try_send(CloseConnection(code=GOING_AWAY, reason="server stopping"), timeout=1.0)
            elif self._conn.state is ConnectionState.OPEN and ended == SESSION_ENDED:
                self._try_send(CloseConnection(code=POLICY_VIOLATION, reason="signed out: sign in again"),
                               timeout=1.0)
        return ended

    @staticmethod
    def _guarded(loop: Callable[[], str]) -> str:
        try:
            return loop()
        except (OSError, _PeerNotReading):
            return "connection lost"

    def _read_loop(self) -> str:
        while True:
            data = self._transport.read()
            if not data:
                return "peer went away"
            self._conn.receive_data(data)
            for event in self._conn.events():
                if isinstance(event, Ping):
                    self._send(event.response())
                elif isinstance(event, Pong):
                    self._awaiting_pong = False
                elif isinstance(event, CloseConnection):
                    # Echo the close (also covers wsproto's own close on a malformed frame).
                    if self._conn.state is not ConnectionState.CLOSED:
                        self._send(event.response())
                    return "closed by peer"

    def _pump_loop(self) -> str:
        next_ping = time.monotonic() + self._ping_interval
        while True:
            wait = max(0.0, next_ping - time.monotonic())
            batch = self._next_messages(wait if self._allowed is None else min(wait, RECHECK_INTERVAL))
            if self._allowed is not None and not self._allowed():
                return SESSION_ENDED  # checked after the wait: nothing fetched after a sign-out goes out
            for text in batch:
                self._send(TextMessage(data=text))
            if time.monotonic() >= next_ping:
                if self._awaiting_pong:
                    return "peer stopped answering pings"
                self._awaiting_pong = True
                self._send(Ping(payload=b"itrader"))
                next_ping = time.monotonic() + self._ping_interval

    def _send(self, event: Event, timeout: float | None = None) -> None:
        with self._send_lock:
            if self._conn.state is not ConnectionState.OPEN and not (
                    isinstance(event, CloseConnection) and self._conn.state is ConnectionState.REMOTE_CLOSING):
                return  # closing: nothing more may be sent
            data = self._conn.send(event)
            deadline = gevent.Timeout(timeout or self._ping_interval)
            deadline.start()
            try:
                self._transport.write(data)
            except gevent.Timeout as exc:
                if exc is not deadline:
                    raise
                raise _PeerNotReading() from None
            finally:
                deadline.close()

    def _try_send(self, event: Event, timeout: float) -> None:
        try:
            self._send(event, timeout)
        except (OSError, _PeerNotReading):
            pass


class _PeerNotReading(Exception):
    """A write did not finish in time: the peer's receive window stayed full."""
