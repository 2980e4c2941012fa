"""Order routing of one Bybit account: the deals' watches, ONE pending-order list call per tick for
all of them, which deal each order belongs to (/order/info once per new order: the list has no
itemId), the deals' OrderOpened and OrderStatusChanged news, chat reads when an order has news, the order that
left the list read back for 40 or 50, and the release of a paid order."""
from __future__ import annotations

import time

from actors.base import describe_failure
from actors.bybit.ads import AdBook
from actors.bybit.chat import NOT_PERFORMED, ChatSync
from actors.bybit.link import CALL_ERRORS, AccountLink, log
from actors.messages import AccountRecovered, DealNews, ReleaseOrder, Watch
from itrader import deal, errors
from itrader.bybit import OrderSummary
from itrader.bybit_rules import (
    APPEAL_STATUSES, FINAL_ORDER_STATUSES, ORDER_FINISHED, ORDER_PAID, DealWatch, appeal_changes,
    chat_fallback_interval, chat_read_due, chat_read_offset, chat_worth_reading, order_for_watch,
    reread_missing_order_now, watch_active,
)
from itrader.deal import ORDER_WAITING_PAYMENT, OrderOpened, OrderStatusChanged, ReleaseFailed, ReleaseSucceeded
from itrader.limits import RateBudgetExhausted

PENDING_PAGES_MAX = 10  # more than 30 pending orders is rare; ten pages is plenty


class OrderRouter:
    def __init__(self, link: AccountLink, ads: AdBook, chat: ChatSync, watches: dict[int, DealWatch]) -> None:
        self.link = link
        self.ads = ads
        self.chat = chat
        self.watches = watches  # shared with chat sync
        self.order_ads: dict[str, str] = {}  # order id -> ad id (from /order/info, asked once per order)
        self.order_buyers: dict[str, str] = {}  # order id -> buyerRealName as /order/info gave it
        self.order_status: dict[str, int] = {}  # last status seen of any order we handled
        # Orders in appeal whose deal ended DISPUTE: order id -> (deal id, status last announced). Followed
        # while on the pending list, so the operator hears of 100/110 and their deadline too.
        self.disputes: dict[str, tuple[int, int]] = {}
        self.poll_failures = 0
        self._chat_interval = link.settings.chat_read_interval

    # ------------------------------------------------------------ watches

    def watch(self, message: Watch) -> None:
        watch = self.watches.get(message.deal_id)
        if watch is None:
            watch = self.watches[message.deal_id] = DealWatch(message.deal_id, message.ad_id, message.order_id,
                                                              message.reply_to)
            if message.order_id is not None:
                watch.told_status = None  # first observation is reported as OrderStatusChanged
        else:
            watch.reply_to = message.reply_to or watch.reply_to
            watch.ad_id = message.ad_id or watch.ad_id
            if message.reply_to is not None:  # a restarted Deal may have moved the chat watermark back
                watch.watermark_loaded = False
            if message.order_id is not None and message.order_id != watch.order_id:
                watch.order_id, watch.told_status = message.order_id, None
                watch.seen_ids, watch.watermark, watch.watermark_loaded = set(), None, False
                watch.file_retries, watch.next_chat_read = {}, None
        if watch.ad_id is not None and watch.ad_id in self.ads.ads:
            self.ads.ads[watch.ad_id].deal_id = message.deal_id
        if watch.order_id is not None:
            self.order_ads.setdefault(watch.order_id, watch.ad_id or "")
        self.link.schedule()

    def chat_needs_reading(self, deal_id: int, order_id: str) -> None:
        watch = self.watches.get(deal_id)
        if watch is not None and watch.order_id == order_id:
            watch.chat_dirty = True

    def unwatch(self, deal_id: int) -> None:
        watch = self.watches.pop(deal_id, None)
        if watch is not None and watch.order_id and watch.told_status in APPEAL_STATUSES:
            self.disputes[watch.order_id] = (deal_id, watch.told_status)

    def active_watches(self) -> int:
        return sum(1 for watch in self.watches.values() if watch_active(watch, self.ads.ads))

    def live_orders_watched(self) -> bool:
        return any(watch.order_live for watch in self.watches.values())

    def recover_watches(self, my_ad_ids: set[str]) -> None:
        """After a restart: the live deals whose ad is one of ours are watched again at once (their
        news goes to "deal:<id>"); a Deal's own Watch later only refreshes its reply ref."""
        store = self.link.store
        if store is None:
            return
        try:
            deals = store.deals.non_terminal_deals()
        except Exception as exc:  # the Deals re-send Watch when they start; polling does not need this
            log.warning("bybit %s: live deals not read: %s", self.link.name, describe_failure(exc))
            return
        for deal in deals:
            if deal.ad_id and deal.ad_id in my_ad_ids and deal.id not in self.watches:
                self.watch(Watch(deal.id, deal.ad_id, deal.order_id, None))
                # Our queued writes for it died with our last life; a Deal that is not reconciling
                # already reads the platforms back and redoes what is missing.
                self.link.directory.tell(f"deal:{deal.id}", AccountRecovered(deal.id, self.link.name))

    # ------------------------------------------------------------ the poll

    def pending_orders(self) -> list[OrderSummary]:
        api, client = self.link.api, self.link.client
        page = api(client.pending_orders)
        orders = list(page.items)
        number = 1
        while len(orders) < page.count and page.items and number < PENDING_PAGES_MAX:
            number += 1
            page = api(client.pending_orders, page=number)
            orders.extend(page.items)
        return [order for order in orders if str(order.raw.get("side", 1)) == "1"]  # our sell orders

    def poll(self) -> bool:
        """One list call for every watched order; False when the list could not be read."""
        try:
            live = {order.id: order for order in self.pending_orders()}
        except CALL_ERRORS as exc:
            if not isinstance(exc, RateBudgetExhausted):  # our own budget says later: nothing is wrong with Bybit
                self.poll_failures += 1
            log.warning("bybit %s: order poll failed (%d in a row): %s", self.link.name, self.poll_failures,
                        describe_failure(exc))
            return False
        self.poll_failures = 0
        self._map_new_orders(live)
        for order in live.values():
            ad = self.ads.ads.get(self.order_ads.get(order.id, ""))
            if ad is not None:
                ad.order_status = order.status
        settings = self.link.settings
        self._chat_interval = chat_fallback_interval(sum(1 for w in self.watches.values() if w.order_id in live),
                                                     settings.chat_read_interval, settings.reads_per_second)
        for watch in list(self.watches.values()):
            self._route(watch, live)
        self._follow_disputes(live)
        self._forget_old_orders(live)
        return True

    def _read_chat_if_due(self, watch: DealWatch, has_news: bool) -> None:
        """The chat of a live order is read on news, and at least every fallback interval without: unread
        counts are not to be trusted (the operator opening the chat in the app clears them)."""
        assert watch.order_id is not None
        now = time.monotonic()
        if watch.next_chat_read is None:
            watch.next_chat_read = now + chat_read_offset(watch.order_id, self._chat_interval)
        if chat_read_due(watch, has_news, now):
            if self.chat.sync(watch) is not None:
                watch.next_chat_read = now + self._chat_interval

    def _map_new_orders(self, live: dict[str, OrderSummary]) -> None:
        """Which ad each new order is on: /order/info once per order (the list has no itemId)."""
        watched_orders = {w.order_id: w for w in self.watches.values() if w.order_id}
        for order_id in live:
            if order_id in self.order_ads:
                continue
            if order_id in watched_orders:
                self.order_ads[order_id] = watched_orders[order_id].ad_id or ""
                continue
            try:
                detail = self.link.api(self.link.client.order_info, order_id)
            except CALL_ERRORS as exc:
                log.info("bybit %s: order %s not mapped yet: %s", self.link.name, order_id, describe_failure(exc))
                continue
            self.order_ads[order_id] = detail.item_id
            self.note_buyer(order_id, detail.buyer_real_name)
            self.link.user_id = self.link.user_id or detail.user_id

    def _follow_disputes(self, live: dict[str, OrderSummary]) -> None:
        moved, done = appeal_changes(self.disputes, live)
        for deal_id, order in moved:
            self.disputes[order.id] = (deal_id, order.status)
            self._announce_appeal(deal_id, order.id, order.status, order.appeal_last_seconds)
        for order_id in done:
            self.disputes.pop(order_id, None)

    def _announce_appeal(self, deal_id: int, order_id: str, status: int, seconds: int | None) -> None:
        """An operator event for an order in appeal: the operator answers it in the Bybit app, in time."""
        log.warning("bybit %s: order %s of deal %s in appeal, status %s (%s s left); never released "
                    "automatically", self.link.name, order_id, deal_id, status, seconds)
        self.link.publish("bybit_order_appeal", deal_id=deal_id, order_id=order_id, status=status,
                          meaning=deal.DISPUTE_MEANINGS.get(status, "in appeal"), appeal_seconds=seconds)

    def _forget_old_orders(self, live: dict[str, OrderSummary]) -> None:
        watched = {w.order_id for w in self.watches.values()}
        for order_id in [o for o in self.order_ads if o not in live and o not in watched]:
            del self.order_ads[order_id]
            self.order_buyers.pop(order_id, None)

    def note_buyer(self, order_id: str, name: str) -> None:
        if name and name.strip():
            self.order_buyers[order_id] = name.strip()

    def _route(self, watch: DealWatch, live: dict[str, OrderSummary]) -> None:
        order, is_new = order_for_watch(watch, live, self.order_ads)
        if order is not None and is_new:
            watch.order_id, watch.told_status = order.id, order.status
            watch.seen_ids, watch.watermark, watch.watermark_loaded = set(), None, False
            watch.file_retries = {}
            self.order_status[order.id] = order.status
            buyer = self.order_buyers.get(order.id) or order.buyer_real_name
            opened = OrderOpened(order.id, order.amount, buyer or None)
            terms = {"order_id": order.id, "amount": str(order.amount), "price": str(order.price),
                     "quantity": str(order.quantity)}  # the USDT released on completion (day totals)
            self.link.tell_deal(watch.deal_id, DealNews(watch.deal_id, opened, order=terms), watch.reply_to)
            if order.status != ORDER_WAITING_PAYMENT:  # OrderOpened means status 10 to the deal: tell it more
                self._tell_status(watch, order.status, order.appeal_last_seconds)
            self.link.publish("bybit_order_opened", deal_id=watch.deal_id, order_id=order.id)
            watch.next_chat_read = None
            self._read_chat_if_due(watch, order.has_news)
        elif order is not None:
            # The buyer's words before the status: "no" and then a cancel read as a refusal.
            self._read_chat_if_due(watch, order.has_news)
            self._observe_status(watch, order.status, order.appeal_last_seconds)
        elif watch.order_live:
            self._read_missing_order(watch)

    def _observe_status(self, watch: DealWatch, status: int, appeal_seconds: int | None = None) -> None:
        if watch.order_id is None:
            return
        self.order_status[watch.order_id] = status
        ad = self.ads.ads.get(watch.ad_id or "")
        if ad is not None:
            ad.order_status = status
            ad.spent = ad.spent or status == ORDER_FINISHED
        if status != watch.told_status:
            watch.told_status = status
            self._tell_status(watch, status, appeal_seconds)

    def _tell_status(self, watch: DealWatch, status: int, appeal_seconds: int | None = None) -> None:
        if status in APPEAL_STATUSES and watch.order_id:
            self._announce_appeal(watch.deal_id, watch.order_id, status, appeal_seconds)
        changed = OrderStatusChanged(status, watch.order_id, appeal_seconds or None)
        self.link.tell_deal(watch.deal_id, DealNews(watch.deal_id, changed), watch.reply_to)

    def _read_missing_order(self, watch: DealWatch) -> None:
        """A watched order not in the pending list has (almost always) ended: read it once for 40/50."""
        if not reread_missing_order_now(watch.missing_ticks):
            watch.missing_ticks += 1
            return
        watch.missing_ticks += 1
        try:
            detail = self.link.api(self.link.client.order_info, watch.order_id)
        except CALL_ERRORS as exc:
            watch.missing_ticks = 0  # try again next tick
            log.info("bybit %s: order %s could not be read: %s", self.link.name, watch.order_id,
                     describe_failure(exc))
            return
        unread = str(detail.raw.get("unreadMsgCount", "?"))
        if chat_worth_reading(watch.chat_dirty or bool(watch.file_retries), detail.status != watch.told_status, unread):
            self.chat.sync(watch)  # last words before the order's end (at most one read per ended order)
        self._observe_status(watch, detail.status)

    # ------------------------------------------------------------ one order read back

    def read_status(self, deal_id: int, order_id: str) -> int | None:
        try:
            detail = self.link.api(self.link.client.order_info, order_id)
        except CALL_ERRORS as exc:
            log.info("bybit %s: order %s unreadable: %s", self.link.name, order_id, describe_failure(exc))
            return None
        self.order_ads.setdefault(order_id, detail.item_id)
        self.note_buyer(order_id, detail.buyer_real_name)
        self._status_learned(deal_id, order_id, detail.status)
        return detail.status

    def _status_learned(self, deal_id: int, order_id: str, status: int) -> None:
        watch = self.watches.get(deal_id)
        if watch is not None and watch.order_id == order_id:
            self._observe_status(watch, status)
        else:
            self.order_status[order_id] = status

    # ------------------------------------------------------------ release

    def release(self, message: ReleaseOrder) -> None:
        def result(ok: bool, permanent: bool = False, reason: str | None = None) -> None:
            outcome = ReleaseSucceeded() if ok else ReleaseFailed(permanent, reason or "")
            self.link.tell_deal(message.deal_id, DealNews(message.deal_id, outcome), message.reply_to, reply=True)

        status = self.order_status.get(message.order_id)
        if status == ORDER_FINISHED:
            result(True)
            return
        # Bybit's word right before the release, never the last poll's: the buyer may have appealed since,
        # and an order in appeal is never released by us (its status goes to the deal: DISPUTE).
        status = self.read_status(message.deal_id, message.order_id)
        if status is None:
            result(False, reason="order status unreadable")
            return
        if status == ORDER_FINISHED:
            result(True)
            return
        if status != ORDER_PAID:
            result(False, permanent=status in FINAL_ORDER_STATUSES or status in APPEAL_STATUSES,
                   reason=f"order status {status}: release needs status {ORDER_PAID}")
            return
        try:
            self.link.api(self.link.client.release, message.order_id)
        except errors.RetryLater as exc:  # never sent: the same release once Bybit's wait is over
            if not self.link.later(message, exc.retry_after):
                result(False, reason=describe_failure(exc))
            return
        except NOT_PERFORMED as exc:  # never sent: nothing happened
            result(False, reason=describe_failure(exc))
            return
        except (errors.OutcomeUnknown, errors.PermanentError) as exc:
            # It may have gone through (the answer got lost), or it was refused — maybe because an earlier
            # release (the message told twice) did it: Bybit's word on the order decides.
            status = self.read_status(message.deal_id, message.order_id)
            if status == ORDER_FINISHED:
                result(True)
            else:
                result(False, permanent=status in FINAL_ORDER_STATUSES,
                       reason=f"{describe_failure(exc)}; order status {status}")
            return
        self.link.publish("bybit_released", deal_id=message.deal_id, order_id=message.order_id)
        self._status_learned(message.deal_id, message.order_id, ORDER_FINISHED)
        result(True)

    def __repr__(self) -> str:
        return f"OrderRouter({self.link.name!r}, watches={len(self.watches)})"
