"""The console's server-side sessions: an opaque id in an HttpOnly cookie, its CSRF token here.

A session starts anonymous (the sign-in form needs a CSRF token too) and becomes signed-in only
through `sign_in`, which issues a fresh id so an id planted before sign-in is worthless after it.
Sessions live in memory: a daemon restart signs everyone out, which is the safe direction.
"""
from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Any, Callable

SESSION_SECONDS = 8 * 3600  # a working shift; the cookie and the session end together
ANONYMOUS_SECONDS = 15 * 60  # an unsubmitted sign-in form
MAX_SESSIONS = 1000  # an unauthenticated client must not grow memory without bound


@dataclass
class Session:
    id: str
    csrf: str
    expires: float
    signed_in: bool = False
    # The outcome of this session's last action, shown once by the page it returns to (post/redirect/get).
    notice: dict[str, Any] | None = None


class Sessions:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._by_id: dict[str, Session] = {}

    def start(self) -> Session:
        self._forget_expired()
        if len(self._by_id) >= MAX_SESSIONS:  # drop the oldest anonymous ones first
            for sid in sorted((s for s in self._by_id.values() if not s.signed_in), key=lambda s: s.expires):
                del self._by_id[sid.id]
                if len(self._by_id) < MAX_SESSIONS:
                    break
        session = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32), self._clock() + ANONYMOUS_SECONDS)
        self._by_id[session.id] = session
        return session

    def get(self, session_id: str | None) -> Session | None:
        session = self._by_id.get(session_id or "")
        if session is None:
            return None
        if session.expires <= self._clock():
            del self._by_id[session.id]
            return None
        return session

    def signed_in(self, session_id: str | None) -> Session | None:
        session = self.get(session_id)
        return session if session is not None and session.signed_in else None

    def sign_in(self, anonymous: Session) -> Session:
        """A new signed-in session in place of `anonymous` (new id and CSRF token)."""
        self._by_id.pop(anonymous.id, None)
        session = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32), self._clock() + SESSION_SECONDS,
                          signed_in=True)
        self._by_id[session.id] = session
        return session

    def end(self, session_id: str | None) -> None:
        self._by_id.pop(session_id or "", None)

    @staticmethod
    def csrf_ok(session: Session | None, given: str | None) -> bool:
        return session is not None and bool(given) and hmac.compare_digest(session.csrf.encode(), given.encode())

    def _forget_expired(self) -> None:
        now = self._clock()
        for sid in [sid for sid, s in self._by_id.items() if s.expires <= now]:
            del self._by_id[sid]
