"""Which Bybit account hosts the next ad, and with which payment method — pure rules.

order-flow.md §4 and DESIGN §3 (Allocator):
* only healthy accounts with a free ad slot (un-taken ads < max_ads) are candidates;
* the least loaded account wins (open deals, then un-taken ads, then the account name: `load_order`);
* an account's un-taken ads stay balanced between the methods: at most half of its slots
  (rounded up) per method — with the usual 2 slots, two un-taken ads never share a method, so
  an account with one un-taken ad gets the opposite method; an ad taken by an order frees its method;
* an empty account gets the method that is rarer among all un-taken ads (SBP on a tie, or
  the caller's `prefer`), which alternates SBP and Tinkoff over successive ads.

And one rule about which deal may go online at all (DESIGN §5 invariant 6): a bank receipt names only
the amount and the recipient, so no second deal goes online while a live one has the same amount and
the same recipient (`twin_of`). The recipient is compared as a receipt shows it (`recipient_key`, the
one recipient rule of itrader.recipients).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Iterable, Sequence

from itrader.recipients import CARD_DIGITS, PHONE_DIGITS, recipient_key  # noqa: F401  (the one rule, re-exported)

SBP = "sbp"
TINKOFF = "tinkoff"
METHODS = (SBP, TINKOFF)  # priority order on a tie
PAYMENT_TYPE_IDS = {SBP: 382, TINKOFF: 75}  # Bybit paymentType ids (bybit-p2p-api.md §5)


@dataclass(frozen=True)
class LiveAd:
    ad_id: str
    method: str  # SBP or TINKOFF
    taken: bool = False  # an order is open on it (frozenQuantity > 0)


@dataclass(frozen=True)
class AccountLoad:
    name: str
    healthy: bool = True
    ads: tuple[LiveAd, ...] = ()
    open_deals: int = 0
    max_ads: int = 2
    methods: frozenset[str] = field(default_factory=lambda: frozenset(METHODS))  # configured on Bybit

    @property
    def untaken(self) -> tuple[LiveAd, ...]:
        return tuple(ad for ad in self.ads if not ad.taken)

    def free_methods(self) -> tuple[str, ...]:
        """Methods this account could advertise next, in priority order (empty: no free slot)."""
        if len(self.untaken) >= self.max_ads:
            return ()
        per_method = -(-self.max_ads // len(METHODS))  # ceil: 2 slots -> 1 per method
        in_use = Counter(ad.method for ad in self.untaken)
        return tuple(m for m in METHODS if m in self.methods and in_use[m] < per_method)


@dataclass(frozen=True)
class Allocation:
    account: str
    method: str

    @property
    def payment_type(self) -> int:
        return PAYMENT_TYPE_IDS[self.method]


@dataclass(frozen=True)
class Move:
    ad_id: str
    from_account: str
    to_account: str
    method: str


@dataclass(frozen=True)
class RebalancePlan:
    moves: tuple[Move, ...]
    stranded: tuple[str, ...]  # ad ids with no healthy account free to take them


def _rarer_method(candidates: Sequence[str], accounts: Iterable[AccountLoad], prefer: str | None) -> str:
    in_use = Counter(ad.method for account in accounts for ad in account.untaken)
    order = list(METHODS)
    if prefer in order:
        order.remove(prefer)
        order.insert(0, prefer)
    return min(candidates, key=lambda m: (in_use[m], order.index(m)))


def load_order(account: AccountLoad) -> tuple[int, int, str]:
    """Which of two candidate accounts gets the next ad first: fewer open deals, then fewer un-taken ads
    online, then the account name (plain string order: "acc10" before "acc2").

    The name is the last key, not the position in the input, because that position is no decision:
    the allocator lists its accounts as the store returned them at start (in the database's collation),
    followed by accounts that appeared later, and nothing else pins it. With the name, equally loaded
    accounts are always asked in the same order, whatever order they were registered or reported in,
    so an operator (and a test) can tell which account a refusal will come from and where the ad goes next.
    """
    return account.open_deals, len(account.untaken), account.name


def choose(
    accounts: Sequence[AccountLoad], prefer: str | None = None, only_method: str | None = None
) -> Allocation | None:
    """The account and method for the next ad, or None when no healthy account has a free slot.

    `prefer` breaks a tie between methods; `only_method` restricts the choice to that method.
    """

    def offers(account: AccountLoad) -> tuple[str, ...]:
        free = account.free_methods()
        return free if only_method is None else tuple(m for m in free if m == only_method)

    candidates = [account for account in accounts if account.healthy and offers(account)]
    if not candidates:
        return None
    best = min(candidates, key=load_order)
    return Allocation(best.name, _rarer_method(offers(best), accounts, prefer))


def rebalance(accounts: Sequence[AccountLoad]) -> RebalancePlan:
    """Move the un-taken ads of unhealthy accounts to healthy ones (taken ads stay: their order is live).

    Each move keeps the ad's method when some healthy account can take it; the plan accounts for the
    ads it has already placed, so two moved ads never collide on one account.
    """
    loads = list(accounts)
    placed: dict[str, Move] = {}
    orphans = [(source, ad) for source in accounts if not source.healthy for ad in source.untaken]
    # first every ad that can keep its method, then the rest with whichever method is free
    for keep_method in (True, False):
        for source, ad in orphans:
            if ad.ad_id in placed:
                continue
            allocation = choose(loads, only_method=ad.method) if keep_method else choose(loads)
            if allocation is None:
                continue
            target = next(load for load in loads if load.name == allocation.account)
            placed[ad.ad_id] = Move(ad.ad_id, source.name, target.name, allocation.method)
            moved = replace(
                target, ads=target.ads + (LiveAd(ad.ad_id, allocation.method),), open_deals=target.open_deals + 1
            )
            loads = [moved if load is target else load for load in loads]
    moves = tuple(placed[ad.ad_id] for _, ad in orphans if ad.ad_id in placed)
    stranded = tuple(ad.ad_id for _, ad in orphans if ad.ad_id not in placed)
    return RebalancePlan(moves, stranded)


# ------------------------------------------------------------------ twins (DESIGN §5 invariant 6)


def twin_of(amount: Decimal | None, wallet: str | None,
            live: Iterable[tuple[int, Decimal | None, str | None]]) -> int | None:
    """The first live deal (deal_id, amount, wallet) that a receipt for this amount and wallet could
    also pay — same amount, same recipient key — or None. Without an amount or a recipient key
    nothing is a twin."""
    key = recipient_key(wallet)
    if amount is None or key is None:
        return None
    wanted = Decimal(amount)
    for deal_id, other_amount, other_wallet in live:
        if other_amount is not None and Decimal(other_amount) == wanted and recipient_key(other_wallet) == key:
            return deal_id
    return None
