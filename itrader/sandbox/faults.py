"""Fault injection for the sandbox platforms.

The control API sets a plan per platform ("gate", "bybit", "llm"); a Bottle
plugin on that platform's app draws from it on every request. Draws use a
seeded RNG so a scenario that injects faults is reproducible.
"""
from __future__ import annotations

import random
import threading
import time
from dataclasses import asdict, dataclass, fields

import bottle

CLOUDFLARE_403_HTML = (
    "<!DOCTYPE html><html><head><title>Attention Required! | Cloudflare</title></head>"
    "<body><h1>Sorry, you have been blocked</h1>"
    "<p>You are unable to access this site.</p>"
    "<p>Cloudflare Ray ID: 8c1f2e3d4a5b6c7d</p></body></html>"
)


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


class Faults:
    """Fault plans per platform, shared by the sandbox apps and the control API."""

    GENERIC = ("error_5xx", "rate_limited", "timeout", "cloudflare_403")

    def __init__(self, seed: int | None = None) -> None:
        self._plans: dict[str, FaultPlan] = {}
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


def fault_plugin(faults: Faults, platform: str, rate_limited_body=None):
    """A Bottle plugin applying the generic faults before the route runs.

    `rate_limited_body` lets a platform shape its own 429 body (Bybit puts a
    ret_code in it); by default the body is a plain JSON error.
    """

    def decorator(callback):
        def wrapper(*args, **kwargs):
            fault = faults.draw(platform)
            if fault is None:
                return callback(*args, **kwargs)
            plan = faults.get(platform)
            if fault == "error_5xx":
                bottle.response.status = 502
                bottle.response.content_type = "text/html"
                return "<html><body><h1>502 Bad Gateway</h1></body></html>"
            if fault == "rate_limited":
                bottle.response.status = 429
                bottle.response.set_header("Retry-After", f"{plan.retry_after_seconds:g}")
                bottle.response.content_type = "application/json"
                body = rate_limited_body() if rate_limited_body else {"error": "Too Many Requests"}
                return bottle.json_dumps(body)
            if fault == "timeout":
                # Longer than any sane client timeout; the client must give up on its own.
                time.sleep(plan.timeout_seconds)
                bottle.response.status = 504
                return "gateway timeout"
            bottle.response.status = 403
            bottle.response.content_type = "text/html; charset=UTF-8"
            bottle.response.set_header("Server", "cloudflare")
            bottle.response.set_header("CF-RAY", "8c1f2e3d4a5b6c7d-AMS")
            return CLOUDFLARE_403_HTML

        return wrapper

    decorator.name = f"faults-{platform}"
    decorator.api = 2
    return decorator
