"""Fault injection for the sandbox platforms.

Two kinds of faults, both per platform ("gate", "bybit", "llm"):

* a **plan** (`FaultPlan`): probabilities of each fault on any request, drawn with a seeded RNG so a
  scenario that injects faults is reproducible;
* **scripted faults** (`ScriptedFault`): "the next N calls of this endpoint fail like this", consumed
  in the order they were added, counting down, taken before the plan is drawn. The endpoint is a path
  pattern matched against the end of the request path, segment by segment, with `{name}` standing
  for one segment: "/api/v1/payments/payouts/{id}/approve", "payouts/{id}/approve" and "approve" all
  match Gate's approve; "/v5/p2p/order/finish" or "order/finish" match Bybit's release.

Scripted fault kinds (SCRIPTED_FAULTS):
  error_500 / error_502 / error_503   that status with a proxy's HTML page; nothing is executed
  rate_limited                        429 with Retry-After (the platform's own 429 body)
  cloudflare_403                      Cloudflare's block page
  timeout_before                      nothing is executed; the response is held `seconds` (default 30,
                                      past any client's timeout), then a 504
  timeout_after_executing             the request IS carried out, then held and answered 504 as above:
                                      the client sees a timeout although the action happened
  error_502_after_executing           the request IS carried out, then answered 502 at once

A Bottle plugin on each platform's app applies both. Every faulted request is marked in the WSGI
environ (FAULT_KEY), so the platform's request log (`recorder`) shows it with its status and fault.
Held responses are held *after* the request is logged, so a timeout is in the log at once.
"""
from __future__ import annotations

import random
import re
import threading
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Callable, Iterable, Iterator

import bottle
import gevent

CLOUDFLARE_403_HTML = (
    "<!DOCTYPE html><html><head><title>Attention Required! | Cloudflare</title></head>"
    "<body><h1>Sorry, you have been blocked</h1>"
    "<p>You are unable to access this site.</p>"
    "<p>Cloudflare Ray ID: 8c1f2e3d4a5b6c7d</p></body></html>"
)
FAULT_KEY = "sandbox.fault"  # WSGI environ key: the fault injected on this request, if any
SCRIPTED_FAULTS = (
    "error_500", "error_502", "error_503", "rate_limited", "cloudflare_403",
    "timeout_before", "timeout_after_executing", "error_502_after_executing",
)
DEFAULT_HOLD_SECONDS = 30.0
_GATEWAY_PAGES = {500: "500 Internal Server Error", 502: "502 Bad Gateway", 503: "503 Service Unavailable",
                  504: "504 Gateway Time-out"}


@dataclass
class FaultPlan:
    """Probabilities (0..1) of each fault on one request, plus their parameters."""

    error_5xx: float = 0.0
    rate_limited: float = 0.0
    retry_after_seconds: float = 1.0
    timeout: float = 0.0
    timeout_seconds: float = 30.0
    cloudflare_403: float = 0.0
    expired_session: float = 0.0

    @classmethod
    def from_dict(cls, data: dict) -> "FaultPlan":
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault setting(s): {', '.join(sorted(unknown))}")
        plan = cls(**{k: float(v) for k, v in data.items()})
        for name in ("error_5xx", "rate_limited", "timeout", "cloudflare_403", "expired_session"):
            value = getattr(plan, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a probability between 0 and 1, got {value}")
        return plan


def endpoint_regex(endpoint: str) -> re.Pattern[str]:
    """A path pattern -> a regex matching request paths that end with it (whole segments)."""
    segments = [s for s in str(endpoint).strip().split("?")[0].split("/") if s]
    if not segments:
        raise ValueError("endpoint must be a path such as /payments/payouts/{id}/approve or order/finish")
    parts = ["[^/]+" if re.fullmatch(r"\{[^{}/]*\}", s) else re.escape(s) for s in segments]
    return re.compile(r"(?:^|/)" + "/".join(parts) + r"/?$")


@dataclass
class ScriptedFault:
    """The next `remaining` requests matching `endpoint` (and `method`, when given) fail with `fault`."""

    endpoint: str
    fault: str
    remaining: int
    method: str | None = None
    seconds: float = DEFAULT_HOLD_SECONDS  # how long a timeout holds the response
    retry_after_seconds: float = 1.0  # Retry-After of a rate_limited answer
    fired: int = 0
    regex: re.Pattern[str] = field(default=None, repr=False, compare=False)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.fault not in SCRIPTED_FAULTS:
            raise ValueError(f"fault must be one of {', '.join(SCRIPTED_FAULTS)}, got {self.fault!r}")
        if isinstance(self.remaining, bool) or not isinstance(self.remaining, int) or self.remaining < 1:
            raise ValueError(f"count must be a whole number >= 1, got {self.remaining!r}")
        for name in ("seconds", "retry_after_seconds"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 3600:
                raise ValueError(f"{name} must be a number of seconds between 0 and 3600, got {value!r}")
        if self.method is not None:
            self.method = str(self.method).upper()
        self.regex = endpoint_regex(self.endpoint)

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method.upper()) and bool(self.regex.search(path))

    def view(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("regex")
        return data


class Faults:
    """Fault plans and scripted faults per platform, shared by the sandbox apps and the control API."""

    GENERIC = ("error_5xx", "rate_limited", "timeout", "cloudflare_403")

    def __init__(self, seed: int | None = None) -> None:
        self._plans: dict[str, FaultPlan] = {}
        self._scripted: dict[str, list[ScriptedFault]] = {}
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def set(self, platform: str, plan: FaultPlan) -> None:
        with self._lock:
            self._plans[platform] = plan

    def get(self, platform: str) -> FaultPlan:
        with self._lock:
            return self._plans.get(platform, FaultPlan())

    def reset(self) -> None:
        with self._lock:
            self._plans.clear()
            self._scripted.clear()

    def snapshot(self) -> dict[str, dict]:
        with self._lock:
            return {name: asdict(plan) for name, plan in self._plans.items()}

    def draw(self, platform: str, kinds: tuple[str, ...] = GENERIC) -> str | None:
        """Return the name of the fault to inject on this request, or None."""
        plan = self.get(platform)
        with self._lock:
            for kind in kinds:
                chance = getattr(plan, kind)
                if chance and self._rng.random() < chance:
                    return kind
        return None

    def session_expired(self, platform: str) -> bool:
        """Platform apps call this where a session is checked (Gate cookies)."""
        return self.draw(platform, ("expired_session",)) is not None

    # --- scripted faults ------------------------------------------------------------------------

    def add_scripted(self, platform: str, endpoint: str, fault: str, count: int = 1, *, method: str | None = None,
                     seconds: float = DEFAULT_HOLD_SECONDS, retry_after_seconds: float = 1.0,
                     known_paths: Iterable[str] | None = None) -> ScriptedFault:
        """Queue "the next `count` calls of `endpoint` fail with `fault`"; `known_paths` (sample request
        paths of the platform) refuses an endpoint that matches none of them."""
        scripted = ScriptedFault(str(endpoint), str(fault), count, method, seconds, retry_after_seconds)
        if known_paths is not None and not any(scripted.regex.search(p) for p in known_paths):
            raise ValueError(f"endpoint {endpoint!r} matches no {platform} endpoint")
        with self._lock:
            self._scripted.setdefault(platform, []).append(scripted)
        return scripted

    def clear_scripted(self, platform: str) -> None:
        with self._lock:
            self._scripted.pop(platform, None)

    def scripted(self) -> dict[str, list[dict[str, Any]]]:
        """The scripted faults still to fire, per platform, in the order they will fire."""
        with self._lock:
            return {name: [s.view() for s in queue] for name, queue in self._scripted.items() if queue}

    def take_scripted(self, platform: str, method: str, path: str) -> ScriptedFault | None:
        """The first scripted fault for this request, counted down (and dropped once spent); else None."""
        with self._lock:
            queue = self._scripted.get(platform) or []
            for scripted in queue:
                if scripted.matches(method, path):
                    scripted.remaining -= 1
                    scripted.fired += 1
                    if scripted.remaining <= 0:
                        queue.remove(scripted)
                    return scripted
        return None


# --- the plugins -------------------------------------------------------------------------------


def fault_plugin(faults: Faults, platform: str, rate_limited_body=None):
    """A Bottle plugin applying the scripted faults, then the plan's generic faults, before the route runs.

    `rate_limited_body` lets a platform shape its own 429 body (Bybit puts a
    ret_code in it); by default the body is a plain JSON error.
    """

    def decorator(callback):
        def wrapper(*args, **kwargs):
            request = bottle.request
            scripted = faults.take_scripted(platform, request.method, request.path)
            if scripted is not None:
                fault, hold, retry_after = scripted.fault, scripted.seconds, scripted.retry_after_seconds
            else:
                fault = faults.draw(platform)
                if fault is None:
                    return callback(*args, **kwargs)
                plan = faults.get(platform)
                hold, retry_after = plan.timeout_seconds, plan.retry_after_seconds
            request.environ[FAULT_KEY] = fault
            if fault.endswith("_after_executing"):
                _execute_and_forget(callback, args, kwargs)
            return _faulty_response(fault, hold, retry_after, rate_limited_body)

        return wrapper

    decorator.name = f"faults-{platform}"
    decorator.api = 2
    return decorator


def _execute_and_forget(callback: Callable, args: tuple, kwargs: dict) -> None:
    """Carry the request out (its state changes stay), then drop its response as a failing proxy would."""
    try:
        callback(*args, **kwargs)
    except bottle.HTTPResponse:
        pass
    bottle.response.bind()  # a fresh response: no status, headers or cookies of the executed one


def _faulty_response(fault: str, hold: float, retry_after: float, rate_limited_body) -> Any:
    response = bottle.response
    if fault in ("timeout", "timeout_before", "timeout_after_executing"):
        response.status = 504
        response.content_type = "text/html"
        return _held(hold, _gateway_page(504))
    if fault == "rate_limited":
        response.status = 429
        response.set_header("Retry-After", f"{retry_after:g}")
        response.content_type = "application/json"
        return bottle.json_dumps(rate_limited_body() if rate_limited_body else {"error": "Too Many Requests"})
    if fault == "cloudflare_403":
        response.status = 403
        response.content_type = "text/html; charset=UTF-8"
        response.set_header("Server", "cloudflare")
        response.set_header("CF-RAY", "8c1f2e3d4a5b6c7d-AMS")
        return CLOUDFLARE_403_HTML
    status = {"error_500": 500, "error_503": 503}.get(fault, 502)  # error_5xx, error_502[_after_executing]
    response.status = status
    response.content_type = "text/html"
    return _gateway_page(status)


def _gateway_page(status: int) -> str:
    return f"<html><body><h1>{_GATEWAY_PAGES[status]}</h1></body></html>"


def _held(seconds: float, body: str) -> Iterator[bytes]:
    """A body that arrives only after `seconds`: Bottle reads it after the plugins (and the request
    log) are done, so the hold is past any sane client timeout and the log already has the request."""
    gevent.sleep(seconds)
    yield body.encode()


def recorder(record: Callable[[float, int, str | None], None], clock: Callable[[], float]):
    """A Bottle plugin calling `record(started, status, fault)` after every request, faulted or not
    (`started` is `clock()` when the request came in).

    Install it before the fault plugin, so it is the outer wrapper and sees injected faults too.
    """

    def plugin(callback):
        def wrapper(*args, **kwargs):
            started, status = clock(), 500
            try:
                result = callback(*args, **kwargs)
                status = bottle.response.status_code
                return result
            except bottle.HTTPResponse as exc:
                status = exc.status_code
                raise
            finally:
                record(started, status, bottle.request.environ.get(FAULT_KEY))

        return wrapper

    return plugin
