"""Price and quantity of a sell ad — pure rules (order-flow.md §5, DESIGN §4).

* Fixed mode: a configured RUB/USDT rate plus a markup in percent.
* Market mode (the Spec's rule, §5.2): read one page of the public SBP/Tinkoff market
  list — which page depends on the amount and on Moscow night time — and take the price
  of the second-to-last item on it, plus the markup. The official list (/v5/p2p/item/online)
  has no payment filter and no documented order, so that page is cut here (`spec_page`) from
  the whole list: only ads taking SBP or Tinkoff, cheapest first. And no price one stranger's
  ad dictates is taken blindly: the rate must stay inside a sanity band (`band_violation`)
  around `fixed_rate` and around the last rate that passed.

The ad sells exactly the payout's RUB amount: min = max = amount; the quantity is
amount / price plus a few spare USDT, rounded *up* so the buyer's amount is always covered.
No clock is read here: the caller passes the time.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Iterable

MOSCOW = timezone(timedelta(hours=3), "MSK")  # Moscow has no DST since 2014
CENT = Decimal("0.01")
LARGE_AMOUNT = Decimal("50000")  # above this the market rule reads a deeper page
MARKET_PAGE_SIZE = 10
MARKET_PAYMENT_TYPES = ("382", "75")  # SBP, Tinkoff
DEFAULT_EXTRA_USDT = Decimal("5")

# (large amount?, night?) -> page of the public market list (order-flow.md §5.2)
_MARKET_PAGES = {
    (False, False): 4,
    (False, True): 2,
    (True, False): 5,
    (True, True): 3,
}


class PricingError(ValueError):
    """The inputs do not allow a safe price (bad amount, bad rate, too few market items)."""


@dataclass(frozen=True)
class AdTerms:
    """What goes into the ad: fixed price, USDT quantity and the single RUB amount."""

    price: Decimal
    quantity: Decimal
    min_amount: Decimal
    max_amount: Decimal


def to_decimal(value: Any, what: str) -> Decimal:
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError) as exc:
        raise PricingError(f"{what} is not a number: {value!r}") from exc
    if not number.is_finite():
        raise PricingError(f"{what} is not a finite number: {value!r}")
    return number


def round_price(price: Decimal) -> Decimal:
    return price.quantize(CENT, rounding=ROUND_HALF_UP)


def with_markup(rate: Any, markup_percent: Any = 0) -> Decimal:
    """rate × (1 + markup/100), rounded to kopecks. The rate must be positive."""
    base = to_decimal(rate, "rate")
    markup = to_decimal(markup_percent, "markup_percent")
    price = round_price(base * (1 + markup / 100))
    if base <= 0 or price <= 0:
        raise PricingError(f"price must be positive, got {price} from rate {base} and markup {markup}%")
    return price


def is_moscow_night(now: datetime) -> bool:
    """01:00–06:59 Moscow time. `now` must be timezone-aware."""
    if now.tzinfo is None:
        raise PricingError("the time must be timezone-aware")
    return 1 <= now.astimezone(MOSCOW).hour <= 6


def market_page(amount: Any, now: datetime) -> int:
    """Page of the market list to read for this amount at this time (§5.2 table)."""
    rub = to_decimal(amount, "amount")
    return _MARKET_PAGES[(rub > LARGE_AMOUNT, is_moscow_night(now))]


def item_price(item: Any) -> Decimal:
    if isinstance(item, dict):
        return to_decimal(item.get("price"), "market item price")
    if hasattr(item, "price"):
        return to_decimal(item.price, "market item price")
    return to_decimal(item, "market item price")


def market_rate(items: Iterable[Any]) -> Decimal:
    """Price of the second-to-last item of the page; items may be dicts, objects or numbers."""
    page = list(items)
    if len(page) < 2:
        raise PricingError(f"market page has {len(page)} item(s); at least 2 are needed")
    return item_price(page[-2])


def item_payment_types(item: Any) -> frozenset[str]:
    """The payment type ids an ad of the public list takes (`payments`, strings or numbers)."""
    raw = item.get("payments") if isinstance(item, dict) else getattr(item, "payment_types", ())
    return frozenset(str(p).strip() for p in (raw or ()))


def spec_page(items: Iterable[Any], page: int, size: int = MARKET_PAGE_SIZE,
              payment_types: Iterable[str] = MARKET_PAYMENT_TYPES) -> tuple[Decimal, ...]:
    """Page `page` (from 1) of the market list the Spec reads — ads taking one of `payment_types`,
    cheapest first — cut from the official list, which is neither filtered nor sorted."""
    if page < 1 or size < 1:
        raise PricingError(f"page and size must be at least 1, got {page} and {size}")
    wanted = frozenset(payment_types)
    prices = sorted(item_price(item) for item in items if item_payment_types(item) & wanted)
    return tuple(prices[(page - 1) * size: page * size])


def deviation_percent(rate: Decimal, reference: Decimal) -> Decimal:
    return abs(rate - reference) / reference * 100


def band_violation(rate: Any, fixed_rate: Any, max_from_fixed_percent: Any, last_good: Any = None,
                   max_jump_percent: Any = None) -> str | None:
    """Why a market rate must not price an ad — more than `max_from_fixed_percent` off the configured
    `fixed_rate`, or more than `max_jump_percent` off the last rate that passed — or None if it may."""
    market = to_decimal(rate, "market rate")
    for reference, limit, what in ((fixed_rate, max_from_fixed_percent, "pricing.fixed_rate"),
                                   (last_good, max_jump_percent, "the last good market rate")):
        if reference is None or limit is None:
            continue
        base = to_decimal(reference, what)
        if base <= 0:
            raise PricingError(f"{what} must be positive, got {base}")
        off = deviation_percent(market, base)
        if off > to_decimal(limit, "deviation limit"):
            return (f"market rate {market} is {off.quantize(Decimal('0.1'))}% off {what} {base} "
                    f"(at most {limit}% allowed)")
    return None


def market_price(items: Iterable[Any], markup_percent: Any = 0) -> Decimal:
    return with_markup(market_rate(items), markup_percent)


def quantity_for(amount: Any, price: Any, extra_usdt: Any = DEFAULT_EXTRA_USDT) -> Decimal:
    """amount / price + extra, rounded up to 2 dp so quantity × price ≥ amount always."""
    rub = to_decimal(amount, "amount")
    rate = to_decimal(price, "price")
    extra = to_decimal(extra_usdt, "extra_usdt")
    if rub <= 0:
        raise PricingError(f"amount must be positive, got {rub}")
    if rate <= 0:
        raise PricingError(f"price must be positive, got {rate}")
    if extra < 0:
        raise PricingError(f"extra_usdt must not be negative, got {extra}")
    return (rub / rate + extra).quantize(CENT, rounding=ROUND_CEILING)


def ad_terms(amount: Any, price: Any, extra_usdt: Any = DEFAULT_EXTRA_USDT) -> AdTerms:
    """Terms of the ad for a payout of `amount` RUB (payout amount["643"]) at `price`."""
    rub = to_decimal(amount, "amount")
    rate = round_price(to_decimal(price, "price"))
    return AdTerms(price=rate, quantity=quantity_for(rub, rate, extra_usdt), min_amount=rub, max_amount=rub)


def quote(
    amount: Any,
    *,
    mode: str = "fixed",
    fixed_rate: Any = Decimal("78"),
    markup_percent: Any = 0,
    extra_usdt: Any = DEFAULT_EXTRA_USDT,
    market_items: Iterable[Any] | None = None,
) -> AdTerms:
    """Ad terms by the configured mode. Market mode needs the page of `market_page(amount, now)`."""
    if mode == "fixed":
        price = with_markup(fixed_rate, markup_percent)
    elif mode == "market":
        if market_items is None:
            raise PricingError("market mode needs the market page items")
        price = market_price(market_items, markup_percent)
    else:
        raise PricingError(f"unknown pricing mode {mode!r}")
    return ad_terms(amount, price, extra_usdt)


def quote_from_config(amount: Any, pricing: Any, market_items: Iterable[Any] | None = None) -> AdTerms:
    """`quote` with the fields of config.PricingConfig (mode, fixed_rate, markup_percent, extra_usdt)."""
    return quote(
        amount,
        mode=pricing.mode,
        fixed_rate=pricing.fixed_rate,
        markup_percent=pricing.markup_percent,
        extra_usdt=pricing.extra_usdt,
        market_items=market_items,
    )
