"""A webhook receiver on loopback for the alert tests: a real HTTP endpoint that keeps every request,
checks the signature as an operator's receiver would, and can be made to hang."""
from __future__ import annotations

import hashlib
import hmac
import json

import gevent
from gevent.pywsgi import WSGIServer

SECRET = "webhook-secret-4f1e9a7c"


class WebhookReceiver:
    """A real HTTP endpoint on loopback that keeps every request and can be made to hang."""

    def __init__(self) -> None:
        self.received: list[tuple[dict, bytes]] = []
        self.hang = 0.0
        self.server = WSGIServer(("127.0.0.1", 0), self.app, log=None)
        self.server.start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/itrader"

    def app(self, environ, start_response):
        body = environ["wsgi.input"].read()
        if self.hang:
            gevent.sleep(self.hang)
        self.received.append(({k: v for k, v in environ.items() if k.startswith("HTTP_")}, body))
        start_response("204 No Content", [])
        return [b""]

    def verified(self) -> list[dict]:
        """The bodies whose signature checks out under SECRET, as a receiver would check them."""
        good = []
        for headers, body in self.received:
            expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
            if hmac.compare_digest(headers.get("HTTP_X_ITRADER_SIGNATURE", ""), expected):
                good.append(json.loads(body))
        return good
