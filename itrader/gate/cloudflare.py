"""Telling a Cloudflare challenge from the panel's own answers, and how long to wait after one.

From a datacenter IP the panel's Cloudflare may answer any call, login included, with a challenge page
instead of passing it on (Cloudflare docs, "Detect a Challenge Page response": every Challenge Page type
carries `cf-mitigated: challenge`; the managed challenge's page is a 403 or 503 HTML page titled
"Just a moment..." with the /cdn-cgi/challenge-platform/ script). The panel never saw such a request, so
nothing was done, a write included: the same call is safe later. Hammering prolongs the challenge, so the
waits grow with each challenge in a row. A block page ("Sorry, you have been blocked") is no challenge:
it stays Blocked.
"""
from __future__ import annotations

from typing import Mapping

CHALLENGE_STATUSES = (403, 429, 503)
_PAGE_MARKS = (b"<title>just a moment...</title>", b"/cdn-cgi/challenge-platform/", b"window._cf_chl_opt")


def is_challenge(status: int, headers: Mapping[str, str], body: bytes) -> bool:
    """A Cloudflare challenge: its header, or (without it) a challenge page in an HTML 403/503."""
    if status not in CHALLENGE_STATUSES:
        return False
    lowered = {str(k).lower(): str(v) for k, v in headers.items()}
    if lowered.get("cf-mitigated", "").strip().lower() == "challenge":
        return True
    if "html" not in lowered.get("content-type", "").lower():
        return False
    head = body[:20_000].lower()
    return any(mark in head for mark in _PAGE_MARKS)


def challenge_wait(streak: int, base: float, cap: float) -> float:
    """Seconds to wait after the `streak`-th challenge in a row: base, doubling, at most cap."""
    return min(cap, base * 2 ** max(0, min(streak, 32) - 1))
