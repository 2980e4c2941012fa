"""The reconciler of one Bybit account: ReadOrder → OrderRead. A Deal that restarts asks what Bybit
knows of its ad and order (found here even when the deal died before it heard their ids) and what we
said in the order's chat; what is found and unknown to the deal is watched for it."""
from __future__ import annotations

from decimal import Decimal

from actors.base import describe_failure
from actors.bybit.ads import AdBook
from actors.bybit.chat import ChatSync
from actors.bybit.link import CALL_ERRORS, AccountLink, log
from actors.bybit.orders import OrderRouter
from actors.messages import OrderRead, ReadOrder, Watch
from itrader.bybit_rules import AD_ONLINE


class Reconciler:
    def __init__(self, link: AccountLink, ads: AdBook, orders: OrderRouter, chat: ChatSync) -> None:
        self.link = link
        self.ads = ads
        self.orders = orders
        self.chat = chat

    def read_order(self, message: ReadOrder) -> None:
        ad_online: bool | None = None
        ad_id, order_id, order_status = message.ad_id, message.order_id, None
        if ad_id is None and order_id is None:
            ad_id, ad_online = self.ads.find_deal_ad(message.deal_id)
        if ad_id is not None:
            try:
                ad = self.link.api(self.link.client.ad_info, ad_id)
                ad_online = ad.status == AD_ONLINE
                if order_id is None:
                    order_id = self._find_order_of_ad(ad_id, ad.max_amount)
            except CALL_ERRORS as exc:
                log.info("bybit %s: ad %s unreadable: %s", self.link.name, ad_id, describe_failure(exc))
        if order_id is not None:
            order_status = self.orders.read_status(message.deal_id, order_id)
            self.chat.note_sent_texts(message.deal_id, order_id)
        if (ad_id, order_id) != (message.ad_id, message.order_id):
            # Found here, unknown to the deal (it died before it heard them): watch them for it, or the
            # buyer's words on that order would never reach it (its own Watch carries no ids).
            self.orders.watch(Watch(message.deal_id, ad_id, order_id, message.reply_to))
        if order_id is not None:
            # Reading the chat above marked the buyer's messages read on Bybit, so the pending list will
            # show no unread count for them: read the chat again on the next poll and deliver them.
            self.orders.chat_needs_reading(message.deal_id, order_id)
        self.link.tell_deal(message.deal_id, OrderRead(message.deal_id, ad_id, ad_online, order_id, order_status,
                                                       self.orders.order_buyers.get(order_id or "")),
                            message.reply_to, reply=True)

    def _find_order_of_ad(self, ad_id: str, amount: Decimal) -> str | None:
        """The newest order on the ad: known mapping, else the pending list, else recent orders of that
        amount (min = max = amount, so only those can be on it)."""
        order_ads = self.orders.order_ads
        known = [o for o, a in order_ads.items() if a == ad_id]
        if known:
            return max(known)
        candidates = self.orders.pending_orders()
        if not candidates:
            candidates = [o for o in self.link.api(self.link.client.orders).items if o.amount == amount]
        for order in sorted(candidates, key=lambda o: (o.created_ms, o.id), reverse=True):
            if order.id not in order_ads:
                order_ads[order.id] = self.link.api(self.link.client.order_info, order.id).item_id
            if order_ads[order.id] == ad_id:
                return order.id
        return None

    def __repr__(self) -> str:
        return f"Reconciler({self.link.name!r})"
