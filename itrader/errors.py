"""One error tree: what a failure means for the caller, whatever platform raised it.

Every error of the Gate, Bybit, mail, store and receipt code derives from one of the
meanings below (beside its platform base, which stays for the catch sites that use it):

* TemporaryError — nothing happened; try again later (timeouts on reads, 5xx, a dropped
  connection, a rate limit).
* PermanentError — the other side said no, or our input is bad; repeating the same call
  gives the same answer. Stop and let a human act (MANUAL_REVIEW, an alert).
* BlockedError   — Cloudflare or an IP ban. Wait long and do not hammer: every retry
  prolongs the block.
* OutcomeUnknown — the call may have executed. Read the platform back before anything
  else (see below).

When a class carries two meanings (MailLoginError is a MailError, which is temporary, and
also permanent), the stronger one wins, in this order: OutcomeUnknown, BlockedError,
PermanentError, TemporaryError.
"""
from __future__ import annotations


class ITraderError(Exception):
    """Base of every error our code raises on purpose."""


class TemporaryError(ITraderError):
    """Nothing happened; the same call may succeed later."""


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

    Today the clients raise their TemporaryError (or Gate's ProtocolError) for these
    cases on reads and writes alike, and the actors decide "outcome unknown" from the
    call being a write (Gate: `approve_outcome_unclear`; Bybit: a TemporaryError on a
    write is never retried by the client and the actor reconciles). docs/ARCHITECTURE.md
    lists that mapping; a client that can tell by itself raises a subclass of this one.
    """
