"""The web layer's view of the running system (itrader.web.StatusSource).

Request greenlets call these; they read the tree the root supervisor publishes, ask actors
with timeouts and read the database (the record of every deal), never block an actor's mailbox.
"""
from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any

import pykka

from actors.base import Crash
from itrader import __version__, day_totals
from itrader.deal.journal import ORDER_STEP, PAYOUT_STEP
from itrader.intake import view as intake_view
from itrader.store import TERMINAL_STATES, Store
from itrader.web import Conflict, NotFound

ASK_TIMEOUT = 2.0


class SystemStatus:
    def __init__(self, system) -> None:
        self._system = system
        self._store = Store(system.db)

    def overview(self) -> dict[str, Any]:
        system = self._system
        info = {
            "version": __version__,
            "profile": system.profile,
            "mode": system.config.daemon.mode,
            "started_at": system.started_at,
            "uptime_seconds": round(time.time() - system.started_at, 1),
        }
        intake = getattr(system, "intake", None)
        if intake is not None:
            info["intake"] = intake_view(intake.known())  # never waits for the store under load
            info["paused"] = info["intake"]["state"] != "open"
        info["today"] = self.today()
        if system.config.is_sandbox:
            info["notice"] = "SANDBOX: trading against the in-process simulated world; no real money moves"
            if system.world is not None:
                info["sandbox"] = dict(system.world.urls)
        return info

    def today(self) -> dict[str, Any]:
        """Deals completed since 00:00 UTC: count, RUB, USDT sold, spread earned (itrader.day_totals)."""
        since = day_totals.day_start(datetime.now(timezone.utc))
        ended = self._store.deals.completed_since(since, notes=(PAYOUT_STEP, ORDER_STEP))
        figures = (day_totals.completed_deal(deal.amount_rub, deal.price, deal.order_id, notes)
                   for deal, _completed_at, notes in ended)
        return day_totals.totals_view(day_totals.day_totals(figures), since)

    def status(self) -> dict[str, Any]:
        root = self._system.root
        if root is None:
            return {"id": "root", "kind": "Supervisor", "state": "starting", "restarts": 0,
                    "last_failure": None, "children": []}
        published = getattr(self._system, "tree_status", None)  # the root's snapshot (actors/tree.py)
        if published is not None:
            return published
        try:
            return root.proxy().status().get(timeout=ASK_TIMEOUT)
        except (pykka.ActorDeadError, pykka.Timeout) as exc:
            return {"id": "root", "kind": "Supervisor", "state": "unresponsive", "restarts": 0,
                    "last_failure": type(exc).__name__, "children": []}

    def deals(self, include_finished: bool) -> list[dict[str, Any]]:
        if include_finished:
            rows = self._store.deals.list_deals(limit=1000)
        else:
            rows = self._store.deals.non_terminal_deals(self._terminal())
        names = self._account_names()
        return [deal_view(row, names) for row in rows]

    def _account_names(self) -> dict[int, str]:
        return {account.id: account.name for account in self._store.accounts.list()}

    def deal(self, deal_id: str) -> dict[str, Any]:
        from itrader.store import DealNotFound

        try:
            row = self._store.deals.get(int(deal_id))
        except (ValueError, DealNotFound):
            raise NotFound(f"no deal {deal_id}") from None
        view = deal_view(row, self._account_names())
        view["journal"] = [journal_view(e) for e in self._store.deals.journal(row.id)]
        return view

    def accounts(self) -> list[dict[str, Any]]:
        directory = getattr(self._system, "accounts_view", None)
        if directory is not None:
            return directory()
        return [{"kind": a.kind, "name": a.name, "enabled": a.enabled} for a in self._store.accounts.list()]

    def confirm(self, deal_id: str) -> dict[str, Any]:
        self.deal(deal_id)  # 404 for an unknown deal
        confirm = getattr(self._system, "confirm_deal", None)
        if confirm is None:
            raise Conflict("this daemon runs no deal pipeline")
        return confirm(int(deal_id))

    def review(self) -> list[dict[str, Any]]:
        from itrader.web import REVIEW_STATES

        names = self._account_names()
        return [deal_view(row, names) for row in self._store.deals.list_deals(states=REVIEW_STATES, limit=1000)]

    def resolve(self, deal_id: str, body: Any) -> dict[str, Any]:
        from itrader.deal.resolve import parse_resolution

        self.deal(deal_id)  # 404 for an unknown deal
        resolution = parse_resolution(body, operator="api")  # a bad field: 400 naming it
        resolve = getattr(self._system, "resolve_deal", None)
        if resolve is None:
            raise Conflict("this daemon runs no deal pipeline")
        return resolve(int(deal_id), resolution)

    def disable_account(self, name: str) -> dict[str, Any]:
        return self._system.disable_account(name)

    def pause(self, reason: str | None, by: str = "api") -> dict[str, Any]:
        state = intake_view(self._system.intake.pause(reason, by=by))
        return {**state, "message": "paused: no new payout is taken; live deals go on"}

    def resume(self, by: str = "api") -> dict[str, Any]:
        state = intake_view(self._system.intake.resume(by=by))
        return {**state, "message": "resumed: taking new payouts" if state["state"] == "open"
                else "resumed, but the daemon is stopping"}

    def kill_actor(self, actor_id: str) -> dict[str, Any]:
        ref = self._find(self._system.root, actor_id.strip("/").split("/"))
        if ref is None:
            raise NotFound(f"no running actor {actor_id}")
        ref.tell(Crash("killed through the API"))
        return {"killed": actor_id}

    def events(self, after: int, timeout: float) -> list[dict[str, Any]]:
        return self._system.events.since(after, timeout)

    def ready(self) -> dict[str, Any]:
        from itrader.metrics import READY
        from itrader.readiness import readiness

        ready, reasons = readiness(self.status(), self.accounts())
        READY.set(1 if ready else 0)
        return {"ready": ready, "reasons": reasons}

    def _find(self, supervisor, path: list[str]):
        if supervisor is None or not path:
            return None
        try:
            children = supervisor.proxy().which_children().get(timeout=ASK_TIMEOUT)
        except (pykka.ActorDeadError, pykka.Timeout):
            return None
        for child in children:
            if child.id == path[0] and child.ref is not None:
                return child.ref if len(path) == 1 else self._find(child.ref, path[1:])
        return None

    def _terminal(self):
        return getattr(self._system, "terminal_states", TERMINAL_STATES)


def deal_view(row, account_names: dict[int, str] | None = None) -> dict[str, Any]:
    """A deal for the API; the accounts it ran on by name beside their ids."""
    data = {}
    for name in ("id", "payout_id", "state", "gate_account_id", "bybit_account_id", "amount_rub", "price",
                 "quantity", "method", "bank", "wallet", "ad_id", "order_id", "reason", "manual", "created_at", "updated_at"):
        if hasattr(row, name):
            value = getattr(row, name)
            data[name] = value if value is None or isinstance(value, (int, bool)) else str(value)
    data["amount"] = data.get("amount_rub")
    names = account_names or {}
    for kind in ("gate", "bybit"):
        account_id = getattr(row, f"{kind}_account_id", None)
        data[f"{kind}_account"] = names.get(account_id) if account_id is not None else None
    return data


def journal_view(entry) -> dict[str, Any]:
    return {"seq": entry.seq, "ts": str(entry.ts), "kind": str(getattr(entry.kind, "value", entry.kind)),
            "step": entry.step, "data": entry.data}
