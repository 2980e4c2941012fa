"""One gevent WSGI server for the whole sandbox: every platform app mounted under its base path."""
from __future__ import annotations

import logging
from typing import Mapping

import bottle
from itrader.web import NoDelayWSGIServer  # a serving helper, not a client: the twin stays independent

log = logging.getLogger(__name__)

DEFAULT_LISTEN = "127.0.0.1:8081"
DEFAULT_IMAP = "127.0.0.1:1143"


def parse_address(text: str, default_port: int = 0) -> tuple[str, int]:
    """"HOST:PORT", ":PORT" or "HOST" -> (host, port); the host defaults to loopback."""
    text = (text or "").strip()
    if text.startswith("[") and "]" in text:  # [::1]:8081
        host, _, rest = text[1:].partition("]")
        port_text = rest.lstrip(":")
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    else:
        host, port_text = text, ""
    host = host or "127.0.0.1"
    try:
        port = int(port_text) if port_text else default_port
    except ValueError:
        raise ValueError(f"bad address {text!r}: port must be a number") from None
    if not 0 <= port <= 65535:
        raise ValueError(f"bad address {text!r}: port out of range")
    return host, port


def root_app(mounts: Mapping[str, bottle.Bottle]) -> bottle.Bottle:
    """A root Bottle app with each platform app mounted at its prefix (e.g. "/gate/api/v1")."""
    root = bottle.Bottle()
    for prefix, app in mounts.items():
        root.mount(prefix.rstrip("/") + "/", app)

    @root.get("/")
    def index():
        return {"sandbox": True, "mounts": sorted(mounts)}

    return root


class _LogFile:
    """pywsgi wants file-like logs; access lines go to debug, tracebacks to warning."""

    def __init__(self, level: int) -> None:
        self.level = level

    def write(self, line: str) -> None:
        if line.strip():
            log.log(self.level, line.rstrip())

    def flush(self) -> None:
        pass


class HTTPServer:
    def __init__(self, app, listen: str = DEFAULT_LISTEN) -> None:
        self.host, self.port = parse_address(listen, 8081)
        self._server = NoDelayWSGIServer((self.host, self.port), app, log=_LogFile(logging.DEBUG),
                                          error_log=_LogFile(logging.WARNING))

    def start(self) -> "HTTPServer":
        self._server.start()
        self.port = self._server.server_port  # the real one when 0 was asked for
        return self

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def stop(self, timeout: float = 2.0) -> None:
        self._server.stop(timeout=timeout)
