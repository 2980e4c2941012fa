"""The ad book of one Bybit account: its online ads (state, payment method, the deal each serves),
creating an ad for a deal (once, even when the answer was unclear), the cancels owed, and finding a
deal's ad again after a restart."""
from __future__ import annotations

import time
from decimal import Decimal
from typing import Callable

from actors.base import describe_failure
from actors.bybit.chat import NOT_PERFORMED
from actors.bybit.link import CALL_ERRORS, AccountLink, log
from actors.bybit.writes import WriteQueue
from actors.messages import CancelAd, CreateAd, DealNews, Watch
from itrader import ad_limits, errors
from itrader.bybit import (
    AccountCannotPost, AdLimitReached, AdParameterException, AdPriceTooClose, AdRequest, InsufficientBalance,
    SecurityRiskRequired,
)
from itrader.bybit_rules import AD_ONLINE, ORDER_UNPAID, LiveAd, method_of
from itrader.deal import TERMINAL, AdCreated, AdFailed

BALANCE_COOLDOWN_SECONDS = 60.0  # after 912120024 the account offers no slot for a while
MY_ADS_PAGE_SIZE, MY_ADS_MAX_PAGES = 50, 4
TERMINAL_STATES = tuple(sorted(state.value for state in TERMINAL))
SELL_SIDE = 1
REFUSAL_KINDS = {AdLimitReached: ad_limits.AD_LIMIT, AdPriceTooClose: ad_limits.PRICE_GAP,
                 SecurityRiskRequired: ad_limits.SECURITY_RISK, AdParameterException: ad_limits.PARAMETER_EXCEPTION}
FINISHED_DEALS_CHECKED = 500  # at start: the latest finished deals whose ads may still be online

# The ad's description (order-flow.md §6), our own wording of the rules the originals posted.
AD_REMARK = (
    "ВНИМАТЕЛЬНО ПРОЧИТАЙТЕ УСЛОВИЯ ДО ОПЛАТЫ.\n"
    "1. Оплата только с карты Т-Банка (Тинькофф), по СБП или на карту, без комиссии. "
    "Платежи из других банков не подтверждаются и USDT по ним не отпускаются.\n"
    "2. Переводите строго в тот банк и по тем реквизитам, которые я пришлю в чате. "
    "Перевод в другой банк будет потерян.\n"
    "3. После оплаты перешлите PDF-чек с официальной почты Т-Банка на адрес, указанный в чате.\n"
    "Если согласны с условиями, напишите в чат «+», и я пришлю реквизиты."
)


class AdBook:
    """`watch` puts a Watch into order routing (a placed ad is watched for its deal)."""

    def __init__(self, link: AccountLink, queue: WriteQueue, watch: Callable[[Watch], None]) -> None:
        self.link = link
        self.queue = queue
        self.watch = watch
        self.ads: dict[str, LiveAd] = {}
        self.cancels: dict[str, int] = {}  # ad id -> deal id: cancels owed (queued, or to retry next tick)
        self.balance_short_until = 0.0
        self.foreign_ads = 0  # online sell ads its owner posted by hand (Bybit's side limit counts them)
        self.foreign_checked_at = 0.0
        self.block: ad_limits.AdBlock | None = None  # a refusal of the account: no new ads until it ends

    def health(self) -> tuple[tuple[str, str, bool], ...]:
        return tuple((ad.ad_id, ad.method, ad.taken) for ad in self.ads.values())

    def list_mine(self) -> list:
        return self.link.read_pages(self.link.client.my_ads, MY_ADS_PAGE_SIZE, MY_ADS_MAX_PAGES)

    def adopt(self, ads: list) -> None:
        """At start: our online ads as Bybit lists them (one with an open order is frozen)."""
        for ad in ads:
            if ad.status == AD_ONLINE and ad.id not in self.ads:
                self.ads[ad.id] = LiveAd(ad.id, method_of(ad.payment_types), spent=ad.executed_quantity > 0,
                                         order_status=ORDER_UNPAID if ad.taken else None)

    def close_ads_of_finished_deals(self, ads: list) -> None:
        """An ad whose deal finished while its cancel was lost (a crash) would hold a slot for ever:
        cancel it (on the next tick, retried like any cancel)."""
        idle = {ad.id for ad in ads if ad.status == AD_ONLINE and not ad.taken}
        store = self.link.store
        if not idle or store is None:
            return
        try:
            finished = store.deals.list_deals(TERMINAL_STATES, limit=FINISHED_DEALS_CHECKED)
        except Exception as exc:  # noqa: BLE001 — the database is away: the next start tries again
            log.warning("bybit %s: finished deals not read: %s", self.link.name, describe_failure(exc))
            return
        for deal in finished:
            if deal.ad_id in idle:
                log.info("bybit %s: ad %s of finished deal %s is still online; cancelling it", self.link.name,
                         deal.ad_id, deal.id)
                self.cancels[deal.ad_id] = deal.id

    # ------------------------------------------------------------ create

    def create(self, message: CreateAd) -> None:
        def fail(reason: str, permanent: bool) -> None:
            self.link.publish("bybit_ad_failed", deal_id=message.deal_id, reason=reason)
            self.link.tell_deal(message.deal_id, DealNews(message.deal_id, AdFailed(permanent, reason)),
                                message.reply_to, reply=True)
            self.link.send_health()

        existing = next((ad for ad in self.ads.values() if ad.deal_id == message.deal_id and not ad.taken), None)
        if existing is not None:  # a repeated request: the ad is already up
            self._placed(message, existing.ad_id)
            return
        if not self.link.boot():
            fail(f"account not ready: {self.link.boot_error}", permanent=False)
            return
        payment_id = self.link.payment_ids.get(message.method)
        if payment_id is None:
            fail(f"no {message.method} payment method configured on this account", permanent=False)
            return
        request = AdRequest(price=message.price, min_amount=message.amount, max_amount=message.amount,
                            quantity=message.quantity, payment_ids=(payment_id,), remark=AD_REMARK,
                            payment_period=self.link.settings.payment_period_minutes)
        try:
            ad_id = self.link.api(self.link.client.create_ad, request)
        except InsufficientBalance as exc:
            self.balance_short_until = time.monotonic() + BALANCE_COOLDOWN_SECONDS
            fail(describe_failure(exc), permanent=False)
            return
        except errors.RetryLater as exc:  # never sent: the same request once Bybit's wait is over
            if not self.link.later(message, exc.retry_after):
                fail(describe_failure(exc), permanent=False)
            return
        except AccountCannotPost as exc:  # before OutcomeUnknown: a risk check names no ad either
            self._refused(message, request, payment_id, exc)
            return
        except errors.OutcomeUnknown as exc:  # the ad may exist: look for it before saying no
            ad_id = self._find_unclaimed(request, payment_id)
            if ad_id is None:
                fail(describe_failure(exc), permanent=False)
                return
        except NOT_PERFORMED as exc:
            fail(describe_failure(exc), permanent=False)
            return
        except errors.PermanentError as exc:  # AdRejected and the like
            fail(describe_failure(exc), permanent=True)
            return
        self.ads[ad_id] = LiveAd(ad_id, message.method, deal_id=message.deal_id)
        self._placed(message, ad_id)

    # ------------------------------------------------------------ refusals of the account (itrader.ad_limits)

    def _refused(self, message: CreateAd, request: AdRequest, payment_id: str, exc: AccountCannotPost) -> None:
        """Bybit will not take this ad from this account for now: block new ads here, let the allocator know
        before the deal asks it again (elsewhere), tell the operator when a person must act."""
        if isinstance(exc, SecurityRiskRequired):
            ad_id = self._find_unclaimed(request, payment_id)  # it names no ad; make sure none went up
            if ad_id is not None:
                self.ads[ad_id] = LiveAd(ad_id, message.method, deal_id=message.deal_id)
                self._placed(message, ad_id)
                return
        kind = REFUSAL_KINDS.get(type(exc), ad_limits.PARAMETER_EXCEPTION)
        detail = "" if kind == ad_limits.SECURITY_RISK else str(exc.args[0] if exc.args else "")
        self.block = ad_limits.block_after(kind, time.monotonic(), detail)
        if kind == ad_limits.AD_LIMIT:
            self.recount_foreign()
        reason = self.block.reason
        log.warning("bybit %s: ad for deal %s refused, no new ads here for %.0f s: %s", self.link.name,
                    message.deal_id, ad_limits.BLOCK_SECONDS[kind], reason)
        self.link.publish("bybit_ad_refused", deal_id=message.deal_id, refusal=kind, reason=reason)
        if kind == ad_limits.SECURITY_RISK:
            self.link.publish("bybit_security_check_required", deal_id=message.deal_id, reason=reason)
        self.link.send_health()  # first: the deal asks the allocator again as soon as it hears
        self.link.tell_deal(message.deal_id, DealNews(message.deal_id, AdFailed(False, reason, reallocate=True)),
                            message.reply_to, reply=True)

    def recount_foreign(self) -> None:
        """List the account's ads: how many online sell ads are not ours (posted by hand)."""
        self.foreign_checked_at = time.monotonic()
        try:
            listed = self.list_mine()
        except CALL_ERRORS as exc:
            log.info("bybit %s: ads not listed to count the hand-posted ones: %s", self.link.name,
                     describe_failure(exc))
            return
        self.foreign_ads = ad_limits.foreign_online(
            ((ad.id, ad.status == AD_ONLINE and ad.side == SELL_SIDE) for ad in listed), self.ads)

    def room(self) -> int:
        """The max_ads the allocator sees for this account (itrader.ad_limits.ad_room)."""
        settings = self.link.settings
        taken = sum(1 for ad in self.ads.values() if ad.taken)
        return ad_limits.ad_room(settings.max_ads_per_account, settings.ad_side_limit, taken, self.foreign_ads,
                                 len(self.ads) - taken, self.block, time.monotonic())

    def blocked_reason(self) -> str:
        block = self.block
        return block.reason if block is not None and block.active(time.monotonic()) else ""

    def recount_if_due(self) -> None:
        if ad_limits.recount_due(self.foreign_ads, self.block, self.foreign_checked_at, time.monotonic()):
            self.recount_foreign()

    def _placed(self, message: CreateAd, ad_id: str) -> None:
        self.ads[ad_id].deal_id = message.deal_id
        self.watch(Watch(message.deal_id, ad_id, None, message.reply_to))
        self.link.publish("bybit_ad_created", deal_id=message.deal_id, ad_id=ad_id, method=self.ads[ad_id].method)
        self.link.tell_deal(message.deal_id, DealNews(message.deal_id, AdCreated(ad_id)), message.reply_to,
                            reply=True)
        self.link.send_health()

    def _find_unclaimed(self, request: AdRequest, payment_id: str) -> str | None:
        """After an unclear create: an online ad with exactly these terms that no deal owns is ours."""
        try:
            ads = self.list_mine()
        except CALL_ERRORS:
            return None
        for ad in ads:
            if (ad.status == AD_ONLINE and ad.id not in self.ads and ad.max_amount == request.max_amount
                    and ad.min_amount == request.min_amount and ad.price == Decimal(request.price)
                    and payment_id in ad.payment_ids):
                return ad.id
        return None

    # ------------------------------------------------------------ cancel

    def request_cancel(self, message: CancelAd) -> None:
        if message.ad_id not in self.cancels:
            self.cancels[message.ad_id] = message.deal_id
            self.queue.queue("cancel", message)

    def cancel_queued(self, message: CancelAd) -> None:
        self._cancel(message.ad_id, message.deal_id)
        self.link.send_health()

    def _cancel(self, ad_id: str, deal_id: int) -> None:
        try:
            self.link.api(self.link.client.cancel_ad, ad_id)
        except (errors.OutcomeUnknown, *NOT_PERFORMED) as exc:
            # Never sent, or maybe cancelled: the next try tells (Bybit refuses to cancel a closed ad).
            self.cancels[ad_id] = deal_id  # next tick
            log.info("bybit %s: cancelling ad %s failed, will retry: %s", self.link.name, ad_id,
                     describe_failure(exc))
            return
        except errors.PermanentError as exc:  # already closed or not ours: nothing left to cancel
            log.info("bybit %s: ad %s not cancelled (%s); treating it as gone", self.link.name, ad_id,
                     describe_failure(exc))
        self.cancels.pop(ad_id, None)
        self.ads.pop(ad_id, None)
        self.link.publish("bybit_ad_cancelled", deal_id=deal_id, ad_id=ad_id)

    def retry_cancels(self) -> None:
        queued = self.queue.queued_cancels()
        for ad_id, deal_id in list(self.cancels.items()):
            if ad_id not in queued:
                self.queue.queue("cancel", CancelAd(deal_id, ad_id))

    # ------------------------------------------------------------ after a restart

    def find_deal_ad(self, deal_id: int) -> tuple[str | None, bool | None]:
        """A deal that died between "create the ad" and hearing its id: its ad is the one placed for it
        in this life, else (after a restart) our online ad of the deal's amount that no other deal owns.
        (None, False): surely none, creating one is safe; (None, None): cannot tell now."""
        placed = next((ad.ad_id for ad in self.ads.values() if ad.deal_id == deal_id), None)
        if placed is not None:
            return placed, None
        store = self.link.store
        if store is None or not self.link.boot():
            return None, None
        try:
            amount = Decimal(str(store.deals.get(deal_id).amount_rub))
            owned = {d.ad_id for d in store.deals.non_terminal_deals() if d.ad_id and d.id != deal_id}
            ads = self.list_mine()
        except CALL_ERRORS as exc:
            log.info("bybit %s: ads not listed for deal %s: %s", self.link.name, deal_id, describe_failure(exc))
            return None, None
        except Exception as exc:  # noqa: BLE001 — no such deal row, or the database is away
            log.warning("bybit %s: deal %s not read: %s", self.link.name, deal_id, describe_failure(exc))
            return None, None
        for ad in ads:
            live = self.ads.get(ad.id)
            if (ad.status == AD_ONLINE and ad.id not in owned and ad.min_amount == amount == ad.max_amount
                    and (live is None or live.deal_id in (None, deal_id))):
                if live is None:
                    live = self.ads[ad.id] = LiveAd(ad.id, method_of(ad.payment_types),
                                                    order_status=ORDER_UNPAID if ad.taken else None)
                live.deal_id = deal_id
                log.info("bybit %s: ad %s found for deal %s after a restart", self.link.name, ad.id, deal_id)
                return ad.id, True
        return None, False

    def __repr__(self) -> str:
        return f"AdBook({self.link.name!r}, ads={len(self.ads)})"
