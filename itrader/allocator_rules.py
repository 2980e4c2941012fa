"""The allocator's pure decisions (DESIGN §3 Allocator, order-flow.md §4–§5): the reservations it
keeps between an assignment and the ad it becomes, the market pages it prices from and when to ask for
one again (and of which account), each account's load as itrader.allocation sees it, and which deals
leave an account that is down. The Allocator actor (actors/allocator.py) wires them; no I/O here.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Callable, Iterable

from itrader import allocation

MARKET_RESEND_AFTER = 10.0  # a market page asked this long ago and not answered is asked of another account
MARKET_ASK_INTERVAL = 5.0  # a page is asked again (after a failure) no sooner than this after the last ask
TWIN_PREFIX = "waiting_for_twin"


@dataclass
class Assignment:
    deal_id: int
    account: str
    method: str
    since: float
    ad_id: str | None = None  # None until the account's health shows the ad
    taken: bool = False  # an order is open on the ad: the deal stays on this account
    amount: Decimal | None = None  # what the deal pays, and to whom: a twin of it waits
    wallet: str | None = None


@dataclass(frozen=True)
class CachedPage:
    prices: tuple[Decimal, ...]
    stamped_at: float  # the allocator's clock when the page arrived


@dataclass
class MarketAsk:
    """The latest FetchMarket of one page."""

    account: str
    asked_at: float
    answered: bool = False
    error: str | None = None  # why the last answer could not be used


def page_is_fresh(cached: CachedPage | None, now: float, max_age: float) -> bool:
    """May this cached market page still price a new ad?"""
    return cached is not None and now - cached.stamped_at <= max_age


def market_ask_due(ask: MarketAsk | None, now: float, resend_after: float = MARKET_RESEND_AFTER,
                   ask_interval: float = MARKET_ASK_INTERVAL) -> bool:
    """Should the page be asked for now: never asked, its request went unanswered too long, or the last
    answer (a failure, or a page gone stale) is at least `ask_interval` old."""
    if ask is None:
        return True
    if not ask.answered:
        return now - ask.asked_at > resend_after
    return now - ask.asked_at >= ask_interval


def market_reader(healthy: list[str], avoid: str | None, turn: int) -> str | None:
    """The account to read a market page, round robin over the healthy ones (the read budgets share the
    load); not `avoid` — the one that left the last request unanswered — while another can."""
    candidates = [name for name in healthy if name != avoid] or healthy
    return candidates[turn % len(candidates)] if candidates else None


def account_loads(names: Iterable[str], health: dict[str, Any], usable: Callable[[str], bool],
                  assignments: Iterable[Assignment], default_max_ads: int) -> list[allocation.AccountLoad]:
    """The allocation view of each account: its reported ads plus its unbound reservations.
    `health` holds each account's latest AccountHealth report (ads, open_deals, healthy, max_ads)."""
    pending: dict[str, list[Assignment]] = {}
    for assignment in assignments:
        if assignment.ad_id is None:
            pending.setdefault(assignment.account, []).append(assignment)
    loads = []
    for name in names:
        report = health.get(name)
        reserved = pending.get(name, [])
        ads = tuple(allocation.LiveAd(ad_id, method, taken) for ad_id, method, taken in (report.ads if report else ()))
        ads += tuple(allocation.LiveAd(f"reserved:{a.deal_id}", a.method) for a in reserved)
        loads.append(allocation.AccountLoad(
            name=name, healthy=report is not None and report.healthy and usable(name), ads=ads,
            open_deals=(report.open_deals if report else 0) + len(reserved),
            max_ads=report.max_ads if report else default_max_ads))
    return loads


def bind_new_ads(account: str, ads: Iterable[tuple[str, str, bool]], known_ads: set[str],
                 assignments: Iterable[Assignment]) -> None:
    """Bind each never-seen un-taken ad to the oldest unbound reservation of its method on this account;
    refresh `taken` of bound ads and unbind nothing (a vanished ad is handled by the caller)."""
    listed = {ad_id: (method, taken) for ad_id, method, taken in ads}
    mine = [a for a in assignments if a.account == account]
    for assignment in mine:
        if assignment.ad_id in listed:
            assignment.taken = listed[assignment.ad_id][1]
    for ad_id, (method, taken) in listed.items():
        if ad_id in known_ads or taken:
            continue
        waiting = sorted((a for a in mine if a.ad_id is None and a.method == method), key=lambda a: a.since)
        if waiting:
            waiting[0].ad_id = ad_id


def no_slot_reason(base: str, blocked: dict[str, str]) -> str:
    """Why no account has room, naming the accounts Bybit refused an ad (their health's `blocked`)."""
    named = [f"{name}: {why}" for name, why in sorted(blocked.items()) if why]
    return f"{base} ({'; '.join(named)})" if named else base


def twin_reason(blocker: int) -> str:
    return f"{TWIN_PREFIX}: deal {blocker} is live with the same amount and recipient"


def withdrawals(account: str, assignments: Iterable[Assignment]) -> list[Assignment]:
    """The deals that must leave a down account: every ad of it not taken by an order."""
    return [a for a in assignments if a.account == account and not a.taken]


def reported_recently(reported_at: float | None, now: float, stale_after: float) -> bool:
    """Has the account reported its health lately enough to be given ads? Never reported: no."""
    return reported_at is not None and now - reported_at <= stale_after


def expired_reservations(assignments: Iterable[Assignment], now: float, ttl: float) -> list[int]:
    """The deals whose reservation never became an ad within `ttl` (the ad failed or was never asked for)."""
    return [a.deal_id for a in assignments if a.ad_id is None and now - a.since > ttl]


def rebalance_reason(unhealthy_since: float | None, reported_at: float | None, now: float, grace: float,
                     stale_after: float) -> str | None:
    """Why an account's un-taken ads must move: unhealthy longer than `grace`, or silent longer than
    `stale_after`; None while it may keep them."""
    if unhealthy_since is not None and now - unhealthy_since > grace:
        return "unhealthy"
    if reported_at is not None and now - reported_at > stale_after:
        return "silent"
    return None
