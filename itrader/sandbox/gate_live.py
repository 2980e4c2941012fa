"""What the live Gate panel does beyond the happy twin (issue 12), switched on through the control API.

* Cloudflare challenges: from a datacenter IP the panel's Cloudflare may answer any call, login
  included, with a challenge page instead of the panel. Shape: Cloudflare docs, "Detect a Challenge
  Page response": every Challenge Page type carries `cf-mitigated: challenge`; the managed challenge's
  interstitial is a 403 (or 503) HTML page titled "Just a moment...", served with `server: cloudflare`
  and a `cf-ray` header. The panel never sees such a request, so nothing is done behind it.
  `GateChallenge.arm` answers the next N calls, or every call for T seconds, that way.
* A search by id without a status filter (`search[id]` alone): no original ever sent it (both sent
  `filters[status][]=4&=5` beside it, reference/gate-api.md §6.3), so what the live panel answers is
  unknown; `search_id_needs_status` makes it answer an empty list, as a panel that applies a default
  status filter would.
"""
from __future__ import annotations

import threading
import time
from typing import Any, Callable

import bottle

from itrader.sandbox.faults import FAULT_KEY

CHALLENGE_FAULT = "cloudflare_challenge"
CHALLENGE_STATUSES = (403, 503)
CHALLENGE_HTML = (
    "<!DOCTYPE html><html lang=\"en-US\"><head><title>Just a moment...</title>"
    "<meta http-equiv=\"refresh\" content=\"390\"></head><body><div class=\"main-wrapper\" role=\"main\">"
    "<h1>panel.gate.cx</h1><h2>Verifying you are human. This may take a few seconds.</h2>"
    "<noscript>Enable JavaScript and cookies to continue</noscript>"
    "<script src=\"/cdn-cgi/challenge-platform/h/b/orchestrate/chl_page/v1\"></script>"
    "</div></body></html>"
)


class GateChallenge:
    """Cloudflare challenges in front of the Gate twin: for the next `calls` calls, or for `seconds`."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.calls_left = 0
        self.until = 0.0
        self.status = 403
        self.endpoint = ""
        self.answered = 0

    def arm(self, calls: int | None = None, seconds: float | None = None, status: int = 403,
            endpoint: str = "") -> dict[str, Any]:
        """Challenge the next `calls` calls and/or every call for `seconds`; `endpoint` narrows it to paths
        ending with that text ("/approve", "/auth/basic/login"); `status` 403 or 503."""
        if status not in CHALLENGE_STATUSES:
            raise ValueError(f"status must be one of {CHALLENGE_STATUSES}, got {status!r}")
        if calls is None and seconds is None:
            raise ValueError("give calls (the next N calls) or seconds (every call for that long)")
        if calls is not None and (isinstance(calls, bool) or not isinstance(calls, int) or not 0 <= calls <= 100_000):
            raise ValueError(f"calls must be a whole number between 0 and 100000, got {calls!r}")
        if seconds is not None and (isinstance(seconds, bool) or not isinstance(seconds, (int, float))
                                    or not 0 <= seconds <= 86400):
            raise ValueError(f"seconds must be a number between 0 and 86400, got {seconds!r}")
        with self._lock:
            self.calls_left = int(calls or 0)
            self.until = self._clock() + float(seconds) if seconds else 0.0
            self.status, self.endpoint = status, str(endpoint or "").strip()
            return self._view()

    def view(self) -> dict[str, Any]:
        with self._lock:
            return self._view()

    def _view(self) -> dict[str, Any]:
        left = max(0.0, self.until - self._clock())
        return {"calls_left": self.calls_left, "seconds_left": round(left, 3), "status": self.status,
                "endpoint": self.endpoint, "answered": self.answered}

    def take(self, path: str) -> int | None:
        """The status to challenge this request with, or None to let it through to the panel."""
        with self._lock:
            if self.endpoint and not path.rstrip("/").endswith(self.endpoint.rstrip("/")):
                return None
            if self.until and self._clock() < self.until:
                self.answered += 1
                return self.status
            if self.calls_left > 0:
                self.calls_left -= 1
                self.answered += 1
                return self.status
            return None

    def plugin(self):
        """A Bottle plugin: a challenged request never reaches the route (the panel does nothing)."""

        def decorator(callback):
            def wrapper(*args, **kwargs):
                status = self.take(bottle.request.path)
                if status is None:
                    return callback(*args, **kwargs)
                bottle.request.environ[FAULT_KEY] = CHALLENGE_FAULT
                response = bottle.response
                response.status = status
                response.content_type = "text/html; charset=UTF-8"
                response.set_header("Server", "cloudflare")
                response.set_header("CF-RAY", "8e2a7c1b9d3f4e5a-FRA")
                response.set_header("cf-mitigated", "challenge")
                response.set_header("Cache-Control", "private, max-age=0, no-store, no-cache, must-revalidate")
                return CHALLENGE_HTML

            return wrapper

        decorator.name = "gate-cloudflare-challenge"
        decorator.api = 2
        return decorator
