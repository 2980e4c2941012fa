"""Money-safety audit over the sandbox ledger — a pure function.

Given every ledger entry and the facts about payouts (amount, wallet) and
which Bybit order belongs to which payout (the simulated buyer recorded it
when it opened the order), list every violation of the invariants in
DESIGN.md §5 that left a trace in money:

* release_without_transfer — USDT released but the payout's recipient never
  received the exact amount (each bank transfer backs at most one release);
* release_to_non_payer — USDT released and the recipient was paid, but not by
  that order's buyer: no transfer for that order (its `order_id`), or one from
  somebody else's bank account (its `payer_name` is not the buyer's own);
* payer_not_served — a buyer paid the recipient of a payout for its order, the
  order was never released, and that payout's money settled somebody else's
  order instead (a payment made after its order was cancelled is the buyer's
  own loss, not this);
* release_unlinked — a release of an order no simulated buyer opened;
* release_without_approve — a release before the Gate approval succeeded;
* double_release — the same order released twice;
* double_approve — the same payout approved twice;
* approve_without_receipt — a Gate approval with no attachment;
* approve_without_transfer — a payout confirmed as paid that nobody paid.
"""
from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import asdict, dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Callable, Container, Iterable, Mapping

VIOLATION_KINDS = (
    "release_without_transfer",
    "release_to_non_payer",
    "payer_not_served",
    "release_unlinked",
    "release_without_approve",
    "double_release",
    "double_approve",
    "approve_without_receipt",
    "approve_without_transfer",
)


@dataclass(frozen=True)
class PayoutFact:
    payout_id: int
    amount: Decimal
    wallet: str


@dataclass(frozen=True)
class OrderBuyer:
    """Who opened an order (the "buyer_order" entry): the buyer and the holder of its own bank account."""

    buyer_id: str | None
    payer_name: str | None


@dataclass(frozen=True)
class Violation:
    kind: str
    detail: str
    payout_id: int | None = None
    order_id: str | None = None
    seq: int | None = None  # the ledger entry that broke the rule

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def wallet_key(wallet: str | None) -> str:
    """Compare wallets as a bank would: digits only, phones by their last 10 digits."""
    digits = re.sub(r"\D", "", wallet or "")
    if len(digits) == 11 and digits[0] in "78":
        return digits[-10:]
    return digits


def money(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def facts_from_ledger(entries: Iterable[Mapping[str, Any]]) -> tuple[dict[int, PayoutFact], dict[str, int]]:
    """Payout facts from "payout_created" entries and order links from "buyer_order" entries."""
    payouts: dict[int, PayoutFact] = {}
    order_payouts: dict[str, int] = {}
    for entry in entries:
        if entry["kind"] == "payout_created":
            pid = int(entry["payout_id"])
            payouts[pid] = PayoutFact(pid, money(entry["amount"]) or Decimal(0), str(entry["wallet"]))
        elif entry["kind"] == "buyer_order":
            order_payouts[str(entry["order_id"])] = int(entry["payout_id"])
    return payouts, order_payouts


def order_buyers(entries: Iterable[Mapping[str, Any]]) -> dict[str, OrderBuyer]:
    """Each order's buyer, from "buyer_order" entries (old entries without a payer name have None)."""
    return {str(e["order_id"]): OrderBuyer(_text(e.get("buyer_id")), _text(e.get("payer_name")))
            for e in entries if e["kind"] == "buyer_order"}


def _text(value: Any) -> str | None:
    return None if value is None else " ".join(str(value).split()).casefold().replace("ё", "е") or None


def paid_by(transfer: Mapping[str, Any], order_id: str, buyer: OrderBuyer | None) -> bool:
    """Whether `transfer` was made by the buyer of `order_id` for it: it names that order (or, with no
    order recorded, that buyer), and it came from the buyer's own account when both names are known."""
    if transfer.get("order_id") is not None:
        if str(transfer["order_id"]) != order_id:
            return False
    elif buyer is None or buyer.buyer_id is None or _text(transfer.get("buyer_id")) != buyer.buyer_id:
        return False
    payer = _text(transfer.get("payer_name"))
    return buyer is None or buyer.payer_name is None or payer is None or payer == buyer.payer_name


def _pays(transfer: Mapping[str, Any], payout: PayoutFact) -> bool:
    return (
        wallet_key(transfer.get("wallet")) == wallet_key(payout.wallet)
        and money(transfer.get("amount")) == payout.amount
    )


class _TransferPool:
    """Bank transfers in ledger order; each can back one use (one approve, or one release)."""

    def __init__(self, transfers: list[Mapping[str, Any]]) -> None:
        self._transfers = transfers
        self._used: set[int] = set()

    def find(self, payout: PayoutFact, before_seq: int,
             made: Callable[[Mapping[str, Any]], bool] = lambda transfer: True) -> int | None:
        """The first unused transfer before `before_seq` that pays `payout` exactly and is `made` so."""
        for transfer in self._transfers:
            seq = transfer["seq"]
            if seq >= before_seq:
                break
            if seq not in self._used and _pays(transfer, payout) and made(transfer):
                return seq
        return None

    def take(self, payout: PayoutFact, before_seq: int,
             made: Callable[[Mapping[str, Any]], bool] = lambda transfer: True) -> Mapping[str, Any] | None:
        """Use up the transfer `find` gives, and return it."""
        seq = self.find(payout, before_seq, made)
        if seq is None:
            return None
        self._used.add(seq)
        return next(t for t in self._transfers if t["seq"] == seq)

    def settle(self, candidates: list[PayoutFact], before_seq: int, approved_at: Mapping[int, int],
               made: Callable[[Mapping[str, Any]], bool] = lambda transfer: True,
               ) -> tuple[PayoutFact, Mapping[str, Any], bool] | None:
        """Back a release: the first candidate paid so (an approved one first), its transfer used up, and
        whether it was approved before the release; None when no candidate was paid so."""
        paid = [p for p in candidates if self.find(p, before_seq, made) is not None]
        approved = [p for p in paid if approved_at.get(p.payout_id, before_seq) < before_seq]
        if not paid:
            return None
        chosen = (approved or paid)[0]
        return chosen, self.take(chosen, before_seq, made), bool(approved)


def _release_candidates(linked: int | None, amount: Decimal | None, payouts: Mapping[int, PayoutFact],
                        spent: Container[int]) -> list[PayoutFact]:
    """Which payouts a release may be settling: the buyer's own first, then any other of the same amount.

    Two payouts of one amount have interchangeable ads: a buyer may take the other one's ad, read that
    deal's requisites and pay its recipient — money-wise that is a correct deal, as long as it was that
    order's buyer who paid (`paid_by`).
    """
    ordered = ([payouts[linked]] if linked in payouts else []) + [
        p for pid, p in sorted(payouts.items()) if pid != linked and amount is not None and p.amount == amount]
    return [p for p in ordered if p.payout_id not in spent]


def audit(
    entries: Iterable[Mapping[str, Any]],
    payouts: Mapping[int, PayoutFact] | None = None,
    order_payouts: Mapping[str, int] | None = None,
) -> list[Violation]:
    """Every money-safety violation in the ledger, in ledger order (of the entry that broke the rule).

    `payouts` and `order_payouts` default to what the ledger itself recorded
    ("payout_created" and "buyer_order" entries); who opened each order always comes from the ledger.
    """
    entries = sorted(entries, key=lambda e: e["seq"])
    derived_payouts, derived_orders = facts_from_ledger(entries)
    payouts = derived_payouts if payouts is None else payouts
    order_payouts = derived_orders if order_payouts is None else order_payouts
    buyers = order_buyers(entries)

    transfers = [e for e in entries if e["kind"] == "bank_transfer"]
    for_releases = _TransferPool(transfers)
    for_approvals = _TransferPool(transfers)
    approved_at: dict[int, int] = {}
    cancelled_at: dict[str, int] = {}  # order -> the entry that cancelled it
    released: set[str] = set()
    settled: dict[int, tuple[str, int]] = {}  # payout -> (the order whose release it backed, that release)
    violations: list[Violation] = []

    for entry in entries:
        seq = entry["seq"]
        if entry["kind"] == "gate_approve":
            pid = int(entry["payout_id"])
            if pid in approved_at:
                violations.append(Violation("double_approve", f"payout {pid} approved again", pid, None, seq))
                continue
            approved_at[pid] = seq
            if not int(entry.get("attachments") or 0):
                violations.append(Violation("approve_without_receipt", f"payout {pid} approved with no receipt attached", pid, None, seq))
            payout = payouts.get(pid)
            if payout is None or for_approvals.take(payout, seq) is None:
                violations.append(Violation(
                    "approve_without_transfer",
                    f"payout {pid} approved but its recipient was not paid the exact amount", pid, None, seq))
        elif entry["kind"] == "bybit_order_status" and str(entry.get("status")) == "40":
            cancelled_at.setdefault(str(entry["order_id"]), seq)
        elif entry["kind"] == "bybit_release":
            oid = str(entry["order_id"])
            if oid in released:
                violations.append(Violation("double_release", f"order {oid} released again", None, oid, seq))
                continue
            released.add(oid)
            linked = order_payouts.get(oid)
            if linked is None:
                violations.append(Violation("release_unlinked", f"order {oid} released but no payout's buyer opened it", None, oid, seq))
                continue
            candidates = _release_candidates(linked, money(entry.get("amount")), payouts, settled)
            by_buyer = for_releases.settle(candidates, seq, approved_at,
                                           lambda transfer, oid=oid: paid_by(transfer, oid, buyers.get(oid)))
            backing = by_buyer or for_releases.settle(candidates, seq, approved_at)
            if backing is None:
                wanted = payouts.get(linked)
                target = f"wallet {wanted.wallet} of payout {linked}" if wanted else f"the recipient of payout {linked}"
                violations.append(Violation(
                    "release_without_transfer",
                    f"order {oid} released but {entry.get('amount')} RUB never reached {target}", linked, oid, seq))
                continue
            chosen, transfer, approved = backing
            settled[chosen.payout_id] = (oid, seq)
            if by_buyer is None:
                violations.append(Violation(
                    "release_to_non_payer",
                    f"order {oid} released but its buyer did not pay it: the {transfer.get('amount')} RUB to payout "
                    f"{chosen.payout_id}'s recipient came from {transfer.get('payer_name') or 'an unnamed account'}"
                    f" for order {transfer.get('order_id') or 'none'}", chosen.payout_id, oid, seq))
            if not approved:
                violations.append(Violation(
                    "release_without_approve",
                    f"order {oid} released before payout {chosen.payout_id} was approved", chosen.payout_id, oid, seq))
    violations.extend(_unserved_payers(transfers, payouts, settled, released, cancelled_at))
    return sorted(violations, key=lambda v: v.seq or 0)


def _unserved_payers(transfers: list[Mapping[str, Any]], payouts: Mapping[int, PayoutFact],
                     settled: Mapping[int, tuple[str, int]], released: set[str],
                     cancelled_at: Mapping[str, int]) -> list[Violation]:
    """Buyers who paid a payout's recipient for their order, were never released, while that payout's
    money settled another order. A payment made after its order was cancelled is not counted: no deal
    was left to serve it."""
    found = []
    for transfer in transfers:
        oid = None if transfer.get("order_id") is None else str(transfer["order_id"])
        if oid is None or oid in released or cancelled_at.get(oid, transfer["seq"] + 1) < transfer["seq"]:
            continue
        for pid, payout in sorted(payouts.items()):
            other, release_seq = settled.get(pid, (None, 0))
            if other is not None and other != oid and _pays(transfer, payout):
                found.append(Violation(
                    "payer_not_served",
                    f"the buyer of order {oid} paid {transfer.get('amount')} RUB to payout {pid}'s recipient, but "
                    f"order {other} was released for that payout and order {oid} never was",
                    pid, oid, max(release_seq, transfer["seq"])))
                break
    return found


def summarize(violations: list[Violation]) -> dict[str, Any]:
    counts: dict[str, int] = defaultdict(int)
    for violation in violations:
        counts[violation.kind] += 1
    return {"clean": not violations, "counts": dict(counts), "violations": [v.as_dict() for v in violations]}
