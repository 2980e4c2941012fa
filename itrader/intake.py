"""Whether the desk takes new work now: the operator's pause and the drain before a stop.

Pure: the state and what it allows. `actors/intake.py` keeps the state (the pause in the store, so it
outlives a restart and holds for every daemon on the database; the drain in memory, for this process).

* **Paused** (`itrader pause`, `POST /api/v1/pause`): no new payout is offered, opened or taken, and each
  Gate account's working balance is 0 so Gate stops offering them; deals that took their payout before
  go on to the end — their ads, orders, approves and releases included.
* **Draining** (SIGTERM/SIGINT): as paused, and also no new ad: the daemon is about to stop, and an ad
  posted now would get a buyer nobody answers. The deal waits in the store; the next run posts it.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

MAX_REASON_CHARS = 200


@dataclass(frozen=True)
class IntakeState:
    paused: bool = False
    reason: str | None = None  # the operator's words, when paused
    since: str | None = None  # ISO time the pause began
    by: str | None = None  # who paused: "api", "cli", ...
    draining: bool = False  # this process is stopping

    @classmethod
    def from_stored(cls, value: dict[str, Any] | None) -> "IntakeState":
        if not isinstance(value, dict) or not value.get("paused"):
            return cls()
        return cls(paused=True, reason=value.get("reason") or None, since=value.get("since"), by=value.get("by"))

    def stored(self) -> dict[str, Any]:
        return {"paused": self.paused, "reason": self.reason, "since": self.since, "by": self.by}


def refusal(state: IntakeState) -> str | None:
    """Why no new payout may be taken now (None: it may)."""
    if state.draining:
        return "draining: the daemon is stopping"
    if state.paused:
        return "paused by the operator" + (f": {state.reason}" if state.reason else "")
    return None


def holds_new_ads(state: IntakeState) -> bool:
    """Only a stopping daemon holds back the ads of payouts it already took."""
    return state.draining


def gate_balance(state: IntakeState, target: Decimal | int | str) -> Decimal | int | str:
    """The working balance a Gate account should have: none while closed, so Gate offers nothing."""
    return 0 if refusal(state) else target


def view(state: IntakeState) -> dict[str, Any]:
    """For the status page: `state` is open, paused or draining."""
    name = "draining" if state.draining else "paused" if state.paused else "open"
    return {"state": name, "paused": state.paused, "reason": state.reason, "since": state.since, "by": state.by}


def clean_reason(text: Any) -> str | None:
    """An operator's reason as it may be stored and logged: text, one line, bounded; else ValueError.
    Empty or blank: no reason."""
    if not isinstance(text, str):
        raise ValueError("reason: must be text")
    if len(text) > MAX_REASON_CHARS or any(ord(c) < 32 or 127 <= ord(c) < 160 or c in "\u2028\u2029" for c in text):
        raise ValueError(f"reason: at most {MAX_REASON_CHARS} characters, no control characters or line breaks")
    return text.strip() or None
