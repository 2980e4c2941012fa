"""Bybit V5 request signing (reference/bybit-p2p-api.md §3).

signature = hex(HMAC_SHA256(secret, timestamp + api_key + recv_window + X)) where
X is the raw query string (GET) or the raw body bytes (POST) exactly as sent.
The body is serialised once, here, and those same bytes go on the wire.
"""
from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any, Mapping

DEFAULT_RECV_WINDOW = 5000


def sign(api_secret: str, timestamp_ms: int | str, api_key: str, recv_window: int | str,
         payload: bytes | str = b"") -> str:
    """Lower-case hex HMAC-SHA256 over timestamp+key+recv_window+payload."""
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    prefix = f"{timestamp_ms}{api_key}{recv_window}".encode("utf-8")
    return hmac.new(api_secret.encode("utf-8"), prefix + payload, hashlib.sha256).hexdigest()


def canonical_query(params: Mapping[str, Any] | None) -> str:
    """GET query as Bybit's SDK sends and signs it: sorted keys, None dropped, no URL-encoding."""
    if not params:
        return ""
    return "&".join(f"{key}={value}" for key, value in sorted(params.items()) if value is not None)


def encode_body(params: Mapping[str, Any] | None) -> bytes:
    """Compact JSON body; the returned bytes are both signed and sent."""
    return json.dumps(dict(params or {}), separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def multipart_body(field_name: str, filename: str, data: bytes, content_type: str,
                   boundary: str) -> bytes:
    """One-part multipart/form-data body (signed over its raw bytes, like a JSON body)."""
    safe_name = filename.replace('"', "").replace("\r", "").replace("\n", "")
    head = (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="{field_name}"; filename="{safe_name}"\r\n'
        f"Content-Type: {content_type}\r\n\r\n"
    ).encode("utf-8")
    return head + data + f"\r\n--{boundary}--\r\n".encode("utf-8")


def auth_headers(api_key: str, api_secret: str, timestamp_ms: int, recv_window: int,
                 payload: bytes | str) -> dict[str, str]:
    return {
        "X-BAPI-API-KEY": api_key,
        "X-BAPI-TIMESTAMP": str(timestamp_ms),
        "X-BAPI-RECV-WINDOW": str(recv_window),
        "X-BAPI-SIGN": sign(api_secret, timestamp_ms, api_key, recv_window, payload),
        "X-BAPI-SIGN-TYPE": "2",
    }
