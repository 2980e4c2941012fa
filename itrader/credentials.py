"""What each kind of account keeps secret, and the files an operator brings it in.

A stored secret is JSON, encrypted in the accounts table (itrader.store.accounts):

    gate     {"password": "...", "cookies": [...]}   either or both; cookies as in test_data/gate_cookie.json
    bybit    {"api_secret": "..."}                   the API key is the account's login, in its settings
    mailbox  {"password": "..."}                     host, port, TLS and folder are settings

A bare string (what `itrader accounts add` stored before the daemon read the store) is the password or
the API secret. Nothing here logs, and no error message carries a secret.
"""
from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from itrader import sandbox_wall
from itrader.gate.cookies import CookieFileError, parse_cookie_list

KINDS = ("gate", "bybit", "mailbox")


class CredentialFileError(ValueError):
    """An import file that is missing, not JSON, or not shaped as expected."""


# --- the stored shapes ---------------------------------------------------------------------------


def gate_secret(password: str = "", cookies: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    secret: dict[str, Any] = {}
    if password:
        secret["password"] = password
    if cookies:
        secret["cookies"] = list(cookies)
    return secret


def password_of(secret: Any) -> str:
    if isinstance(secret, str):
        return secret
    return str(secret.get("password") or "") if isinstance(secret, dict) else ""


def api_secret_of(secret: Any) -> str:
    if isinstance(secret, str):
        return secret
    return str(secret.get("api_secret") or "") if isinstance(secret, dict) else ""


def cookies_of(secret: Any) -> list[dict[str, Any]]:
    cookies = secret.get("cookies") if isinstance(secret, dict) else None
    return [c for c in cookies if isinstance(c, dict)] if isinstance(cookies, list) else []


def secret_strings(secret: Any) -> list[str]:
    """Every secret value in a stored secret, for the log redactor and the sandbox wall."""
    found = [password_of(secret), api_secret_of(secret)]
    found += [str(c.get("value") or "") for c in cookies_of(secret)]
    return [value for value in found if value]


def describe(kind: str, secret: Any, now: float | None = None) -> str:
    """What is stored, never its value: "password", "session (2 cookies, until 2030-01-01)", "API secret"."""
    if kind == "bybit":
        return "API secret" if api_secret_of(secret) else "nothing"
    parts = ["password"] if password_of(secret) else []
    cookies = cookies_of(secret)
    if cookies:
        now = time.time() if now is None else now
        live = [c for c in cookies if not _expired(c, now)]
        ends = [float(c["expirationDate"]) for c in live if c.get("expirationDate")]
        until = f", until {_day(min(ends))}" if ends else ""
        parts.append(f"session ({len(live)} cookie(s){until})" if live else "session (expired)")
    return ", ".join(parts) or "nothing"


def _expired(cookie: dict[str, Any], now: float) -> bool:
    try:
        return cookie.get("expirationDate") is not None and float(cookie["expirationDate"]) <= now
    except (TypeError, ValueError):
        return True


def _day(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def published_fields(login: str, secret: Any) -> list[str]:
    """Which of the account's credentials are the sandbox's published ones (itrader.sandbox_wall)."""
    found = ["login"] if sandbox_wall.is_published(login) else []
    if sandbox_wall.is_published(password_of(secret)):
        found.append("password")
    if sandbox_wall.is_published(api_secret_of(secret)):
        found.append("API secret")
    if any(sandbox_wall.is_published(str(c.get("value") or "")) for c in cookies_of(secret)):
        found.append("session cookie")
    return found


def unusable_reason(login: str, secret: Any, trusts_sandbox: bool) -> str | None:
    """Why a stored account must not run here, or None: a published sandbox credential outside the sandbox."""
    published = [] if trusts_sandbox else published_fields(login, secret)
    if published:
        return (f"its {' and '.join(published)} is a sandbox credential published in this repository; "
                f"{sandbox_wall.ONLY_IN_SANDBOX}")
    return None


# --- import files ---------------------------------------------------------------------------------


def _read_json(path: str | Path, what: str) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CredentialFileError(f"{what} {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CredentialFileError(f"{what} {path} cannot be read ({type(exc).__name__})") from None
    except ValueError:
        raise CredentialFileError(f"{what} {path} is not valid JSON") from None


def read_cookie_file(path: str | Path, now: float | None = None) -> list[dict[str, Any]]:
    """A browser cookie export (test_data/gate_cookie.json) as stored cookies; it must hold a live sid."""
    try:
        cookies = parse_cookie_list(_read_json(path, "cookie file"), now)
    except CookieFileError as exc:
        raise CredentialFileError(str(exc)) from None
    if not any(c.name == "sid" for c in cookies):
        raise CredentialFileError(f"cookie file {path} holds no live sid cookie: export the session again")
    return [c.to_json() for c in cookies]


def read_bybit_file(path: str | Path) -> tuple[str, str]:
    """(API key, API secret) from a file shaped like test_data/bybit_creditials.json: {"key", "secret"}."""
    data = _read_json(path, "credentials file")
    if not isinstance(data, dict):
        raise CredentialFileError(f"credentials file {path} must hold a JSON object with key and secret")
    key = data.get("key", data.get("api_key"))
    secret = data.get("secret", data.get("api_secret"))
    if not isinstance(key, str) or not key.strip() or not isinstance(secret, str) or not secret.strip():
        raise CredentialFileError(f"credentials file {path} must name a non-empty key and secret")
    return key.strip(), secret.strip()
