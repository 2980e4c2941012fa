"""The Telegram Bot API's twin: records what a bot sends (`sendMessage`, `getMe`), written from the Bot API's
documented shape, not from our client.

    POST /bot<token>/sendMessage   {chat_id, text, ...} as JSON or a form → {"ok": true, "result": Message}
    GET|POST /bot<token>/getMe      → {"ok": true, "result": User}

A token the twin does not know is answered 401 `{"ok": false, "error_code": 401, "description":
"Unauthorized"}`, as Telegram does; a message without chat_id or text is a 400. The control API
(/sandbox/telegram…) lists the messages and can make the twin hang or fail, to show that a dead
channel never slows a deal.
"""
from __future__ import annotations

import json
import threading
import time
from typing import Any, Callable

import bottle
import gevent

BOT_TOKEN = "1000001:sandbox-telegram-bot-token"  # a sandbox-only value, like its other credentials
CHAT_ID = "100200300"
BOT_ID = 1000001


def _answer(status: int, body: dict[str, Any]) -> str:
    bottle.response.status = status
    bottle.response.content_type = "application/json"
    return json.dumps(body, ensure_ascii=False)


class TelegramSandbox:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens = {BOT_TOKEN}
        self._messages: list[dict[str, Any]] = []
        self.hang = 0.0  # seconds every call waits before it is answered
        self.fail_status = 0  # answer every call with this HTTP status (0: work)

    # --- control

    def messages(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(m) for m in self._messages]

    def set_behaviour(self, hang: float | None = None, fail_status: int | None = None) -> dict[str, Any]:
        if hang is not None:
            self.hang = float(hang)
        if fail_status is not None:
            self.fail_status = int(fail_status)
        return {"hang": self.hang, "fail_status": self.fail_status}

    def reset(self) -> None:
        with self._lock:
            self._messages.clear()
        self.hang, self.fail_status = 0.0, 0

    # --- the Bot API

    def make_app(self) -> bottle.Bottle:
        app = bottle.Bottle()
        app.route("/bot<token>/sendMessage", "POST", self._send_message)
        app.route("/bot<token>/getMe", ["GET", "POST"], self._get_me)
        return app

    def _refusal(self, token: str) -> str | None:
        if self.hang:
            gevent.sleep(self.hang)
        if self.fail_status:
            return _answer(self.fail_status, {"ok": False, "error_code": self.fail_status,
                                              "description": "sandbox: failing on purpose"})
        if token not in self._tokens:
            return _answer(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
        return None

    def _get_me(self, token: str) -> str:
        refused = self._refusal(token)
        return refused or _answer(200, {"ok": True, "result": {"id": BOT_ID, "is_bot": True,
                                                                "first_name": "iTrader sandbox",
                                                                "username": "itrader_sandbox_bot"}})

    def _send_message(self, token: str) -> str:
        refused = self._refusal(token)
        if refused:
            return refused
        params = self._params()
        chat_id, text = params.get("chat_id"), params.get("text")
        if chat_id in (None, "") or not isinstance(text, str) or not text.strip():
            return _answer(400, {"ok": False, "error_code": 400, "description": "Bad Request: message text is empty"
                                 if chat_id not in (None, "") else "Bad Request: chat not found"})
        if len(text) > 4096:
            return _answer(400, {"ok": False, "error_code": 400, "description": "Bad Request: message is too long"})
        with self._lock:
            message_id = len(self._messages) + 1
            message = {"message_id": message_id, "date": int(self._clock()), "chat": {"id": chat_id, "type": "private"},
                       "from": {"id": BOT_ID, "is_bot": True, "first_name": "iTrader sandbox"}, "text": text}
            self._messages.append({"chat_id": str(chat_id), "text": text, "at": self._clock(),
                                   "message_id": message_id})
        return _answer(200, {"ok": True, "result": message})

    @staticmethod
    def _params() -> dict[str, Any]:
        if (bottle.request.content_type or "").startswith("application/json"):
            try:
                body = json.loads(bottle.request.body.read() or b"{}")
            except ValueError:
                return {}
            return body if isinstance(body, dict) else {}
        return dict(bottle.request.forms.decode())
