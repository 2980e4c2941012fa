"""The day's totals of completed deals, and what each deal earned (pure: no clock, no I/O).

"Today" is the daemon's UTC day: from 00:00 UTC (`day_start`), whatever the host's time zone.
A deal counts on the day its transition to COMPLETED was journaled.

What a completed deal earned, in USDT (`spread_earned`):

    Gate's credit for the payout  −  the USDT released to the buyer on Bybit

* Gate's credit is the payout's `total.trader["000001"]` as Gate showed it after the take (journaled with
  the payout): the payout's RUB at Gate's course, reward included (reference/gate-api.md, `total`).
* The USDT released is the Bybit order's quantity as Bybit listed it (journaled when the order opened);
  for a deal journaled before that was kept, the order's RUB over the ad's price (the ad sells exactly
  the payout's RUB, so the buyer's order is amount / price USDT).

The ad's own quantity is not what was sold: it carries the spare `pricing.extra_usdt`, which stays ours.
A deal whose payout showed no credit figure earns "unknown" and is counted apart, never as 0.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timezone
from decimal import ROUND_DOWN, Decimal
from typing import Any, Iterable, Mapping

from itrader.gate.models import Amount, to_decimal

USDT_STEP = Decimal("0.0001")  # Bybit lists order quantities to 4 decimal places


@dataclass(frozen=True)
class CompletedDeal:
    amount_rub: Decimal | None  # what the buyer paid the payout's recipient
    price: Decimal | None  # the ad's price, RUB per USDT
    order_quantity: Decimal | None = None  # USDT of the released order, as Bybit listed it
    gate_credit_usdt: Decimal | None = None  # Gate's total for the payout, in USDT


@dataclass(frozen=True)
class DayTotals:
    completed: int
    rub: Decimal  # RUB paid out to the payouts' recipients
    usdt_sold: Decimal  # USDT released to buyers
    earned_usdt: Decimal  # spread earned by the deals whose credit is known
    unknown_earnings: int  # completed deals with no Gate credit figure (not in earned_usdt)


def day_start(now: datetime) -> datetime:
    """00:00 UTC of `now`'s UTC day (`now` must be timezone-aware)."""
    if now.tzinfo is None:
        raise ValueError("the time must be timezone-aware")
    return datetime.combine(now.astimezone(timezone.utc).date(), time(0), tzinfo=timezone.utc)


def usdt_sold(deal: CompletedDeal) -> Decimal | None:
    if deal.order_quantity is not None:
        return deal.order_quantity
    if deal.amount_rub is None or not deal.price:
        return None
    return (deal.amount_rub / deal.price).quantize(USDT_STEP, rounding=ROUND_DOWN)


def spread_earned(deal: CompletedDeal) -> Decimal | None:
    """Gate's credit less the USDT released; None when either is unknown."""
    sold = usdt_sold(deal)
    if sold is None or deal.gate_credit_usdt is None:
        return None
    return deal.gate_credit_usdt - sold


def day_totals(deals: Iterable[CompletedDeal]) -> DayTotals:
    count, unknown = 0, 0
    rub, sold, earned = Decimal(0), Decimal(0), Decimal(0)
    for deal in deals:
        count += 1
        rub += deal.amount_rub or 0
        sold += usdt_sold(deal) or 0
        spread = spread_earned(deal)
        if spread is None:
            unknown += 1
        else:
            earned += spread
    return DayTotals(count, rub, sold, earned, unknown)


def completed_deal(amount_rub: Any, price: Any, order_id: Any, notes: Mapping[str, Any]) -> CompletedDeal:
    """A completed deal's figures from its row and its journal notes: `notes["payout"]` (the payout's raw
    JSON under "raw") and `notes["order"]` (the order's terms; used only if it is the deal's order)."""
    payout = notes.get("payout") if isinstance(notes.get("payout"), Mapping) else {}
    raw = payout.get("raw") if isinstance(payout.get("raw"), Mapping) else {}
    order = notes.get("order") if isinstance(notes.get("order"), Mapping) else {}
    quantity = to_decimal(order.get("quantity")) if str(order.get("order_id")) == str(order_id) else None
    if quantity is not None and quantity <= 0:
        quantity = None  # a list without the quantity reads as 0: not a sale of nothing
    return CompletedDeal(amount_rub=to_decimal(amount_rub), price=to_decimal(price), order_quantity=quantity,
                         gate_credit_usdt=Amount.parse(raw.get("total")).usdt)



def totals_view(totals: DayTotals, since: datetime) -> dict[str, Any]:
    """The totals for the API (`today` in /api/v1/status): exact decimals as text."""
    return {"since": since.isoformat(), "completed": totals.completed,
            "rub": str(totals.rub.quantize(Decimal("0.01"))), "usdt_sold": str(totals.usdt_sold.quantize(USDT_STEP)),
            "earned_usdt": str(totals.earned_usdt.quantize(USDT_STEP)), "earned_unknown": totals.unknown_earnings}
