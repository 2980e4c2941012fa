"""The sandbox control API (mounted at /sandbox): payouts, buyers, faults, accounts, ledger, audit, reset.

  POST /payouts                {amount, method: sbp|card, bank, wallet?, persona? | script?, speed?, expires_in?,
                                buyer?: {real_name?, payer_name?}}
  GET  /payouts, /payouts/<id>
  PUT  /payouts/<id>/buyer     {persona | script, speed?, buyer?: {real_name?, payer_name?}}
                               buyer.real_name: the name Bybit shows as buyerRealName (KYC);
                               buyer.payer_name: the holder of the bank account the buyer pays from
                               (the receipt's «Отправитель»); each defaults to the buyer's own
  GET  /personas               names and their scripts
  GET  /orders                 Bybit orders with the payout each belongs to
  PUT|POST /faults/<platform>  a FaultPlan dict (gate, bybit, llm, bank, mail)
  POST /faults/<platform>/script
                               {endpoint, fault, count?, method?, seconds?, retry_after_seconds?}: the next
                               `count` calls of `endpoint` on gate, bybit or llm fail with `fault` (faults.py)
  DELETE /faults/<platform>/script    drop that platform's scripted faults
  DELETE /faults/<platform>    no faults there (plan and scripted)
  GET  /faults                 {faults: plans by platform, scripted: faults still to fire by platform}
  PUT  /llm                    {latency: seconds, classify: "yes"|"no"|"unclear"|null (every classification
                               answers that word: a gullible assistant; null = the rules)}
  GET  /telegram/messages      what the daemon's bot sent to the Telegram twin (its alerts)
  PUT  /telegram               {hang?: seconds, fail_status?: 0 | 400..599}: make the twin slow or failing
  GET  /ledger[?kind=...]      every money movement and money step
  GET  /audit                  {clean, counts, violations}
  POST /accounts/gate          {login, password, balance?}
  POST /accounts/bybit         {uid, api_key, api_secret, nickname?, read_per_second?, write_per_second?}
  GET  /accounts               logins/uids (no secrets)
  PUT  /gate/sessions          {idle_lifetime?, cookie_lifetime?}: seconds a Gate session lives without a request,
                               and a sid/rsid pair after it was issued (GET /auth/me renews the pair)
  POST /gate/sessions/expire   {login?}: end that trader's Gate sessions now (every trader's without login)
  PUT  /gate/live              {search_id_needs_status?, late_approval_seconds?}: the live panel's ways
                               (gate_live.py): search[id] without a status filter finds nothing; /approve
                               accepted that long past expired_at (captured: an approve an hour late passed)
  POST /gate/challenge         {calls?, seconds?, status?: 403|503, endpoint?}: Cloudflare challenges the next
                               `calls` Gate calls, or every call for `seconds` (endpoint: only paths ending so)
  DELETE /gate/challenge       no more challenges
  GET  /credentials            the default sandbox credentials (sandbox-only values)
  GET  /dkim                   the bank's DKIM DNS TXT record(s)
  POST /stream                 {per_minute}
  PUT  /bybit/chat             {unread_counts?: counted|zero|absent, echo_msg_uuid?: bool, order_notices?: bool,
                               broken_files?: ["png", ...]}: live chat behaviours (bybit_chat_quirks.py)
  GET  /bybit/chat             those switches
  POST /bybit/orders/<id>/read the operator opened that order's chat in the Bybit app: all read
  POST /bybit/orders/<id>/support  {text, image?}: Bybit's support writes in the order chat (msgType 5/6)
  GET  /bybit/ip_windows       {ips: {ip: {max_1s, max_5s}}, max_1s, max_5s}: the most requests the Bybit twin saw
                               from one IP in any 1 s and any 5 s (its IP ban: above 600 in 5 s)
  DELETE /bybit/ip_windows     start counting those windows afresh
  POST /reset
  /bybit/ad_rules, /bybit/accounts/<uid>/ads, /bybit/market/outliers: see control_ads.py
  and the live Bybit switches of control_live (appeals, refused keys, response shapes)
"""
from __future__ import annotations

import json
import re
from decimal import Decimal, InvalidOperation
from typing import Any, Callable

import bottle

from . import control_ads, personas
from .audit import summarize
from .buyers import ScriptError
from .control_live import add_live_routes
from .bybit_chat_quirks import chat_routes
from .faults import SCRIPTED_FAULTS, FaultPlan

PLATFORMS = ("gate", "bybit", "llm", "bank", "mail")
HTTP_PLATFORMS = ("gate", "bybit", "llm")  # the ones whose endpoints can have scripted faults
SCRIPT_KEYS = ("endpoint", "fault", "count", "method", "seconds", "retry_after_seconds")
BUYER_NAME_KEYS = ("real_name", "payer_name")
MAX_NAME_CHARS = 100


class BadRequest(Exception):
    pass


def _body() -> dict[str, Any]:
    raw = bottle.request.body.read()
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise BadRequest("body is not JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object")
    return body


def _amount(value: Any, name: str = "amount") -> Decimal:
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise BadRequest(f"{name} must be a number") from None
    if not amount.is_finite() or amount <= 0:
        raise BadRequest(f"{name} must be positive")
    return amount


def _json(status: int, body: Any) -> str:
    bottle.response.status = status
    bottle.response.content_type = "application/json"
    return json.dumps(body, default=str, ensure_ascii=False)


def _handled(handler: Callable[..., Any]) -> Callable[..., str]:
    """Turn results into JSON and mistakes into 400/404 with a message."""

    def route(*args: Any, **kwargs: Any) -> str:
        try:
            return _json(200, handler(*args, **kwargs))
        except (BadRequest, ScriptError, ValueError) as exc:
            return _json(400, {"error": str(exc)})
        except KeyError as exc:
            return _json(404, {"error": f"not found: {exc.args[0] if exc.args else ''}"})

    return route


def make_control_app(world) -> bottle.Bottle:
    app = bottle.Bottle()

    def route(path: str, method: str | list[str]):
        def register(handler):
            app.route(path, method, _handled(handler))
            return handler
        return register

    @route("/payouts", "POST")
    def create_payout():
        body = _body()
        method = body.get("method", "sbp")
        if method not in ("sbp", "card"):
            raise BadRequest("method must be sbp or card")
        return world.create_payout(
            _amount(body.get("amount")), method, str(body.get("bank") or "sberbank"), body.get("wallet"),
            persona=body.get("persona"), script=body.get("script"), speed=_speed(body),
            expires_in=float(body.get("expires_in", 1800)), names=_buyer_names(body))

    @route("/payouts", "GET")
    def list_payouts():
        return {"payouts": world.payouts_view()}

    @route("/payouts/<payout_id:int>", "GET")
    def one_payout(payout_id: int):
        return world.payout_view(payout_id)

    @route("/payouts/<payout_id:int>/buyer", ["PUT", "POST"])
    def attach_buyer(payout_id: int):
        body = _body()
        return world.attach_buyer(payout_id, persona=body.get("persona"), script=body.get("script"),
                                  speed=_speed(body), names=_buyer_names(body))

    @route("/personas", "GET")
    def list_personas():
        return {"personas": {name: personas.PERSONAS[name] for name in personas.names()},
                "stream_mix": personas.STREAM_MIX}

    @route("/orders", "GET")
    def list_orders():
        return {"orders": world.orders_view()}

    @route("/faults", "GET")
    def get_faults():
        return {"faults": world.faults.snapshot(), "scripted": world.faults.scripted()}

    @route("/faults/<platform>", ["PUT", "POST"])
    def set_faults(platform: str):
        _platform(platform, PLATFORMS)
        plan = FaultPlan.from_dict(_body())
        world.faults.set(platform, plan)
        return {"platform": platform, "plan": world.faults.snapshot()[platform]}

    @route("/faults/<platform>", "DELETE")
    def clear_faults(platform: str):
        _platform(platform, PLATFORMS)
        world.faults.set(platform, FaultPlan())
        world.faults.clear_scripted(platform)
        return {"platform": platform, "plan": world.faults.snapshot()[platform], "scripted": []}

    @route("/faults/<platform>/script", "POST")
    def script_fault(platform: str):
        _platform(platform, HTTP_PLATFORMS)
        body = _body()
        unknown = sorted(set(body) - set(SCRIPT_KEYS))
        if unknown:
            raise BadRequest(f"unknown scripted fault field(s): {', '.join(unknown)}; known: {', '.join(SCRIPT_KEYS)}")
        if not isinstance(body.get("endpoint"), str) or not body["endpoint"].strip():
            raise BadRequest("endpoint is required: a path such as /payments/payouts/{id}/approve or order/finish")
        if body.get("fault") not in SCRIPTED_FAULTS:
            raise BadRequest(f"fault must be one of {', '.join(SCRIPTED_FAULTS)}")
        if body.get("method") is not None and not isinstance(body["method"], str):
            raise BadRequest("method must be an HTTP method such as POST")
        options = {k: body[k] for k in ("method", "seconds", "retry_after_seconds") if body.get(k) is not None}
        world.faults.add_scripted(platform, body["endpoint"], body["fault"], body.get("count", 1),
                                  known_paths=world.endpoint_paths(platform), **options)
        return {"platform": platform, "scripted": world.faults.scripted().get(platform, [])}

    @route("/faults/<platform>/script", "DELETE")
    def clear_scripted_faults(platform: str):
        _platform(platform, HTTP_PLATFORMS)
        world.faults.clear_scripted(platform)
        return {"platform": platform, "scripted": []}

    @route("/llm", ["PUT", "POST"])
    def set_llm():
        body = _body()
        if "latency" in body:
            try:
                world.llm.set_latency(float(body["latency"]))
            except (TypeError, ValueError):
                raise BadRequest("latency must be a number of seconds >= 0") from None
        if "classify" in body:
            try:
                world.llm.set_classify_override(body["classify"])
            except ValueError as error:
                raise BadRequest(str(error)) from None
        return {"latency": world.llm.latency, "classify": world.llm.classify_override}

    @route("/telegram/messages", "GET")
    def telegram_messages():
        return {"messages": world.telegram.messages()}

    @route("/telegram", ["PUT", "POST"])
    def telegram_behaviour():
        body = _body()
        hang, fail = body.get("hang"), body.get("fail_status")
        if hang is not None and (isinstance(hang, bool) or not isinstance(hang, (int, float)) or not 0 <= hang <= 600):
            raise BadRequest("hang must be seconds from 0 to 600")
        if fail is not None and (isinstance(fail, bool) or fail not in (0, *range(400, 600))):
            raise BadRequest("fail_status must be 0 (work) or an HTTP status from 400 to 599")
        return world.telegram.set_behaviour(hang, fail)

    @route("/ledger", "GET")
    def ledger():
        kind = bottle.request.query.get("kind") or None
        return {"entries": world.ledger.entries(kind)}

    @route("/audit", "GET")
    def audit():
        return summarize(world.audit())

    @route("/accounts/gate", "POST")
    def add_gate_account():
        body = _body()
        if not body.get("login") or not body.get("password"):
            raise BadRequest("login and password are required")
        balance = _amount(body["balance"], "balance") if body.get("balance") not in (None, 0, "0") else Decimal(0)
        world.add_gate_account(str(body["login"]), str(body["password"]), balance)
        return {"login": body["login"], "balance": str(balance)}

    @route("/accounts/bybit", "POST")
    def add_bybit_account():
        body = _body()
        missing = [k for k in ("uid", "api_key", "api_secret") if not body.get(k)]
        if missing:
            raise BadRequest(f"missing {', '.join(missing)}")
        options = {k: float(body[k]) for k in ("read_per_second", "write_per_second") if k in body}
        world.add_bybit_account(str(body["uid"]), str(body["api_key"]), str(body["api_secret"]),
                                str(body.get("nickname") or ""), **options)
        return {"uid": body["uid"], "payment_methods": world.bybit.payment_methods(str(body["uid"]))}

    @route("/accounts", "GET")
    def accounts():
        return world.accounts_view()

    @route("/gate/sessions", ["PUT", "POST"])
    def gate_sessions():
        body = _body()
        return world.gate.set_session_lifetimes(idle=_seconds(body, "idle_lifetime"),
                                                cookie=_seconds(body, "cookie_lifetime"))

    @route("/gate/sessions/expire", "POST")
    def expire_gate_sessions():
        login = _body().get("login")
        return {"expired": world.gate.expire_sessions(str(login) if login else None)}

    @route("/gate/live", ["PUT", "POST"])
    def gate_live():
        body = _body()
        unknown = sorted(set(body) - {"search_id_needs_status", "late_approval_seconds"})
        if unknown:
            raise BadRequest(f"unknown field(s): {', '.join(unknown)}")
        flag = body.get("search_id_needs_status")
        if flag is not None and not isinstance(flag, bool):
            raise BadRequest("search_id_needs_status must be true or false")
        late = body.get("late_approval_seconds")
        if late is not None and (isinstance(late, bool) or not isinstance(late, (int, float))
                                 or not 0 <= late <= 86400):
            raise BadRequest("late_approval_seconds must be a number of seconds between 0 and 86400")
        return world.gate.set_live(flag, late)

    @route("/gate/challenge", ["PUT", "POST"])
    def gate_challenge():
        body = _body()
        unknown = sorted(set(body) - {"calls", "seconds", "status", "endpoint"})
        if unknown:
            raise BadRequest(f"unknown field(s): {', '.join(unknown)}")
        return world.gate.challenge.arm(body.get("calls"), body.get("seconds"), body.get("status", 403),
                                        str(body.get("endpoint") or ""))

    @route("/gate/challenge", "DELETE")
    def clear_gate_challenge():
        world.gate.challenge.reset()
        return world.gate.challenge.view()

    @route("/credentials", "GET")
    def credentials():
        return world.credentials()

    @route("/dkim", "GET")
    def dkim_record():
        return {"records": world.dkim_records()}

    @route("/stream", ["PUT", "POST"])
    def stream():
        body = _body()
        try:
            per_minute = float(body.get("per_minute", 0))
        except (TypeError, ValueError):
            raise BadRequest("per_minute must be a number") from None
        world.start_stream(per_minute)
        return {"per_minute": world.stream_per_minute}

    control_ads.register(route, _body, _amount, world)  # ad rules and the market's shape (issue 12)
    chat_routes(route, world, _body)

    @route("/bybit/ip_windows", "GET")
    def bybit_ip_windows():
        return world.bybit.ip_windows()

    @route("/bybit/ip_windows", "DELETE")
    def reset_bybit_ip_windows():
        world.bybit.reset_ip_windows()
        return world.bybit.ip_windows()

    @route("/reset", "POST")
    def reset():
        world.reset()
        return {"reset": True}

    add_live_routes(route, _body, world)
    return app


def _seconds(body: dict[str, Any], name: str) -> float | None:
    if body.get(name) is None:
        return None
    value = body[name]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 86400 * 30:
        raise BadRequest(f"{name} must be a number of seconds above 0")
    return float(value)


def _platform(name: str, allowed: tuple[str, ...]) -> None:
    if name not in allowed:
        raise BadRequest(f"platform must be one of {', '.join(allowed)}")


def _buyer_names(body: dict[str, Any]) -> dict[str, str]:
    """`buyer: {real_name?, payer_name?}` checked: each a person's name (letters, spaces, . ' -)."""
    buyer = body.get("buyer")
    if buyer is None:
        return {}
    if not isinstance(buyer, dict):
        raise BadRequest("buyer must be an object: {\"real_name\": ..., \"payer_name\": ...}")
    unknown = sorted(set(buyer) - set(BUYER_NAME_KEYS))
    if unknown:
        raise BadRequest(f"unknown buyer field(s): {', '.join(unknown)}; known: {', '.join(BUYER_NAME_KEYS)}")
    if buyer and body.get("persona") is None and body.get("script") is None:
        raise BadRequest("buyer names need a buyer: give a persona or a script too")
    names = {}
    for key, value in buyer.items():
        text = " ".join(value.split()) if isinstance(value, str) else ""
        if not text or len(text) > MAX_NAME_CHARS or not _NAME.fullmatch(text):
            raise BadRequest(f"buyer.{key} must be a person's name: letters, spaces, dots, hyphens or "
                             f"apostrophes, at most {MAX_NAME_CHARS} characters; got {value!r}")
        names[key] = text
    return names


_NAME = re.compile(r"[^\W\d_]+(?:[ .'\-][^\W\d_]*)*")


def _speed(body: dict[str, Any]) -> float | None:
    if body.get("speed") is None:
        return None
    try:
        speed = float(body["speed"])
    except (TypeError, ValueError):
        raise BadRequest("speed must be a number >= 0") from None
    if speed < 0:
        raise BadRequest("speed must be a number >= 0")
    return speed
