"""What happens to a deal: the events `step` takes (platform outcomes, the buyer, timers, the operator)."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from itrader.deal.facts import EMAIL


@dataclass(frozen=True)
class PayoutSeen:
    blacklisted: bool = False  # the wallet is on the blacklist: never advertise


@dataclass(frozen=True)
class PayoutTaken:
    amount: Decimal  # amount["643"] from the re-read after /show
    wallet: str | None = None
    bank: str | None = None
    bank_label: str | None = None
    payout_method: str | None = None


@dataclass(frozen=True)
class TakeFailed:
    permanent: bool  # True: Gate refused (e.g. taken by someone else); False: transient, nothing happened
    error: str = ""
    held: bool = False  # not tried: the intake is paused or draining; the deal waits, no attempt counted


@dataclass(frozen=True)
class AccountAssigned:
    account: str
    method: str  # "sbp" or "tinkoff"
    price: Decimal
    quantity: Decimal


@dataclass(frozen=True)
class NoAccountFree:
    reason: str = ""  # why it waits: no free slot, pricing, or a live twin deal (same amount and recipient)


@dataclass(frozen=True)
class AdCreated:
    ad_id: str


@dataclass(frozen=True)
class AdWithdrawn:
    """The account hosting the deal's ad went away for good before anyone took the ad."""

    account: str
    ad_id: str | None


@dataclass(frozen=True)
class AdFailed:
    permanent: bool = True  # Bybit refused; False: transient and certainly not created
    error: str = ""
    # The account cannot post it for now (its ad limit, a risk check, …): ask for an account again
    # instead of retrying on this one.
    reallocate: bool = False


@dataclass(frozen=True)
class OrderOpened:
    order_id: str
    amount: Decimal | None = None  # the order's RUB amount; must equal the payout amount when given
    buyer_name: str | None = None  # buyerRealName: the receipt's sender must be this person


@dataclass(frozen=True)
class OrderStatusChanged:
    status: int
    order_id: str | None = None  # the order whose status this is; a deal following another order ignores it
    appeal_seconds: int | None = None  # appealLastSeconds in an appeal (30/100/110): the operator's time left


@dataclass(frozen=True)
class BuyerMessage:
    """A text the buyer wrote (see dialogue.is_buyer_message); the deal runs the dialogue."""

    text: str
    llm_hint: str | None = None  # "yes" / "no" / "unclear", asked only when dialogue.needs_hint(text)


@dataclass(frozen=True)
class ReceiptChecked:
    accepted: bool  # the verifier's verdict against this deal
    reasons: tuple[str, ...] = ()
    channel: str = EMAIL  # EMAIL only for a DKIM-verified bank e-mail; anything else counts as CHAT
    receipt_id: str = ""
    trusted: bool | None = None  # False: not the bank's DKIM-verified mail, so treated as CHAT
    # The bank's own receipt for a deal that had already ended CANCELLED/REJECTED_BUYER: the buyer
    # paid our recipient after all (paid_after_cancel).
    late: bool = False


@dataclass(frozen=True)
class ApproveSucceeded:
    pass


@dataclass(frozen=True)
class ApproveFailed:
    permanent: bool
    error: str = ""


@dataclass(frozen=True)
class ReleaseSucceeded:
    pass


@dataclass(frozen=True)
class ReleaseFailed:
    permanent: bool
    error: str = ""


@dataclass(frozen=True)
class PayoutReturnRead:
    """After Gate's /cancel of an operator's cancel-and-return: the payout's status read back (None: could
    not be read) and the call's error, if it answered one. The read-back decides, not the call's answer."""

    status: int | None
    error: str = ""


@dataclass(frozen=True)
class TimerFired:
    name: str


@dataclass(frozen=True)
class OperatorConfirmed:
    step: str


@dataclass(frozen=True)
class OperatorRejected:
    why: str = ""


@dataclass(frozen=True)
class PlatformView:
    """What Gate and Bybit show for this deal after a restart (None = could not tell)."""

    payout_status: int | None = None
    payout_amount: Decimal | None = None
    ad_id: str | None = None  # our ad for this deal, if Bybit shows one
    ad_online: bool | None = None
    order_id: str | None = None  # an order on that ad
    order_status: int | None = None
    sent_texts: tuple[str, ...] | None = None  # our own chat messages in that order
    buyer_name: str | None = None  # that order's buyerRealName


@dataclass(frozen=True)
class Reconciled:
    view: PlatformView


Event = Any  # one of the event classes above
