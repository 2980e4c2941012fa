"""The OpenAPI 3.1 description of the operator's API (itrader.web), served as `/api/v1/openapi.json`.

Data, kept next to the routes: a route added there is added here, and the live
schemathesis run in the tests (tests/core/test_api_fuzz.py) checks every answer
against it. Objects the daemon may grow (a deal, an account) list the fields
an operator can rely on and allow more.
"""
from __future__ import annotations

import copy
from typing import Any

from itrader import __version__
from itrader.deal import resolve

# The bounds itrader.web enforces, stated once for both.
MAX_ID = 2**63 - 1  # deal ids and event numbers are 64-bit in the store
MAX_NAME_CHARS = 200
# An account name or actor path: no control characters or line breaks, which could forge a log line.
NAME_PATTERN = rf"^[^\x00-\x1f\x7f-\x9f\u2028\u2029]{{1,{MAX_NAME_CHARS}}}$"
FLAG_VALUES = ("1", "0", "true", "false", "yes", "no")  # exactly so, as before
TRUE_FLAGS = ("1", "true", "yes")


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(kind: str) -> dict[str, Any]:
    return {"type": [kind, "null"]}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _response(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/responses/{name}"}


_STRING = {"type": "string"}
_INTEGER = {"type": "integer"}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object", "required": ["error"], "additionalProperties": False,
        "properties": {"error": {"type": "string", "description": "what was wrong, naming the parameter"}},
    },
    "Health": {
        "type": "object", "required": ["status", "version"],
        "properties": {"status": {"const": "ok"}, "version": _STRING},
    },
    "Ready": {
        "type": "object", "required": ["ready", "reasons"], "additionalProperties": False,
        "properties": {"ready": {"type": "boolean"},
                       "reasons": {"type": "array", "items": _STRING, "description": "why not ready; empty when ready"}},
    },
    "ActorNode": {
        "type": "object", "required": ["id", "kind", "state", "restarts", "last_failure", "children"],
        "properties": {
            "id": _STRING, "kind": _STRING, "state": _STRING,
            "restarts": {"type": "integer", "minimum": 0},
            "last_failure": _nullable("string"),
            "children": {"type": "array", "items": {"anyOf": [_ref("ActorNode"), {"type": "null"}]}},
            "count": {"type": "integer", "description": "on the row standing for quiet children left out"},
        },
    },
    "Status": {
        "type": "object", "required": ["version", "profile", "mode", "started_at", "uptime_seconds", "tree"],
        "properties": {
            "version": _STRING,
            "profile": {"enum": ["sandbox", "production"]},
            "mode": {"enum": ["manual", "auto"]},
            "started_at": {"type": "number", "description": "Unix time"},
            "uptime_seconds": {"type": "number"},
            "notice": {"type": "string", "description": "present in the sandbox profile"},
            "sandbox": {"type": "object", "additionalProperties": _STRING, "description": "the sandbox's URLs"},
            "paused": {"type": "boolean", "description": "no new payout is taken now (paused or draining)"},
            "intake": _ref("Intake"),
            "today": _ref("Today"),
            "tree": _ref("ActorNode"),
        },
    },
    "Today": {
        "type": "object", "required": ["since", "completed", "rub", "usdt_sold", "earned_usdt", "earned_unknown"],
        "description": "deals whose move to COMPLETED was journaled since 00:00 UTC (itrader.day_totals)",
        "properties": {
            "since": {"type": "string", "description": "ISO time: today's 00:00 UTC"},
            "completed": {"type": "integer", "minimum": 0},
            "rub": {"type": "string", "description": "RUB paid out to the payouts' recipients, a decimal as text"},
            "usdt_sold": {"type": "string", "description": "USDT released to buyers (the orders' quantities)"},
            "earned_usdt": {"type": "string", "description": "spread earned: Gate's credit for the payouts "
                                                             "(total, reward included) less the USDT released"},
            "earned_unknown": {"type": "integer", "minimum": 0,
                               "description": "completed deals without Gate's credit figure, not in earned_usdt"},
        },
    },
    "Intake": {
        "type": "object", "required": ["state", "paused", "reason", "since", "by"],
        "description": "whether new payouts are taken: `open`, `paused` by an operator (kept across restarts, "
                       "for every daemon on the database) or `draining` (the daemon is stopping)",
        "properties": {"state": {"enum": ["open", "paused", "draining"]}, "paused": {"type": "boolean"},
                       "reason": _nullable("string"), "since": {"type": ["string", "null"], "description": "ISO time"},
                       "by": _nullable("string"), "message": _STRING},
    },
    "Deal": {
        "type": "object", "required": ["id", "payout_id", "state", "amount", "manual", "created_at", "updated_at"],
        "properties": {
            "id": {"type": "integer", "minimum": 1},
            "payout_id": _STRING,
            "state": _STRING,
            "gate_account_id": _nullable("integer"),
            "bybit_account_id": _nullable("integer"),
            "gate_account": {"type": ["string", "null"], "description": "the Gate account the deal runs on, by name"},
            "bybit_account": {"type": ["string", "null"],
                              "description": "the Bybit account hosting the deal's ad (the latest, if it moved)"},
            "amount_rub": {"type": "string", "description": "a decimal amount, as text"},
            "amount": {"type": "string", "description": "the same as amount_rub (the original project's name)"},
            "price": _nullable("string"),
            "quantity": _nullable("string"),
            "method": _nullable("string"),
            "bank": _nullable("string"),
            "wallet": _nullable("string"),
            "ad_id": _nullable("string"),
            "order_id": _nullable("string"),
            "reason": _nullable("string"),
            "manual": {"type": "boolean"},
            "created_at": _STRING,
            "updated_at": _STRING,
        },
    },
    "JournalEntry": {
        "type": "object", "required": ["seq", "ts", "kind", "step", "data"],
        "properties": {"seq": _INTEGER, "ts": _STRING, "kind": _STRING, "step": _STRING,
                       "data": {"description": "what the step recorded (any JSON)"}},
    },
    "DealWithJournal": {
        "allOf": [_ref("Deal"), {"type": "object", "required": ["journal"],
                                 "properties": {"journal": {"type": "array", "items": _ref("JournalEntry")}}}],
    },
    "DealList": {
        "type": "object", "required": ["deals"],
        "properties": {"deals": {"type": "array", "items": _ref("Deal")}},
    },
    "OrderList": {
        "type": "object", "required": ["orders"],
        "properties": {"orders": {"type": "array", "items": _ref("Deal")}},
    },
    "Pools": {
        "type": "object", "required": ["pools", "counts"],
        "properties": {
            "pools": {"type": "object", "additionalProperties": {"type": "array", "items": _ref("Deal")}},
            "counts": {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}},
        },
    },
    "Account": {
        "type": "object", "required": ["name", "platform", "enabled", "running"],
        "description": "one stored Gate, Bybit or mailbox account with what its actor reports (never a secret)",
        "properties": {"name": _STRING, "platform": {"enum": ["gate", "bybit", "mailbox"]},
                       "kind": {"enum": ["gate", "bybit", "mailbox"]}, "running": {"type": "boolean"},
                       "enabled": {"type": "boolean"},
                       "draining": {"type": "boolean", "description": "disabled, finishing what runs on it"},
                       "healthy": {"type": "boolean"},
                       "problem": {"type": ["string", "null"], "description": "why a Gate session is unhealthy"},
                       "balance": {"type": "object", "description": "Gate: the RUB working balance as last set by us "
                                   "or read at the session keep-alive", "required": ["rub", "source", "at"],
                                   "properties": {"rub": _STRING, "source": {"enum": ["set", "read"]}, "at": _STRING}},
                       "usdt": {"type": "object", "description": "Bybit: USDT available in the funding account, "
                                "as last read (bybit.usdt_report_interval)", "required": ["available", "at"],
                                "properties": {"available": _STRING, "at": _STRING}},
                       "budget": {"type": "object", "description": "Bybit: share (0..1) of the read and the write "
                                  "budget this process spent over the last window_seconds, as of at",
                                  "required": ["read", "write", "window_seconds", "at"],
                                  "properties": {"read": {"type": "number", "minimum": 0, "maximum": 1},
                                                 "write": {"type": "number", "minimum": 0, "maximum": 1},
                                                 "window_seconds": _INTEGER, "at": _STRING}}},
    },
    "AccountList": {
        "type": "object", "required": ["accounts"],
        "properties": {"accounts": {"type": "array", "items": _ref("Account")}},
    },
    "Metrics": {
        "type": "object", "required": ["metrics"],
        "properties": {"metrics": {"type": "object", "additionalProperties": {"type": "number"}}},
    },
    "Confirmed": {
        "type": "object", "required": ["deal_id", "confirmed", "message"],
        "properties": {"deal_id": _INTEGER, "confirmed": _STRING, "message": _STRING},
    },
    "Resolution": {
        "type": "object", "required": ["action", "reason", "reason_kind"], "additionalProperties": False,
        "description": "an operator's resolution of a deal in MANUAL_REVIEW or DISPUTE",
        "properties": {
            "action": {"enum": list(resolve.ACTIONS)},
            "reason": {"type": "string", "maxLength": resolve.MAX_REASON_CHARS, "pattern": resolve.TEXT_PATTERN,
                       "description": "why, in words (journaled)"},
            "reason_kind": {"enum": list(resolve.REASON_KINDS)},
            "amount": {"type": "string", "pattern": resolve.AMOUNT_PATTERN,
                       "description": "approve_release only: the payout's RUB amount, retyped exactly"},
            "return_payout": {"type": "boolean", "description": "cancel only: give the payout back to Gate"},
            "operator": {"type": "string", "maxLength": resolve.MAX_OPERATOR_CHARS, "pattern": resolve.TEXT_PATTERN,
                         "description": "who acts (journaled; default: the client's name)"},
        },
        "oneOf": [
            {"properties": {"action": {"const": "approve_release"}}, "required": ["amount"],
             "not": {"required": ["return_payout"]}},
            {"properties": {"action": {"const": "cancel"}}, "not": {"required": ["amount"]}},
            {"properties": {"action": {"enum": ["resolved_outside", "recheck_receipt"]}},
             "not": {"anyOf": [{"required": ["amount"]}, {"required": ["return_payout"]}]}},
        ],
    },
    "Resolved": {
        "type": "object", "required": ["deal_id", "action", "outcome", "message", "state"],
        "properties": {"deal_id": _INTEGER, "action": _STRING, "outcome": {"enum": ["go", "done"]},
                       "message": _STRING, "state": _STRING},
    },
    "ReviewList": {
        "type": "object", "required": ["deals"],
        "properties": {"deals": {"type": "array", "items": _ref("Deal")}},
    },
    "Disabled": {
        "type": "object", "required": ["disabled", "message"],
        "properties": {"disabled": _STRING, "message": _STRING},
    },
    "PauseRequest": {
        "type": "object", "additionalProperties": False,
        "properties": {"reason": {"type": "string", "pattern": NAME_PATTERN.replace("{1,", "{0,"),
                                  "description": "why, shown on the status page (one line)"}},
    },
    "Killed": {"type": "object", "required": ["killed"], "properties": {"killed": _STRING}},
    "Event": {
        "type": "object", "required": ["id", "event", "data"],
        "description": "one server-sent event; `data` is the event as JSON (seq, ts, type and its fields)",
        "properties": {"id": {"type": "string", "pattern": "^[0-9]+$"}, "event": _STRING,
                       "data": {"type": "string", "contentMediaType": "application/json"}},
    },
}

RESPONSES: dict[str, Any] = {
    "BadRequest": _json(_ref("Error"), "a parameter, header or the path is malformed; the error names it"),
    "Unauthorized": {**_json(_ref("Error"), "no or a wrong bearer token"),
                     "headers": {"WWW-Authenticate": {"schema": {"const": "Bearer"}}}},
    "NotFound": _json(_ref("Error"), "no such deal, account or actor"),
    "Conflict": _json(_ref("Error"), "valid, but not in the current state (e.g. the deal waits for nothing)"),
    "Unavailable": _json(_ref("Error"), "the deal did not answer in time; read it back and retry (idempotent)"),
    "TooLarge": _json(_ref("Error"), "the request body is over the cap (64 KiB); the connection is closed"),
}

PARAMETERS: dict[str, Any] = {
    "DealId": {
        "name": "deal_id", "in": "path", "required": True,
        "description": "a deal's id: ASCII digits only",
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
    },
    "AccountName": {
        "name": "name", "in": "path", "required": True, "description": "a Bybit account's name",
        "schema": {"type": "string", "pattern": NAME_PATTERN},
    },
    "ActorId": {
        "name": "actor_id", "in": "path", "required": True,
        "description": "an actor's path in the tree, e.g. `Web` or `Accounts/bybit:main`",
        "schema": {"type": "string", "pattern": NAME_PATTERN},
    },
    "After": {
        "name": "after", "in": "query", "description": "resume after this event id",
        "schema": {"type": "integer", "minimum": 0, "maximum": MAX_ID},
    },
    "LastEventId": {
        "name": "Last-Event-ID", "in": "header",
        "description": "what a reconnecting EventSource sends; used when `after` is absent",
        "schema": {"type": "integer", "minimum": 0, "maximum": MAX_ID},
    },
}


def _flag(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "description": description,
            "schema": {"type": "string", "enum": list(FLAG_VALUES)}}


def _param(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/parameters/{name}"}


def _operation(summary: str, ok: dict[str, Any], *, parameters: list | None = None,
               also: tuple[str, ...] = (), public: bool = False, ok_status: str = "200") -> dict[str, Any]:
    # Any route refuses a query parameter it does not take, and a path that is not UTF-8: 400.
    responses: dict[str, Any] = {ok_status: ok, "400": _response("BadRequest"), "413": _response("TooLarge")}
    if not public:
        responses["401"] = _response("Unauthorized")
    for name, status in (("NotFound", "404"), ("Conflict", "409")):
        if name in also:
            responses[status] = _response(name)
    operation: dict[str, Any] = {"summary": summary, "responses": responses}
    if parameters:
        operation["parameters"] = parameters
    if public:
        operation["security"] = []
    return operation


def _ready_operation() -> dict[str, Any]:
    operation = _operation("readiness; needs no token: 503 while the root supervisor restarts or no Gate or "
                           "Bybit account is healthy", _json(_ref("Ready"), "ready"), public=True)
    operation["responses"]["503"] = _json(_ref("Ready"), "not ready, with the reasons")
    return operation


def _paths(drills: bool) -> dict[str, Any]:
    api = "/api/v1"
    paths: dict[str, Any] = {
        f"{api}/health": {"get": _operation("liveness; needs no token", _json(_ref("Health"), "up"), public=True)},
        f"{api}/ready": {"get": _ready_operation()},
        f"{api}/openapi.json": {"get": _operation(
            "this description; needs no token", _json({"type": "object"}, "an OpenAPI 3.1 document"), public=True)},
        f"{api}/status": {"get": _operation(
            "profile, mode and the live actor tree", _json(_ref("Status"), "the daemon's state"))},
        f"{api}/deals": {"get": _operation(
            "deals still running, or all (the last 1000)", _json(_ref("DealList"), "deals, newest first"),
            parameters=[_flag("all", "include finished deals (1/true/yes)")])},
        f"{api}/deals/{{deal_id}}": {"get": _operation(
            "one deal with its journal", _json(_ref("DealWithJournal"), "the deal"),
            parameters=[_param("DealId")], also=("NotFound",))},
        f"{api}/deals/{{deal_id}}/confirm": {"post": _operation(
            "an operator's yes to the money step the deal waits for (manual mode, chat receipts)",
            _json(_ref("Confirmed"), "the step goes ahead"),
            parameters=[_param("DealId")], also=("NotFound", "Conflict"))},
        f"{api}/pause": {"post": {**_operation(
            "stop taking new payouts (Gate balances go to 0); live deals go on to the end. Kept across restarts",
            _json(_ref("Intake"), "paused")),
            "requestBody": {"required": False, "content": {"application/json": {"schema": _ref("PauseRequest")}}}}},
        f"{api}/resume": {"post": _operation("take new payouts again", _json(_ref("Intake"), "open again"))},
        f"{api}/deals/{{deal_id}}/resolve": {"post": {**_operation(
            "an operator's resolution of a deal in MANUAL_REVIEW or DISPUTE, judged on Gate and Bybit read "
            "back right then: 400 names a bad field (a retyped amount that does not match included), 409 when "
            "the deal is not in review or the platforms forbid it",
            _json(_ref("Resolved"), "done, or going ahead"),
            parameters=[_param("DealId")], also=("NotFound", "Conflict")),
            "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("Resolution")}}}}},
        f"{api}/review": {"get": _operation(
            "the review queue: deals in MANUAL_REVIEW or DISPUTE, with why", _json(_ref("ReviewList"), "deals"))},
        f"{api}/accounts": {"get": _operation("accounts and their health", _json(_ref("AccountList"), "accounts"))},
        f"{api}/accounts/{{name}}/disable": {"post": _operation(
            "take a Bybit account out for good: its un-taken ads move to healthy accounts",
            _json(_ref("Disabled"), "the account is being taken out"),
            parameters=[_param("AccountName")], also=("NotFound",))},
        f"{api}/orders": {"get": _operation(
            "the deals still running (the original project's name)", _json(_ref("OrderList"), "running deals"))},
        f"{api}/pools": {"get": _operation(
            "deals grouped by the original project's stages", _json(_ref("Pools"), "deals by stage"))},
        f"{api}/metrics": {"get": _operation(
            "iTrader's own metrics as JSON", _json(_ref("Metrics"), "metric name (with labels) to value"))},
        "/metrics": {"get": _operation("Prometheus metrics", {
            "description": "the Prometheus text format",
            "content": {"text/plain": {"schema": _STRING}}})},
        f"{api}/events": {"get": _operation(
            "server-sent events: each deal step, account change and operator notice",
            {"description": "`id: N`, `event: TYPE`, `data: JSON` per event; `: keep-alive` comments",
             "content": {"text/event-stream": {"schema": _ref("Event")}}},
            parameters=[_param("After"), _param("LastEventId"),
                        _flag("once", "answer what is there now and end, instead of streaming for up to an hour")])},
        f"{api}/ws": {"get": _operation(
            "the same events over a WebSocket (RFC 6455, version 13), one JSON text frame each; the token may "
            "also be given as `?token=` since browsers cannot set headers on a WebSocket",
            {"description": "the connection is a WebSocket from here on"},
            ok_status="101",
            parameters=[
                {"name": "after", "in": "query", "description": "start after this event id (default: now)",
                 "schema": PARAMETERS["After"]["schema"]},
                {"name": "since", "in": "query", "description": "the same as `after`",
                 "schema": PARAMETERS["After"]["schema"]},
                {"name": "token", "in": "query", "description": "the API token, for browsers",
                 "schema": _STRING},
            ])},
    }
    paths[f"{api}/deals/{{deal_id}}/resolve"]["post"]["responses"]["503"] = _response("Unavailable")
    # A plain GET (no upgrade) is a 400; the wrong WebSocket version a 426 naming the one spoken.
    paths[f"{api}/ws"]["get"]["responses"]["426"] = _json(_ref("Error"), "only WebSocket version 13 is spoken")
    if drills:
        paths[f"{api}/actors/{{actor_id}}/kill"] = {"post": _operation(
            "drills (only with `daemon.drills = true`): make one actor fail so its supervisor restarts it",
            _json(_ref("Killed"), "the actor was told to fail"),
            parameters=[_param("ActorId")], also=("NotFound",))}
    return paths


def openapi_document(drills: bool = False) -> dict[str, Any]:
    """A fresh copy each call: a caller may change its document without changing another's."""
    return copy.deepcopy({
        "openapi": "3.1.0",
        "info": {
            "title": "iTrader operator API",
            "version": __version__,
            "description": "Status, deals, operator actions and live events of an iTrader daemon. "
                           "Every operation but health and this description needs `Authorization: Bearer TOKEN` "
                           "(the daemon's `daemon.api_token`, or `var/api-token` in the sandbox profile).",
        },
        "security": [{"bearer": []}],
        "paths": _paths(drills),
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "daemon.api_token"}},
            "schemas": SCHEMAS,
            "parameters": PARAMETERS,
            "responses": RESPONSES,
        },
    })
