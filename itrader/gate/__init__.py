"""Gate trader-panel client: cookie session, lenient models, typed errors."""
from itrader.gate.client import GateClient
from itrader.gate.cookies import CookieFileError, StoredCookie, load_cookie_file, save_cookie_file
from itrader.gate.errors import (
    Blocked, Challenged, EndpointGone, GateError, IncorrectStatus, LoginFailed, NotFound, OutcomeUnknown,
    PermanentError, ProtocolError, RateLimited, SessionExpired, TemporaryError,
)
from itrader.gate.models import Amount, Attachment, Bank, Me, Payout, PayoutPage, Wallet

__all__ = [
    "GateClient", "CookieFileError", "StoredCookie", "load_cookie_file", "save_cookie_file",
    "GateError", "TemporaryError", "OutcomeUnknown", "RateLimited", "SessionExpired", "Challenged", "Blocked",
    "EndpointGone",
    "PermanentError", "LoginFailed", "NotFound", "IncorrectStatus", "ProtocolError",
    "Amount", "Attachment", "Bank", "Me", "Payout", "PayoutPage", "Wallet",
]
