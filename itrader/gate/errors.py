"""Typed errors of the Gate client.

The categories tell the caller what to do next:
* TemporaryError  — nothing happened, try again later (5xx and timeouts on reads, a connection that
                    never opened); RateLimited says when.
* OutcomeUnknown  — a write (take, approve, cancel, balance) whose answer got lost: a timeout or a
                    dropped connection after sending, a 5xx, an answer we cannot read. The panel may
                    have acted: read the payout back before anything else.
* SessionExpired  — the cookies no longer work; log in again (the client does this once by itself).
* Challenged      — Cloudflare answered a challenge page instead of the panel (cloudflare.py): nothing was
                    done, writes included; a RateLimited whose wait grows with each challenge in a row.
* Blocked         — Cloudflare refused us (HTML 403); retrying makes it worse, an operator must look.
* EndpointGone    — HTTP 410, seen once in the originals' history and later gone; surfaced, not retried.
* PermanentError  — the panel said no (bad credentials, wrong payout status, validation, not found,
                    a body we cannot read); repeating the same request gives the same answer.

Messages carry the method, path, HTTP status and the panel's own error text —
never request bodies, passwords or cookie values. Each class also derives from its meaning in
itrader.errors (SessionExpired: temporary — the client logs in again once). OutcomeUnknown is
deliberately not a TemporaryError: "try again" is exactly what must not happen to a write that
may have executed, so no `except TemporaryError` (a retry loop, an old catch site) may catch it.
"""
from __future__ import annotations

from itrader import errors as meaning


class GateError(meaning.ITraderError):
    """Base of every error raised by the Gate client."""

    def __init__(self, message: str, *, status: int | None = None, path: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.path = path


class TemporaryError(GateError, meaning.TemporaryError):
    """Transient failure; safe to retry later for idempotent calls."""


class OutcomeUnknown(GateError, meaning.OutcomeUnknown):
    """A write may have been carried out although we got no usable answer; never repeat it blindly."""


class RateLimited(TemporaryError, meaning.RetryLater):
    """HTTP 429. `retry_after` is the number of seconds the panel asked us to wait (never slept in the client)."""

    def __init__(self, message: str, *, retry_after: float, status: int | None = 429, path: str | None = None) -> None:
        super().__init__(message, status=status, path=path)
        self.retry_after = retry_after


class Challenged(RateLimited):
    """A Cloudflare challenge page (403/503, `cf-mitigated: challenge`): the panel never saw the request.
    Like a 429, never waited out in the client: the caller tries the same call after `retry_after`."""


class SessionExpired(GateError, meaning.TemporaryError):
    """HTTP 401 (or Laravel's 419): the sid/rsid cookies are missing or no longer valid."""


class Blocked(GateError, meaning.BlockedError):
    """Cloudflare answered instead of the panel (HTML 403). Never retried automatically."""


class EndpointGone(GateError, meaning.PermanentError):
    """HTTP 410 Gone."""


class PermanentError(GateError, meaning.PermanentError):
    """The panel rejected the request; the same request will fail the same way."""


class LoginFailed(PermanentError):
    """The login was refused (no session cookie came back)."""


class NotFound(PermanentError):
    """HTTP 404, or a payout this trader cannot see."""


class IncorrectStatus(PermanentError):
    """The payout is not in a state that allows the action (the panel's `incorrect_status`)."""


class ProtocolError(PermanentError):
    """The answer was not the JSON envelope we expect."""
