"""Bybit P2P (V5) client: HMAC signing, both response envelopes, typed errors, rate budgets."""
from itrader.bybit.client import BybitClient, Budgets, IpBudget, RateBudget
from itrader.bybit.errors import (
    AccessDenied, AccountCannotPost, AdLimitReached, AdParameterException, AdPriceTooClose, SecurityRiskRequired,
    AdRejected, AuthError, Blocked, BybitError, InsufficientBalance, InvalidRequest, InvalidState, NotFound,
    OrderNotReleasable, OutcomeUnknown, PermanentError, RateLimited, TemporaryError, TimestampError,
)
from itrader.bybit.models import (
    Ad, AdRequest, ChatMessage, OrderDetail, OrderSummary, Page, PaymentMethod, ServerTime, UploadedFile,
)

__all__ = [
    "BybitClient", "Budgets", "IpBudget", "RateBudget",
    "AccessDenied", "BybitError", "TemporaryError", "OutcomeUnknown", "RateLimited", "Blocked", "AuthError", "TimestampError", "PermanentError",
    "InvalidRequest", "NotFound", "InvalidState", "OrderNotReleasable", "AdRejected", "InsufficientBalance",
    "AccountCannotPost", "AdLimitReached", "AdParameterException", "AdPriceTooClose", "SecurityRiskRequired",
    "Ad", "AdRequest", "ChatMessage", "OrderDetail", "OrderSummary", "Page", "PaymentMethod", "ServerTime",
    "UploadedFile",
]
