"""A deterministic OpenAI-compatible LLM for the sandbox (mounted at /llm/v1).

`POST /chat/completions` and `GET /models`, shaped like OpenAI's (which is
what OpenRouter speaks). Answers come from simple rules, so scenarios are
reproducible:

* a classification request (the system message mentions "classify") gets
  yes / no / unclear for the last user message — negations are checked
  before positives, and a yes with a reservation ("да, но оплачу со Сбера")
  is not a plain yes, so it is unclear — as JSON `{"answer": ...}` when JSON was asked for
  (response_format json_object, or "JSON" in the system message), else as
  the bare word;
* anything else is a phrasing request: the reply echoes the last user
  message through a template (default: unchanged), so facts survive.

`classify_override` ("yes", "no" or "unclear"; None = the rules) makes every classification answer
that word, whatever the text: a gullible (or compromised) assistant, to show that its word never
turns a reservation into a yes nor moves money.

Latency is explicit (`latency` seconds before every answer) and faults come
from the shared Faults under the platform name "llm". `requests()` holds the
chat requests answered; `http_log()` every HTTP request, faulted ones too.
"""
from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections import deque
from typing import Any, Callable

import bottle

from .faults import Faults, fault_plugin, recorder
from .ledger import Ledger

MODEL_ID = "sandbox/itrader-rules"
HTTP_LOG_MAX = 100_000  # a long-running sandbox keeps the recent requests only

NO_PHRASES = ("не согласен", "не согласна", "не подтверждаю", "не могу", "не буду", "не смогу", "not sure", "no way")
NO_WORDS = {"нет", "не", "неа", "no", "nope", "not", "отказ", "отказываюсь", "never"}
YES_WORDS = {
    "да", "дa", "yes", "yeah", "yep", "ок", "окей", "ok", "okay", "конечно", "согласен", "согласна",
    "подтверждаю", "хорошо", "норм", "ага", "угу", "sure", "разумеется", "давай", "confirm",
}
RESERVATION_WORDS = {"но", "but", "однако", "только", "except"}
_WORD = re.compile(r"\w+", re.UNICODE)


def classify(text: str) -> str:
    """yes / no / unclear by words; a negation anywhere wins over a positive."""
    lowered = (text or "").lower().strip()
    if lowered in ("+", "-"):  # a bare sign is an answer of its own
        return "yes" if lowered == "+" else "no"
    if any(phrase in lowered for phrase in NO_PHRASES):
        return "no"
    words = set(_WORD.findall(lowered))
    if words & NO_WORDS:
        return "no"
    if words & YES_WORDS:
        return "unclear" if words & RESERVATION_WORDS else "yes"
    return "unclear"


def _text_of(message: dict) -> str:
    content = message.get("content") or ""
    if isinstance(content, list):  # content parts
        return " ".join(part.get("text", "") for part in content if isinstance(part, dict))
    return str(content)


CLASSIFY_OVERRIDES = ("yes", "no", "unclear")


def answer(messages: list[dict], response_format: dict | None = None, phrase_template: str = "{text}",
           classify_override: str | None = None) -> str:
    """The deterministic completion text for a chat request."""
    system = " ".join(_text_of(m) for m in messages if m.get("role") in ("system", "developer"))
    users = [m for m in messages if m.get("role") == "user"]
    last_user = _text_of(users[-1]) if users else ""
    if "classify" in system.lower():
        verdict = classify_override or classify(last_user)
        wants_json = (response_format or {}).get("type") in ("json_object", "json_schema") or "json" in system.lower()
        return json.dumps({"answer": verdict}) if wants_json else verdict
    return phrase_template.format(text=last_user)


class LLMSandbox:
    def __init__(self, ledger: Ledger, faults: Faults, clock: Callable[[], float] = time.time,
                 latency: float = 0.0, phrase_template: str = "{text}") -> None:
        self.ledger = ledger
        self.faults = faults
        self.clock = clock
        self._lock = threading.Lock()
        self._latency = float(latency)
        self.phrase_template = phrase_template
        self._classify_override: str | None = None
        self._requests: list[dict[str, Any]] = []
        self._http_log: deque = deque(maxlen=HTTP_LOG_MAX)

    @property
    def latency(self) -> float:
        with self._lock:
            return self._latency

    def set_latency(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("latency must be >= 0")
        with self._lock:
            self._latency = float(seconds)

    @property
    def classify_override(self) -> str | None:
        with self._lock:
            return self._classify_override

    def set_classify_override(self, verdict: str | None) -> None:
        if verdict is not None and verdict not in CLASSIFY_OVERRIDES:
            raise ValueError(f"classify must be one of {', '.join(CLASSIFY_OVERRIDES)} or null")
        with self._lock:
            self._classify_override = verdict

    def requests(self) -> list[dict[str, Any]]:
        """Every chat request seen (model, messages), for tests that check what was asked."""
        with self._lock:
            return list(self._requests)

    def http_log(self) -> list[dict[str, Any]]:
        """Every HTTP request that reached the app, faulted ones too: ts, method, path, status, fault."""
        with self._lock:
            return [dict(e) for e in self._http_log]

    def reset(self) -> None:
        with self._lock:
            self._latency = 0.0
            self._classify_override = None
            self._requests.clear()
            self._http_log.clear()

    # --- HTTP ------------------------------------------------------------

    def make_app(self) -> bottle.Bottle:
        app = bottle.Bottle()
        app.install(recorder(self._record_request, self.clock))  # outermost: sees injected faults too
        app.install(fault_plugin(self.faults, "llm", rate_limited_body=lambda: _error_body(
            "Rate limit exceeded", "rate_limit_error", "rate_limit_exceeded")))
        app.route("/models", "GET", self._models)
        app.route("/chat/completions", "POST", self._chat)
        return app

    def _record_request(self, started: float, status: int, fault: str | None) -> None:
        with self._lock:
            self._http_log.append({"ts": started, "method": bottle.request.method, "path": bottle.request.path,
                                   "status": status, "fault": fault})

    def _authorized(self) -> bool:
        header = bottle.request.get_header("Authorization", "")
        return header.startswith("Bearer ") and len(header) > len("Bearer ")

    def _models(self):
        if not self._authorized():
            return _fail(401, "Missing API key", "invalid_request_error", "invalid_api_key")
        created = int(self.clock())
        return {"object": "list", "data": [
            {"id": MODEL_ID, "object": "model", "created": created, "owned_by": "itrader-sandbox"}]}

    def _chat(self):
        if not self._authorized():
            return _fail(401, "Missing API key", "invalid_request_error", "invalid_api_key")
        try:
            body = json.loads(bottle.request.body.read() or b"{}")
        except ValueError:
            return _fail(400, "Body is not JSON", "invalid_request_error", None)
        messages = body.get("messages") if isinstance(body, dict) else None
        if not isinstance(messages, list) or not messages:
            return _fail(400, "'messages' must be a non-empty list", "invalid_request_error", None)
        with self._lock:
            self._requests.append({"model": body.get("model"), "messages": messages})
        delay = self.latency
        if delay:
            time.sleep(delay)  # cooperative under gevent
        text = answer(messages, body.get("response_format"), self.phrase_template, self.classify_override)
        prompt_tokens = sum(len(_text_of(m).split()) for m in messages)
        completion_tokens = len(text.split())
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(self.clock()),
            "model": body.get("model") or MODEL_ID,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "finish_reason": "stop", "logprobs": None}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens},
        }


def _error_body(message: str, kind: str, code: str | None) -> dict:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def _fail(status: int, message: str, kind: str, code: str | None) -> str:
    bottle.response.status = status
    bottle.response.content_type = "application/json"
    return json.dumps(_error_body(message, kind, code))
