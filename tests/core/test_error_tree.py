"""The one error tree: every platform error is an instance of the meaning its caller acts on,
and keeps the platform base the existing catch sites use."""
import pytest

from itrader import errors as meaning
from itrader.bybit import errors as bybit
from itrader.gate import errors as gate
from itrader.leases import LeaseLost
from itrader.limits import RateBudgetExhausted
from itrader.mail import MailError, MailLoginError
from itrader.receipts import errors as receipts
from itrader.store import errors as store

MEANINGS = (meaning.TemporaryError, meaning.PermanentError, meaning.BlockedError, meaning.OutcomeUnknown,
            meaning.FencedOff)


def _make(cls):
    if issubclass(cls, (gate.RateLimited, bybit.RateLimited, bybit.Blocked)):
        return cls("x", retry_after=1.0)
    if cls is RateBudgetExhausted:
        return cls("bybit:acc:write", 2.0, 1.0)
    if cls is store.StaleTransition:
        return cls(1, "A", "B")
    if cls is store.DuplicateReceipt:
        return cls("number", "1-2", 3)
    if cls is store.StaleLeaseEpoch:
        return cls("itrader:lease:gate:desk", 1, 2)
    return cls("x")


@pytest.mark.parametrize("cls, platform_base, expected", [
    (gate.TemporaryError, gate.GateError, meaning.TemporaryError),
    (gate.OutcomeUnknown, gate.GateError, meaning.OutcomeUnknown),
    (gate.RateLimited, gate.TemporaryError, meaning.TemporaryError),
    (gate.SessionExpired, gate.GateError, meaning.TemporaryError),
    (gate.Blocked, gate.GateError, meaning.BlockedError),
    (gate.EndpointGone, gate.GateError, meaning.PermanentError),
    (gate.PermanentError, gate.GateError, meaning.PermanentError),
    (gate.LoginFailed, gate.PermanentError, meaning.PermanentError),
    (gate.NotFound, gate.PermanentError, meaning.PermanentError),
    (gate.IncorrectStatus, gate.PermanentError, meaning.PermanentError),
    (gate.ProtocolError, gate.PermanentError, meaning.PermanentError),
    (bybit.TemporaryError, bybit.BybitError, meaning.TemporaryError),
    (bybit.OutcomeUnknown, bybit.BybitError, meaning.OutcomeUnknown),
    (bybit.RateLimited, bybit.TemporaryError, meaning.TemporaryError),
    (bybit.Blocked, bybit.BybitError, meaning.BlockedError),
    (bybit.AuthError, bybit.BybitError, meaning.PermanentError),
    (bybit.TimestampError, bybit.AuthError, meaning.PermanentError),
    (bybit.PermanentError, bybit.BybitError, meaning.PermanentError),
    (bybit.InvalidRequest, bybit.PermanentError, meaning.PermanentError),
    (bybit.NotFound, bybit.PermanentError, meaning.PermanentError),
    (bybit.InvalidState, bybit.PermanentError, meaning.PermanentError),
    (bybit.OrderNotReleasable, bybit.InvalidState, meaning.PermanentError),
    (bybit.AdRejected, bybit.PermanentError, meaning.PermanentError),
    (bybit.InsufficientBalance, bybit.AdRejected, meaning.PermanentError),
    (RateBudgetExhausted, Exception, meaning.TemporaryError),
    (MailError, Exception, meaning.TemporaryError),
    (MailLoginError, MailError, meaning.PermanentError),
    (store.UnsupportedDatabaseUrl, ValueError, meaning.PermanentError),
    (store.SchemaOutOfDate, store.StoreError, meaning.PermanentError),
    (store.InvalidEncryptionKey, ValueError, meaning.PermanentError),
    (store.MissingEncryptionKey, store.StoreError, meaning.PermanentError),
    (store.SecretDecryptionError, store.StoreError, meaning.PermanentError),
    (store.AccountNotFound, LookupError, meaning.PermanentError),
    (store.DealNotFound, store.NotFound, meaning.PermanentError),
    (store.AccountExists, store.StoreError, meaning.PermanentError),
    (store.StaleTransition, store.StoreError, meaning.TemporaryError),
    (store.DuplicateReceipt, store.StoreError, meaning.PermanentError),
    (store.StaleLeaseEpoch, store.StoreError, meaning.FencedOff),
    (LeaseLost, Exception, meaning.FencedOff),
    (receipts.ReceiptUnreadable, receipts.ReceiptError, meaning.PermanentError),
    (receipts.ReceiptUnparseable, receipts.ReceiptError, meaning.PermanentError),
])
def test_each_error_has_its_meaning_and_keeps_its_platform_base(cls, platform_base, expected):
    error = _make(cls)
    assert isinstance(error, meaning.ITraderError)
    assert isinstance(error, platform_base)
    assert isinstance(error, expected)


def test_only_mail_login_carries_two_meanings_and_the_stronger_is_permanent():
    """Every error has exactly one meaning, except MailLoginError (a MailError that no retry fixes)."""
    classes = [c for module in (gate, bybit, store, receipts) for c in vars(module).values()
               if isinstance(c, type) and issubclass(c, meaning.ITraderError)] + [MailError, MailLoginError]
    for cls in classes:
        held = [m for m in MEANINGS if issubclass(cls, m)]
        if cls is MailLoginError:
            assert held == [meaning.TemporaryError, meaning.PermanentError]
        elif cls in (gate.GateError, bybit.BybitError, store.StoreError, store.NotFound) or cls.__module__ == "itrader.errors":
            continue
        else:
            assert len(held) == 1, (cls, held)


def test_platform_errors_of_the_same_name_stay_distinct():
    """Catch sites that name a platform's class keep catching only that platform's errors."""
    assert not isinstance(_make(bybit.TemporaryError), gate.TemporaryError)
    assert not isinstance(_make(gate.PermanentError), bybit.PermanentError)
    assert not isinstance(_make(gate.SessionExpired), gate.TemporaryError)


def test_outcome_unknown_is_its_own_meaning():
    assert not issubclass(meaning.OutcomeUnknown, (meaning.TemporaryError, meaning.PermanentError))
    # Never also a platform TemporaryError: no `except TemporaryError` (a client's retry loop, an old
    # catch site) may repeat a write that may have executed.
    for unknown in (gate.OutcomeUnknown, bybit.OutcomeUnknown):
        assert not issubclass(unknown, (gate.TemporaryError, bybit.TemporaryError, meaning.TemporaryError))
    assert "read the platform back" in meaning.OutcomeUnknown.__doc__.lower()


def test_messages_are_unchanged_by_the_new_bases():
    assert str(bybit.TemporaryError("boom", code=10016, path="/v5/p2p/x")) == "boom (ret_code 10016) on /v5/p2p/x"
    assert _make(gate.NotFound).status is None and str(gate.NotFound("gone", status=404)) == "gone"


def test_a_wait_the_caller_must_schedule_is_a_temporary_error_that_says_how_long():
    """429s and our own rate budget carry their wait (RetryLater): the actor puts the request off for it
    instead of the client sleeping in the actor's handler."""
    for error in (_make(gate.RateLimited), _make(bybit.RateLimited), _make(RateBudgetExhausted)):
        assert isinstance(error, meaning.RetryLater) and isinstance(error, meaning.TemporaryError)
        assert error.retry_after > 0
    assert RateBudgetExhausted("k", 3.0, 1.0, retry_after=2.5).retry_after == 2.5
    assert not issubclass(bybit.Blocked, meaning.RetryLater)  # a ban is waited out by not calling at all


def test_fenced_off_is_never_something_to_retry():
    assert not issubclass(meaning.FencedOff, (meaning.TemporaryError, meaning.PermanentError, meaning.OutcomeUnknown))
