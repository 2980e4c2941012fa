"""What a failed HTTP request (requests) proves: whether the server can have seen it.

A failure while connecting — refused, no route, a name that does not resolve, a connect timeout —
or a request that `requests` refused to build proves the server never saw the request: nothing
happened, a write is safe to repeat. Anything later — a read timeout, a connection dropped after
sending, a broken answer — proves nothing: the server may have acted. The Gate and Bybit clients
use this to tell a write's TemporaryError from its OutcomeUnknown.
"""
from __future__ import annotations

import requests
from urllib3.exceptions import ConnectTimeoutError  # NewConnectionError and NameResolutionError derive from it

# Raised before a socket is opened, or while it is being connected.
_BEFORE_SENDING = (
    requests.exceptions.ConnectTimeout, requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
    requests.exceptions.InvalidSchema, requests.exceptions.InvalidHeader,
)


def never_sent(exc: requests.RequestException) -> bool:
    """True only when `exc` proves the request never reached the server."""
    if isinstance(exc, _BEFORE_SENDING):
        return True
    # requests wraps a connect-phase failure as ConnectionError(MaxRetryError(reason=...)).
    cause = exc.args[0] if exc.args else None
    return isinstance(exc, requests.ConnectionError) and isinstance(getattr(cause, "reason", None),
                                                                     ConnectTimeoutError)
