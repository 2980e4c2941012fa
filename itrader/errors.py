"""One error tree: what a failure means for the caller, whatever platform raised it.

Every error of the Gate, Bybit, mail, store and receipt code derives from one of the
meanings below (beside its platform base, which stays for the catch sites that use it):

* TemporaryError — nothing happened; try again later (timeouts, 5xx and dropped connections
  on reads; on any call, a connection that never opened, a rate limit, our own rate budget).
* PermanentError — the other side said no, or our input is bad; repeating the same call
  gives the same answer. Stop and let a human act (MANUAL_REVIEW, an alert).
* BlockedError   — Cloudflare or an IP ban. Wait long and do not hammer: every retry
  prolongs the block.
* OutcomeUnknown — a write may have executed (a timeout or dropped connection after the
  request was sent, a 5xx, an answer we cannot read). Read the platform back before anything
  else (see below).
* FencedOff      — another process drives this account now (our lease lapsed, or the store has
  seen a newer lease epoch): nothing was sent or written. Stand down; never retry here.

RetryLater is a TemporaryError that says when: a rate limit's Retry-After or our own rate
budget's wait. The clients never sleep it out; the actor puts the request off (a timer that
tells it the message again) and handles other messages meanwhile.

Callers catch by meaning (`except errors.OutcomeUnknown`, ...), OutcomeUnknown first. It is
never also a TemporaryError: "try again" is exactly what such a write must not get.
FencedOff is never also a TemporaryError: a retry loop must not repeat what another process now owns.
When a class carries two meanings (MailLoginError is a MailError, which is temporary, and
also permanent), the stronger one wins, in this order: OutcomeUnknown, BlockedError,
PermanentError, TemporaryError.
"""
from __future__ import annotations


class ITraderError(Exception):
    """Base of every error our code raises on purpose."""


class TemporaryError(ITraderError):
    """Nothing happened; the same call may succeed later."""


class RetryLater(TemporaryError):
    """Nothing happened; the same call may succeed after `retry_after` seconds (429, our rate budget)."""

    retry_after: float = 0.0


class FencedOff(ITraderError):
    """Another process holds this account's lease now (ours lapsed, or a newer lease epoch was recorded):
    the call was not sent, the intent not written. The caller stands down (standby) and never retries
    here — the holder resumes the work from the store and the platforms."""


class PermanentError(ITraderError):
    """Refused or invalid; repeating it will fail the same way. A human acts."""


class BlockedError(ITraderError):
    """We are blocked (Cloudflare, IP ban): wait long, never retry in a loop."""


class OutcomeUnknown(ITraderError):
    """The call may have executed: read the platform back before doing anything else.

    This is the central idea of our money safety. A money step (take, create ad,
    approve, release) whose answer got lost — a timeout or a 5xx on a write, an answer we
    cannot read — must never be repeated blindly and never be taken as a failure: the
    intent is already in the journal, so the next thing to do is to ask the platform
    what it did (re-read the payout, look for the ad, read the order status) and record
    that as the outcome.

    The clients decide it, since only they know whether a call is a write and whether a
    failure came before or after the request left (itrader.transport): the Gate and Bybit
    clients raise their OutcomeUnknown (itrader.gate.errors / itrader.bybit.errors, one
    class each deriving from this one) for a write's read timeout, a connection dropped
    after sending, a 5xx (Bybit: also 10016), or an answer they cannot read. A failure that
    proves the request was never performed (no connection, a 429, Cloudflare, our own rate
    budget) stays Temporary/Blocked; reads stay Temporary. docs/ARCHITECTURE.md lists what
    each actor reads back.
    """
