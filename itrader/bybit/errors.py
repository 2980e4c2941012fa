"""Typed errors of the Bybit P2P client.

The split follows what a caller should do next:
* TemporaryError — nothing happened, try again later (network, 5xx, server error 10016 on
  reads; a write that never left us); RateLimited is a TemporaryError that says how long to wait.
* OutcomeUnknown — a write (ad create/update/cancel, chat send, upload, release) whose answer got
  lost: a timeout or a dropped connection after sending, a 5xx, 10016, an answer we cannot read.
  Bybit may have acted: read it back before anything else. Deliberately not a TemporaryError, so
  no `except TemporaryError` (a retry loop, an old catch site) repeats such a write.
* Blocked — the IP is banned (HTTP 403 "access too frequent" or a CDN block):
  stop calling for `retry_after` seconds; retrying sooner prolongs the ban.
* AuthError — key, signature, timestamp or permission problems; an operator
  (or a clock re-sync, for TimestampError) must fix them. AccessDenied: the key's IP
  binding (10010) or the region (a 403 page saying so) refuses this host.
* PermanentError — Bybit refused the request; repeating it will not help.
  InvalidState, AdRejected and NotFound narrow it down.
Error messages carry Bybit's code and message, never keys, secrets or signatures.
Each class also derives from its meaning in itrader.errors (AuthError: permanent).
"""
from __future__ import annotations

from itrader import errors as meaning


class BybitError(meaning.ITraderError):
    def __init__(self, message: str, *, code: int | None = None, http_status: int | None = None,
                 path: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.http_status = http_status
        self.path = path

    def __str__(self) -> str:
        where = f" on {self.path}" if self.path else ""
        code = f" (ret_code {self.code})" if self.code is not None else ""
        status = f" [HTTP {self.http_status}]" if self.http_status and self.http_status != 200 else ""
        return f"{self.args[0]}{code}{status}{where}"


class TemporaryError(BybitError, meaning.TemporaryError):
    """Transient: network failure, timeout, 5xx, Bybit server error."""


class OutcomeUnknown(BybitError, meaning.OutcomeUnknown):
    """A write may have been carried out although we got no usable answer; never repeat it blindly."""


class RateLimited(TemporaryError, meaning.RetryLater):
    """429 / 10006: `retry_after` is how long Bybit asked us to wait (never slept in the client)."""

    def __init__(self, message: str, *, retry_after: float, **kwargs) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class Blocked(BybitError, meaning.BlockedError):
    """The IP is banned or blocked; do not call again before `retry_after` seconds."""

    def __init__(self, message: str, *, retry_after: float, **kwargs) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class AuthError(BybitError, meaning.PermanentError):
    """Invalid key, bad signature, missing permission, IP not whitelisted."""


class AccessDenied(AuthError):
    """The key is refused for where we call from: 10010 (the key is bound to other IPs) or a 403 page
    refusing the region. Permanent for this host until an operator acts: `fix` says what to change."""

    def __init__(self, message: str, *, fix: str, **kwargs) -> None:
        super().__init__(message, **kwargs)
        self.fix = fix


class TimestampError(AuthError):
    """Request timestamp outside the recv window (10002): re-sync the clock."""


class PermanentError(BybitError, meaning.PermanentError):
    """Bybit rejected the request; repeating it unchanged will fail again."""


class InvalidRequest(PermanentError):
    """Parameter error (10001) or a malformed response we cannot read."""


class NotFound(PermanentError):
    """HTTP 404: wrong path, or the account is not a P2P advertiser."""


class InvalidState(PermanentError):
    """The order or ad is not in a state that allows the action (e.g. release before status 20)."""


class OrderNotReleasable(InvalidState):
    """/order/finish refused: the order is not waiting for release."""


class AdRejected(PermanentError):
    """Ad creation or update refused (price range, amounts, payment id, balance)."""


class InsufficientBalance(AdRejected):
    """912120024: not enough USDT in the Funding account for the ad."""


class AccountCannotPost(AdRejected):
    """This account cannot post the ad now — its ad limit, a risk check, a refusal without a reason — while
    another account may: the ad goes elsewhere or waits, it is not retried here at once."""


class AdLimitReached(AccountCannotPost):
    """The account has as many ads online on the side as Bybit allows (symbolInfo.itemSideLimit), counting
    the ones its owner posted by hand."""


class AdPriceTooClose(AccountCannotPost):
    """The new ad's price is too close to the account's other ads (a rule the originals reported)."""


class SecurityRiskRequired(AccountCannotPost):
    """needSecurityRisk: Bybit wants its risk check passed (by the account's owner, in the app): no ad."""


class AdParameterException(AccountCannotPost):
    """912000004 "Parameter exception" on ad creation: Bybit says no more than that (the originals met it)."""
