"""The alert channels (a client: one HTTP call per alert, a short timeout, nothing retried here).

* **Telegram**: `POST {base_url}/bot<token>/sendMessage` with `{"chat_id", "text"}` (the Bot API; the base
  URL is configurable, so the sandbox's Telegram twin can stand in).
* **Webhook**: `POST <url>` with the alert as a JSON body — `{"kind", "key", "severity", "text", "ts"}` —
  and the header `X-iTrader-Signature: sha256=<hex>`, the HMAC-SHA256 of the raw body under the
  configured secret. A receiver recomputes it over the bytes it got and compares in constant time; `ts`
  (Unix time) lets it refuse old replays.

A failure is a `ChannelError` whose text names the channel and what went wrong (an HTTP status, an
exception's type) — never the URL, which for Telegram carries the bot token.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any, Protocol

import requests

from itrader.alerts import Alert

SIGNATURE_HEADER = "X-iTrader-Signature"


class ChannelError(Exception):
    pass


class Channel(Protocol):
    name: str

    def send(self, alert: Alert) -> None: ...


def sign(secret: str, body: bytes) -> str:
    """The webhook signature header's value for `body`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _post(name: str, session: requests.Session, url: str, timeout: float, **kwargs: Any) -> requests.Response:
    try:
        response = session.post(url, timeout=timeout, allow_redirects=False, **kwargs)
    except requests.RequestException as exc:
        raise ChannelError(f"{name}: {type(exc).__name__}") from None  # the text may carry the URL
    if not 200 <= response.status_code < 300:
        raise ChannelError(f"{name}: HTTP {response.status_code}")
    return response


class TelegramChannel:
    name = "telegram"

    def __init__(self, base_url: str, token: str, chat_id: str, timeout: float) -> None:
        self._url = f"{base_url.rstrip('/')}/bot{token}/sendMessage"
        self._chat_id = chat_id
        self._timeout = timeout
        self._session = requests.Session()

    def __repr__(self) -> str:
        return f"TelegramChannel(chat_id={self._chat_id!r})"  # never the URL: it holds the token

    def send(self, alert: Alert) -> None:
        response = _post(self.name, self._session, self._url, self._timeout,
                         json={"chat_id": self._chat_id, "text": alert.text, "disable_web_page_preview": True})
        try:
            ok = response.json().get("ok")
        except (ValueError, AttributeError):
            ok = False
        if ok is not True:
            raise ChannelError(f"{self.name}: the Bot API did not answer ok")


class WebhookChannel:
    name = "webhook"

    def __init__(self, url: str, secret: str, timeout: float) -> None:
        self._url = url
        self._secret = secret
        self._timeout = timeout
        self._session = requests.Session()

    def __repr__(self) -> str:
        return "WebhookChannel()"

    def send(self, alert: Alert) -> None:
        body = json.dumps(alert.payload(time.time()), ensure_ascii=False, sort_keys=True).encode()
        _post(self.name, self._session, self._url, self._timeout, data=body,
              headers={"Content-Type": "application/json", SIGNATURE_HEADER: sign(self._secret, body)})
