"""Which events alert the operator, under which key, and how often (issue 13, item 3). Pure.

The notifier (actors/notifier.py) reads the daemon's live events (itrader.events) and asks `alert_for`
whether one needs a person; `Throttle` then decides whether it goes out now:

* **Deduplicated**: an alert whose key was sent within `dedup_window` seconds is not sent again (a deal
  in MANUAL_REVIEW alerts once; an account that keeps failing alerts once per window).
* **Rate-limited**: at most `per_minute` alerts in any 60 s; the ones over it are counted, and the next
  alert that goes out says how many were held back.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

MAX_TEXT = 1000  # Telegram allows 4096; an alert is a line or two
CRITICAL, WARNING, INFO = "critical", "warning", "info"
KINDS = ("manual_review", "dispute", "awaiting_operator", "root_escalation", "lease_lost", "gate_session",
         "account_down", "low_usdt", "started", "stopping")


@dataclass(frozen=True)
class Alert:
    kind: str  # one of KINDS
    key: str  # the same key within the dedup window is sent once
    text: str
    severity: str = WARNING

    def payload(self, ts: float) -> dict[str, Any]:
        """What the webhook carries (the signed body)."""
        return {"kind": self.kind, "key": self.key, "severity": self.severity, "text": self.text, "ts": ts}


def alert_for(event: dict[str, Any], low_usdt: Decimal = Decimal(0)) -> Alert | None:
    """The alert an event of the live feed calls for, or None."""
    kind = event.get("type")
    rule = _RULES.get(kind)
    if rule is None:
        return None
    alert = rule(event, low_usdt)
    if alert is None:
        return None
    text = alert.text if len(alert.text) <= MAX_TEXT else alert.text[:MAX_TEXT - 1] + "…"
    return Alert(alert.kind, alert.key, text, alert.severity)


def _deal(event: dict[str, Any], _low: Decimal) -> Alert | None:
    state, deal_id = event.get("state"), event.get("deal_id")
    reason = event.get("reason") or "no reason recorded"
    if state == "MANUAL_REVIEW":
        return Alert("manual_review", f"deal:{deal_id}:MANUAL_REVIEW",
                     f"Deal {deal_id} needs review (MANUAL_REVIEW): {reason}", CRITICAL)
    if state == "DISPUTE":
        return Alert("dispute", f"deal:{deal_id}:DISPUTE", f"Deal {deal_id}: the buyer opened an appeal (DISPUTE): "
                                                             f"{reason}", CRITICAL)
    return None


def _operator(event: dict[str, Any], _low: Decimal) -> Alert:
    deal_id, step = event.get("deal_id"), event.get("step")
    return Alert("awaiting_operator", f"deal:{deal_id}:await:{step}",
                 f"Deal {deal_id} waits for your confirmation of {step}: {event.get('why', '')} "
                 f"(itrader confirm {deal_id})")


def _escalation(event: dict[str, Any], _low: Decimal) -> Alert:
    return Alert("root_escalation", "root_escalation",
                 f"The root supervisor gave up ({event.get('reason', '?')}); the daemon exits 1 to be restarted",
                 CRITICAL)


def _lease_lost(event: dict[str, Any], _low: Decimal) -> Alert:
    account = f"{event.get('platform')}:{event.get('account')}"
    return Alert("lease_lost", f"lease:{account}",
                 f"Lease of {account} lost ({event.get('reason', '?')}); another daemon may drive it now")


def _unhealthy(event: dict[str, Any], _low: Decimal) -> Alert:
    account = event.get("account")
    return Alert("gate_session", f"session:{event.get('platform')}:{account}",
                 f"The {event.get('platform')} session of {account} expired and cannot be renewed: "
                 f"{event.get('reason', '?')}. Import fresh cookies or a password", CRITICAL)


def _down(event: dict[str, Any], _low: Decimal) -> Alert:
    account = f"{event.get('platform', 'bybit')}:{event.get('account')}"
    return Alert("account_down", f"down:{account}", f"Account {account} is down: {event.get('reason', '?')}",
                 CRITICAL)


def _usdt(event: dict[str, Any], low: Decimal) -> Alert | None:
    try:
        balance = Decimal(str(event.get("usdt")))
    except (InvalidOperation, ValueError):
        return None
    if low <= 0 or not balance.is_finite() or balance >= low:
        return None
    account = event.get("account")
    return Alert("low_usdt", f"usdt:{account}", f"Bybit {account}: only {balance} USDT left (alert below {low})")


def _started(event: dict[str, Any], _low: Decimal) -> Alert:
    return Alert("started", f"started:{event.get('seq')}",
                 f"iTrader {event.get('version', '')} started ({event.get('profile', '?')} profile, "
                 f"mode {event.get('mode', '?')})", INFO)


def _stopping(event: dict[str, Any], _low: Decimal) -> Alert:
    return Alert("stopping", f"stopping:{event.get('seq')}", f"iTrader is stopping: {event.get('reason', '?')}",
                 INFO)


_RULES = {
    "deal": _deal, "operator": _operator, "root_escalation": _escalation, "lease_lost": _lease_lost,
    "account_unhealthy": _unhealthy, "account_unusable": _down, "account_down": _down,
    "usdt_balance": _usdt,
    "ads_withdrawn": _down,  # the allocator moved an unhealthy or silent Bybit account's ads away
    "daemon_started": _started, "daemon_stopping": _stopping,
}


class Throttle:
    """Dedup and rate limit over the caller's clock (`now`, seconds); no clock of its own."""

    def __init__(self, dedup_window: float, per_minute: int) -> None:
        self.dedup_window = dedup_window
        self.per_minute = per_minute
        self._sent_at: dict[str, float] = {}
        self._recent: deque[float] = deque()
        self.held_back = 0  # over the rate limit since the last alert that went out

    def admit(self, alert: Alert, now: float) -> str | None:
        """None: send it (its text may gain a note of held-back alerts: see `note`); else why not."""
        last = self._sent_at.get(alert.key)
        if last is not None and now - last < self.dedup_window:
            return "duplicate"
        while self._recent and now - self._recent[0] >= 60.0:
            self._recent.popleft()
        if len(self._recent) >= self.per_minute:
            self.held_back += 1
            return "rate_limited"
        self._recent.append(now)
        self._sent_at[alert.key] = now
        for key in [k for k, t in self._sent_at.items() if now - t >= self.dedup_window]:
            del self._sent_at[key]  # bounded: only keys inside the window are kept
        return None

    def note(self, alert: Alert) -> Alert:
        """The admitted alert, telling of the ones held back before it (once)."""
        if not self.held_back:
            return alert
        held, self.held_back = self.held_back, 0
        return Alert(alert.kind, alert.key, f"{alert.text}\n({held} more alert(s) held back by the rate limit)",
                     alert.severity)
