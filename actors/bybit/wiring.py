"""How one account's collaborators are wired to each other: one place, used by the actor for each
life of its memory and by the collaborators' tests."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator

from actors.bybit.ads import AD_REMARK, AdBook
from actors.bybit.chat import ChatSync
from actors.bybit.link import AccountLink
from actors.bybit.orders import OrderRouter
from actors.bybit.reconcile import Reconciler
from actors.bybit.writes import WriteQueue
from itrader.bybit_rules import DealWatch


@dataclass(frozen=True)
class Collaborators:
    writes: WriteQueue
    chat: ChatSync
    ads: AdBook
    orders: OrderRouter
    reconciler: Reconciler


def wire(link: AccountLink, seq: Iterator[int], reserve: Callable[[], float],
         nudge: Callable[[float], None]) -> Collaborators:
    """Fresh collaborators over `link` (empty memory); `seq` orders the writes across lives."""
    writes = WriteQueue(seq, reserve, nudge)
    watches: dict[int, DealWatch] = {}  # the deals' watches: routed by the orders, read by chat sync
    chat = ChatSync(link, writes, watches, remark=AD_REMARK)
    routers: list[OrderRouter] = []  # the ad book watches a placed ad through the router made next
    ads = AdBook(link, writes, watch=lambda message: routers[0].watch(message))
    orders = OrderRouter(link, ads, chat, watches)
    routers.append(orders)
    return Collaborators(writes, chat, ads, orders, Reconciler(link, ads, orders, chat))
