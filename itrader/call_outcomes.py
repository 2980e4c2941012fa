"""What became of one call to a platform, as the bounded `outcome` label of itrader_external_calls_total.

The label says what happened on the wire, the same for Gate and Bybit, so one alert rule fits both:
a 429 or a platform's own "too many" code is `rate_limited`, a 5xx `server_error`, no answer in time
`timeout`. Whether a lost write counts as done is the deal's business (OutcomeUnknown), not the
metric's: a write that timed out is a `timeout` here.
"""
from __future__ import annotations

from typing import Iterator

import requests

from itrader import errors
from itrader.limits import RateBudgetExhausted

# Every value the label takes; each series exists from the start at 0 (itrader.metrics.preset).
OUTCOMES = ("ok", "rate_limited", "server_error", "timeout", "blocked", "auth", "rejected", "budget", "error")
PLATFORMS = ("gate", "bybit")
AUTH_CLASS_NAMES = frozenset({"AuthError", "TimestampError", "SessionExpired", "LoginFailed"})


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception and the ones it was raised from or while handling (`raise … from None` keeps them)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def _status(exc: BaseException) -> int | None:
    for link in _chain(exc):
        status = getattr(link, "status", None) or getattr(link, "http_status", None)
        if isinstance(status, int):
            return status
    return None


def call_outcome(exc: BaseException | None) -> str:
    if exc is None:
        return "ok"
    if isinstance(exc, RateBudgetExhausted):
        return "budget"  # our own budget: nothing was sent
    if isinstance(exc, errors.RetryLater) or _status(exc) == 429:
        return "rate_limited"
    if isinstance(exc, errors.BlockedError):
        return "blocked"
    if any(isinstance(link, requests.Timeout) for link in _chain(exc)):
        return "timeout"
    status = _status(exc)
    if status is not None and status >= 500:
        return "server_error"
    if type(exc).__name__ in AUTH_CLASS_NAMES or any(cls.__name__ in AUTH_CLASS_NAMES for cls in type(exc).__mro__):
        return "auth"
    if isinstance(exc, errors.PermanentError):
        return "rejected"
    return "error"
