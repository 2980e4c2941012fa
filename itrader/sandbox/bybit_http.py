"""The simulated Bybit P2P over HTTP: a Bottle app that checks the HMAC signature, the timestamp
window, per-UID read/write rates and the per-IP limit, dispatches to the handlers and wraps their
answers in the P2P or V5 envelope (reference §2–§4, §7)."""
from __future__ import annotations

import hmac
import json
from collections import deque
from typing import Any

import bottle

from itrader.sandbox.bybit_records import (
    Account, ApiError, HTTP_LOG_MAX, INVALID_KEY, PARAM_ERROR, SIGN_ERROR, TIMESTAMP_ERROR, TOO_MANY_VISITS,
    WRONG_PATHS_NOTE, sign_payload,
)
from itrader.sandbox.faults import fault_plugin, recorder


class BybitHttp:
    """The HTTP face of the simulated Bybit: routes, envelopes, signatures, rate limits and IP bans.

    A mixin of BybitSandbox (itrader.sandbox.bybit), whose handler methods (`_h_*`) the routes name.
    """

    # path -> (method, handler name, "read"|"write"|None for public, envelope)
    ROUTES: dict[str, tuple[str, str, str | None, str]] = {
        "/v5/market/time": ("GET", "", None, "v5"),
        "/v5/asset/transfer/query-account-coins-balance": ("GET", "_h_balance", "read", "v5"),
        "/v5/p2p/user/personal/info": ("POST", "_h_personal_info", "read", "p2p"),
        "/v5/p2p/user/payment/list": ("POST", "_h_payment_list", "read", "p2p"),
        "/v5/p2p/user/order/personal/info": ("POST", "_h_counterparty_info", "read", "p2p"),
        "/v5/p2p/item/online": ("POST", "_h_online", "read", "p2p"),
        "/v5/p2p/item/create": ("POST", "_h_item_create", "write", "p2p"),
        "/v5/p2p/item/update": ("POST", "_h_item_update", "write", "p2p"),
        "/v5/p2p/item/cancel": ("POST", "_h_item_cancel", "write", "p2p"),
        "/v5/p2p/item/personal/list": ("POST", "_h_item_personal_list", "read", "p2p"),
        "/v5/p2p/item/info": ("POST", "_h_item_info", "read", "p2p"),
        "/v5/p2p/order/simplifyList": ("POST", "_h_orders", "read", "p2p"),
        "/v5/p2p/order/pending/simplifyList": ("POST", "_h_pending_orders", "read", "p2p"),
        "/v5/p2p/order/info": ("POST", "_h_order_info", "read", "p2p"),
        "/v5/p2p/order/finish": ("POST", "_h_order_finish", "write", "p2p"),
        "/v5/p2p/order/message/send": ("POST", "_h_message_send", "write", "p2p"),
        "/v5/p2p/order/message/listpage": ("POST", "_h_message_list", "read", "p2p"),
        "/v5/p2p/oss/upload_file": ("POST", "", "write", "upload"),
    }

    def _envelope(self, style: str, code: int, message: str, result: Any, path: str = "") -> dict:
        now = self.clock()
        if style == "v5":
            return {"retCode": code, "retMsg": message or ("OK" if code == 0 else "error"), "result": result,
                    "retExtInfo": {}, "time": int(now * 1000)}
        if style == "upload":
            return {"result": result, "token": None, "ret_code": code, "ret_msg": "成功" if code == 0 else message}
        body = {"ret_code": code, "ret_msg": "SUCCESS" if code == 0 else message, "result": result,
                "ext_code": "", "ext_info": {}}
        if path == "/v5/p2p/item/create":
            body["ext_map"] = {}
        body["time_now"] = f"{now:.6f}"
        return body

    def _json(self, body: dict, status: int = 200) -> str:
        bottle.response.status = status
        bottle.response.content_type = "application/json"
        return json.dumps(body, ensure_ascii=False)

    def _ip_check(self, ip: str) -> bool:
        """True when the IP is (or just became) banned for exceeding the per-IP limit.

        Bybit's rule (docs, P2P and V5 "Rate Limit", https://bybit-exchange.github.io/docs/p2p/rate-limit):
        600 requests per IP in any 5-second window; above it the answer is HTTP 403 "access too frequent"
        and the IP stays banned for at least 10 minutes. Every request that arrives counts in the
        windows the control API reads (GET /sandbox/bybit/ip_windows), answered or refused."""
        now = self.clock()
        self._ip_windows.arrived(ip, now)
        if self._ip_bans.get(ip, 0) > now:
            return True
        hits = self._ip_hits.setdefault(ip, deque())
        while hits and hits[0] <= now - self.ip_window_seconds:
            hits.popleft()
        hits.append(now)
        if len(hits) > self.ip_requests_per_window:
            self._ip_bans[ip] = now + self.ip_ban_seconds
            return True
        return False

    def _authenticate(self, raw_signed: bytes) -> Account:
        headers = bottle.request.headers
        key = headers.get("X-BAPI-API-KEY", "")
        account = self._by_key.get(key)
        if account is None:
            raise ApiError(INVALID_KEY, "API key is invalid.")
        timestamp = headers.get("X-BAPI-TIMESTAMP", "")
        recv_window = headers.get("X-BAPI-RECV-WINDOW", "5000")
        if not timestamp.isdigit() or not recv_window.isdigit():
            raise ApiError(TIMESTAMP_ERROR, "invalid request, please check your timestamp or recv_window param")
        server_ms = self._now_ms()
        if not server_ms - int(recv_window) <= int(timestamp) < server_ms + 1000:
            raise ApiError(
                TIMESTAMP_ERROR,
                f"invalid request, please check your server timestamp or recv_window param. "
                f"req_timestamp[{timestamp}],server_timestamp[{server_ms}],recv_window[{recv_window}]",
            )
        expected = sign_payload(account.api_secret, (timestamp + key + recv_window).encode() + raw_signed)
        if not hmac.compare_digest(expected, headers.get("X-BAPI-SIGN", "").lower()):
            raise ApiError(SIGN_ERROR, "error sign! origin_string[...]")
        return account

    def _rate_check(self, account: Account, kind: str) -> bool:
        now = self.clock()
        limit = account.read_per_second if kind == "read" else account.write_per_second
        accepted = self._accepted.setdefault((account.uid, kind), deque())
        while accepted and accepted[0] <= now - 1.0:
            accepted.popleft()
        if len(accepted) >= limit:
            self._rate_rejections[account.uid] = self._rate_rejections.get(account.uid, 0) + 1
            return False
        accepted.append(now)
        return True

    def _dispatch(self, path: str) -> Any:
        request = bottle.request
        ip = request.remote_addr or "unknown"
        has_body = request.content_length > 0
        # Read the body before taking the lock: it may wait on the socket.
        raw_body = request.body.read() if request.method != "GET" else b""
        with self._lock:
            self._tick()
            if self._ip_check(ip):
                bottle.response.status = 403
                bottle.response.content_type = "text/plain"
                return "403 Forbidden: access too frequent"
            if path.startswith("/fiat/p2p/oss/showObj/") and request.method == "GET":
                return self._serve_file(path)
            route = self.ROUTES.get(path)
            if route is None:
                bottle.response.status = 404
                bottle.response.content_type = "text/plain"
                return f"404 page not found ({WRONG_PATHS_NOTE})"
            method, handler_name, kind, style = route
            if request.method != method:
                bottle.response.status = 400
                return "bad request method"
            if method == "GET" and has_body:
                bottle.response.status = 403
                return "GET with a body is forbidden"
            if kind is None:
                now = self.clock()
                result = {"timeSecond": str(int(now)), "timeNano": str(int(now * 1_000_000_000))}
                return self._json(self._envelope("v5", 0, "OK", result))
            signed = request.environ.get("QUERY_STRING", "").encode("latin-1") if method == "GET" else raw_body
            try:
                account = self._authenticate(signed)
            except ApiError as exc:
                return self._json(self._envelope("v5", exc.code, exc.message, {}))
            refused = self._refused_key(account)  # a key bound to other IPs, a refused region (bybit_live)
            if refused is not None:
                return refused
            self._request_log.setdefault(account.uid, deque(maxlen=HTTP_LOG_MAX)).append((self.clock(), kind, path))
            if not self._rate_check(account, kind):
                reset_ms = self._now_ms() + 1000
                bottle.response.set_header("X-Bapi-Limit-Reset-Timestamp", str(reset_ms))
                return self._json(self._envelope("v5", TOO_MANY_VISITS, "Too many visits!", {}))
            try:
                if style == "upload":
                    result = self._upload(account, raw_body)
                else:
                    params = self._parse_params(method, raw_body)
                    result = getattr(self, handler_name)(account, params)
            except ApiError as exc:
                error_result = None if style == "upload" else ({} if style == "v5" else None)
                return self._json(self._envelope(style, exc.code, exc.message, error_result, path))
            return self._json(self._envelope(style, 0, "", result, path))

    @staticmethod
    def _parse_params(method: str, raw_body: bytes) -> dict:
        if method == "GET":
            return dict(bottle.request.query.decode().items())
        if not raw_body.strip():
            return {}
        try:
            params = json.loads(raw_body)
        except (ValueError, UnicodeDecodeError):
            raise ApiError(PARAM_ERROR, "request parameter error: body is not JSON") from None
        if not isinstance(params, dict):
            raise ApiError(PARAM_ERROR, "request parameter error: body must be a JSON object")
        return params

    def _record_request(self, started: float, status: int, fault: str | None) -> None:
        with self._lock:
            self._http_log.append({
                "ts": started, "ip": bottle.request.remote_addr, "method": bottle.request.method,
                "path": "/" + bottle.request.url_args.get("path", ""),
                "status": status, "retry_after": bottle.response.headers.get("Retry-After"), "fault": fault,
            })

    def make_app(self) -> bottle.Bottle:
        app = bottle.Bottle()
        # Installed first, so it is the outermost wrapper and also sees injected faults.
        app.install(recorder(self._record_request, self.clock))

        def rate_limited_body():
            return self._envelope("v5", TOO_MANY_VISITS, "Too many visits!", {})

        app.install(fault_plugin(self.faults, "bybit", rate_limited_body=rate_limited_body))

        @app.route("/<path:path>", method=["GET", "POST", "PUT", "DELETE", "PATCH"])
        def any_path(path: str):
            return self._dispatch("/" + path)

        return app
