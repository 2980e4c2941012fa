"""Messages between the pipeline's actors (all `tell`, never `ask`).

Requests carry `deal_id` and `reply_to` (the sender's ref); replies name the
deal they belong to, so a reply that reaches a restarted Deal actor still
finds its deal. Handlers are idempotent: a request may arrive twice after a
restart, and the platforms are read back before a money step is repeated.

What happens to a deal (a take, an ad, an order's status, a receipt's verdict,
an operator's confirm) reaches its Deal actor as one envelope, `DealNews`,
holding the deal core's own event (itrader.deal.events): the sender builds the
event, the Deal applies it through `deal.step`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import pykka

from itrader.deal.events import Event

Ref = pykka.ActorRef


# --- deal news -----------------------------------------------------------------


@dataclass(frozen=True)
class DealNews:
    """Anything → Deal: `event` (an itrader.deal event) happened to deal `deal_id`.

    The optional fields are evidence the Deal journals beside the event; the deal core needs neither."""

    deal_id: int
    event: Event
    payout: dict | None = None  # with PayoutTaken: the payout's JSON as Gate showed it after the take
    receipt_path: str | None = None  # with ReceiptChecked: the saved file the verdict is about
    order: dict | None = None  # with OrderOpened: the order's terms as Bybit listed them (id, amount, price, quantity)


# --- timers ------------------------------------------------------------------


@dataclass(frozen=True)
class Tick:
    """A periodic wake-up an actor sends itself with gevent.spawn_later."""

    name: str = "tick"


# --- Gate --------------------------------------------------------------------


@dataclass(frozen=True)
class PayoutOffer:
    """GateAccount → Deals: a status-4 payout nobody has a deal for yet."""

    gate_account: str
    payout_id: int
    method: str  # "sbp" | "card"
    bank: str | None
    wallet: str | None
    created_at: datetime | None
    gate_account_id: int | None = None  # the store's id of the account, recorded on the deal


@dataclass(frozen=True)
class TakePayout:
    deal_id: int
    payout_id: int
    reply_to: Ref


@dataclass(frozen=True)
class ApprovePayout:
    deal_id: int
    payout_id: int
    receipt_path: str
    filename: str
    reply_to: Ref


@dataclass(frozen=True)
class ReturnPayout:
    """An operator's cancel with return_payout: give the taken payout back (Gate /cancel, once), read it
    back, and answer with a DealNews carrying deal.PayoutReturnRead."""

    deal_id: int
    payout_id: int
    reply_to: Ref


@dataclass(frozen=True)
class ReadPayout:
    """Reconciliation after a restart: what does Gate say about this payout?"""

    deal_id: int
    payout_id: int
    reply_to: Ref


@dataclass(frozen=True)
class PayoutRead:
    deal_id: int
    payout_id: int
    status: int | None  # None: Gate could not be read (try again later)
    raw: dict = field(default_factory=dict)


# --- Allocator ---------------------------------------------------------------


@dataclass(frozen=True)
class Allocate:
    deal_id: int
    amount: Decimal
    reply_to: Ref
    wallet: str | None = None  # the payout's recipient: no twin (same amount and recipient) goes online


@dataclass(frozen=True)
class DealEnded:
    """Deal → Allocator, when the deal is over: its assignment no longer holds a slot or blocks a twin."""

    deal_id: int


@dataclass(frozen=True)
class AccountHealth:
    """BybitAccount → Allocator, after every poll and on start/stop."""

    account: str
    healthy: bool
    ads: tuple[tuple[str, str, bool], ...]  # (ad_id, method, taken)
    open_deals: int
    max_ads: int
    blocked: str = ""  # why the account takes no new ad for now (Bybit refused one), shown to waiting deals


@dataclass(frozen=True)
class FetchMarket:
    """Allocator → BybitAccount: read one page of the public market list (market pricing)."""

    page: int
    reply_to: Ref


@dataclass(frozen=True)
class MarketPage:
    """BybitAccount → Allocator: the item prices of that page, in the list's order, or why it failed."""

    page: int
    prices: tuple[Decimal, ...]
    fetched_at: float  # time.monotonic() when the page was read
    account: str
    error: str | None = None  # a clear, secret-free reason; prices are empty then


@dataclass(frozen=True)
class AccountDown:
    """Accounts supervisor / operator → Allocator: this account is gone for good (disabled): it gets no
    new ad, whatever health it reports, until AccountUp."""

    account: str


@dataclass(frozen=True)
class AccountUp:
    """Accounts supervisor → Allocator: a disabled account is enabled again."""

    account: str


# --- accounts following the store (actors.account_group) ------------------------


@dataclass(frozen=True)
class Drain:
    """AccountGroup → an account actor disabled by the operator: take no new work, finish what runs on
    the account, then tell `reply_to` Drained."""

    reply_to: Any


@dataclass(frozen=True)
class Drained:
    """An account actor → its AccountGroup: nothing runs on the account any more; stop it."""

    platform: str
    account: str
    note: str | None = None  # what was left behind, for the operator


@dataclass(frozen=True)
class SyncAccounts:
    """Anyone → an AccountGroup: read the accounts table now (an operator changed it)."""


# --- Bybit -------------------------------------------------------------------


@dataclass(frozen=True)
class CreateAd:
    deal_id: int
    amount: Decimal
    price: Decimal
    quantity: Decimal
    method: str
    reply_to: Ref


@dataclass(frozen=True)
class CancelAd:
    deal_id: int
    ad_id: str


@dataclass(frozen=True)
class Watch:
    """Deal → BybitAccount: route this ad's (and its order's) news to me."""

    deal_id: int
    ad_id: str | None
    order_id: str | None
    reply_to: Ref


@dataclass(frozen=True)
class AccountRecovered:
    """BybitAccount → Deal, after the account actor restarted: texts, releases or ads queued for this
    deal may have died with it, so read both platforms back (reconcile) and redo what is missing."""

    deal_id: int
    account: str


@dataclass(frozen=True)
class Unwatch:
    deal_id: int


@dataclass(frozen=True)
class BuyerMessages:
    """Only the buyer's own messages (our messages and system notices filtered out)."""

    deal_id: int
    order_id: str
    texts: tuple[str, ...]
    files: tuple[tuple[str, bytes], ...] = ()  # (file name or URL, content) posted in the chat


@dataclass(frozen=True)
class SendChat:
    deal_id: int
    order_id: str
    text: str
    purpose: str = "reply"  # "greeting", "reply" or "closing": how soon it must go (BybitAccount's queue)


@dataclass(frozen=True)
class ReleaseOrder:
    deal_id: int
    order_id: str
    reply_to: Ref


@dataclass(frozen=True)
class ReadOrder:
    """Reconciliation: the order (by id) or the ad's order (by ad id)."""

    deal_id: int
    ad_id: str | None
    order_id: str | None
    reply_to: Ref


@dataclass(frozen=True)
class OrderRead:
    deal_id: int
    ad_id: str | None
    ad_online: bool | None  # None: could not be read
    order_id: str | None
    order_status: int | None
    buyer_name: str | None = None  # the order's buyerRealName, when it was read


# --- receipts ------------------------------------------------------------------


@dataclass(frozen=True)
class ReceiptDocument:
    """Mailbox (or BybitAccount for chat files) → ReceiptDesk."""

    channel: str  # "email" | "chat"
    trusted: bool  # e-mail from the bank's sender with a valid DKIM signature
    filename: str
    content: bytes
    source_id: str  # message id or chat message id, for the log
    deal_id: int | None = None  # known for chat files
    note: str = ""


@dataclass(frozen=True)
class ResumeDeal:
    """ReceiptDesk → Deals: start the actor of an ended deal (if it is not running) and hand it `message`
    (a receipt that arrived after the deal ended)."""

    deal_id: int
    message: Any


@dataclass(frozen=True)
class Resolve:
    """Web/CLI → a Deal (through Deals' ResumeDeal when its actor is not running): the operator's
    resolution (itrader.deal.resolve.Resolution). The deal reads both platforms back, judges, journals,
    and sets `reply` (a gevent AsyncResult) to {"outcome", "message", "field", "state"}."""

    deal_id: int
    resolution: Any
    reply: Any


# --- assistant -----------------------------------------------------------------


@dataclass(frozen=True)
class Classify:
    deal_id: int
    text: str
    reply_to: Ref


@dataclass(frozen=True)
class Classified:
    deal_id: int
    text: str
    hint: str | None  # "yes" | "no" | "unclear" | None when the LLM did not answer in time


# --- leases (DESIGN §9) --------------------------------------------------------


@dataclass(frozen=True)
class LeaseChanged:
    """GateAccount / BybitAccount → Deals: this process took (held=True) or lost the account's lease;
    the deals of an account run only in the process that holds it."""

    platform: str  # "gate" | "bybit"
    account: str
    held: bool


@dataclass(frozen=True)
class AnnounceLease:
    """Deals → every account actor (when Deals starts): say LeaseChanged(held=True) if you hold your lease."""
