"""Reading Bybit responses: HTTP status, both envelopes, ret_code -> typed error.

P2P endpoints answer {"ret_code","ret_msg","result",…}; server time, balance and
gateway errors answer the V5 {"retCode","retMsg","result",…}. Both are read the
same way (retCode ?? ret_code). Pure: no I/O here.
"""
from __future__ import annotations

import json
from typing import Any, Mapping

from itrader.bybit import errors

DEFAULT_BAN_SECONDS = 600.0  # reference §7: an IP ban lifts after ~10 minutes
DEFAULT_RATE_RETRY = 1.0  # per-UID limits are per rolling second

AUTH_CODES = {10003, 10004, 10005, 110025}
UNMATCHED_IP = 10010  # reference §7: the key is bound to other IP addresses
IP_FIX = "bind the API key to this host's public IP (or lift its IP restriction) in Bybit's API management"
REGION_FIX = ("run the daemon from an IP in a region Bybit serves (Bybit refuses e.g. US and mainland China "
              "IPs with 403), or route it through one")
# Words of a 403 page that refuses the caller's location, not its request rate (Bybit V5 docs, Integration
# Guidance: restricted regions get 403 Forbidden; CDNs say "country" or "region").
REGION_WORDS = ("country", "region", "location", "jurisdiction")
INVALID_REQUEST_CODES = {10001, 912000004}
AD_REJECTED_CODES = {912120022, 912120023, 912300013, 912300015, 912120031}
# Bybit does not document these; they are the codes the sandbox uses.
INVALID_STATE_CODES = {912300900, 912300902}
NOT_FOUND_CODES = {912300901}
AD_MODIFY_LIMIT_CODES = {912300903}
AD_SIDE_LIMIT_CODES = {912300904}  # the sandbox's: Bybit's code for a full side is not documented
AD_PRICE_GAP_CODES = {912300905}
PARAMETER_EXCEPTION = 912000004
CREATE_AD_PATH = "/v5/p2p/item/create"

RELEASE_PATH = "/v5/p2p/order/finish"


def _seconds(value: str | None, default: float) -> float:
    try:
        seconds = float(value) if value is not None else default
    except ValueError:
        return default
    return seconds if seconds >= 0 else default


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name.lower():
            return value
    return None


def read_response(status: int, headers: Mapping[str, str], body: bytes, path: str, now: float) -> Any:
    """Return the `result` of a successful call or raise the matching BybitError."""
    if status == 403 and refuses_region(body):
        raise errors.AccessDenied("access forbidden from this region", fix=REGION_FIX, http_status=status,
                                  path=path)
    if status == 403:
        retry_after = _seconds(_header(headers, "Retry-After"), DEFAULT_BAN_SECONDS)
        raise errors.Blocked("access forbidden: IP banned or blocked", retry_after=retry_after,
                             http_status=status, path=path)
    if status == 429:
        retry_after = _seconds(_header(headers, "Retry-After"), DEFAULT_RATE_RETRY)
        raise errors.RateLimited("too many requests", retry_after=retry_after, http_status=status, path=path)
    if status == 404:
        raise errors.NotFound("no such endpoint (or the account is not a P2P advertiser)",
                              http_status=status, path=path)
    if status == 401:
        raise errors.AuthError("unauthorized", http_status=status, path=path)
    if status == 400:
        raise errors.InvalidRequest("bad request", http_status=status, path=path)
    if status >= 500 or status != 200:
        raise errors.TemporaryError("unexpected HTTP status", http_status=status, path=path)
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise errors.TemporaryError("response is not JSON", http_status=status, path=path) from None
    if not isinstance(data, dict):
        raise errors.TemporaryError("response is not a JSON object", http_status=status, path=path)
    code = data.get("retCode", data.get("ret_code"))
    message = str(data.get("retMsg", data.get("ret_msg")) or "")
    try:
        code = int(code)
    except (TypeError, ValueError):
        raise errors.TemporaryError("response has no return code", http_status=status, path=path) from None
    if code == 0:
        return data.get("result")
    raise error_for_code(code, message, headers, path, now)


def error_for_code(code: int, message: str, headers: Mapping[str, str], path: str, now: float) -> errors.BybitError:
    details = {"code": code, "http_status": 200, "path": path}
    if code == 10002:
        return errors.TimestampError(message or "timestamp outside the recv window", **details)
    if code == UNMATCHED_IP:
        return errors.AccessDenied(message or "unmatched IP", fix=IP_FIX, **details)
    if code in AUTH_CODES:
        return errors.AuthError(message or "authentication failed", **details)
    if code == 10006:
        return errors.RateLimited(message or "too many visits", retry_after=_rate_reset(headers, now), **details)
    if code == 10016:
        return errors.TemporaryError(message or "server error", **details)
    if code in AD_SIDE_LIMIT_CODES:
        return errors.AdLimitReached(message or "ad limit reached", **details)
    if code in AD_PRICE_GAP_CODES:
        return errors.AdPriceTooClose(message or "price too close to the account's other ads", **details)
    if code == PARAMETER_EXCEPTION and path == CREATE_AD_PATH:
        return errors.AdParameterException(message or "Parameter exception", **details)
    if code in INVALID_REQUEST_CODES:
        return errors.InvalidRequest(message or "request parameter error", **details)
    if code == 912120024:
        return errors.InsufficientBalance(message or "insufficient balance", **details)
    if code in AD_REJECTED_CODES or code in AD_MODIFY_LIMIT_CODES:
        return errors.AdRejected(message or "ad rejected", **details)
    if path == RELEASE_PATH:
        # Release can only fail on the order's state; whatever the code, say so.
        return errors.OrderNotReleasable(message or "order cannot be released", **details)
    if code in INVALID_STATE_CODES:
        return errors.InvalidState(message or "invalid state", **details)
    if code in NOT_FOUND_CODES:
        return errors.NotFound(message or "not found", **details)
    return errors.PermanentError(message or "request rejected", **details)


def refuses_region(body: bytes) -> bool:
    """A 403 whose page says the caller's region is refused (not a ban for too many requests)."""
    text = body[:4096].decode("utf-8", "replace").lower()
    return any(word in text for word in REGION_WORDS)


def _rate_reset(headers: Mapping[str, str], now: float) -> float:
    """Seconds until the per-UID window resets (X-Bapi-Limit-Reset-Timestamp, ms), else 1 s."""
    reset_ms = _header(headers, "X-Bapi-Limit-Reset-Timestamp")
    try:
        wait = int(reset_ms) / 1000.0 - now if reset_ms else DEFAULT_RATE_RETRY
    except ValueError:
        return DEFAULT_RATE_RETRY
    return min(max(wait, 0.05), 60.0)


def unwrap_object(result: Any, key: str = "id") -> Any:
    """An object result as `{...}` or once more nested as `{"result": {...}}` (Bybit nests the chat list
    so, reference §4): the object that carries `key`."""
    if isinstance(result, dict) and key not in result and isinstance(result.get("result"), dict):
        return result["result"]
    return result


def chat_items(result: Any) -> list[dict]:
    """Chat list results come as `[...]` or `{"result": [...]}` (reference §4)."""
    if isinstance(result, dict):
        result = result.get("result", result.get("items", []))
    return [item for item in (result or []) if isinstance(item, dict)]
