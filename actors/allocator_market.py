"""The allocator's market pricing (order-flow.md §5.2): the Spec's market pages it has read, which account
to ask for a missing one, and the sanity band a page's rate must pass before it prices an ad.

A collaborator of AllocatorActor (actors/allocator.py), run inside its handlers; the decisions are pure
(itrader.pricing, itrader.allocator_rules). A page whose rate is outside the band (too far from
fixed_rate, or from the last rate that passed) prices nothing: the deals on it wait with that reason and
the operator hears "market_price_refused" once per new refusal.
"""
from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any, Callable

from actors.directory import Directory
from actors.messages import FetchMarket, MarketPage
from itrader import pricing
from itrader.allocator_rules import CachedPage, MarketAsk, market_ask_due, market_reader, page_is_fresh
from itrader.config import PricingConfig
from itrader.events import EventLog

log = logging.getLogger("actors.allocator")

BAND_REFUSAL = "the market price is outside the sanity band"


class MarketPricing:
    """`reader_candidates()` names the healthy accounts that may read a page; `reply_to()` is the allocator's
    ref; the intervals are the allocator's (tests shorten them)."""

    def __init__(self, settings: PricingConfig, directory: Directory, events: EventLog,
                 clock: Callable[[], float], wall_clock: Callable[[], Any], reader_candidates: Callable[[], list],
                 reply_to: Callable[[], Any], resend_after: float, ask_interval: float) -> None:
        self.settings = settings
        self.directory = directory
        self.events = events
        self._clock = clock
        self._wall_clock = wall_clock  # Moscow night or day picks the market page
        self._reader_candidates = reader_candidates
        self._reply_to = reply_to
        self.resend_after = resend_after
        self.ask_interval = ask_interval
        self.pages: dict[int, CachedPage] = {}
        self.asks: dict[int, MarketAsk] = {}
        self._turn = 0
        self.last_good_rate: Decimal | None = None  # the last market rate inside the sanity band

    @property
    def on(self) -> bool:
        return self.settings.mode == "market"

    def page_of(self, amount: Decimal) -> int | None:
        if not self.on:
            return None
        try:
            return pricing.market_page(amount, self._wall_clock())
        except pricing.PricingError:
            return None

    def quote(self, amount: Decimal) -> tuple[pricing.AdTerms | None, str | None]:
        """The ad terms for this amount, or the reason there are none yet (market mode: asks for the page)."""
        items = None
        if self.on:
            try:
                page = pricing.market_page(amount, self._wall_clock())
            except pricing.PricingError as exc:
                return None, f"pricing: {exc}"
            cached = self.pages.get(page)
            if not page_is_fresh(cached, self._clock(), self.settings.market_max_age):
                return None, self.ask(page)
            items = cached.prices
        try:
            return pricing.quote_from_config(amount, self.settings, market_items=items), None
        except pricing.PricingError as exc:
            return None, f"pricing: {exc}"

    def ask(self, page: int) -> str:
        """Ask a healthy account for the page unless a request is under way or was made a moment ago;
        the refusal reason for the deals waiting on it."""
        now = self._clock()
        ask = self.asks.get(page)
        reason = f"pricing: waiting for the market page {page}"
        if ask is not None and ask.error:
            reason += f" ({ask.error})" if ask.error.startswith(BAND_REFUSAL) else f" (the last read failed: {ask.error})"
        if not market_ask_due(ask, now, self.resend_after, self.ask_interval):
            return reason
        unanswered = ask.account if ask is not None and not ask.answered else None
        reader = market_reader(self._reader_candidates(), unanswered, self._turn)
        if reader is None:
            return reason + " (no healthy Bybit account to read it)"
        self._turn += 1
        if not self.directory.tell(f"bybit:{reader}", FetchMarket(page, self._reply_to())):
            return reason + f" (account {reader} is not running)"
        self.asks[page] = MarketAsk(reader, now, error=ask.error if ask is not None else None)
        return reason

    def arrived(self, message: MarketPage) -> bool:
        """A page came: keep it if it can price (True: the waiting deals may go now)."""
        ask = self.asks.get(message.page)
        error = message.error
        if error is None:
            try:
                rate = pricing.market_rate(message.prices)  # a page that cannot price is a failed read
                error = self._outside_band(message, rate, ask)
            except pricing.PricingError as exc:
                error = str(exc)
        if error is not None:
            if ask is None or ask.answered or ask.account != message.account:
                log.info("allocator: late failure of market page %d from %s ignored: %s", message.page,
                         message.account, error)
                return False  # an abandoned request failing late: the current one (or its answer) stands
            if not error.startswith(BAND_REFUSAL):  # that one has its own event
                log.warning("allocator: market page %d from %s unusable: %s", message.page, message.account, error)
                self.events.publish("market_page_failed", page=message.page, account=message.account, error=error)
            ask.answered, ask.error = True, error
            return False
        self.pages[message.page] = CachedPage(tuple(message.prices), self._clock())
        self.last_good_rate = pricing.market_rate(message.prices)
        if ask is not None:
            ask.answered, ask.error = True, None
        return True

    def _outside_band(self, message: MarketPage, rate: Decimal, ask: MarketAsk | None) -> str | None:
        """Why this page's rate must not price ads (pricing.band_violation), told to the operator once per
        new refusal; None when it may."""
        settings = self.settings
        violation = pricing.band_violation(rate, settings.fixed_rate, settings.market_max_deviation_percent,
                                           self.last_good_rate, settings.market_max_jump_percent)
        if violation is None:
            return None
        error = f"{BAND_REFUSAL}: {violation}"
        if ask is None or ask.error != error:
            log.warning("allocator: market page %d from %s refused: %s", message.page, message.account, violation)
            self.events.publish("market_price_refused", page=message.page, account=message.account, rate=str(rate),
                                reason=violation)
        return error

    def refresh(self, amounts: list[Decimal]) -> None:
        """Ask again for the stale or failed pages these waiting amounts need (rate-limited by `ask`), so
        they are served even if no deal asks again meanwhile."""
        now = self._clock()
        needed = {self.page_of(amount) for amount in amounts}
        for page in sorted(p for p in needed if p is not None):
            if not page_is_fresh(self.pages.get(page), now, self.settings.market_max_age):
                self.ask(page)
