"""Gate session cookies in the originals' file format (a browser-extension cookie export).

The file is a JSON array of objects with `domain`, `expirationDate` (unix
seconds, float), `hostOnly`, `httpOnly`, `name`, `path`, `sameSite`,
`secure`, `session`, `storeId` and `value` (reference/gate-api.md §4.1).
Expired cookies are dropped on load; a cookie with no expiry is given 30
days, as the originals did. Cookie values never appear in reprs.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

DEFAULT_DOMAIN = ".panel.gate.cx"
DEFAULT_LIFETIME = 30 * 24 * 3600.0
SESSION_COOKIES = ("sid", "rsid")


class CookieFileError(ValueError):
    """The cookie file is missing, not JSON, or not a list of cookie objects."""


@dataclass(frozen=True)
class StoredCookie:
    name: str
    value: str = field(repr=False)
    domain: str = DEFAULT_DOMAIN
    path: str = "/"
    expires: float | None = None  # unix seconds
    http_only: bool = True
    secure: bool = True
    same_site: str | None = None

    def expired(self, now: float) -> bool:
        return self.expires is not None and self.expires <= now

    def to_json(self) -> dict[str, Any]:
        return {
            "domain": self.domain, "expirationDate": self.expires, "hostOnly": not self.domain.startswith("."),
            "httpOnly": self.http_only, "name": self.name, "path": self.path, "sameSite": self.same_site,
            "secure": self.secure, "session": self.expires is None, "storeId": None, "value": self.value,
        }


def parse_cookie_list(data: Any, now: float | None = None) -> list[StoredCookie]:
    """Cookies from the decoded file content, without the expired ones."""
    if not isinstance(data, list):
        raise CookieFileError("a Gate cookie file must hold a JSON list of cookie objects")
    now = time.time() if now is None else now
    cookies = []
    for index, item in enumerate(data):
        if not isinstance(item, dict) or not item.get("name") or not isinstance(item.get("value"), str):
            raise CookieFileError(f"cookie #{index} lacks a name or a string value")
        expires = item.get("expirationDate")
        try:
            expires = None if expires is None else float(expires)
        except (TypeError, ValueError):
            raise CookieFileError(f"cookie #{index} ({item['name']}) has an unreadable expirationDate") from None
        cookie = StoredCookie(
            name=str(item["name"]), value=item["value"], domain=str(item.get("domain") or DEFAULT_DOMAIN),
            path=str(item.get("path") or "/"), expires=expires, http_only=bool(item.get("httpOnly", True)),
            secure=bool(item.get("secure", True)), same_site=item.get("sameSite"),
        )
        if not cookie.expired(now):
            cookies.append(cookie)
    return cookies


def load_cookie_file(path: str | os.PathLike[str], now: float | None = None) -> list[StoredCookie]:
    """Read a cookie file like the originals' `gate_cookie.json`; expired cookies are left out."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CookieFileError(f"cookie file {path} does not exist") from None
    except ValueError:
        raise CookieFileError(f"cookie file {path} is not valid JSON") from None
    return parse_cookie_list(data, now)


def save_cookie_file(path: str | os.PathLike[str], cookies: Iterable[StoredCookie]) -> None:
    """Write cookies in the same format, readable only by the owner (they are credentials)."""
    target = Path(path)
    temporary = target.with_name(target.name + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump([c.to_json() for c in cookies], handle, ensure_ascii=False, indent=2)
    os.replace(temporary, target)
