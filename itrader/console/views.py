"""What the console's pages show, computed from the web layer's data (pure: no I/O, no Bottle).

Every value here goes into a template that escapes it; nothing is pre-rendered HTML.
"""
from __future__ import annotations

from datetime import datetime, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Callable, Iterable

from itrader.deal.journal import BUYER_TEXTS_STEP, CHAT_APPLIED_STEP, CHAT_SEEN_STEP, OUR_TEXTS_STEP, SENT_TEXTS_STEP
from itrader.deal.resolve import APPROVE_RELEASE, CANCEL, REASON_KINDS, RECHECK_RECEIPT, RESOLVED_OUTSIDE, BadField
from itrader.intake import clean_reason

REVIEW_STATES = ("MANUAL_REVIEW", "DISPUTE")
CENT = Decimal("0.01")
CONSOLE_OPERATOR = "console"  # who the journal names for a resolution made here
RESOLVE_ACTIONS = ((APPROVE_RELEASE, "Approve and release (retype the amount)"), (CANCEL, "Cancel"),
                   (RESOLVED_OUTSIDE, "Resolved outside (read both platforms back)"),
                   (RECHECK_RECEIPT, "Re-check the receipt"))
MONEY_STEPS = ("take", "create_ad", "approve", "release", "return_payout")  # the last: an operator's cancel
# Watermarks and the reconciler's copy of the chat, not events an operator follows.
JOURNAL_NOISE = {CHAT_SEEN_STEP, CHAT_APPLIED_STEP, SENT_TEXTS_STEP}
RECEIPT_FILE_STEP = "receipt_file"

# What a live deal waits for, by state (a manual-mode step awaiting the operator overrides it).
_WAITS_FOR = {
    "NEW": "taking the payout on Gate",
    "ACCEPTED": "an ad on Bybit",
    "WAITING_ACCOUNT": "a free Bybit account",
    "AD_ONLINE": "a buyer",
    "CHATTING": "the buyer's answers",
    "REQUISITES_SENT": "the buyer's payment",
    "PAID": "the receipt",
    "RECEIPT_OK": "approve on Gate",
    "APPROVED": "release on Bybit",
}

# The receipt checks of itrader.receipts.verify, each with the reason codes that fail it.
RECEIPT_CHECKS = (
    ("status", "the bank says the transfer succeeded", ("status_not_success",)),
    ("amount", "the amount equals the payout's", ("amount_mismatch",)),
    ("recipient", "the recipient is the payout's phone or card", ("recipient_mismatch", "method_mismatch")),
    ("bank", "the recipient's bank is the payout's", ("bank_mismatch",)),
    ("time", "paid after our requisites, not in the future", ("too_early", "in_future")),
    ("reuse", "the receipt was never used before", ("duplicate_receipt",)),
    ("payer", "the payer is the order's buyer", ("payer_mismatch", "payer_unknown")),
)


def last_facts(journal: Iterable[dict[str, Any]]) -> dict[str, Any]:
    facts: dict[str, Any] = {}
    for entry in journal:
        data = entry.get("data")
        if isinstance(data, dict) and isinstance(data.get("facts"), dict):
            facts = data["facts"]
    return facts


def waits_for(state: str, awaiting: str | None) -> str:
    if awaiting:
        return f"the operator to confirm {awaiting}"
    if state in REVIEW_STATES or state == "ERROR":
        return "the operator"
    return _WAITS_FOR.get(state, "nothing")


def age(created_at: str | None, now: datetime) -> str:
    started = _time(created_at)
    if started is None:
        return "?"
    seconds = max(0, int((now - started).total_seconds()))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


def today_shown(today: dict[str, Any] | None) -> dict[str, Any]:
    """The day's totals (`today` of /api/v1/status, itrader.day_totals) as the overview shows them."""
    today = today or {}
    unknown = int(today.get("earned_unknown") or 0)
    return {"completed": int(today.get("completed") or 0), "since": str(today.get("since") or "")[:16].replace("T", " "),
            "rub": f"{_decimal(today.get('rub')):,.2f}".replace(",", " "),
            "usdt": _cents(today.get("usdt_sold")), "earned": _cents(today.get("earned_usdt")),
            "unknown": f"{unknown} deal(s) without Gate's credit figure not counted" if unknown else ""}


def _cents(value: Any) -> str:
    return str(_decimal(value).quantize(CENT, rounding=ROUND_HALF_UP))


def account_rows(accounts: Iterable[dict[str, Any]]) -> list[dict[str, str]]:
    rows = []
    for account in accounts:
        lease = account.get("lease") or {}
        health = _health(account)
        known = {k: v for k, v in account.items()
                 if k not in {"platform", "kind", "name", "lease", "deals_assigned", "enabled", "running", "healthy",
                              "balance", "usdt", "budget"}
                 and isinstance(v, (str, int, float, bool)) and v not in ("", None)}
        rows.append({"kind": str(account.get("kind") or account.get("platform") or "?"),
                     "name": str(account.get("name", "?")), "health": health,
                     "lease": str(lease.get("state", "—")),
                     "ads": str(account.get("live_ads", "—")), **account_figures(account),
                     "other": ", ".join(f"{k}: {_shown(v)}" for k, v in sorted(known.items()) if k != "live_ads")})
    return rows


def account_figures(account: dict[str, Any]) -> dict[str, str]:
    """Gate balance, Bybit USDT available and budget in use, each with the time it was learned (UTC)."""
    balance, usdt, budget = (account.get(k) if isinstance(account.get(k), dict) else None
                             for k in ("balance", "usdt", "budget"))
    shown = {"balance": "", "balance_note": "", "usdt": "", "usdt_note": "", "budget": "", "budget_note": ""}
    if balance:
        shown["balance"] = f"{_decimal(balance.get('rub')):,.2f}".replace(",", " ") + " RUB"
        shown["balance_note"] = f"{balance.get('source', '?')} {_clock(balance.get('at'))}"
    if usdt:
        shown["usdt"] = _cents(usdt.get("available"))
        shown["usdt_note"] = f"read {_clock(usdt.get('at'))}"
    if budget:
        shown["budget"] = f"read {_percent(budget.get('read'))}, write {_percent(budget.get('write'))}"
        shown["budget_note"] = f"last {budget.get('window_seconds', '?')} s, at {_clock(budget.get('at'))}"
    return shown


def _percent(share: Any) -> str:
    try:
        return f"{float(share) * 100:.0f} %"
    except (TypeError, ValueError):
        return "?"


def _clock(at: Any) -> str:
    moment = _time(at)
    return moment.strftime("%H:%M:%S") if moment else "?"


def _shown(value: Any) -> str:
    return ("yes" if value else "no") if isinstance(value, bool) else str(value)


def _health(account: dict[str, Any]) -> str:
    if not account.get("enabled", True):
        return "disabled"
    if account.get("running") is False:
        return "down"
    if account.get("healthy") is False or account.get("connected") is False or account.get("problem"):
        return "unhealthy"
    return "ok"


def timeline(journal: Iterable[dict[str, Any]]) -> list[dict[str, str]]:
    rows = []
    for entry in journal:
        step = str(entry.get("step", ""))
        if step in JOURNAL_NOISE:
            continue
        data = entry.get("data") if isinstance(entry.get("data"), dict) else {}
        detail = data.get("reason") or data.get("state") or ""
        facts = data.get("facts")
        state = facts.get("state", "") if isinstance(facts, dict) else ""
        rows.append({"seq": str(entry.get("seq", "")), "ts": str(entry.get("ts", ""))[:19], "kind": str(entry.get("kind", "")),
                     "step": step, "state": str(state), "detail": str(detail)})
    return rows


def chat(journal: Iterable[dict[str, Any]]) -> list[dict[str, str]]:
    """The transcript as the journal keeps it: the buyer's texts as delivered and ours as sent off."""
    lines = []
    for entry in journal:
        data = entry.get("data") if isinstance(entry.get("data"), dict) else {}
        who = {BUYER_TEXTS_STEP: "buyer", OUR_TEXTS_STEP: "us"}.get(str(entry.get("step")))
        if who is None:
            continue
        for text in data.get("texts") or ():
            lines.append({"who": who, "ts": str(entry.get("ts", ""))[:19], "text": str(text)})
    return lines


def money_steps(journal: Iterable[dict[str, Any]]) -> list[dict[str, str]]:
    """Each money step's intent and outcome, in journal order."""
    steps: dict[str, dict[str, str]] = {}
    for entry in journal:
        step, kind = str(entry.get("step")), str(entry.get("kind"))
        if step not in MONEY_STEPS or kind not in ("intent", "outcome"):
            continue
        row = steps.setdefault(step, {"step": step, "called": "", "outcome": "pending"})
        ts = str(entry.get("ts", ""))[:19]
        if kind == "intent":
            row["called"] = ts
        else:
            data = entry.get("data") if isinstance(entry.get("data"), dict) else {}
            row["outcome"] = f"{ts} → {data.get('state', '?')}"
    return [steps[s] for s in MONEY_STEPS if s in steps]


def receipt_file(journal: Iterable[dict[str, Any]]) -> str | None:
    path = None
    for entry in journal:
        if entry.get("step") == RECEIPT_FILE_STEP and isinstance(entry.get("data"), dict):
            path = entry["data"].get("path") or path
    return path


def receipt_checks(journal: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Each check of the receipt and its verdict, from the deal's ReceiptChecked entries: a refusal names
    the failed codes in its reason; an acceptance moves the deal to RECEIPT_OK."""
    checked = [e.get("data") or {} for e in journal if e.get("step") == "ReceiptChecked"]
    if not checked:
        return []
    reason = " ".join(f"{data.get('reason') or ''} {(data.get('facts') or {}).get('reason') or ''}" for data in checked)
    accepted = any((data.get("facts") or {}).get("state") == "RECEIPT_OK" for data in checked)
    rows = []
    for name, what, codes in RECEIPT_CHECKS:
        failed = [code for code in codes if code in reason]
        verdict = "fail" if failed else ("pass" if accepted or "receipt_refused" in reason else "unknown")
        rows.append({"check": name, "what": what, "verdict": verdict, "codes": ", ".join(failed)})
    return rows


def payout_terms(journal: Iterable[dict[str, Any]], deal: dict[str, Any]) -> list[tuple[str, str]]:
    raw: dict[str, Any] = {}
    for entry in journal:
        if entry.get("step") == "payout" and isinstance(entry.get("data"), dict):
            raw = entry["data"].get("raw") or raw
    bank = raw.get("bank") if isinstance(raw.get("bank"), dict) else {}
    return [("payout", str(deal.get("payout_id") or "")), ("amount, RUB", str(deal.get("amount_rub") or "")),
            ("method", str(deal.get("method") or "")), ("recipient", str(deal.get("wallet") or raw.get("wallet") or "")),
            ("bank", str(bank.get("label") or deal.get("bank") or "")),
            ("created", str(raw.get("created_at") or "")), ("buyer", str(deal.get("buyer_name") or ""))]


def actor_rows(tree: dict[str, Any], depth: int = 0) -> list[dict[str, str]]:
    rows = [{"indent": str(depth), "id": str(tree.get("id", "")), "kind": str(tree.get("kind", "")),
             "state": str(tree.get("state", "")), "restarts": str(tree.get("restarts", 0)),
             "last_failure": str(tree.get("last_failure") or "")}]
    for child in tree.get("children") or ():
        rows.extend(actor_rows(child, depth + 1))
    return rows


def _time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _decimal(value: Any) -> Decimal:
    try:
        return Decimal(str(value)) if value not in (None, "") else Decimal(0)
    except InvalidOperation:
        return Decimal(0)


def resolution_request(field: Callable[[str], str | None]) -> dict[str, Any]:
    """The resolve form as the API's JSON body (itrader.deal.resolve.parse_resolution judges it).
    Whatever the operator typed is passed on, so a stray amount is refused by name, never dropped."""
    body: dict[str, Any] = {"action": field("action") or "", "reason": field("reason") or "",
                            "reason_kind": field("reason_kind") or "", "operator": CONSOLE_OPERATOR}
    amount = (field("amount") or "").strip()
    if amount:
        body["amount"] = amount
    if field("return_payout"):
        body["return_payout"] = True
    return body


def outcome_notice(answer: dict[str, Any]) -> dict[str, Any]:
    """What the page says after an accepted resolution."""
    text = str(answer.get("message") or answer.get("outcome") or "")
    state = answer.get("state")
    return {"ok": True, "text": f"done: {text}" + (f" (deal is {state})" if state else "")}


def refusal_notice(status: int, error: Exception) -> dict[str, Any]:
    return {"ok": False, "text": f"refused ({status}): {error}"}


def pause_reason(text: str | None) -> str | None:
    """The switch's optional reason, cleaned as the API cleans it (a bad one: BadField, refused as 400)."""
    try:
        return clean_reason(text or "")
    except ValueError as exc:
        raise BadField("reason", str(exc).removeprefix("reason: ")) from None
