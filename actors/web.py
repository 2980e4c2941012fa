"""The Web actor: serves itrader.web's Bottle app on gevent's WSGIServer.

Request greenlets ask other actors for status with timeouts; the Web actor's
own mailbox only starts and stops the server.
"""
from __future__ import annotations

import logging
from typing import Any, Callable


from actors.supervisor import SupervisedActor
from itrader.config import parse_address
from itrader.web import NoDelayWSGIServer, StatusSource, make_app

log = logging.getLogger("itrader.web")


class WebActor(SupervisedActor):
    def __init__(self, listen: str, token: str, source: StatusSource,
                 on_bound: Callable[[str, int], None] | None = None, drills: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._address = parse_address(listen)
        self._app = make_app(source, token, drills=drills)
        self._on_bound = on_bound
        self._server: NoDelayWSGIServer | None = None

    def on_start(self) -> None:
        super().on_start()
        self._server = NoDelayWSGIServer(self._address, self._app, log=None, error_log=log)
        self._server.start()  # raises at once if the port is taken: a clear failure, restarted with backoff
        host, port = self._server.server_host, self._server.server_port
        log.info("console on http://%s:%d/ (API under /api/v1)", host, port)
        if self._on_bound:
            self._on_bound(host, port)

    def on_stop(self) -> None:
        self._close()

    def on_failure(self, *_exc_info: Any) -> None:
        # A crashed actor gets no on_stop: free the port so the restart can bind it.
        self._close()

    def _close(self) -> None:
        if self._server is not None:
            self._server.stop(timeout=1)
            self._server = None
