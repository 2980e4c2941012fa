"""What the store hands out: frozen dataclasses, never live peewee rows."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

# The one place the set of finished deal states is defined until deal.py owns the
# state enum. MANUAL_REVIEW, DISPUTE and ERROR are not here: automation stops there
# but an operator still acts on the deal, so it is rebuilt at start.
TERMINAL_STATES: frozenset[str] = frozenset({"COMPLETED", "CANCELLED", "REJECTED_BUYER"})

ACCOUNT_KINDS: frozenset[str] = frozenset({"gate", "bybit", "mailbox"})
PAYMENT_METHODS: frozenset[str] = frozenset({"sbp", "card"})
REMOVED_SETTING = "removed"


class EventKind(StrEnum):
    TRANSITION = "transition"
    INTENT = "intent"
    OUTCOME = "outcome"
    NOTE = "note"


@dataclass(frozen=True)
class Account:
    """An account's public face. The secret is not a field: ask AccountStore.secret()."""

    id: int
    kind: str
    name: str
    settings: dict[str, Any]
    enabled: bool
    created_at: datetime
    updated_at: datetime
    revision: int = 1  # bumped by each operator change (a saved session keeps it)

    @property
    def label(self) -> str:
        return f"{self.kind}/{self.name}"

    @property
    def removed(self) -> bool:
        """Removed by the operator but kept, secret erased, because deals name it."""
        return bool(self.settings.get(REMOVED_SETTING))


@dataclass(frozen=True)
class Deal:
    id: int
    payout_id: str
    state: str
    amount_rub: Decimal
    gate_account_id: int | None
    bybit_account_id: int | None
    price: Decimal | None
    quantity: Decimal | None
    ad_id: str | None
    order_id: str | None
    method: str | None
    bank: str | None
    wallet: str | None
    requisites_sent_at: datetime | None
    reason: str | None
    manual: bool
    created_at: datetime
    updated_at: datetime
    buyer_name: str | None = None  # the Bybit order's buyerRealName: whom a receipt's sender must be


@dataclass(frozen=True)
class JournalEntry:
    deal_id: int
    seq: int
    ts: datetime
    kind: EventKind
    step: str
    from_state: str | None
    to_state: str | None
    ok: bool | None
    data: Any
    lease_key: str | None = None  # an intent's lease and the epoch it was written under (None: no leases)
    lease_epoch: int | None = None


@dataclass(frozen=True)
class Receipt:
    id: int
    receipt_number: str
    sha256: str
    deal_id: int
    source: str
    parsed: Any
    verdict: str
    created_at: datetime
