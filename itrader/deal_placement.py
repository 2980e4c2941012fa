"""Where a deal may run (DESIGN §9) — pure.

With account leases a deal runs only in the process that holds its accounts: its Gate account (named
when the deal was created) and its Bybit account once the allocator assigned one. The Deals supervisor
(actors/deals.py) reads the accounts from the deal's journal and starts or stops deals as leases move.
"""
from __future__ import annotations

from typing import Any, Iterable

from itrader.deal.facts import APPROVE, RETURN_PAYOUT, TAKE


def deal_accounts(journal: Iterable[Any]) -> tuple[str | None, str | None]:
    """The deal's Gate account (named when the deal was created) and its Bybit account (in the latest
    saved facts; None until the allocator assigned one)."""
    entries = list(journal)
    created = entries[0].data if entries and isinstance(entries[0].data, dict) else {}
    facts = next((e.data["facts"] for e in reversed(entries)
                  if isinstance(e.data, dict) and isinstance(e.data.get("facts"), dict)), {})
    return created.get("gate_account"), facts.get("account")


def may_run_here(gate: str | None, bybit: str | None, held: set[tuple[str, str]]) -> bool:
    """A deal runs where its Gate account, and its Bybit account when it has one, are leased."""
    return gate is not None and ("gate", gate) in held and (bybit is None or ("bybit", bybit) in held)


def touches(gate: str | None, bybit: str | None, platform: str, account: str) -> bool:
    """The deal uses this platform's account (so a lease change of it concerns the deal)."""
    return (platform, account) in (("gate", gate), ("bybit", bybit))


def step_account(step: str, gate: str | None, bybit: str | None) -> tuple[str, str | None]:
    """The account a money step runs on, whose lease fences its intent: take, approve and an operator's
    return of the payout on the Gate account, create ad and release on the Bybit one."""
    return ("gate", gate) if step in (TAKE, APPROVE, RETURN_PAYOUT) else ("bybit", bybit)
